// ASCII case folding for names the user types (device names, size units), private to plan.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace bitsmith::plan::detail {

inline std::string ascii_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace bitsmith::plan::detail
