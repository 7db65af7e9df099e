// Atomic file output: bytes go to a temporary file in the target's directory; commit() fsyncs it,
// renames it over the target and fsyncs the directory. Until commit() the target is untouched;
// an error, an exception or the destructor removes the temporary (a killed process leaves only a
// ".<name>.tmp-*" file beside the target, never a partial target).
#pragma once

#include <cstdint>
#include <string>

#include "bitsmith/core/status.h"

namespace bitsmith::io {

class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& target);
  AtomicFile(AtomicFile&& o) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  Status write(const void* data, uint64_t size);
  Status write(std::string_view s) { return write(s.data(), s.size()); }
  // Zero bytes up to the next multiple of `alignment` (GGUF's padding).
  Status pad_to(uint64_t alignment);
  uint64_t size() const { return written_; }
  Status commit();
  const std::string& target() const { return target_; }

 private:
  AtomicFile() = default;
  Status flush();
  Status flush_before(uint64_t pending);
  std::string target_, temp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  std::string buffer_;  // small writes are gathered so a header is not a thousand syscalls
};

// Writes a whole small file (config.json, tokenizer.json) atomically.
Status write_file_atomic(const std::string& target, std::string_view contents);

}  // namespace bitsmith::io
