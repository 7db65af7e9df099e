#include "bitsmith/core/npy.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "bitsmith/core/checked.h"
#include "bitsmith/core/mapped_file.h"

namespace bitsmith {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// The value of 'key' in the header dict, as raw text up to the next top-level comma or brace.
std::string dict_value(const std::string& h, const std::string& key) {
  const auto k = h.find("'" + key + "'");
  if (k == std::string::npos) return {};
  auto p = h.find(':', k);
  if (p == std::string::npos) return {};
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  if (p < h.size() && h[p] == '(') {
    const auto e = h.find(')', p);
    return e == std::string::npos ? std::string() : h.substr(p, e - p + 1);
  }
  auto e = p;
  while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  return h.substr(p, e - p);
}

Result<std::vector<int64_t>> parse_shape(const std::string& path, const std::string& s) {
  std::vector<int64_t> dims;
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') {
    return corrupt_data("{}: .npy header has no shape tuple", path);
  }
  size_t i = 1;
  while (i + 1 < s.size()) {
    if (dims.size() > static_cast<size_t>(kMaxDims)) return corrupt_data("{}: .npy shape has more than {} dims", path, kMaxDims);
    while (i + 1 < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i + 1 >= s.size()) break;
    int64_t v = 0;
    size_t digits = 0;
    while (i + 1 < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (v > (int64_t{1} << 55)) return corrupt_data("{}: .npy dimension too large", path);
      v = v * 10 + (s[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0) return corrupt_data("{}: bad .npy shape '{}'", path, s);
    dims.push_back(v);
  }
  return dims;
}

}  // namespace

Result<Tensor> parse_npy(std::span<const uint8_t> b, std::string_view path) {
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0) {
    return corrupt_data("{}: not a .npy file (bad magic)", path);
  }
  const int major = b[6];
  uint64_t hlen = b[8] | (b[9] << 8);
  uint64_t pos = 10;
  if (major >= 2 && major <= 3) {  // versions 2 and 3 use a 4-byte header length
    if (b.size() < 12) return corrupt_data("{}: truncated .npy header length at offset 10", path);
    hlen |= static_cast<uint64_t>(b[10]) << 16 | static_cast<uint64_t>(b[11]) << 24;
    pos = 12;
  } else if (major != 1) {
    return unsupported("{}: .npy version {} not supported", path, major);
  }
  if (hlen > (1u << 24)) return corrupt_data("{}: .npy header length {} too large", path, hlen);
  if (hlen > b.size() - pos) {
    return corrupt_data("{}: truncated .npy header: {} bytes at offset {} but the file has {}", path, hlen, pos,
                        b.size());
  }
  const std::string h(reinterpret_cast<const char*>(b.data() + pos), static_cast<size_t>(hlen));
  pos += hlen;
  const std::string descr = dict_value(h, "descr");
  DType dt;
  if (descr == "'<f4'") dt = DType::kF32;
  else if (descr == "'<f2'") dt = DType::kF16;
  else return unsupported("{}: .npy dtype {} not supported (float32 or float16 only)", path, descr);
  if (dict_value(h, "fortran_order") != "False") {
    return unsupported("{}: Fortran-ordered .npy arrays are not supported", path);
  }
  BITSMITH_ASSIGN_OR_RETURN(auto dims, parse_shape(std::string(path), dict_value(h, "shape")));
  auto shape = Shape::from(dims);
  if (!shape.ok()) return corrupt_data("{}: .npy shape: {}", path, shape.status().message());
  const auto numel = checked_product(dims);
  const auto bytes = numel ? checked_mul(*numel, dtype_size(dt)) : std::nullopt;
  if (!bytes) return corrupt_data("{}: .npy shape {} overflows", path, shape->to_string());
  // Checked before the allocation: a 100-byte file cannot ask for terabytes.
  if (*bytes > b.size() - pos) {
    return corrupt_data("{}: .npy data truncated: shape {} needs {} bytes at offset {} but the file has {} left",
                        path, shape->to_string(), *bytes, pos, b.size() - pos);
  }
  Tensor t(dt, *shape);
  if (*bytes > 0) std::memcpy(t.mutable_data(), b.data() + pos, static_cast<size_t>(*bytes));
  return t;
}

Result<Tensor> read_npy(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  return parse_npy(file->bytes(), path);
}

Status write_npy(const std::string& path, const TensorView& t) {
  const char* descr = t.dtype == DType::kF32 ? "<f4" : t.dtype == DType::kF16 ? "<f2"
                      : t.dtype == DType::kU8 ? "|u1" : nullptr;
  if (!descr) return unsupported("{}: write_npy supports F32, F16 and U8", path);
  std::string shape = "(";
  for (int i = 0; i < t.shape.rank(); ++i) shape += std::to_string(t.shape[i]) + ", ";
  if (t.shape.rank() > 1) shape.resize(shape.size() - 2);
  else if (t.shape.rank() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string h = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  // Pad with spaces so the data starts on a 64-byte boundary, newline-terminated.
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  FilePtr f(std::fopen(path.c_str(), "wb"));
  if (!f) return io_error("{}: cannot create", path);
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                 static_cast<unsigned char>(h.size() & 0xFF),
                                 static_cast<unsigned char>(h.size() >> 8)};
  if (std::fwrite(pre, 1, 10, f.get()) != 10 || std::fwrite(h.data(), 1, h.size(), f.get()) != h.size() ||
      std::fwrite(t.data, 1, t.nbytes(), f.get()) != t.nbytes()) {
    return io_error("{}: write failed", path);
  }
  return Status::Ok();
}

}  // namespace bitsmith
