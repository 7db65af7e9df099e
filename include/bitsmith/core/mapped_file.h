// Read-only memory map of a whole file. Tensors built on it hold a shared_ptr so the map lives
// as long as any view into it (zero-copy readers, streaming quantization).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bitsmith/core/status.h"

namespace bitsmith {

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  // Bytes held in memory behind the same interface (a reader's converted copy of a layout whose
  // stored bytes differ from the scheme's); `path` names where they came from.
  static std::shared_ptr<MappedFile> from_bytes(std::string path, std::vector<uint8_t> bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  const uint8_t* data() const { return data_; }
  std::span<const uint8_t> bytes() const { return {data_, static_cast<size_t>(size_)}; }
  // Tells the kernel a range is no longer needed, so streaming over a file larger than memory
  // does not keep its pages resident.
  void release(uint64_t offset, uint64_t length) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::vector<uint8_t> owned_;  // from_bytes: the bytes; data_ points into it
  bool mapped_ = false;         // open(): data_ is a map to release
};

}  // namespace bitsmith
