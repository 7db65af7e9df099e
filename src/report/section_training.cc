// Training: the loss curves `bitsmith train` writes (--curve FILE.csv or FILE.json, train --json),
// one line per run in the same colour and marker in every chart: the training loss (smoothed,
// every update faint beneath), the held-out loss at each evaluation, and each run's held-out loss
// relative to a reference run (fp32 when one is given) with the +-2% band.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <optional>

#include "bitsmith/core/ascii.h"
#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {

namespace {

using nlohmann::json;

constexpr size_t kMaxDrawn = 2000;  // vertices per line: a longer curve is drawn every k-th update
constexpr double kBandPercent = 2;  // "within 2% of the reference"
constexpr Marker kMarkers[] = {Marker::kCircle, Marker::kSquare, Marker::kTriangle, Marker::kDiamond};

// Okabe-Ito colours 0..6 by run; grey (7) is for the reference lines.
int run_colour(size_t i) { return static_cast<int>(i % (kPaletteSize - 1)); }
Marker run_marker(size_t i) { return kMarkers[i % std::size(kMarkers)]; }

std::string file_stem(const std::string& origin) { return std::filesystem::path(origin).stem().string(); }

// Every k-th value and the last, k chosen so that at most kMaxDrawn remain.
size_t stride_for(size_t n) { return n <= kMaxDrawn ? 1 : (n + kMaxDrawn - 1) / kMaxDrawn; }
std::vector<double> every(const std::vector<double>& v, size_t k) {
  if (k <= 1 || v.empty()) return v;
  std::vector<double> out;
  for (size_t i = 0; i < v.size(); i += k) out.push_back(v[i]);
  if ((v.size() - 1) % k != 0) out.push_back(v.back());
  return out;
}

// The smoothing window: about a fortieth of the longest run, odd; 1 (none) for runs under 60 updates.
size_t smoothing_window(const std::vector<TrainingCurve>& curves) {
  size_t n = 0;
  for (const auto& c : curves) n = std::max(n, c.step.size());
  const size_t w = std::min<size_t>(n / 40, 1001);
  return w < 2 ? 1 : w | 1;
}

// A linear axis over the finite values, 5% of the span added each side.
Axis value_axis(std::string label, const std::vector<const std::vector<double>*>& series, double min_lo = INFINITY,
                double min_hi = -INFINITY) {
  double lo = min_lo, hi = min_hi;
  for (const auto* v : series) {
    for (double x : *v) {
      if (std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
    }
  }
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  // A stranger's +-1e308 would make the span infinite: such values are pinned to the edges.
  lo = std::max(lo, -1e300), hi = std::min(hi, 1e300);
  const double pad = hi > lo ? (hi - lo) * 0.05 : std::max(std::abs(lo) * 0.05, 0.05);
  return {std::move(label), lo - pad, hi + pad};
}

Axis step_axis(const std::vector<TrainingCurve>& curves) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& c : curves) {
    if (!c.step.empty()) lo = std::min(lo, c.step.front()), hi = std::max(hi, c.step.back());
  }
  if (lo <= 0.1 * hi) lo = 0;  // a run from its start: the axis starts at 0
  if (!(hi > lo)) hi = lo + 1;
  return {"step (optimizer updates)", lo, hi};
}

bool is_fp32(std::string_view label) {
  const std::string l = ascii_lower(label);
  return l.ends_with("fp32") && (l.size() == 4 || !std::isalnum(static_cast<unsigned char>(l[l.size() - 5])));
}

// Two runs of one recipe (train --json of two models) are told apart by their files.
void make_labels_unique(std::vector<TrainingCurve>* curves, const std::vector<const Document*>& docs) {
  auto count = [&](const std::string& l) {
    return std::count_if(curves->begin(), curves->end(), [&](const TrainingCurve& c) { return c.label == l; });
  };
  std::vector<bool> clash(curves->size());
  for (size_t i = 0; i < curves->size(); ++i) clash[i] = count((*curves)[i].label) > 1;
  for (size_t i = 0; i < curves->size(); ++i) {
    if (clash[i] && (*curves)[i].label != file_stem(docs[i]->origin)) {
      (*curves)[i].label += " (" + file_stem(docs[i]->origin) + ")";
    }
  }
  for (size_t i = 0; i < curves->size(); ++i) {
    if (count((*curves)[i].label) > 1) (*curves)[i].label += fmt::format(" #{}", i + 1);
  }
}

Chart loss_chart(const std::vector<TrainingCurve>& curves, const Axis& x, size_t window) {
  std::vector<const std::vector<double>*> all;
  for (const auto& c : curves) all.push_back(&c.loss);
  Plot p("Training loss", x, value_axis("training loss (nats/token)", all), 760, 420);
  for (size_t i = 0; i < curves.size(); ++i) {
    const auto& c = curves[i];
    const size_t k = stride_for(c.step.size());
    const auto xs = every(c.step, k);
    if (window > 1) {
      p.faint_line(xs, every(c.loss, k), run_colour(i));
      p.line(xs, every(centred_mean(c.loss, window), k), run_colour(i), c.label);
    } else {
      p.line(xs, every(c.loss, k), run_colour(i), c.label);
    }
  }
  return {"training-loss", "Training loss", p.svg()};
}

Chart val_chart(const std::vector<TrainingCurve>& curves, const Axis& x) {
  std::vector<const std::vector<double>*> all;
  for (const auto& c : curves) all.push_back(&c.val_loss);
  Plot p("Held-out loss", x, value_axis("held-out loss (nats/token)", all), 760, 420);
  for (size_t i = 0; i < curves.size(); ++i) {
    const auto& c = curves[i];
    if (c.val_step.empty()) continue;
    const size_t k = stride_for(c.val_step.size());
    const auto xs = every(c.val_step, k), ys = every(c.val_loss, k);
    p.line(xs, ys, run_colour(i), "");
    p.points(xs, ys, {run_colour(i)}, run_marker(i), c.label);
  }
  return {"training-val", "Held-out loss", p.svg()};
}

// The third chart and its note; no chart when no run shares an evaluated step with the reference.
std::optional<Chart> relative_chart(const std::vector<TrainingCurve>& curves, size_t ref, const Axis& x,
                                    std::vector<std::string>* notes) {
  struct Drawn {
    size_t run;
    std::vector<double> step, percent;
  };
  std::vector<Drawn> drawn;
  std::string last;
  for (size_t i = 0; i < curves.size(); ++i) {
    if (i == ref) continue;
    auto [s, pc] = relative_val_loss(curves[i], curves[ref]);
    if (s.empty()) {
      notes->push_back(fmt::format("{}: no held-out loss at a step where {} measured one: not in the relative chart",
                                   curves[i].label, curves[ref].label));
      continue;
    }
    last += fmt::format("{}{} {:+.2f}% (step {:.0f})", last.empty() ? "" : ", ", curves[i].label, pc.back(), s.back());
    drawn.push_back({i, std::move(s), std::move(pc)});
  }
  if (drawn.empty()) return std::nullopt;
  notes->push_back(fmt::format("held-out loss relative to {} at the last step both measured: {}", curves[ref].label, last));
  std::vector<const std::vector<double>*> all;
  for (const auto& d : drawn) all.push_back(&d.percent);
  const double band = kBandPercent * 1.25;  // the band always in view, with room for its labels
  const std::string title = fmt::format("Held-out loss relative to {}", curves[ref].label);
  Plot p(title, x, value_axis(fmt::format("held-out loss vs {} (%)", curves[ref].label), all, -band, band), 760, 420);
  p.hline(kBandPercent, fmt::format("+{:g}%", kBandPercent), kGrey);
  p.hline(-kBandPercent, fmt::format("-{:g}%", kBandPercent), kGrey);
  const auto& r = curves[ref];
  p.line(r.val_step, std::vector<double>(r.val_step.size(), 0.0), run_colour(ref), r.label + " (reference)");
  for (const auto& d : drawn) {
    const size_t k = stride_for(d.step.size());
    const auto xs = every(d.step, k), ys = every(d.percent, k);
    p.line(xs, ys, run_colour(d.run), "");
    p.points(xs, ys, {run_colour(d.run)}, run_marker(d.run), curves[d.run].label);
  }
  return Chart{"training-relative", title, p.svg()};
}

}  // namespace

TrainingCurve training_curve(const Document& d) {
  TrainingCurve c;
  const json& b = d.body;
  const auto text = [&b](const char* key) {
    const auto it = b.find(key);
    return it != b.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  c.label = text("recipe").empty() ? file_stem(d.origin) : text("recipe");
  if (!text("qat").empty()) c.label += ", QAT " + text("qat");
  const json* points = training_curve_points(b);
  if (!points) return c;
  for (const auto& p : *points) {
    if (!p.is_object() || !p.contains("step")) continue;
    const double step = number_of(p["step"]);
    c.step.push_back(step);
    c.loss.push_back(p.contains("loss") ? number_of(p["loss"]) : NAN);
    const double v = p.contains("val_loss") ? number_of(p["val_loss"]) : NAN;
    if (std::isfinite(v)) c.val_step.push_back(step), c.val_loss.push_back(v);
  }
  return c;
}

std::pair<std::vector<double>, std::vector<double>> relative_val_loss(const TrainingCurve& c,
                                                                      const TrainingCurve& reference) {
  std::vector<double> steps, percents;
  // Both step lists increase (check_training_curve): walk them together.
  for (size_t i = 0, j = 0; i < c.val_step.size() && j < reference.val_step.size();) {
    if (c.val_step[i] < reference.val_step[j]) {
      ++i;
    } else if (c.val_step[i] > reference.val_step[j]) {
      ++j;
    } else {
      if (reference.val_loss[j] > 0) {
        steps.push_back(c.val_step[i]);
        percents.push_back(100 * (c.val_loss[i] / reference.val_loss[j] - 1));
      }
      ++i, ++j;
    }
  }
  return {steps, percents};
}

std::vector<double> centred_mean(const std::vector<double>& v, size_t window) {
  const size_t half = window / 2, n = v.size();
  // Prefix sums of the finite values and their count: O(n) for any window.
  std::vector<double> sum(n + 1, 0.0);
  std::vector<size_t> count(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const bool ok = std::isfinite(v[i]);
    sum[i + 1] = sum[i] + (ok ? v[i] : 0.0);
    count[i + 1] = count[i] + (ok ? 1 : 0);
  }
  std::vector<double> out(n, NAN);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) continue;  // a diverged step stays a gap
    const size_t lo = i >= half ? i - half : 0, hi = std::min(n, i + half + 1);
    out[i] = (sum[hi] - sum[lo]) / static_cast<double>(count[hi] - count[lo]);
  }
  return out;
}

SectionOut training_section(const std::vector<const Document*>& docs) {
  SectionOut s{Section::kTraining, "Training: the loss curves of bitsmith train", "", {}, {}};
  if (docs.empty()) return s;
  std::vector<TrainingCurve> curves;
  for (const Document* d : docs) curves.push_back(training_curve(*d));
  make_labels_unique(&curves, docs);
  size_t ref = 0;
  for (size_t i = 0; i < curves.size(); ++i) {
    if (is_fp32(curves[i].label)) {
      ref = i;
      break;
    }
  }
  bool thinned = false;
  for (size_t i = 0; i < curves.size(); ++i) {
    const auto& c = curves[i];
    thinned = thinned || stride_for(c.step.size()) > 1;
    std::string val = "no held-out loss";
    if (!c.val_step.empty()) {
      val = fmt::format("held-out loss measured {} times, last {:.4f} at step {:.0f}", c.val_step.size(), c.val_loss.back(),
                        c.val_step.back());
    }
    s.notes.push_back(fmt::format("{}: {} ({} updates, steps {:.0f} to {:.0f}; {})", c.label, docs[i]->origin,
                                  c.step.size(), c.step.front(), c.step.back(), val));
  }
  const Axis x = step_axis(curves);
  const size_t window = smoothing_window(curves);
  s.charts.push_back(loss_chart(curves, x, window));
  const bool any_val = std::any_of(curves.begin(), curves.end(), [](const TrainingCurve& c) { return !c.val_step.empty(); });
  if (any_val) s.charts.push_back(val_chart(curves, x));
  std::optional<Chart> relative;
  if (any_val && curves.size() > 1) relative = relative_chart(curves, ref, x, &s.notes);
  if (relative) s.charts.push_back(std::move(*relative));
  if (thinned) s.notes.push_back(fmt::format("runs longer than {} updates are drawn every k-th update", kMaxDrawn));

  s.caption = "How the loss fell while bitsmith train ran, one line per run, in the same colour and marker in every "
              "chart; lower is better, in nats per token. The first chart is the training loss of each update";
  s.caption += window > 1 ? fmt::format(", smoothed: the thick line is the mean of the {} updates centred on each, the "
                                        "faint line beneath it every update's own loss, which jumps from batch to batch.",
                                        window)
                          : ", as measured (no smoothing).";
  if (any_val) {
    s.caption += " The second is the loss on held-out text the run never trained on, measured every few updates "
                 "(markers): the fair comparison between runs.";
  } else {
    s.caption += " No run measured a held-out loss (bitsmith train --eval-every N), so there is no held-out chart.";
  }
  if (relative) {
    s.caption += fmt::format(" The third is each run's held-out loss against {}'s at the same step, in percent: above "
                             "zero the run is worse than {}; inside the dashed band of +-{:g}% it is as good for "
                             "practical purposes.",
                             curves[ref].label, curves[ref].label, kBandPercent);
  }
  return s;
}

}  // namespace bitsmith::report
