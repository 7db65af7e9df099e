// JSON conventions shared by every subcommand: one document on stdout; non-finite numbers
// become the strings "nan", "inf", "-inf"; codes are integers.
#pragma once

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bitsmith/report/documents.h"

namespace bitsmith::cli {

// The documents' number convention is report/documents.h's, so what a command prints and what a
// report embeds are the same bytes.
using report::json_number;
using report::with_finite_numbers;

inline void print_json(const nlohmann::json& doc) {
  std::string s = with_finite_numbers(doc).dump(2);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace bitsmith::cli
