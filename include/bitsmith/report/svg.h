// A small SVG writer for the report's charts: axes with units and ticks (linear, log or
// categorical), stems, bars, stacked bars, lines, points, reference lines, step histograms, a
// legend, and a heatmap. Deterministic text (same data, same bytes), no JavaScript, colours
// through CSS variables so one file reads in light mode, dark mode and print, and a
// colour-blind-safe palette (Okabe and Ito) with marker shapes as a second cue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bitsmith::report {

// Okabe-Ito colours (blue, orange, bluish green, vermillion, sky blue, reddish purple, yellow)
// and a grey; index i % kPaletteSize. Their values live in the style sheet, not in the marks.
inline constexpr int kPaletteSize = 8;
inline constexpr int kGrey = 7;

// The style every chart carries (<style> inside the <svg>), so a standalone SVG file looks
// like the chart inline in the page: light by default, dark under prefers-color-scheme, black
// on white in print.
std::string_view chart_style();

// Text for an XML text node or attribute: & < > " ' escaped.
std::string xml_escape(std::string_view s);

struct Axis {
  std::string label;  // with its unit: "bits per weight", "KL divergence (nats/token)"
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<std::string> categories = {};  // non-empty: one slot per category (bars), lo/hi unused
};

enum class Marker : uint8_t { kCircle, kSquare, kTriangle, kDiamond };

class Plot {
 public:
  Plot(std::string title, Axis x, Axis y, int width = 720, int height = 380);

  // Vertical stems from y = base to each (x, y), a dot on top unless `dots` is false (dense
  // number lines, where the dots would merge into a bar).
  void stems(const std::vector<double>& x, const std::vector<double>& y, double base, int colour,
             const std::string& name, bool dots = true);
  // One bar per category of a categorical x axis; NaN skips a bar. Values printed on top when
  // `labels` is given (same length).
  void bars(const std::vector<double>& values, int colour, const std::string& name,
            const std::vector<std::string>& labels = {});
  // Stacked bars: layers[k][i] is layer k of category i, drawn bottom up.
  void stacked_bars(const std::vector<std::vector<double>>& layers, const std::vector<std::string>& names,
                    const std::vector<int>& colours);
  // A polyline through the points (NaN breaks it).
  void line(const std::vector<double>& x, const std::vector<double>& y, int colour, const std::string& name,
            bool dashed = false);
  // A thin, faint polyline with no legend entry: the raw values under a smoothed line().
  void faint_line(const std::vector<double>& x, const std::vector<double>& y, int colour);
  // Markers with a colour each and an optional text beside each.
  void points(const std::vector<double>& x, const std::vector<double>& y, const std::vector<int>& colours,
              Marker marker, const std::string& name, const std::vector<std::string>& labels = {});
  // A step outline of equal-width bins over [lo, hi] (zero counts drop to the axis on a log
  // axis, where 0 has no place).
  void histogram(double lo, double hi, const std::vector<uint64_t>& counts, int colour, const std::string& name);
  // Reference lines across the plot, with their label at the end.
  void hline(double y, const std::string& label, int colour);
  void vline(double x, const std::string& label, int colour);
  // A legend entry for a colour without a mark of its own (verdict colours).
  void legend_entry(const std::string& name, int colour, Marker marker = Marker::kCircle);

  std::string svg() const;

  // Where a value lands, in pixels (tests check the mapping).
  double px(double x) const;
  double py(double y) const;

 private:
  struct LegendItem {
    std::string name;
    int colour;
    char kind;  // 'l' line, 'b' box, 'm' marker
    Marker marker;
  };
  std::string axes() const;
  double legend(std::string* out) const;
  void add_legend(const std::string& name, int colour, char kind, Marker marker = Marker::kCircle);
  void path(const std::vector<double>& x, const std::vector<double>& y, const std::string& cls);
  double slot_center(size_t i) const;
  double slot_width() const;

  std::string title_;
  Axis x_, y_;
  int width_, height_;
  double left_, right_, top_, bottom_;
  std::string marks_;
  std::vector<LegendItem> legend_;
};

// A grid of cells coloured by value (a sequential, colour-blind-safe ramp; NaN cells empty),
// an optional text in each cell, row and column labels, and a colour key with the unit.
struct Heatmap {
  std::string title;
  std::vector<std::string> rows, cols;
  std::vector<std::vector<double>> values;             // [row][col]
  std::vector<std::vector<std::string>> texts;         // [row][col], may be empty
  std::string value_label;                             // the key's caption, with its unit
  bool log = true;                                     // colour by log10(value)
};
std::string heatmap_svg(const Heatmap& h);

// Tick positions for an axis: 1-2-5 steps on a linear axis, powers of ten on a log axis (with
// 2 and 5 between when the range spans fewer than three decades).
std::vector<double> axis_ticks(const Axis& a);
// A tick's text: "0.5", "1e-3", "128".
std::string tick_text(double v);

}  // namespace bitsmith::report
