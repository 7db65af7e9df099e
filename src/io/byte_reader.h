// Bounds-checked little-endian cursor over a file's bytes. Every read names what it reads, so a
// truncated or lying file fails with "<file>: truncated at offset N reading <what>".
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "bitsmith/core/status.h"

namespace bitsmith::io::detail {

class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> data, std::string_view file) : data_(data), file_(file) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return data_.size() - pos_; }
  const std::string& file() const { return file_; }

  template <typename T>
  Status read(T* out, std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    BITSMITH_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, data_.data() + pos_, sizeof(T));  // unaligned-safe; hosts are little-endian
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status bytes(uint64_t n, std::span<const uint8_t>* out, std::string_view what) {
    BITSMITH_RETURN_IF_ERROR(need(n, what));
    *out = data_.subspan(pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  Status skip(uint64_t n, std::string_view what) {
    BITSMITH_RETURN_IF_ERROR(need(n, what));
    pos_ += n;
    return Status::Ok();
  }
  Status need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      return corrupt_data("{}: truncated at offset {} reading {}: need {} bytes, {} left", file_,
                          pos_, what, n, remaining());
    }
    return Status::Ok();
  }

 private:
  std::span<const uint8_t> data_;
  std::string file_;
  uint64_t pos_ = 0;
};

// Whether s is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace bitsmith::io::detail
