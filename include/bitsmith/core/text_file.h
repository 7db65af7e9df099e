// Reading a whole small file a user names (a text, a recipe, a measurement file) without trusting
// it: a FIFO nobody writes to cannot hang the open, a regular file over the limit is refused
// before anything is read, a pipe or /dev/zero stops at the limit, and (for text) a NUL byte
// means a binary file. Errors name the file and the offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bitsmith/core/status.h"

namespace bitsmith {

struct ReadLimits {
  uint64_t max_bytes = 0;   // refuse anything longer
  bool reject_nul = true;   // a NUL byte is an error (text, JSON)
  std::string_view what = "file";  // "text file", "recipe file": used in messages
};

Result<std::string> read_file_bounded(const std::string& path, const ReadLimits& limits);

}  // namespace bitsmith
