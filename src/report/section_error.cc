// Error: what each scheme does to one array, drawn from `bitsmith error --json` documents (given,
// or computed by the report with the same builder).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {

namespace {

using nlohmann::json;

std::string describe_input(const json& in) {
  // File names without their folders: the title must fit the chart (the notes keep the path).
  auto base = [](const std::string& p) { return std::filesystem::path(p).filename().string(); };
  if (in.contains("tensor")) return fmt::format("{} of {}", in.value("tensor", ""), base(in.value("model", "")));
  if (in.contains("file")) return base(in.value("file", ""));
  if (in.contains("synthetic")) {
    std::string shape;
    if (in.contains("shape") && in["shape"].is_array() && in["shape"].size() == 2) {
      shape = fmt::format(", {}x{}", in["shape"][0].dump(), in["shape"][1].dump());
    }
    return fmt::format("{} weights, seed {}{}", in.value("synthetic", ""), in.contains("seed") ? in["seed"].dump() : "?", shape);
  }
  return "an array";
}

// Small multiples: one absolute-error histogram per scheme, log count axis, mean |error| marked.
Chart histogram_chart(const json& r, const std::string& id) {
  const json& h = r["abs_histogram"];
  const double hi = number_of(h["hi"]);
  const auto counts = h["counts"].get<std::vector<uint64_t>>();
  uint64_t peak = 1;
  for (uint64_t c : counts) peak = std::max(peak, c);
  const std::string scheme = r.value("scheme", "?");
  Plot p(fmt::format("{}: {:.3g} bits/weight", scheme, number_of(r["bits_per_weight"])),
         {"absolute error |x' - x|", 0, hi > 0 ? hi : 1}, {"count (log scale)", 0.7, std::pow(10.0, std::ceil(std::log10(static_cast<double>(peak) * 1.5))), true},
         360, 240);
  p.histogram(0, hi > 0 ? hi : 1, counts, 0, "");
  const double mean = number_of(r["mean_abs_error"]);
  if (std::isfinite(mean)) p.vline(mean, fmt::format("mean {:.3g}", mean), 3);
  return {id, scheme, p.svg(), true};
}

Chart bars_chart(const std::vector<const json*>& rows, const std::string& id, const std::string& title, const char* key,
                 const std::string& y_label, int colour) {
  Axis cats{"scheme"};
  std::vector<double> v;
  std::vector<std::string> labels;
  double hi = 0;
  for (const json* r : rows) {
    cats.categories.push_back(r->value("scheme", "?"));
    const double x = number_of((*r)[key]);
    v.push_back(std::isfinite(x) ? x : NAN);
    labels.push_back(std::isfinite(x) ? fmt::format("{:.3g}", x) : "inf");
    if (std::isfinite(x)) hi = std::max(hi, x);
  }
  Plot p(title, cats, {y_label, 0, hi > 0 ? hi * 1.15 : 1});
  p.bars(v, colour, "", labels);
  return {id, title, p.svg()};
}

// The lab's four: INT8, INT4 (groups of 128), FP8 E4M3 and NVFP4, their mean |error| side by side.
std::optional<Chart> lab_chart(const std::vector<const json*>& rows, const std::string& id) {
  Axis cats{"scheme"};
  std::vector<double> v;
  std::vector<std::string> labels;
  double lo = INFINITY, hi = 0;
  for (const char* want : {"int8", "int4_g128", "fp8_e4m3", "nvfp4"}) {
    for (const json* r : rows) {
      if (r->value("scheme", "") != want) continue;
      const double e = number_of((*r)["mean_abs_error"]);
      if (!(e > 0)) continue;
      cats.categories.push_back(want);
      v.push_back(e);
      labels.push_back(fmt::format("{:.3g} ({:.1f} dB, {:.3g} b/w)", e, number_of((*r)["snr_db"]),
                                   number_of((*r)["bits_per_weight"])));
      lo = std::min(lo, e);
      hi = std::max(hi, e);
    }
  }
  if (v.size() < 2) return std::nullopt;
  Plot p("The lab's comparison: INT8, INT4, FP8, NVFP4", cats,
         {"mean |error| (log scale)", std::pow(10.0, std::floor(std::log10(lo))), std::pow(10.0, std::ceil(std::log10(hi * 3))), true});
  p.bars(v, 2, "mean absolute error (SNR, bits per weight)", labels);
  return Chart{id, "Lab comparison", p.svg()};
}

}  // namespace

SectionOut error_section(const std::vector<const Document*>& docs) {
  SectionOut s{Section::kError, "Error: what each scheme does to the weights", "", {}, {}};
  s.caption =
      "Each scheme rounds the same weights; these charts show how far the results land from the originals. The "
      "histograms count the absolute errors on a log axis, so the rare large errors stay visible next to the "
      "common small ones, with the mean marked: a scheme whose mass sits further right loses more. The bars give "
      "the signal-to-noise ratio (higher is better, every 6 dB is about one bit) and the true bits per weight, "
      "scales and zero points included, so a 4-bit scheme with small groups costs more than 4.";
  for (size_t d = 0; d < docs.size(); ++d) {
    const json& doc = docs[d]->body;
    const std::string prefix = docs.size() > 1 ? fmt::format("error-{}", d + 1) : "error";
    std::vector<const json*> rows;
    std::string skipped;
    for (const auto& r : doc["results"]) {
      if (r.is_object() && r.contains("mse")) rows.push_back(&r);
      if (r.is_object() && r.contains("error")) skipped += fmt::format(" {} ({});", r.value("scheme", "?"), r.value("error", ""));
    }
    const std::string what = describe_input(doc["input"]);
    s.notes.push_back(fmt::format("{}: {} ({})", prefix, doc["input"].dump(), docs[d]->origin));
    if (!skipped.empty()) s.notes.push_back(fmt::format("{}: not drawn, the scheme cannot hold this array:{}", prefix, skipped));
    for (const json* r : rows) {
      if (r->contains("abs_histogram") && (*r)["abs_histogram"].contains("counts")) {
        s.charts.push_back(histogram_chart(*r, fmt::format("{}-hist-{}", prefix, r->value("scheme", "?"))));
      }
    }
    if (rows.empty()) continue;
    s.charts.push_back(bars_chart(rows, prefix + "-snr", "Signal-to-noise ratio on " + what, "snr_db", "SNR (dB)", 0));
    s.charts.push_back(bars_chart(rows, prefix + "-bpw", "True bits per weight on " + what, "bits_per_weight",
                                  "bits per weight (scales included)", 1));
    if (auto lab = lab_chart(rows, prefix + "-lab")) s.charts.push_back(std::move(*lab));
  }
  return s;
}

}  // namespace bitsmith::report
