// Quality (KL divergence and perplexity against bits per weight, from `compare`, `plan` and
// llama.cpp's figures) and sensitivity (the planner's measured costs per layer and tensor kind).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/eval/evaluator.h"
#include "bitsmith/plan/sensitivity.h"
#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {

namespace {

using nlohmann::json;

// Verdict colours, best to worst: bluish green, sky blue, orange, vermillion (Okabe-Ito), so
// the order survives colour-vision deficiencies; the scheme's name is printed beside each point.
int verdict_colour(std::string_view v) {
  if (v.starts_with("excellent")) return 2;
  if (v.starts_with("good")) return 4;
  if (v.starts_with("acceptable")) return 1;
  if (v.starts_with("too aggressive")) return 3;
  return kGrey;
}

struct Point {
  double bpw, y;
  int colour;
  std::string label;
};

struct Series {
  std::string name;
  Marker marker;
  std::vector<Point> points;
};

void add(Series* s, double bpw, double y, int colour, std::string label) {
  if (std::isfinite(bpw) && std::isfinite(y)) s->points.push_back({bpw, y, colour, std::move(label)});
}

Chart scatter(const std::string& id, const std::string& title, const std::vector<Series>& series, bool log_y,
              const std::string& y_label, const std::vector<std::pair<double, double>>& front) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series) {
    for (const auto& p : s.points) {
      if (log_y && !(p.y > 0)) continue;
      x0 = std::min(x0, p.bpw), x1 = std::max(x1, p.bpw), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    }
  }
  if (!(x1 >= x0)) x0 = 0, x1 = 16, y0 = log_y ? 1e-3 : 0, y1 = 1;
  Axis y{y_label, y0, y1, log_y};
  if (log_y) {
    y.lo = std::pow(10.0, std::floor(std::log10(y0)));
    y.hi = std::pow(10.0, std::ceil(std::log10(y1 * 1.5)));
  } else {
    const double pad = std::max(0.05, (y1 - y0) * 0.1);
    y.lo = std::min(0.0, y0 - pad);
    y.hi = y1 + pad;
  }
  Plot p(title, {"bits per weight (whole model, scales included)", std::floor(x0 - 0.3), std::ceil(x1 + 0.3)}, y, 760, 420);
  if (front.size() >= 2) {
    std::vector<double> fx, fy;
    for (const auto& [a, b] : front) fx.push_back(a), fy.push_back(b);
    p.line(fx, fy, kGrey, "Pareto front (no scheme smaller and better)", true);
  }
  for (const auto& s : series) {
    std::vector<double> x, yv;
    std::vector<int> c;
    std::vector<std::string> labels;
    for (const auto& pt : s.points) {
      if (log_y && !(pt.y > 0)) continue;
      x.push_back(pt.bpw), yv.push_back(pt.y), c.push_back(pt.colour), labels.push_back(pt.label);
    }
    if (!x.empty()) p.points(x, yv, c, s.marker, s.name, labels);
  }
  for (const char* v : {"excellent", "good", "acceptable", "too aggressive"}) p.legend_entry(v, verdict_colour(v));
  return {id, title, p.svg()};
}

}  // namespace

SectionOut quality_section(const std::vector<const Document*>& docs) {
  SectionOut s{Section::kQuality, "Quality: what the bits cost in model output", "", {}, {}};
  s.caption =
      "Each point is one way of storing the whole model, placed by its size (bits per weight) and by how much its "
      "next-token predictions drift from the original's (mean KL divergence, log scale: lower is better). The "
      "colour is bitsmith's verdict from the KL divergence and top-1 agreement together; the dashed line joins the "
      "schemes no other beats on both size and quality, so a point above it is never the right choice. Planned "
      "mixes show their summed per-tensor costs, an estimate of the same quantity; llama.cpp's figures, when "
      "given, come from llama-perplexity on the same kind of text.";
  Series measured{"compare (circles)", Marker::kCircle, {}}, planned{"plan: summed per-tensor KLD (diamonds)", Marker::kDiamond, {}};
  Series peer{"llama.cpp mixes, llama-perplexity (squares)", Marker::kSquare, {}};
  Series peer_planned{"planned mixes, llama-perplexity (diamonds)", Marker::kDiamond, {}};
  Series peer_uniform{"bitsmith's mixes with GPTQ, llama-perplexity (triangles)", Marker::kTriangle, {}};
  Series delta{"compare", Marker::kCircle, {}};
  std::vector<std::pair<double, double>> front;
  for (const Document* d : docs) {
    const json& b = d->body;
    s.notes.push_back(fmt::format("{} document: {}", document_kind_name(d->kind), d->origin));
    if (d->kind == DocumentKind::kCompare) {
      std::vector<std::string> pareto;
      for (const auto& n : b.value("pareto", json::array())) pareto.push_back(n.get<std::string>());
      for (const auto& r : b["results"]) {
        const double bpw = number_of(r["bits_per_weight"]), kld = number_of(r["kld"]);
        const std::string name = r.value("scheme", "?");
        add(&measured, bpw, kld, verdict_colour(r.value("verdict", "")), name);
        add(&delta, bpw, number_of(r["delta_ppl"]), verdict_colour(r.value("ppl_verdict", "")), name);
        if (std::find(pareto.begin(), pareto.end(), name) != pareto.end() && kld > 0) front.push_back({bpw, kld});
      }
    } else if (d->kind == DocumentKind::kAllocation) {
      const json& a = b["allocation"];
      if (a.value("cost", "") == "kld") {
        add(&planned, number_of(a["bits_per_weight"]), number_of(a["summed_cost"]), kGrey,
            fmt::format("planned {:.2f}", number_of(a["bits_per_weight"])));
      } else {
        s.notes.push_back(d->origin + ": planned on the proxy cost, which is not a KL divergence; not drawn");
      }
    } else if (d->kind == DocumentKind::kPeerComparison) {
      for (const auto& row : b) {
        auto one = [&](const char* key, Series* into, const std::string& label) {
          if (!row.contains(key) || !row[key].is_object()) return;
          const json& m = row[key];
          // llama-perplexity prints "Same top p" in percent.
          const double top1 = number_of(m.value("top1", json(NAN))) / 100;
          const double kld = number_of(m.value("kld", json(NAN)));
          add(into, number_of(m.value("bpw", json(NAN))), kld, verdict_colour(eval::verdict(kld, top1)), label);
        };
        const std::string mix = row.value("mix", "");
        one("llamacpp", &peer, mix);
        one("planned", &peer_planned, mix.empty() ? fmt::format("planned {}", row.value("target_bpw", 0.0)) : "");
        one("bitsmith_mix_gptq", &peer_uniform, "");
      }
    }
  }
  std::sort(front.begin(), front.end());
  std::vector<Series> kl;
  for (Series* x : {&measured, &planned, &peer, &peer_planned, &peer_uniform}) {
    if (!x->points.empty()) kl.push_back(*x);
  }
  if (!kl.empty()) {
    s.charts.push_back(scatter("quality-kld", "KL divergence against bits per weight", kl, true,
                               "mean KL divergence (nats/token, log scale)", front));
  }
  if (!delta.points.empty()) {
    s.charts.push_back(scatter("quality-ppl", "Perplexity increase against bits per weight", {delta}, false,
                               "perplexity - baseline perplexity", {}));
  }
  return s;
}

Result<SectionOut> sensitivity_section(const std::vector<const Document*>& docs) {
  SectionOut s{Section::kSensitivity, "Sensitivity: which tensors the planner protects", "", {}, {}};
  s.caption =
      "The planner measures, for every matrix of the model, how much the output drifts when only that matrix is "
      "stored in its smallest candidate scheme. Each cell is one matrix (row: layer, column: what the matrix "
      "does); brighter means more sensitive. Where a plan was given, the cell also names the scheme the planner "
      "chose for it under its byte budget: sensitive matrices get more bits, robust ones fewer.";
  const Document* measured = nullptr;
  std::map<std::string, std::string> chosen;
  for (const Document* d : docs) {
    if (d->kind == DocumentKind::kMeasurements && !measured) measured = d;
    if (d->kind == DocumentKind::kAllocation && chosen.empty()) {
      for (const auto& t : d->body["allocation"]["tensors"]) chosen[t.value("name", "")] = t.value("scheme", "");
      s.notes.push_back("chosen mix: " + d->origin);
    }
  }
  if (!measured) return s;
  BITSMITH_ASSIGN_OR_RETURN(plan::Measurements m, plan::Measurements::from_json(measured->body.dump(), measured->origin));
  s.notes.push_back("measurements: " + measured->origin);
  const bool kld = m.config.costs != "proxy";
  Heatmap h;
  h.title = fmt::format("Sensitivity per matrix ({} costs, method {})", m.config.costs, m.config.method);
  // Rows: the token embedding, the layers in order, the output head; columns: a layer's matrices
  // in the order the forward pass uses them, kinds the list does not know after them.
  struct Cell {
    int64_t row;
    int col;
    std::string row_label, col_label;
    double value;
    std::string text;
  };
  static constexpr std::string_view kOrder[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  std::vector<Cell> cells;
  for (const auto& t : m.tensors) {
    if (t.options.empty()) continue;
    const TensorName n = parse_tensor_name(t.name);
    Cell c;
    c.row = n.layer >= 0 ? n.layer : (n.kind == "token_embd" ? -1 : (int64_t{1} << 40));
    c.row_label = n.layer >= 0 ? fmt::format("layer {}", n.layer) : n.kind;
    c.col_label = n.layer >= 0 ? n.kind : "embedding / output";
    c.col = n.layer >= 0 ? static_cast<int>(std::find(std::begin(kOrder), std::end(kOrder), n.kind) - std::begin(kOrder)) : -1;
    const auto& smallest = t.options.front();
    c.value = kld ? smallest.kld : smallest.proxy;
    const auto it = chosen.find(t.name);
    c.text = it != chosen.end() ? it->second : "";
    cells.push_back(std::move(c));
  }
  std::map<std::pair<int64_t, std::string>, size_t> rows;
  std::map<std::pair<int, std::string>, size_t> cols;
  for (const auto& c : cells) rows[{c.row, c.row_label}] = 0, cols[{c.col, c.col_label}] = 0;
  for (auto& [key, index] : rows) index = h.rows.size(), h.rows.push_back(key.second);
  for (auto& [key, index] : cols) index = h.cols.size(), h.cols.push_back(key.second);
  h.values.assign(h.rows.size(), std::vector<double>(h.cols.size(), NAN));
  h.texts.assign(h.rows.size(), std::vector<std::string>(h.cols.size()));
  for (const auto& c : cells) {
    const size_t r = rows[{c.row, c.row_label}], k = cols[{c.col, c.col_label}];
    h.values[r][k] = c.value;
    h.texts[r][k] = c.text;
  }
  h.value_label = kld ? "mean KL divergence (nats/token) with only this matrix in its smallest option, log colour"
                      : "proxy ||dW x||^2 with this matrix in its smallest option, log colour";
  s.charts.push_back({"sensitivity-heatmap", "Sensitivity heatmap", heatmap_svg(h)});
  return s;
}

}  // namespace bitsmith::report
