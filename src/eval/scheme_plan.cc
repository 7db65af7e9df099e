#include "bitsmith/eval/scheme_plan.h"

#include "bitsmith/core/tensor_names.h"

namespace bitsmith::eval {

namespace {
// The matrices of the decoder blocks (q/k/v/o, gate/up/down); not the embedding, head or norms.
bool is_block_linear(const ModelTensorInfo& t) {
  const TensorName n = parse_tensor_name(t.name);
  return n.is_weight() && t.shape.rank() == 2 && bitsmith::is_block_linear(n.category);
}
}  // namespace

std::function<const quant::Scheme*(const std::string&)> SchemePlan::chooser() const {
  return [this](const std::string& name) -> const quant::Scheme* {
    auto it = by_tensor.find(name);
    return it == by_tensor.end() ? nullptr : it->second;
  };
}

Result<SchemePlan> plan_schemes(const Model& model, const std::string& scheme_name) {
  SchemePlan plan;
  if (!scheme_name.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(plan.scheme, quant::find_scheme(scheme_name));
  }
  for (const auto& t : model.tensors()) {
    plan.parameters += static_cast<uint64_t>(t.shape.numel());
    if (plan.scheme != nullptr && is_block_linear(t)) {
      const int64_t rows = t.shape[0], cols = t.shape[1];
      if (plan.scheme->check_shape(rows, cols).ok()) {
        plan.by_tensor[t.name] = plan.scheme;
        ++plan.applied;
        plan.bytes += plan.scheme->data_bytes(rows, cols) + plan.scheme->scale_bytes(rows, cols) +
                      plan.scheme->zero_bytes(rows, cols);
        continue;
      }
      plan.kept.push_back(t.name);
    }
    plan.bytes += t.bytes;
  }
  plan.bits_per_weight = plan.parameters > 0
      ? 8.0 * static_cast<double>(plan.bytes) / static_cast<double>(plan.parameters) : 0;
  return plan;
}

Result<SchemePlan> plan_from_tensor_plans(const Model& model, const quant::Scheme* requested,
                                          const std::vector<quant::TensorPlan>& plans, bool mix) {
  SchemePlan plan;
  plan.scheme = requested;
  for (const auto& p : plans) {
    plan.by_tensor[p.name] = p.scheme;
    if (!p.requested.empty() && (mix || (requested != nullptr && p.requested == requested->name()))) {
      plan.kept.push_back(p.name);
    }
  }
  for (const auto& t : model.tensors()) {
    plan.parameters += static_cast<uint64_t>(t.shape.numel());
    auto it = plan.by_tensor.find(t.name);
    const quant::Scheme* s = it == plan.by_tensor.end() ? nullptr : it->second;
    if (s == nullptr) {
      plan.bytes += t.bytes;
      continue;
    }
    const int64_t rows = t.shape.rows(), cols = t.shape.cols();  // a 1-D tensor: one row
    Status ok = s->check_shape(rows, cols);
    if (!ok.ok()) return ok.with_context(fmt::format("{}: tensor '{}'", model.path(), t.name));
    plan.bytes += s->data_bytes(rows, cols) + s->scale_bytes(rows, cols) + s->zero_bytes(rows, cols);
    if (s == requested) ++plan.applied;
  }
  plan.bits_per_weight = plan.parameters > 0
      ? 8.0 * static_cast<double>(plan.bytes) / static_cast<double>(plan.parameters) : 0;
  return plan;
}

Result<SchemePlan> recipe_plan(const Model& model, const plan::Recipe& recipe) {
  BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* requested, quant::find_scheme(recipe.base));
  BITSMITH_ASSIGN_OR_RETURN(auto plans, recipe.resolve(model, recipe.preferred_format()));
  // Every fallback is listed when the recipe asks for several schemes (a mix or rules).
  const bool mix = !recipe.llama_ftype.empty() || !recipe.rules.empty();
  return plan_from_tensor_plans(model, requested, plans, mix);
}

Result<SchemePlan> plan_for_name(const Model& model, const std::string& name, bool linears_only) {
  if (name.empty() || linears_only) return plan_schemes(model, name);
  BITSMITH_ASSIGN_OR_RETURN(plan::Recipe recipe, plan::recipe_for_name_or_file(name));
  return recipe_plan(model, recipe);
}

}  // namespace bitsmith::eval
