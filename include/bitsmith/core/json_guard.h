// Guards run over JSON text from a file before nlohmann::json sees it. nlohmann's dump(),
// destructors and some accessors recurse once per nesting level, so a header of a million '['
// overflows the stack; real config.json, tokenizer.json and safetensors headers nest fewer than
// ten levels, so anything deeper than kMaxJsonDepth is refused with the offset where it happens.
#pragma once

#include <cstdint>
#include <string_view>

#include "bitsmith/core/status.h"

namespace bitsmith {

inline constexpr int kMaxJsonDepth = 64;

// One linear pass: brackets inside strings (escapes included) do not count. `base` is the offset
// of text[0] in the file, so the message points into the file and not into the slice.
inline Status check_json_depth(std::string_view text, std::string_view file, uint64_t base = 0) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        return corrupt_data("{}: JSON nests deeper than {} levels at offset {}", file, kMaxJsonDepth, base + i);
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return Status::Ok();
}

}  // namespace bitsmith
