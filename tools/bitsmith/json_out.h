// JSON conventions shared by every subcommand: one document on stdout; non-finite numbers
// become the strings "nan", "inf", "-inf"; codes are integers.
#pragma once

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace bitsmith::cli {

inline nlohmann::json json_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

// Non-finite floats anywhere in `doc` become json_number's strings (the library's documents hold
// plain doubles; nlohmann would print them as null). The walk uses an explicit stack: documents
// are the CLI's own, but nothing here recurses on depth.
inline nlohmann::json with_finite_numbers(nlohmann::json doc) {
  std::vector<nlohmann::json*> stack{&doc};
  while (!stack.empty()) {
    nlohmann::json* j = stack.back();
    stack.pop_back();
    if (j->is_number_float()) {
      const double v = j->get<double>();
      if (!std::isfinite(v)) *j = json_number(v);
    } else if (j->is_structured()) {
      for (auto& child : *j) stack.push_back(&child);
    }
  }
  return doc;
}

inline void print_json(const nlohmann::json& doc) {
  std::string s = with_finite_numbers(doc).dump(2);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace bitsmith::cli
