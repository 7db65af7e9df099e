#include "table.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fmt/format.h>

namespace bitsmith::cli {

namespace {
bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  char c = s[0];
  return std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.' ||
         s == "nan" || s == "inf";
}
}  // namespace

std::string Table::render() const {
  std::vector<size_t> width(header_.size(), 0);
  for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
  for (const auto& r : rows_) {
    for (size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& r, bool is_header) {
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < r.size() ? r[c] : "";
      const bool right = !is_header && looks_numeric(cell) && c > 0;
      if (c) out += "  ";
      out += right ? fmt::format("{:>{}}", cell, width[c]) : fmt::format("{:<{}}", cell, width[c]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  };
  emit(header_, true);
  std::string rule;
  for (size_t c = 0; c < width.size(); ++c) {
    if (c) rule += "  ";
    rule += std::string(width[c], '-');
  }
  out += rule + '\n';
  for (const auto& r : rows_) emit(r, false);
  return out;
}

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

}  // namespace bitsmith::cli
