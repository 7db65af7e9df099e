// JSON conventions shared by every subcommand: one document on stdout; non-finite numbers
// become the strings "nan", "inf", "-inf"; codes are integers.
#pragma once

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace bitsmith::cli {

inline nlohmann::json json_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

inline void print_json(const nlohmann::json& doc) {
  std::string s = doc.dump(2);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace bitsmith::cli
