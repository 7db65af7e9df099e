#include "bitsmith/report/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace bitsmith::report {

namespace {

// The palette (Okabe & Ito, "Color Universal Design", 2008): distinguishable under the common
// colour-vision deficiencies. Dark mode swaps the dark blue for sky blue and lifts the grey.
constexpr std::string_view kStyle = R"(svg.bs{--fg:#1a1a1a;--muted:#666;--grid:#d9d9d9;--bg:#fff;)"
    R"(--c0:#0072B2;--c1:#E69F00;--c2:#009E73;--c3:#D55E00;--c4:#56B4E9;--c5:#CC79A7;--c6:#F0E442;--c7:#8c8c8c}
@media (prefers-color-scheme:dark){svg.bs{--fg:#e6e6e6;--muted:#aaa;--grid:#3c3c3c;--bg:#161616;--c0:#56B4E9;--c4:#F0E442;--c6:#9AD0F0;--c7:#a6a6a6}}
@media print{svg.bs{--fg:#000;--muted:#444;--grid:#ccc;--bg:#fff;--c0:#0072B2;--c4:#56B4E9;--c6:#F0E442;--c7:#8c8c8c}}
svg.bs{background:var(--bg)}svg.bs text{fill:var(--fg);font-family:sans-serif;font-size:12px}
svg.bs .t{font-size:14px;font-weight:bold}svg.bs .m{fill:var(--muted);font-size:11px}
svg.bs .ax{stroke:var(--fg);fill:none}svg.bs .gr{stroke:var(--grid);fill:none}
svg.bs .f0{fill:var(--c0)}svg.bs .f1{fill:var(--c1)}svg.bs .f2{fill:var(--c2)}svg.bs .f3{fill:var(--c3)}
svg.bs .f4{fill:var(--c4)}svg.bs .f5{fill:var(--c5)}svg.bs .f6{fill:var(--c6)}svg.bs .f7{fill:var(--c7)}
svg.bs .k0{stroke:var(--c0)}svg.bs .k1{stroke:var(--c1)}svg.bs .k2{stroke:var(--c2)}svg.bs .k3{stroke:var(--c3)}
svg.bs .k4{stroke:var(--c4)}svg.bs .k5{stroke:var(--c5)}svg.bs .k6{stroke:var(--c6)}svg.bs .k7{stroke:var(--c7)}
svg.bs .ln{fill:none;stroke-width:2}svg.bs .dash{stroke-dasharray:6 4}svg.bs .faint{stroke-width:1;stroke-opacity:.3}svg.bs .edge{stroke:var(--bg);stroke-width:0.5})";

std::string num(double v) { return fmt::format("{:.1f}", v); }
int colour_index(int c) { return ((c % kPaletteSize) + kPaletteSize) % kPaletteSize; }

std::string marker_svg(Marker m, double x, double y, int colour, double r = 4.5) {
  const int c = colour_index(colour);
  switch (m) {
    case Marker::kCircle:
      return fmt::format(R"(<circle cx="{}" cy="{}" r="{}" class="f{} edge"/>)", num(x), num(y), num(r), c);
    case Marker::kSquare:
      return fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" class="f{} edge"/>)", num(x - r), num(y - r),
                         num(2 * r), num(2 * r), c);
    case Marker::kTriangle:
      return fmt::format(R"(<path d="M{} {}L{} {}L{} {}Z" class="f{} edge"/>)", num(x), num(y - r * 1.2), num(x + r * 1.1),
                         num(y + r * 0.8), num(x - r * 1.1), num(y + r * 0.8), c);
    case Marker::kDiamond:
      return fmt::format(R"(<path d="M{} {}L{} {}L{} {}L{} {}Z" class="f{} edge"/>)", num(x), num(y - r * 1.3),
                         num(x + r), num(y), num(x), num(y + r * 1.3), num(x - r), num(y), c);
  }
  return {};
}

// Viridis (perceptually uniform, readable in grey and under colour-vision deficiencies), five
// stops interpolated linearly.
std::array<double, 3> ramp(double t) {
  static constexpr std::array<std::array<double, 3>, 5> stops = {
      {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};
  t = std::clamp(t, 0.0, 1.0) * 4;
  const size_t i = std::min<size_t>(3, static_cast<size_t>(t));
  const double f = t - static_cast<double>(i);
  std::array<double, 3> c{};
  for (size_t k = 0; k < 3; ++k) c[k] = stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f;
  return c;
}

std::string svg_open(int width, int height, const std::string& title) {
  return fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" class="bs" width="{}" height="{}" viewBox="0 0 {} {}" )"
                     R"(role="img" aria-label="{}"><style>{}</style><rect width="100%" height="100%" )"
                     R"~(style="fill:var(--bg)"/><text class="t" x="12" y="22">{}</text>)~",
                     width, height, width, height, xml_escape(title), kStyle, xml_escape(title));
}

}  // namespace

std::string_view chart_style() { return kStyle; }

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> axis_ticks(const Axis& a) {
  std::vector<double> t;
  if (!(a.hi > a.lo)) return {a.lo};
  if (a.log) {
    const int d0 = static_cast<int>(std::floor(std::log10(a.lo) + 1e-9));
    const int d1 = static_cast<int>(std::ceil(std::log10(a.hi) - 1e-9));
    const bool fine = d1 - d0 < 3;
    const int step = std::max(1, (d1 - d0 + 7) / 8);  // at most ~8 labelled decades
    for (int d = d0; d <= d1; d += step) {
      for (double m : fine ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
        const double v = m * std::pow(10.0, d);
        if (v >= a.lo * (1 - 1e-9) && v <= a.hi * (1 + 1e-9)) t.push_back(v);
      }
    }
    return t;
  }
  const double raw = (a.hi - a.lo) / 6;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  // At most 64 ticks: where the span is a few units in the last place of its ends (steps near
  // 2^53, two losses one ulp apart), v += step stops moving and the loop would never end.
  for (double v = std::ceil(a.lo / step - 1e-9) * step; v <= a.hi + step * 1e-9 && t.size() < 64; v += step) {
    t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  }
  return t;
}

std::string tick_text(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e-3 && a < 1e6) return fmt::format("{:g}", v);
  const int e = static_cast<int>(std::floor(std::log10(a) + 1e-9));
  const double m = v / std::pow(10.0, e);
  return std::abs(m - 1) < 1e-9 ? fmt::format("1e{}", e) : fmt::format("{:g}e{}", m, e);
}

Plot::Plot(std::string title, Axis x, Axis y, int width, int height)
    : title_(std::move(title)), x_(std::move(x)), y_(std::move(y)), width_(width), height_(height) {
  if (!y_.categories.empty()) {
    y_.lo = -0.5;
    y_.hi = static_cast<double>(y_.categories.size()) - 0.5;
    y_.log = false;
  }
  left_ = y_.categories.empty() ? 72 : 110;
  right_ = width_ - 16.0;
  top_ = 36;
  bottom_ = height_ - (x_.categories.empty() ? 44.0 : 64.0);
}

double Plot::slot_width() const { return (right_ - left_) / static_cast<double>(std::max<size_t>(1, x_.categories.size())); }
double Plot::slot_center(size_t i) const { return left_ + slot_width() * (static_cast<double>(i) + 0.5); }

double Plot::px(double x) const {
  if (x_.log) return left_ + (std::log10(x) - std::log10(x_.lo)) / (std::log10(x_.hi) - std::log10(x_.lo)) * (right_ - left_);
  return left_ + (x - x_.lo) / (x_.hi - x_.lo) * (right_ - left_);
}

double Plot::py(double y) const {
  double f = 0;
  if (y_.log) {
    f = (std::log10(std::max(y, y_.lo)) - std::log10(y_.lo)) / (std::log10(y_.hi) - std::log10(y_.lo));
  } else {
    f = (y - y_.lo) / (y_.hi - y_.lo);
  }
  return bottom_ - std::clamp(f, -0.02, 1.02) * (bottom_ - top_);
}

void Plot::add_legend(const std::string& name, int colour, char kind, Marker marker) {
  if (name.empty()) return;
  for (const auto& l : legend_) {
    if (l.name == name) return;
  }
  legend_.push_back({name, colour, kind, marker});
}

void Plot::legend_entry(const std::string& name, int colour, Marker marker) { add_legend(name, colour, 'm', marker); }

void Plot::stems(const std::vector<double>& x, const std::vector<double>& y, double base, int colour,
                 const std::string& name, bool dots) {
  const int c = colour_index(colour);
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    marks_ += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="k{3}" stroke-width="{4}"/>)", num(px(x[i])),
                          num(py(base)), num(py(y[i])), c, dots ? "1.5" : "1");
    if (dots) marks_ += marker_svg(Marker::kCircle, px(x[i]), py(y[i]), c, 3.5);
  }
  add_legend(name, colour, 'm');
}

void Plot::bars(const std::vector<double>& values, int colour, const std::string& name,
                const std::vector<std::string>& labels) {
  const int c = colour_index(colour);
  const double w = slot_width() * 0.7;
  for (size_t i = 0; i < values.size() && i < x_.categories.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    const double base = y_.log ? y_.lo : std::max(0.0, y_.lo);
    const double y0 = py(base), y1 = py(values[i]);
    marks_ += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" class="f{}"/>)", num(slot_center(i) - w / 2),
                          num(std::min(y0, y1)), num(w), num(std::abs(y0 - y1)), c);
    if (i < labels.size() && !labels[i].empty()) {
      marks_ += fmt::format(R"(<text class="m" x="{}" y="{}" text-anchor="middle">{}</text>)", num(slot_center(i)),
                            num(std::min(y0, y1) - 4), xml_escape(labels[i]));
    }
  }
  add_legend(name, colour, 'b');
}

void Plot::stacked_bars(const std::vector<std::vector<double>>& layers, const std::vector<std::string>& names,
                        const std::vector<int>& colours) {
  const double w = slot_width() * 0.7;
  for (size_t i = 0; i < x_.categories.size(); ++i) {
    double below = 0;
    for (size_t k = 0; k < layers.size(); ++k) {
      const double v = i < layers[k].size() ? layers[k][i] : 0;
      if (!(v > 0)) continue;
      const double y0 = py(below), y1 = py(below + v);
      marks_ += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" class="f{} edge"/>)", num(slot_center(i) - w / 2),
                            num(y1), num(w), num(y0 - y1), colour_index(colours[k % colours.size()]));
      below += v;
    }
  }
  for (size_t k = 0; k < names.size(); ++k) add_legend(names[k], colours[k % colours.size()], 'b');
}

void Plot::path(const std::vector<double>& x, const std::vector<double>& y, const std::string& cls) {
  std::string d;
  bool pen_down = false;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      pen_down = false;
      continue;
    }
    d += fmt::format("{}{} {}", pen_down ? "L" : "M", num(px(x[i])), num(py(y[i])));
    pen_down = true;
  }
  if (!d.empty()) marks_ += fmt::format(R"(<path d="{}" class="{}"/>)", d, cls);
}

void Plot::line(const std::vector<double>& x, const std::vector<double>& y, int colour, const std::string& name,
                bool dashed) {
  path(x, y, fmt::format("ln k{}{}", colour_index(colour), dashed ? " dash" : ""));
  add_legend(name, colour, 'l');
}

void Plot::faint_line(const std::vector<double>& x, const std::vector<double>& y, int colour) {
  path(x, y, fmt::format("ln faint k{}", colour_index(colour)));
}

void Plot::points(const std::vector<double>& x, const std::vector<double>& y, const std::vector<int>& colours,
                  Marker marker, const std::string& name, const std::vector<std::string>& labels) {
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
    const int c = colours.empty() ? 0 : colours[std::min(i, colours.size() - 1)];
    marks_ += marker_svg(marker, px(x[i]), py(y[i]), c);
    if (i < labels.size() && !labels[i].empty()) {
      marks_ += fmt::format(R"(<text class="m" x="{}" y="{}">{}</text>)", num(px(x[i]) + 7), num(py(y[i]) - 6),
                            xml_escape(labels[i]));
    }
  }
  add_legend(name, colours.size() == 1 ? colours[0] : kGrey, 'm', marker);
}

void Plot::histogram(double lo, double hi, const std::vector<uint64_t>& counts, int colour, const std::string& name) {
  if (counts.empty()) return;
  const double w = (hi - lo) / static_cast<double>(counts.size());
  const double floor_y = y_.log ? y_.lo : 0.0;
  std::string d = fmt::format("M{} {}", num(px(lo)), num(py(floor_y)));
  for (size_t i = 0; i < counts.size(); ++i) {
    const double v = counts[i] > 0 ? static_cast<double>(counts[i]) : floor_y;
    const double y = py(v);
    d += fmt::format("L{} {}L{} {}", num(px(lo + w * static_cast<double>(i))), num(y),
                     num(px(lo + w * static_cast<double>(i + 1))), num(y));
  }
  d += fmt::format("L{} {}", num(px(hi)), num(py(floor_y)));
  marks_ += fmt::format(R"(<path d="{}" class="ln k{}" stroke-width="1.5"/>)", d, colour_index(colour));
  add_legend(name, colour, 'l');
}

void Plot::hline(double y, const std::string& label, int colour) {
  const int c = colour_index(colour);
  marks_ += fmt::format(R"(<line x1="{0}" y1="{2}" x2="{1}" y2="{2}" class="ln dash k{3}" stroke-width="1.5"/>)", num(left_),
                        num(right_), num(py(y)), c);
  marks_ += fmt::format(R"(<text class="m" x="{}" y="{}" text-anchor="end">{}</text>)", num(right_ - 4), num(py(y) - 4),
                        xml_escape(label));
}

void Plot::vline(double x, const std::string& label, int colour) {
  const int c = colour_index(colour);
  marks_ += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="ln dash k{3}" stroke-width="1.5"/>)", num(px(x)),
                        num(top_), num(bottom_), c);
  marks_ += fmt::format(R"(<text class="m" x="{}" y="{}">{}</text>)", num(px(x) + 4), num(top_ + 12), xml_escape(label));
}

std::string Plot::axes() const {
  std::string s;
  // Grid and ticks of y (or its category names, one per row).
  for (size_t i = 0; i < y_.categories.size(); ++i) {
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", num(left_ - 6), num(py(static_cast<double>(i)) + 4),
                     xml_escape(y_.categories[i]));
  }
  for (double t : y_.categories.empty() ? axis_ticks(y_) : std::vector<double>{}) {
    const double y = py(t);
    s += fmt::format(R"(<line x1="{0}" y1="{2}" x2="{1}" y2="{2}" class="gr"/>)", num(left_), num(right_), num(y));
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", num(left_ - 6), num(y + 4), tick_text(t));
  }
  if (x_.categories.empty()) {
    for (double t : axis_ticks(x_)) {
      const double x = px(t);
      s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="gr"/>)", num(x), num(top_), num(bottom_));
      s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", num(x), num(bottom_ + 16), tick_text(t));
    }
  } else {
    // Category names turned 30 degrees so long scheme names do not collide.
    for (size_t i = 0; i < x_.categories.size(); ++i) {
      s += fmt::format(R"~(<text x="{0}" y="{1}" text-anchor="end" transform="rotate(-30 {0} {1})">{2}</text>)~",
                       num(slot_center(i) + 4), num(bottom_ + 14), xml_escape(x_.categories[i]));
    }
  }
  s += fmt::format(R"(<path d="M{} {}V{}H{}" class="ax"/>)", num(left_), num(top_), num(bottom_), num(right_));
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", num((left_ + right_) / 2),
                   num(x_.categories.empty() ? bottom_ + 34 : height_ - 6.0), xml_escape(x_.label));
  s += fmt::format(R"~(<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>)~",
                   num((top_ + bottom_) / 2), xml_escape(y_.label));
  return s;
}

// The legend sits below the plot, rows wrapped at the plot's width, so it never covers data;
// it returns the height it adds to the chart.
double Plot::legend(std::string* out) const {
  if (legend_.empty()) return 0;
  double x = left_;
  double y = height_ + 8.0;
  for (const auto& l : legend_) {
    const double w = 28 + 6.5 * static_cast<double>(l.name.size());
    if (x + w > right_ && x > left_) {
      x = left_;
      y += 18;
    }
    const int c = colour_index(l.colour);
    if (l.kind == 'l') {
      *out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" class="ln k{3}"/>)", num(x), num(y - 4), num(x + 16), c);
    } else if (l.kind == 'b') {
      *out += fmt::format(R"(<rect x="{}" y="{}" width="12" height="10" class="f{}"/>)", num(x + 2), num(y - 9), c);
    } else {
      *out += marker_svg(l.marker, x + 8, y - 4, c, 4);
    }
    *out += fmt::format(R"(<text x="{}" y="{}">{}</text>)", num(x + 20), num(y), xml_escape(l.name));
    x += w;
  }
  return y + 8 - height_;
}

std::string Plot::svg() const {
  // The plot area as an element of its own (no paint), so a test can find where the data is.
  std::string body = fmt::format(R"(<rect class="area" x="{}" y="{}" width="{}" height="{}" fill="none"/>)", num(left_), num(top_),
                                 num(right_ - left_), num(bottom_ - top_));
  body += axes() + marks_;
  const double extra = legend(&body);
  std::string s = svg_open(width_, height_ + static_cast<int>(std::ceil(extra)), title_);
  s += body;
  s += "</svg>";
  return s;
}

std::string heatmap_svg(const Heatmap& h) {
  const double left = 150, top = 112, cell_w = std::clamp(560.0 / static_cast<double>(std::max<size_t>(1, h.cols.size())), 40.0, 110.0);
  const double cell_h = std::clamp(480.0 / static_cast<double>(std::max<size_t>(1, h.rows.size())), 9.0, 22.0);
  const double grid_w = cell_w * static_cast<double>(h.cols.size());
  const double grid_h = cell_h * static_cast<double>(h.rows.size());
  const int width = static_cast<int>(left + grid_w + 110);
  const int height = static_cast<int>(top + grid_h + 60);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  auto key = [&h](double v) { return h.log ? std::log10(v) : v; };
  for (const auto& row : h.values) {
    for (double v : row) {
      if (!std::isfinite(v) || (h.log && v <= 0)) continue;
      lo = std::min(lo, key(v));
      hi = std::max(hi, key(v));
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  std::string s = svg_open(width, height, h.title);
  s += fmt::format(R"(<rect class="area" x="{}" y="{}" width="{}" height="{}" fill="none"/>)", num(left), num(top), num(grid_w),
                   num(grid_h));
  for (size_t c = 0; c < h.cols.size(); ++c) {
    // Turned 35 degrees: kind names ("embedding / output", "attn_output") are wider than a cell.
    s += fmt::format(R"~(<text x="{0}" y="{1}" transform="rotate(-35 {0} {1})">{2}</text>)~",
                     num(left + cell_w * (static_cast<double>(c) + 0.5)), num(top - 6), xml_escape(h.cols[c]));
  }
  const bool row_text = cell_h >= 9;
  for (size_t r = 0; r < h.rows.size(); ++r) {
    const double y = top + cell_h * static_cast<double>(r);
    if (row_text) {
      s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end" font-size="{}">{}</text>)", num(left - 6), num(y + cell_h * 0.75),
                       std::min(12.0, cell_h - 1), xml_escape(h.rows[r]));
    }
    for (size_t c = 0; c < h.cols.size(); ++c) {
      const double v = r < h.values.size() && c < h.values[r].size() ? h.values[r][c] : NAN;
      const double x = left + cell_w * static_cast<double>(c);
      if (!std::isfinite(v) || (h.log && v <= 0)) {
        s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" class="gr"/>)", num(x), num(y), num(cell_w), num(cell_h));
        continue;
      }
      const auto rgb = ramp((key(v) - lo) / (hi - lo));
      s += fmt::format(R"~(<rect x="{}" y="{}" width="{}" height="{}" fill="rgb({:.0f},{:.0f},{:.0f})"><title>{} {}: {:.4g}</title></rect>)~",
                       num(x), num(y), num(cell_w), num(cell_h), rgb[0], rgb[1], rgb[2], xml_escape(h.rows[r]),
                       xml_escape(h.cols[c]), v);
      if (r < h.texts.size() && c < h.texts[r].size() && !h.texts[r][c].empty()) {
        const bool light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140;
        s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle" font-size="{}" style="fill:{}">{}</text>)",
                         num(x + cell_w / 2), num(y + cell_h * 0.75), std::min(11.0, cell_h - 1), light ? "#000" : "#fff",
                         xml_escape(h.texts[r][c]));
      }
    }
  }
  // The colour key: the ramp from the smallest to the largest value, labelled at both ends.
  const double kx = left + grid_w + 24, ky = top, kh = std::max(60.0, grid_h);
  for (int i = 0; i < 20; ++i) {
    const auto rgb = ramp(1.0 - i / 19.0);
    s += fmt::format(R"~(<rect x="{}" y="{}" width="14" height="{}" fill="rgb({:.0f},{:.0f},{:.0f})"/>)~", num(kx),
                     num(ky + kh * i / 20.0), num(kh / 20.0 + 0.5), rgb[0], rgb[1], rgb[2]);
  }
  auto back = [&h](double k) { return h.log ? std::pow(10.0, k) : k; };
  s += fmt::format(R"(<text x="{}" y="{}">{}</text>)", num(kx + 18), num(ky + 10), tick_text(back(hi)));
  s += fmt::format(R"(<text x="{}" y="{}">{}</text>)", num(kx + 18), num(ky + kh), tick_text(back(lo)));
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", num(left + grid_w / 2), num(top + grid_h + 30),
                   xml_escape(h.value_label));
  s += "</svg>";
  return s;
}

}  // namespace bitsmith::report
