// Weight-memory planning: bytes of a model's weights under each scheme at its true bits per
// weight (scales and zero points counted), next to the naive element bits, and which devices
// hold them. Weights only: KV cache, activations and runtime overhead come on top.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitsmith/core/status.h"
#include "bitsmith/core/model.h"
#include "bitsmith/plan/devices.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::plan {

// "70e9", "70B", "7.2B", "135M", "1.5T", "350K", "7000000" (case-insensitive suffix) -> count.
Result<double> parse_param_count(std::string_view text);

// Sizes in decimal units, as vendors quote them: "80GB", "80G", "80" (GB), "24GiB", "1.5TB".
Result<double> parse_size_bytes(std::string_view text);

struct MemoryRow {
  std::string label;                    // the scheme's or the recipe's name
  const quant::Scheme* scheme = nullptr;  // the scheme, or the recipe's base
  double bits_per_weight = 0;  // true figure from the scheme's traits
  double naive_bits = 0;       // element bits only (what "4-bit" suggests)
  double bytes = 0;
  double naive_bytes = 0;
  std::vector<bool> fits;      // per device, bytes <= capacity
};

struct MemoryPlan {
  double params = 0;
  std::vector<Device> devices;
  std::vector<MemoryRow> rows;
};

// `bitsmith memory --json`'s document (Python's bitsmith.memory() returns the same): params,
// devices, one row per scheme or recipe with what each device holds.
nlohmann::json to_json(const MemoryPlan& plan);

// Element bits of a scheme (4 for nvfp4, 8 for int8, 16 for fp16; a GGUF type's nominal bits).
double naive_bits(const quant::Scheme& s);

// Schemes `bitsmith memory` shows without --schemes: the lab's comparison set, where present.
std::vector<const quant::Scheme*> default_memory_schemes();

Result<MemoryPlan> plan_memory(double params, std::span<const quant::Scheme* const> schemes,
                               std::vector<Device> devices);

// The same for a real model and recipes (uniform schemes included): each recipe resolved on the
// model as quantize would write it (head rule, mixes, fallbacks, F32 norms), so bits per weight
// are the written file's. A recipe's bits depend on the model's shapes, so recipes need a model.
Result<MemoryPlan> plan_memory_for_model(const Model& model, std::span<const Recipe> recipes,
                                         std::vector<Device> devices);

}  // namespace bitsmith::plan
