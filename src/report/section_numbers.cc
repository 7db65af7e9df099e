// Number lines: every value a small format can hold, from formats' own descriptors and codec
// (the same decode `bitsmith formats show` prints), so the picture is the format by definition.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/format.h"
#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {

namespace {

struct Shown {
  const char* alias;  // looked up through formats' own aliases
  const char* label;
};
// fp4, fp6 (both), fp8 (both) and the two integers of the lab, widest last.
constexpr Shown kShown[] = {{"fp4", "FP4 E2M1"},        {"fp6_e2m3", "FP6 E2M3"}, {"fp6_e3m2", "FP6 E3M2"},
                            {"fp8_e4m3", "FP8 E4M3"},   {"fp8_e5m2", "FP8 E5M2"}, {"int4", "INT4"},
                            {"int8", "INT8"}};

// Every finite value of a format of 8 bits or fewer, ascending, +0 and -0 once.
std::vector<double> finite_values(const formats::Format& f) {
  std::vector<double> v;
  for (uint32_t c = 0; c < (1u << f.bits()); ++c) {
    const double x = formats::decode(f, c);
    if (std::isfinite(x)) v.push_back(x == 0 ? 0.0 : x);
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

const formats::Format& format(const char* alias) { return **formats::find_format(alias); }

Chart fp4_vs_int4() {
  const auto fp4 = finite_values(format("fp4"));
  const auto int4 = finite_values(format("int4"));
  // INT4 scaled so its largest magnitude (-8) lands on FP4's 6: the same range, as a scaled
  // block would use it (absmax / 6 for FP4, absmax / 8 for INT4's -8..7 here).
  std::vector<double> scaled, down(int4.size(), -0.7), up(fp4.size(), 1.0);
  for (double q : int4) scaled.push_back(q * 6.0 / 8.0);
  Plot p("FP4 (E2M1) values beside INT4's, on the same range", {"value (INT4 codes x 6/8, so both span -6 .. 6)", -6.5, 6.5},
         {"FP4 up, INT4 down", -1.0, 1.2});
  p.stems(fp4, up, 0, 0, fmt::format("FP4 E2M1: {} values", fp4.size()));
  p.stems(scaled, down, 0, 1, fmt::format("INT4 x 6/8: {} values, evenly spaced", int4.size()));
  p.hline(0, "", kGrey);
  return {"numbers-fp4-int4", "FP4 vs INT4", p.svg()};
}

Chart common_scale() {
  Axis rows{"format"};
  for (const auto& s : kShown) rows.categories.push_back(s.label);
  Plot p("Every representable value, each format divided by its largest", {"value / format's max finite value", -1.05, 1.05},
         rows, 720, 360);
  for (size_t i = 0; i < std::size(kShown); ++i) {
    const auto& f = format(kShown[i].alias);
    const auto v = finite_values(f);
    const double mx = std::max(std::abs(v.front()), v.back());
    std::vector<double> x, top(v.size(), static_cast<double>(i) + 0.32);
    for (double d : v) x.push_back(d / mx);
    p.stems(x, top, static_cast<double>(i) - 0.32, static_cast<int>(i) == 6 ? kGrey : static_cast<int>(i), "", false);
  }
  return {"numbers-common-scale", "All values, common scale", p.svg()};
}

Chart density_near_zero() {
  Plot p("How many values sit near zero", {"threshold t (fraction of the format's max), log scale", 1e-4, 1.0, true},
         {"share of values with |v| <= t x max", 0, 1.0});
  for (size_t i = 0; i < std::size(kShown); ++i) {
    const auto v = finite_values(format(kShown[i].alias));
    const double mx = std::max(std::abs(v.front()), v.back());
    std::vector<double> x, y;
    for (int k = 0; k <= 80; ++k) {
      const double t = std::pow(10.0, -4.0 + 4.0 * k / 80.0);
      x.push_back(t);
      const auto n = std::count_if(v.begin(), v.end(), [&](double d) { return std::abs(d) <= t * mx * (1 + 1e-12); });
      y.push_back(static_cast<double>(n) / static_cast<double>(v.size()));
    }
    p.line(x, y, static_cast<int>(i) == 6 ? kGrey : static_cast<int>(i), kShown[i].label, i >= 5);
  }
  return {"numbers-density", "Density near zero", p.svg()};
}

Chart probe_chart(double probe) {
  Axis cats{"format"};
  std::vector<double> rel;
  std::vector<std::string> labels;
  const char* probed[] = {"fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4", "int8", "int4"};
  for (const char* alias : probed) {
    const auto& f = format(alias);
    const formats::Probe pr = formats::probe(f, probe);
    cats.categories.push_back(std::string(f.name));
    // A format that stores the probe exactly has no place on a log axis: drawn at the floor.
    rel.push_back(std::max(pr.rel_error, 1e-7));
    labels.push_back(fmt::format("{:.6g}", pr.value));
  }
  Plot p(fmt::format("How each format stores {:.8g} (round to nearest even, saturating)", probe), cats,
         {"relative error |stored - x| / |x|, log scale", 1e-6, 1.0, true});
  p.bars(rel, 0, "relative error (the stored value on top)", labels);
  return {"numbers-probe", "Probe value", p.svg()};
}

}  // namespace

SectionOut number_lines_section(double probe) {
  SectionOut s{Section::kNumberLines, "Number lines: what each format can hold", "", {}, {}};
  s.caption = fmt::format(
      "A low-precision format is a short list of numbers; every weight is rounded to the nearest one. FP4 (E2M1) "
      "has 16 codes for 15 values, crowded near zero and 2 apart at the top (4, 6), while INT4's 16 are evenly "
      "spaced. Divided by their largest value, the float formats pack most of their values close to zero, where "
      "most weights are, and the integers spread them evenly; the density chart shows that share against the "
      "distance from zero. The last chart stores {:.8g} in each format, with no scale: the relative error is what "
      "one rounding costs, and the stored value is printed on each bar.",
      probe);
  s.charts = {fp4_vs_int4(), common_scale(), density_near_zero(), probe_chart(probe)};
  s.notes.push_back("Values decoded from every code by the formats module (bitsmith formats show FORMAT).");
  return s;
}

}  // namespace bitsmith::report
