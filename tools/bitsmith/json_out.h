// JSON conventions shared by every subcommand: one document on stdout; non-finite numbers
// become the strings "nan", "inf", "-inf"; codes are integers.
#pragma once

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bitsmith/report/documents.h"

namespace bitsmith::cli {

// The library's (report/documents.h builds the documents the report embeds with it too).
using report::json_number;

inline void print_json(const nlohmann::json& doc) {
  std::string s = doc.dump(2);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

}  // namespace bitsmith::cli
