// TensorView (never owns) and Tensor (owns its bytes, or keeps a memory map alive).
// Element types here are storage types of plain arrays; quantized (block) tensors are the quant
// module's QuantizedTensor.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"

namespace bitsmith {

enum class DType : uint8_t {
  kF64, kF32, kF16, kBF16, kF8E4M3, kF8E5M2, kF8E8M0,
  kI64, kI32, kI16, kI8, kU8, kBool,
};

// Bytes per element of a plain dtype.
size_t dtype_size(DType t);
// Canonical names as safetensors spells them: "F32", "BF16", "F8_E4M3", "I8", ...
std::string_view dtype_name(DType t);
Result<DType> dtype_from_name(std::string_view name);

inline constexpr int kMaxDims = 8;

// Shape with at most kMaxDims dims, outermost first (row-major: the last dim is contiguous).
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  static Result<Shape> from(std::span<const int64_t> dims);  // checks rank, negative dims, overflow

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims_[static_cast<size_t>(i)]; }
  std::span<const int64_t> dims() const { return {dims_.data(), static_cast<size_t>(rank_)}; }
  int64_t numel() const;  // product of dims; 1 for a scalar
  // Rows x cols view of a tensor: cols = last dim, rows = product of the others.
  int64_t cols() const { return rank_ == 0 ? 1 : dims_[static_cast<size_t>(rank_ - 1)]; }
  int64_t rows() const { return cols() == 0 ? 0 : numel() / cols(); }
  std::string to_string() const;  // "[512, 64]"
  bool operator==(const Shape& o) const;

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int rank_ = 0;
};

// A non-owning, contiguous, row-major view of a plain array.
struct TensorView {
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;

  size_t nbytes() const { return static_cast<size_t>(shape.numel()) * dtype_size(dtype); }
  template <typename T>
  std::span<const T> as() const {
    return {static_cast<const T*>(data), static_cast<size_t>(shape.numel())};
  }
};

// Owns its bytes (a vector) or holds a reference that keeps a memory map alive.
class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor that owns its storage.
  Tensor(DType dtype, Shape shape);
  // A view into memory kept alive by `keepalive` (e.g. a MappedFile); zero-copy.
  Tensor(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> keepalive);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t nbytes() const { return static_cast<size_t>(shape_.numel()) * dtype_size(dtype_); }
  const void* data() const { return external_ ? external_ : owned_.data(); }
  // Mutable access exists only for owned storage.
  void* mutable_data();
  TensorView view() const { return {dtype_, shape_, data()}; }
  template <typename T>
  std::span<T> mutable_as() {
    return {static_cast<T*>(mutable_data()), static_cast<size_t>(shape_.numel())};
  }
  template <typename T>
  std::span<const T> as() const {
    return view().as<T>();
  }

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::vector<std::byte> owned_;
  const void* external_ = nullptr;
  std::shared_ptr<const void> keepalive_;
};

}  // namespace bitsmith
