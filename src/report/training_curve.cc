// Training curves as documents: `bitsmith train --curve FILE.csv` read into the JSON document
// `--curve FILE.json` writes, and the rules every curve's points follow, whichever file they
// came from. The files are strangers' data: every field is checked, sizes are bounded, and each
// error names the file and the line (or point).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include "bitsmith/report/documents.h"

namespace bitsmith::report {

namespace {

using nlohmann::json;

// train/train_state.cc's curve_csv writes these columns in this order.
constexpr std::string_view kHeader = "step,loss,lr,grad_norm,tokens_per_s,seconds,val_loss";
constexpr std::string_view kColumns[] = {"step", "loss", "lr", "grad_norm", "tokens_per_s", "seconds", "val_loss"};
constexpr size_t kValLoss = 6;
// Steps are stored as int64 and drawn as doubles: 2^53 = 9007199254740992 is the largest whole
// number a double holds exactly.
constexpr double kMaxStep = 9007199254740992.0;

// A piece of a stranger's file, safe to print on one line: at most 40 bytes, control and
// non-ASCII bytes as '?'.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return s.size() > 40 ? out + "..." : out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A decimal number as the whole field: what curve_csv writes ({:.6f}, {:.6g}, an integer step),
// and "nan", "inf", "-inf" (a diverged step). nullopt for anything else.
std::optional<double> parse_number(std::string_view field) {
  double v = 0;
  const char* end = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(field.data(), end, v);
  if (field.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

bool is_number_or_nan(const json& j) {
  if (j.is_number()) return true;
  if (!j.is_string()) return false;
  const auto& s = j.get_ref<const std::string&>();
  return s == "nan" || s == "inf" || s == "-inf";
}

}  // namespace

Status check_training_curve(json& points, const std::string& origin, const std::vector<size_t>* lines) {
  if (!points.is_array() || points.empty()) return invalid_argument("{}: a training curve with no points", origin);
  if (points.size() > kMaxCurvePoints) {
    return invalid_argument("{}: {} points: the report draws curves of at most {} updates", origin, points.size(),
                            kMaxCurvePoints);
  }
  auto where = [&](size_t i) {
    return lines && i < lines->size() ? fmt::format("{}: line {}", origin, (*lines)[i]) : fmt::format("{}: point {}", origin, i + 1);
  };
  int64_t previous = -1;
  for (size_t i = 0; i < points.size(); ++i) {
    json& p = points[i];
    if (!p.is_object()) return invalid_argument("{}: not an object", where(i));
    const json step = p.value("step", json());
    const double s = step.is_number() ? step.get<double>() : NAN;
    if (!(s >= 0 && s <= kMaxStep && std::floor(s) == s)) {
      return invalid_argument("{}: step {} is not a whole number of updates", where(i), shown(step.dump()));
    }
    const auto whole = static_cast<int64_t>(s);
    if (whole <= previous) {
      return invalid_argument("{}: step {} after step {}: steps must increase", where(i), whole, previous);
    }
    previous = whole;
    p["step"] = whole;
    if (!p.contains("loss") || !is_number_or_nan(p["loss"])) {
      return invalid_argument("{}: loss {} is not a number", where(i), shown(p.value("loss", json()).dump()));
    }
    if (p.contains("val_loss") && !p["val_loss"].is_null() && !is_number_or_nan(p["val_loss"])) {
      return invalid_argument("{}: val_loss {} is neither a number nor null", where(i), shown(p["val_loss"].dump()));
    }
  }
  return Status::Ok();
}

Result<Document> training_curve_from_csv(std::string_view text, const std::string& origin) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte-order mark (spreadsheets add one)
  json points = json::array();
  size_t line_no = 0;
  std::vector<size_t> lines;  // the file's line of each point, for messages
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    if (line_no == 1) {
      if (line != kHeader) {
        return invalid_argument("{}: line 1: the header is '{}', a training curve's is '{}' (bitsmith train --curve FILE.csv)",
                                origin, shown(line), kHeader);
      }
      continue;
    }
    if (line.empty()) continue;  // a blank line (the last newline, an editor's extra one)
    if (points.size() == kMaxCurvePoints) {
      return invalid_argument("{}: line {}: more than {} points: the report draws curves of at most {} updates", origin,
                              line_no, kMaxCurvePoints, kMaxCurvePoints);
    }
    json p = json::object();
    std::string_view rest = line;
    for (size_t c = 0; c < std::size(kColumns); ++c) {
      const size_t comma = rest.find(',');
      const bool last = c + 1 == std::size(kColumns);
      if ((comma == std::string_view::npos) != last) {
        return invalid_argument("{}: line {}: {} fields, the header names {}", origin, line_no,
                                std::count(line.begin(), line.end(), ',') + 1, std::size(kColumns));
      }
      const std::string_view field = trim(rest.substr(0, comma));
      rest.remove_prefix(last ? rest.size() : comma + 1);
      if (c == kValLoss && field.empty()) {
        p[kColumns[c]] = nullptr;  // not evaluated at this step
        continue;
      }
      const auto v = parse_number(field);
      if (!v) return invalid_argument("{}: line {}: {} '{}' is not a number", origin, line_no, kColumns[c], shown(field));
      p[kColumns[c]] = json_number(*v);
    }
    points.push_back(std::move(p));
    lines.push_back(line_no);
  }
  if (line_no == 0) return invalid_argument("{}: empty: a training curve starts with the line '{}'", origin, kHeader);
  if (points.empty()) return invalid_argument("{}: line {}: no points after the header", origin, line_no);
  BITSMITH_RETURN_IF_ERROR(check_training_curve(points, origin, &lines));
  return Document{DocumentKind::kTrainingCurve, origin, json{{"points", std::move(points)}}};
}

}  // namespace bitsmith::report
