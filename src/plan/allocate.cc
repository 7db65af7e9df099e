// The multiple-choice knapsack of allocate.h.
#include "bitsmith/plan/allocate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "bitsmith/core/tensor_names.h"

namespace bitsmith::plan {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Characters ECMAScript regexes treat specially, escaped, so a rule names one tensor exactly.
std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// Lagrangian dual at lambda: sum over tensors of the cheapest cost + lambda * bytes, minus
// lambda * budget; also the bytes of those cheapest choices.
std::pair<double, double> dual(const std::vector<std::vector<double>>& cost,
                               const std::vector<std::vector<double>>& bytes, double lambda, double budget) {
  double value = -lambda * budget, used = 0;
  for (size_t t = 0; t < cost.size(); ++t) {
    double best = kInf, best_bytes = 0;
    for (size_t o = 0; o < cost[t].size(); ++o) {
      const double v = cost[t][o] + lambda * bytes[t][o];
      if (v < best || (v == best && bytes[t][o] < best_bytes)) { best = v; best_bytes = bytes[t][o]; }
    }
    value += best;
    used += best_bytes;
  }
  return {value, used};
}

// The dual is concave in lambda: bisect on the slope (budget - bytes of the cheapest choices).
double lagrangian_bound(const std::vector<std::vector<double>>& cost, const std::vector<std::vector<double>>& bytes,
                        double budget) {
  double lo = 0, hi = 1;
  while (dual(cost, bytes, hi, budget).second > budget && hi < 1e30) hi *= 2;
  double best = dual(cost, bytes, 0, budget).first;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    const auto [v, used] = dual(cost, bytes, mid, budget);
    best = std::max(best, v);
    (used > budget ? lo : hi) = mid;
  }
  return std::max(best, dual(cost, bytes, hi, budget).first);
}

}  // namespace

Result<CostKind> parse_cost_kind(std::string_view name) {
  if (name == "kld") return CostKind::kKld;
  if (name == "proxy") return CostKind::kProxy;
  return invalid_argument("unknown cost '{}' (kld, proxy)", name);
}

std::string_view cost_kind_name(CostKind k) { return k == CostKind::kKld ? "kld" : "proxy"; }

Result<double> option_cost(const CandidateCost& o, CostKind kind, std::string_view tensor) {
  const double c = kind == CostKind::kKld ? o.kld : o.proxy;
  if (!std::isfinite(c)) {
    return invalid_argument("{}: no {} cost measured for {} (measure with {})", tensor, cost_kind_name(kind),
                            o.scheme, kind == CostKind::kKld ? "exact costs" : "the proxy");
  }
  return std::max(c, 0.0);
}

uint64_t bytes_for_bits_per_weight(const Measurements& m, double bpw) {
  return static_cast<uint64_t>(std::floor(bpw * static_cast<double>(m.total_params()) / 8.0));
}

Result<uint64_t> weight_budget_on_device(const Device& device, const ModelShape& shape, int64_t context,
                                         int64_t batch, KvCacheType kv) {
  if (context <= 0 || batch <= 0) return invalid_argument("context and batch must be positive");
  const double kv_bytes = kv_cache_bytes(shape, context, batch, kv);
  const double work = inference_activation_bytes(shape, context, batch);
  const double left = device.bytes - device.runtime_overhead - kv_bytes - work;
  if (!(left > 0)) {
    return invalid_argument("{} ({:.2f} GB) has nothing left for weights: runtime {:.2f} GB + KV cache {:.2f} GB "
                            "({} tokens x {} sequences, {}) + workspace {:.2f} GB",
                            device.name, device.bytes / 1e9, device.runtime_overhead / 1e9, kv_bytes / 1e9, context,
                            batch, kv_cache_name(kv), work / 1e9);
  }
  return static_cast<uint64_t>(left);
}

Result<Allocation> allocate(const Measurements& m, uint64_t budget_bytes, CostKind kind) {
  if (!m.complete()) return invalid_argument("plan: the measurements are incomplete (measure every tensor first)");
  if (m.tensors.empty()) return invalid_argument("plan: no tensors to allocate");
  const uint64_t minimum = m.min_bytes();
  const double params = static_cast<double>(m.total_params());
  if (budget_bytes < minimum) {
    return invalid_argument("plan: a budget of {} bytes ({:.3f} bits per weight) is below the smallest plan of these "
                            "candidates: {} bytes ({:.3f} bits per weight)",
                            budget_bytes, 8.0 * static_cast<double>(budget_bytes) / params, minimum,
                            8.0 * static_cast<double>(minimum) / params);
  }
  const size_t n = m.tensors.size();
  std::vector<std::vector<double>> cost(n), bytes(n);
  for (size_t t = 0; t < n; ++t) {
    for (const auto& o : m.tensors[t].options) {
      BITSMITH_ASSIGN_OR_RETURN(double c, option_cost(o, kind, m.tensors[t].name));
      cost[t].push_back(c);
      bytes[t].push_back(static_cast<double>(o.bytes));
    }
  }
  // Bytes above every tensor's smallest option are what the choice spends.
  const uint64_t spendable = budget_bytes - minimum;
  const uint64_t unit = std::max<uint64_t>(1, (spendable + kBudgetUnits - 1) / kBudgetUnits);
  const auto units = static_cast<size_t>(spendable / unit);
  std::vector<std::vector<uint32_t>> extra(n);  // option bytes above the smallest, in units (rounded up)
  for (size_t t = 0; t < n; ++t) {
    const uint64_t base = m.tensors[t].options.front().bytes;
    for (const auto& o : m.tensors[t].options) extra[t].push_back(static_cast<uint32_t>(std::min<uint64_t>(
        (o.bytes - base + unit - 1) / unit, std::numeric_limits<uint32_t>::max())));
  }
  // best[u]: least cost of the tensors so far spending at most u units; pick[t][u] its option.
  std::vector<double> best(units + 1, 0.0), next(units + 1);
  std::vector<std::vector<uint8_t>> pick(n, std::vector<uint8_t>(units + 1, 0));
  for (size_t t = 0; t < n; ++t) {
    std::fill(next.begin(), next.end(), kInf);
    for (size_t o = 0; o < cost[t].size() && o < 256; ++o) {
      const size_t e = extra[t][o];
      for (size_t u = e; u <= units; ++u) {
        const double v = best[u - e] + cost[t][o];
        if (v < next[u]) { next[u] = v; pick[t][u] = static_cast<uint8_t>(o); }
      }
    }
    best.swap(next);
  }
  Allocation a;
  a.budget_bytes = budget_bytes;
  a.choice.resize(n);
  size_t u = units;
  for (size_t t = n; t-- > 0;) {
    a.choice[t] = pick[t][u];
    u -= extra[t][a.choice[t]];
  }
  uint64_t used = m.fixed_bytes;
  for (size_t t = 0; t < n; ++t) used += m.tensors[t].options[a.choice[t]].bytes;
  // Spend what the rounding left: the upgrade with the best cost decrease per byte that fits.
  for (;;) {
    double best_ratio = 0;
    size_t bt = n, bo = 0;
    for (size_t t = 0; t < n; ++t) {
      const auto& opts = m.tensors[t].options;
      const uint64_t cur = opts[a.choice[t]].bytes;
      for (size_t o = 0; o < opts.size(); ++o) {
        if (opts[o].bytes <= cur || used + (opts[o].bytes - cur) > budget_bytes) continue;
        const double gain = cost[t][a.choice[t]] - cost[t][o];
        const double ratio = gain / static_cast<double>(opts[o].bytes - cur);
        if (gain > 0 && ratio > best_ratio) { best_ratio = ratio; bt = t; bo = o; }
      }
    }
    if (bt == n) break;
    used += m.tensors[bt].options[bo].bytes - m.tensors[bt].options[a.choice[bt]].bytes;
    a.choice[bt] = bo;
  }
  a.bytes = used;
  a.bits_per_weight = 8.0 * static_cast<double>(used) / params;
  for (size_t t = 0; t < n; ++t) a.cost += cost[t][a.choice[t]];
  a.lower_bound = std::min(a.cost, lagrangian_bound(cost, bytes, static_cast<double>(budget_bytes - m.fixed_bytes)));
  return a;
}

Recipe recipe_from_allocation(const Measurements& m, const Allocation& a, std::string name) {
  std::map<std::string, size_t> count;
  for (size_t t = 0; t < m.tensors.size(); ++t) ++count[m.tensors[t].options[a.choice[t]].scheme];
  std::string base;
  size_t most = 0;
  for (const auto& [s, c] : count) {
    if (c > most) { most = c; base = s; }
  }
  Recipe r;
  r.name = std::move(name);
  r.base = base;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    const std::string& chosen = m.tensors[t].options[a.choice[t]].scheme;
    const TensorCategory c = tensor_category(m.tensors[t].name);
    const bool head = c == TensorCategory::kEmbedding || c == TensorCategory::kOutput;
    if (chosen == base && !head) continue;
    RecipeRule rule;
    rule.pattern = fmt::format("^{}$", regex_escape(m.tensors[t].name));
    rule.scheme = chosen;
    r.rules.push_back(std::move(rule));
  }
  return r;
}

}  // namespace bitsmith::plan
