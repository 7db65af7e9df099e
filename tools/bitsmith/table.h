// Plain-text tables for human output: columns sized to their widest cell, numbers right-aligned.
#pragma once

#include <string>
#include <vector>

namespace bitsmith::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Shortest decimal that round-trips a double ("0.1", "448", "3.4028234663852886e+38"), and
// "nan", "inf", "-inf" for non-finite values.
std::string format_number(double v);

}  // namespace bitsmith::cli
