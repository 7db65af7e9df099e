// Memory: the bytes of the weights per scheme (`memory` documents) and, from the advisor
// (`advise` documents), the whole footprint stacked: weights, KV cache, activations, runtime,
// against the capacity of devices.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {

namespace {

using nlohmann::json;

constexpr double kGB = 1e9;

// Device lines that fit the chart's scale (a 24 GB card next to a 0.1 GB model would squash
// every bar to nothing); the others are named in the notes.
double draw_devices(Plot* p, const std::vector<std::pair<std::string, double>>& devices, double tallest,
                    std::vector<std::string>* off_chart, bool draw) {
  double top = tallest * 1.15;
  for (const auto& [name, bytes] : devices) {
    if (bytes / kGB <= tallest * 4) top = std::max(top, bytes / kGB * 1.08);
  }
  if (!draw) return top;
  int colour = 3;
  for (const auto& [name, bytes] : devices) {
    if (bytes / kGB * 1.08 <= top) {
      p->hline(bytes / kGB, fmt::format("{} {:g} GB", name, bytes / kGB), colour++);
    } else {
      off_chart->push_back(fmt::format("{} ({:g} GB)", name, bytes / kGB));
    }
  }
  return top;
}

Chart weights_chart(const json& doc, const std::string& id, std::vector<std::string>* off_chart) {
  Axis cats{"scheme"};
  std::vector<double> gb;
  std::vector<std::string> labels;
  double tallest = 0;
  for (const auto& r : doc["results"]) {
    cats.categories.push_back(r.value("scheme", "?"));
    const double b = number_of(r["bytes"]) / kGB, bpw = number_of(r["bits_per_weight"]);
    gb.push_back(b);
    labels.push_back(bpw > 0 ? fmt::format("x{:.1f}", 16 / bpw) : "");
    tallest = std::max(tallest, b);
  }
  std::vector<std::pair<std::string, double>> devices;
  for (const auto& d : doc["devices"]) devices.push_back({d.value("name", "?"), number_of(d["bytes"])});
  const double params = number_of(doc["params"]);
  const std::string title = fmt::format("Weights of {:.4g} parameters per scheme (bar label: compression vs 16-bit)", params);
  Plot probe(title, cats, {"GB (1e9 bytes)", 0, 1});
  const double top = draw_devices(&probe, devices, tallest, off_chart, false);
  Plot p(title, cats, {"GB (1e9 bytes)", 0, top > 0 ? top : 1});
  p.bars(gb, 0, "weights, scales included", labels);
  draw_devices(&p, devices, tallest, off_chart, true);
  return {id, "Weights per scheme", p.svg()};
}

Chart footprint_chart(const json& doc, const std::string& id, std::vector<std::string>* off_chart) {
  Axis cats{"scheme"};
  std::vector<std::vector<double>> layers(4);
  double tallest = 0;
  for (const auto& a : doc["alternatives"]) {
    cats.categories.push_back(a.value("scheme", "?"));
    const double w = number_of(a["weight_bytes"]) / kGB, kv = number_of(a["kv_cache_bytes"]) / kGB,
                 act = number_of(a["activation_bytes"]) / kGB, total = number_of(a["total_bytes"]) / kGB;
    const double rest = std::max(0.0, total - w - kv - act);
    for (auto [k, v] : {std::pair{0, w}, {1, kv}, {2, act}, {3, rest}}) layers[static_cast<size_t>(k)].push_back(std::isfinite(v) ? v : 0);
    tallest = std::max(tallest, total);
  }
  const json& dev = doc["device"];
  const json& req = doc["request"];
  std::vector<std::pair<std::string, double>> devices = {{dev.value("name", "device"), number_of(dev["bytes"])}};
  const std::string title = fmt::format("{}: memory on {} ({} tokens of context, batch {}, KV cache {})",
                                        req.value("task", "inference"), dev.value("name", "?"), req.value("context", 0),
                                        req.value("batch", 1), req.value("kv_cache", "fp16"));
  Plot probe(title, cats, {"GB (1e9 bytes)", 0, 1});
  const double top = draw_devices(&probe, devices, tallest, off_chart, false);
  Plot p(title, cats, {"GB (1e9 bytes)", 0, top > 0 ? top : 1});
  p.stacked_bars(layers, {"weights", "KV cache", "activations", "runtime and workspace"}, {0, 1, 2, 5});
  draw_devices(&p, devices, tallest, off_chart, true);
  return {id, "Memory with KV cache", p.svg()};
}

}  // namespace

SectionOut memory_section(const std::vector<const Document*>& docs) {
  SectionOut s{Section::kMemory, "Memory: what fits where", "", {}, {}};
  s.caption =
      "How much memory the model takes in each precision. The weights shrink with the bits per weight (the label "
      "on each bar is the saving against 16-bit); running the model also needs a KV cache that grows with the "
      "context, activations, and the runtime's own memory, which the advisor adds on top. A dashed line is a "
      "device's capacity: a bar below it fits. The advisor counts exact bytes; a real runtime may need a little "
      "more.";
  int n_memory = 0, n_advice = 0;
  for (const Document* d : docs) {
    std::vector<std::string> off;
    if (d->kind == DocumentKind::kMemory) {
      const std::string id = n_memory++ ? fmt::format("memory-weights-{}", n_memory) : "memory-weights";
      s.charts.push_back(weights_chart(d->body, id, &off));
    } else {
      const std::string id = n_advice++ ? fmt::format("memory-footprint-{}", n_advice) : "memory-footprint";
      s.charts.push_back(footprint_chart(d->body, id, &off));
      if (d->body.contains("recommendation") && d->body["recommendation"].is_string()) {
        s.notes.push_back(fmt::format("The advisor recommends {}: {}", d->body["recommendation"].get<std::string>(),
                                      d->body.value("reasoning", "")));
      }
    }
    std::string where = fmt::format("{}: {}", s.charts.back().id, d->origin);
    if (!off.empty()) {
      where += "; devices far above the bars, left off the chart:";
      for (const auto& o : off) where += " " + o;
    }
    s.notes.push_back(where);
  }
  return s;
}

}  // namespace bitsmith::report
