// The allocation in words and JSON (allocate.h): per-kind choices and the document plan and
// advise print.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/plan/allocate.h"

namespace bitsmith::plan {
namespace {

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double bits_of(const CandidateCost& o, const TensorCosts& t) {
  const double n = static_cast<double>(t.rows) * static_cast<double>(t.cols);
  return n > 0 ? 8.0 * static_cast<double>(o.bytes) / n : 0;
}

// "0-3,7,9-12" from ascending layer numbers.
std::string layer_ranges(const std::vector<int64_t>& layers) {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j > i ? fmt::format("{}-{}", layers[i], layers[j]) : fmt::format("{}", layers[i]);
    i = j + 1;
  }
  return out;
}

}  // namespace

std::vector<KindChoice> choices_by_kind(const Measurements& m, const Allocation& a, CostKind kind) {
  struct Acc {
    KindChoice k;
    std::map<std::string, std::pair<double, std::vector<int64_t>>> schemes;  // scheme -> (bits, layers)
    double params = 0;
  };
  std::map<std::string, Acc> by;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    const TensorCosts& tc = m.tensors[t];
    const CandidateCost& o = tc.options[a.choice[t]];
    const TensorName n = parse_tensor_name(tc.name);
    Acc& acc = by[n.kind];
    acc.k.kind = n.kind;
    ++acc.k.tensors;
    acc.k.bytes += o.bytes;
    acc.params += static_cast<double>(tc.rows) * static_cast<double>(tc.cols);
    auto cost_of = [&](const CandidateCost& c) {
      auto r = option_cost(c, kind, tc.name);
      return r.ok() ? *r : 0.0;
    };
    acc.k.cost += cost_of(o);
    acc.k.smallest_cost += cost_of(tc.options.front());
    auto& entry = acc.schemes[o.scheme];
    entry.first = bits_of(o, tc);
    if (n.layer >= 0) entry.second.push_back(n.layer);
  }
  std::vector<KindChoice> out;
  for (auto& [name, acc] : by) {
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [s, v] : acc.schemes) order.emplace_back(v.first, s);
    std::sort(order.begin(), order.end());
    for (const auto& [bits, s] : order) {
      std::vector<int64_t> layers = acc.schemes[s].second;
      std::sort(layers.begin(), layers.end());
      acc.k.schemes.emplace_back(s, std::move(layers));
    }
    acc.k.bits_per_weight = acc.params > 0 ? 8.0 * static_cast<double>(acc.k.bytes) / acc.params : 0;
    out.push_back(std::move(acc.k));
  }
  return out;
}

std::string format_kind_schemes(const KindChoice& k) {
  std::string out;
  for (const auto& [scheme, layers] : k.schemes) {
    if (!out.empty()) out += "; ";
    out += scheme;
    if (!layers.empty()) {
      out += ' ';
      out += layer_ranges(layers);
    }
  }
  return out;
}

nlohmann::json allocation_json(const Measurements& m, const Allocation& a, CostKind kind) {
  nlohmann::json tensors = nlohmann::json::array();
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    const auto& o = m.tensors[t].options[a.choice[t]];
    tensors.push_back({{"name", m.tensors[t].name}, {"scheme", o.scheme}, {"bytes", o.bytes},
                       {"kld", finite_or_null(o.kld)}, {"proxy", finite_or_null(o.proxy)}});
  }
  nlohmann::json kinds = nlohmann::json::array();
  for (const auto& k : choices_by_kind(m, a, kind)) {
    nlohmann::json schemes = nlohmann::json::array();
    for (const auto& [s, layers] : k.schemes) schemes.push_back({{"scheme", s}, {"layers", layers}});
    kinds.push_back({{"kind", k.kind}, {"tensors", k.tensors}, {"bytes", k.bytes},
                     {"bits_per_weight", finite_or_null(k.bits_per_weight)}, {"schemes", schemes},
                     {"cost_at_smallest", finite_or_null(k.smallest_cost)}, {"cost", finite_or_null(k.cost)}});
  }
  return {{"cost", cost_kind_name(kind)}, {"budget_bytes", a.budget_bytes}, {"bytes", a.bytes},
          {"bits_per_weight", finite_or_null(a.bits_per_weight)}, {"summed_cost", finite_or_null(a.cost)},
          {"lower_bound", finite_or_null(a.lower_bound)}, {"tensors", tensors}, {"by_kind", kinds}};
}

}  // namespace bitsmith::plan
