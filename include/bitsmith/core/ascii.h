// ASCII case folding for names users type (scheme names, device names, size units, GGUF type
// names): the one copy. ASCII only on purpose: these names are ASCII, and std::tolower on a
// locale would make "I" fold differently under a Turkish locale.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace bitsmith {

inline std::string ascii_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace bitsmith
