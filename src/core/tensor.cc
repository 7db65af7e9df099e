#include "bitsmith/core/tensor.h"

#include <algorithm>

#include "bitsmith/core/assert.h"
#include "bitsmith/core/checked.h"

namespace bitsmith {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF64, "F64", 8},        {DType::kF32, "F32", 4},         {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},      {DType::kF8E4M3, "F8_E4M3", 1},  {DType::kF8E5M2, "F8_E5M2", 1},
    {DType::kF8E8M0, "F8_E8M0", 1}, {DType::kI64, "I64", 8},         {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},        {DType::kI8, "I8", 1},           {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};
const DTypeInfo& info(DType t) {
  for (const auto& d : kDTypes) {
    if (d.type == t) return d;
  }
  BITSMITH_ASSERT_MSG(false, "unknown dtype");
  return kDTypes[0];
}
}  // namespace

size_t dtype_size(DType t) { return info(t).size; }
std::string_view dtype_name(DType t) { return info(t).name; }

Result<DType> dtype_from_name(std::string_view name) {
  for (const auto& d : kDTypes) {
    if (d.name == name) return d.type;
  }
  return unsupported("unknown dtype '{}'", name);
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  BITSMITH_ASSERT(dims.size() <= static_cast<size_t>(kMaxDims));
  std::copy(dims.begin(), dims.end(), dims_.begin());
  rank_ = static_cast<int>(dims.size());
}

Result<Shape> Shape::from(std::span<const int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxDims)) {
    return invalid_argument("rank {} exceeds the maximum of {}", dims.size(), kMaxDims);
  }
  for (int64_t d : dims) {
    if (d < 0) return invalid_argument("negative dimension {}", d);
  }
  auto n = checked_product(dims);
  if (!n || *n > static_cast<uint64_t>(INT64_MAX)) {
    return invalid_argument("dimensions overflow 64 bits");
  }
  Shape s;
  std::copy(dims.begin(), dims.end(), s.dims_.begin());
  s.rank_ = static_cast<int>(dims.size());
  return s;
}

int64_t Shape::numel() const {
  // A zero anywhere makes the count 0; checked first, because the dims before it may multiply
  // past int64 (from() bounds only the whole product: [7e13, 2e5, 0] is a valid empty shape).
  for (int i = 0; i < rank_; ++i) {
    if (dims_[static_cast<size_t>(i)] == 0) return 0;
  }
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<size_t>(i)];
  return n;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[static_cast<size_t>(i)]);
  }
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i) {
    if (dims_[static_cast<size_t>(i)] != o.dims_[static_cast<size_t>(i)]) return false;
  }
  return true;
}

Tensor::Tensor(DType dtype, Shape shape)
    : dtype_(dtype), shape_(shape), owned_(static_cast<size_t>(shape.numel()) * dtype_size(dtype)) {}

Tensor::Tensor(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> keepalive)
    : dtype_(dtype), shape_(shape), external_(data), keepalive_(std::move(keepalive)) {}

void* Tensor::mutable_data() {
  BITSMITH_ASSERT_MSG(external_ == nullptr, "a mapped tensor is read-only");
  return owned_.data();
}

}  // namespace bitsmith
