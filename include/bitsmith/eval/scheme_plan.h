// What `eval --scheme` and `compare` fake-quantize, and what the quantized model would weigh.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/quant/tensor_plan.h"

namespace bitsmith::eval {

// Which scheme each matrix gets for a fake-quant run, and what the model would weigh.
// `eval`/`compare` build it from the very per-tensor plan `bitsmith quantize` writes
// (plan::Recipe::resolve, computed by the caller) with plan_from_tensor_plans; plan_schemes is
// the narrower "block linears only" plan.
struct SchemePlan {
  const quant::Scheme* scheme = nullptr;  // the requested scheme; null: nothing quantized
  std::map<std::string, const quant::Scheme*> by_tensor;
  // Tensors the requested scheme could not hold: kept at stored precision (plan_schemes) or
  // given a fallback scheme (plan_from_map; the scheme is in by_tensor).
  std::vector<std::string> kept;
  int64_t applied = 0;  // tensors stored in the requested scheme itself
  uint64_t bytes = 0;
  uint64_t parameters = 0;
  double bits_per_weight = 0;
  // For EngineOptions::weight_scheme_for; the plan must outlive the engine.
  std::function<const quant::Scheme*(const std::string&)> chooser() const;
};
// Block linears only (blk.N.*.weight, 2-D) take the scheme; a linear whose shape the scheme
// rejects (stories260K's 172-wide ffn_down under 32-blocks) keeps its stored precision and is
// listed in `kept`; embedding, output and norms keep their stored precision. bytes: the model
// with kept tensors at their file bytes. scheme_name empty: the model as stored.
Result<SchemePlan> plan_schemes(const Model& model, const std::string& scheme_name);
// Every tensor of `plans` is stored in its scheme (bytes from the scheme's layout, as a writer
// stores them); a tensor the plan leaves out keeps its file bytes. `requested` (the recipe's
// base scheme) counts `applied`; `kept` lists the tensors a fallback moved off `requested`
// (every fallback when `mix`: a recipe asks for several schemes).
Result<SchemePlan> plan_from_tensor_plans(const Model& model, const quant::Scheme* requested,
                                          const std::vector<quant::TensorPlan>& plans, bool mix);

// The model exactly as `bitsmith quantize` writes it with `recipe` (plan::Recipe::resolve: the
// same per-tensor plan, fallbacks included), in the recipe's preferred format.
Result<SchemePlan> recipe_plan(const Model& model, const plan::Recipe& recipe);
// A name where a scheme is expected (a scheme, a named recipe or a recipe file), planned as
// quantize writes it; linears_only: plan_schemes (a plain scheme on the fitting block linears).
Result<SchemePlan> plan_for_name(const Model& model, const std::string& name, bool linears_only);

}  // namespace bitsmith::eval
