// Budgeted mixed precision: one option per tensor minimising the summed measured cost under a
// byte budget (a multiple-choice knapsack), and the recipe that writes the choice.
//
// Solved by dynamic programming over the budget in at most kBudgetUnits units, each option's
// bytes rounded UP to whole units, so the choice always fits the real budget; bytes the rounding
// left over are then spent greedily (best cost decrease per byte). The Lagrangian dual
// (max over lambda >= 0 of sum_t min_o (cost + lambda * bytes) - lambda * budget) is a lower
// bound on the best possible summed cost at that budget, printed beside the achieved cost so
// the gap the discretisation leaves is visible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitsmith/core/status.h"
#include "bitsmith/plan/devices.h"
#include "bitsmith/plan/footprint.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/plan/sensitivity.h"

namespace bitsmith::plan {

inline constexpr int64_t kBudgetUnits = int64_t{1} << 17;

enum class CostKind : uint8_t { kKld, kProxy };
Result<CostKind> parse_cost_kind(std::string_view name);  // "kld" | "proxy"
std::string_view cost_kind_name(CostKind k);

struct Allocation {
  std::vector<size_t> choice;  // per Measurements::tensors entry: index into its options
  uint64_t budget_bytes = 0;
  uint64_t bytes = 0;          // whole model, fixed tensors included
  double bits_per_weight = 0;  // bytes * 8 / every parameter of the model
  double cost = 0;             // summed cost of the choice
  double lower_bound = 0;      // Lagrangian dual bound on the optimum at this budget
};

// The cost of an option as the allocator sees it: a measured KLD below zero (noise around a
// lossless option) counts as zero. Errors: the cost was not measured.
Result<double> option_cost(const CandidateCost& o, CostKind kind, std::string_view tensor);

// Bytes of the whole model at `bpw` bits per weight (every parameter counted, as llama.cpp's
// BPW and plan_bits_per_weight count them).
uint64_t bytes_for_bits_per_weight(const Measurements& m, double bpw);

// Bytes the weights may take on `device` serving `context` tokens for each of `batch` sequences
// with a `kv` cache: capacity - runtime overhead - KV cache - inference workspace (footprint.h's
// formulas, as `advise` itemises them). Errors: nothing left for weights (the message itemises).
Result<uint64_t> weight_budget_on_device(const Device& device, const ModelShape& shape, int64_t context,
                                         int64_t batch, KvCacheType kv);

// Errors: measurements incomplete or lacking the cost, a budget below the smallest choice
// (the message names the minimum in bytes and bits per weight).
Result<Allocation> allocate(const Measurements& m, uint64_t budget_bytes, CostKind kind);

// The recipe that stores each tensor in its chosen scheme: the most common choice as the base,
// one exact-name rule for every other tensor (and always for the embedding and the output).
Recipe recipe_from_allocation(const Measurements& m, const Allocation& a, std::string name);

// The choice in a few lines (allocation_summary.cc): per tensor kind ("attn_v", "ffn_down",
// "token_embd"), each scheme chosen with the layers that got it (-1 outside the blocks), fewest
// bits first, and the measured costs that explain it: the kind's summed cost at its smallest
// option (how sensitive it is) and as chosen.
struct KindChoice {
  std::string kind;
  std::vector<std::pair<std::string, std::vector<int64_t>>> schemes;
  int64_t tensors = 0;
  uint64_t bytes = 0;
  double bits_per_weight = 0;  // of this kind's matrices as chosen
  double smallest_cost = 0;    // summed cost if every tensor of the kind took its smallest option
  double cost = 0;             // summed cost as chosen
};
std::vector<KindChoice> choices_by_kind(const Measurements& m, const Allocation& a, CostKind kind);
// "q5_1 0-3,7; q8_0 4-6,8-29": a kind's schemes with their layers as ranges.
std::string format_kind_schemes(const KindChoice& k);

// The allocation as `bitsmith plan --json` and `bitsmith advise --json` print it: the cost kind,
// budget, bytes, bits per weight, summed cost, bound, each tensor's choice and the per-kind
// summary. Non-finite costs are null.
nlohmann::json allocation_json(const Measurements& m, const Allocation& a, CostKind kind);

}  // namespace bitsmith::plan
