// Recipe::resolve: the one place a tensor's scheme is decided. Order per tensor: 1-D tensors and
// norms stay F32; the first matching rule; else the base scheme through llama.cpp's mix (GGUF
// block bases) or the embedding/head policy (other quantized bases); then the format check and
// the fallback when the rows do not fit the chosen scheme's blocks.
#include "bitsmith/plan/recipe.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "bitsmith/core/ascii.h"
#include "llama_mix.h"

namespace bitsmith::plan {
namespace {

using quant::OutputFormat;
using quant::Scheme;

Result<const Scheme*> scheme(std::string_view name) { return quant::find_scheme(name); }

bool gguf_storable(const Scheme& s) { return quant::gguf_type_of(s) >= 0; }
bool is_block_type(const Scheme& s) { return s.traits().gguf_type >= 0; }
bool is_plain(const Scheme& s) { return s.traits().granularity == quant::Granularity::kElement; }

// llama.cpp's fallback when a block type's row length does not divide (tensor_type_fallback in
// llama-quant.cpp): the 256-block k-quants step to a 32-block type of about the same bits.
std::string llama_fallback(const std::string& s) {
  if (s == "q2_k" || s == "q3_k") return "q4_0";
  if (s == "q4_k") return "q5_0";
  if (s == "q5_k") return "q5_1";
  if (s == "q6_k") return "q8_0";
  if (s == "iq4_xs") return "iq4_nl";
  return "";
}

// The listed scheme nearest in bits per weight (ties: more bits) that fits rows x cols and the
// output format; fp16 when nothing quantized fits.
Result<const Scheme*> nearest_fitting(const Scheme& want, int64_t rows, int64_t cols, OutputFormat fmt) {
  const Scheme* best = nullptr;
  auto dist = [&](const Scheme* x) { return std::abs(x->traits().bits_per_weight - want.traits().bits_per_weight); };
  for (const Scheme* s : quant::listed_schemes()) {
    if (is_plain(*s)) continue;
    if (fmt == OutputFormat::kGguf && !gguf_storable(*s)) continue;
    if (!s->check_shape(rows, cols).ok()) continue;
    if (!best || dist(s) < dist(best) ||
        (dist(s) == dist(best) && s->traits().bits_per_weight > best->traits().bits_per_weight)) {
      best = s;
    }
  }
  if (best) return best;
  return scheme("fp16");
}

struct CompiledRule {
  const RecipeRule* rule;
  const Scheme* scheme;
  std::optional<std::regex> re;
};

bool matches(const CompiledRule& r, const TensorName& n, const std::string& name) {
  const RecipeRule& x = *r.rule;
  if (x.category && *x.category != n.category) return false;
  if (x.layer_min >= 0 || x.layer_max >= 0) {
    if (n.layer < 0) return false;
    if (x.layer_min >= 0 && n.layer < x.layer_min) return false;
    if (x.layer_max >= 0 && n.layer > x.layer_max) return false;
  }
  return !r.re || std::regex_search(name, *r.re);
}

std::string describe(const RecipeRule& r) {
  std::string d;
  if (r.category) d += std::string(category_name(*r.category));
  if (!r.pattern.empty()) d += (d.empty() ? "" : " ") + fmt::format("/{}/", r.pattern);
  if (r.layer_min >= 0 || r.layer_max >= 0) {
    d += (d.empty() ? "" : " ") + fmt::format("layers {}..{}", r.layer_min < 0 ? 0 : r.layer_min,
                                               r.layer_max < 0 ? std::string("") : std::to_string(r.layer_max));
  }
  return "rule " + (d.empty() ? std::string("*") : d);
}

Result<std::vector<CompiledRule>> compile(const std::vector<RecipeRule>& rules) {
  std::vector<CompiledRule> out;
  for (const auto& r : rules) {
    auto s = scheme(r.scheme);
    if (!s.ok()) return s.status().with_context(describe(r));
    CompiledRule c{&r, *s, std::nullopt};
    if (!r.pattern.empty()) {
      try {
        c.re.emplace(r.pattern);
      } catch (const std::regex_error& e) {
        return invalid_argument("rule '{}={}': bad regular expression: {}", r.pattern, r.scheme, e.what());
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Result<const Scheme*> fallback_scheme(const Scheme& s, int64_t rows, int64_t cols, OutputFormat format) {
  const std::string fb = llama_fallback(s.name());
  if (!fb.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(const Scheme* next, scheme(fb));
    if (next->check_shape(rows, cols).ok()) return next;
  }
  if (is_block_type(s)) return scheme("fp16");  // llama.cpp's last resort (its F16)
  return nearest_fitting(s, rows, cols, format);
}

Result<Recipe> Recipe::uniform(std::string_view name) {
  BITSMITH_ASSIGN_OR_RETURN(const Scheme* s, scheme(name));
  Recipe r;
  r.name = s->name();
  r.base = s->name();
  return r;
}

std::vector<std::string> Recipe::named_recipes() {
  size_t n = 0;
  const detail::MixedFtype* m = detail::mixed_ftypes(&n);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.emplace_back(m[i].name);
  return out;
}

bool Recipe::is_named(std::string_view name) {
  const std::string lower = ascii_lower(name);
  return detail::find_mixed_ftype(lower) != nullptr;
}

Result<Recipe> Recipe::named(std::string_view name) {
  const std::string lower = ascii_lower(name);
  const detail::MixedFtype* m = detail::find_mixed_ftype(lower);
  if (m == nullptr) {
    return invalid_argument("unknown recipe '{}' (named recipes: {}; or a recipe JSON file)", name,
                            fmt::join(named_recipes(), ", "));
  }
  Recipe r;
  r.name = std::string(m->name);
  r.base = std::string(m->base);
  r.llama_ftype = std::string(m->name);
  return r;
}

void Recipe::prepend_rules(std::vector<RecipeRule> first) {
  first.insert(first.end(), rules.begin(), rules.end());
  rules = std::move(first);
}

OutputFormat Recipe::preferred_format() const {
  auto s = scheme(base);
  return s.ok() && gguf_storable(**s) ? OutputFormat::kGguf : OutputFormat::kSafetensors;
}

Status Recipe::validate() const {
  BITSMITH_ASSIGN_OR_RETURN(const Scheme* b, scheme(base));
  if (!llama_ftype.empty()) {
    const detail::MixedFtype* m = detail::find_mixed_ftype(llama_ftype);
    if (m == nullptr) {
      return invalid_argument("recipe '{}': unknown llama_ftype '{}' (one of: {})", name, llama_ftype,
                              fmt::join(named_recipes(), ", "));
    }
    if (!is_block_type(*b)) {
      return invalid_argument("recipe '{}': llama_ftype '{}' needs a GGUF block base, not {}", name, llama_ftype, base);
    }
  }
  return compile(rules).status();
}

std::vector<std::string> Recipe::requantized(const Model& model, const std::vector<quant::TensorPlan>& plans) {
  std::map<std::string, std::string> storage;
  for (const auto& t : model.tensors()) storage[t.name] = t.storage;
  std::vector<std::string> out;
  for (const auto& p : plans) {
    const std::string& s = storage[p.name];
    const bool stored_plain = s == "F64" || s == "F32" || s == "F16" || s == "BF16";
    if (!stored_plain && !s.empty() && p.scheme && !is_plain(*p.scheme)) out.push_back(p.name);
  }
  return out;
}

Result<std::vector<size_t>> Recipe::unmatched_rules(const Model& model) const {
  BITSMITH_ASSIGN_OR_RETURN(std::vector<CompiledRule> compiled, compile(rules));
  std::vector<bool> hit(compiled.size(), false);
  for (const auto& t : model.tensors()) {
    const TensorName n = parse_tensor_name(t.name);
    if (t.shape.rank() < 2 || n.category == TensorCategory::kNorm) continue;
    for (size_t i = 0; i < compiled.size(); ++i) hit[i] = hit[i] || matches(compiled[i], n, t.name);
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < hit.size(); ++i) if (!hit[i]) out.push_back(i);
  return out;
}

Result<std::vector<quant::TensorPlan>> Recipe::resolve(const Model& model, OutputFormat format) const {
  BITSMITH_RETURN_IF_ERROR(validate().with_context(model.path()));
  BITSMITH_ASSIGN_OR_RETURN(const Scheme* b, scheme(base));
  BITSMITH_ASSIGN_OR_RETURN(std::vector<CompiledRule> compiled, compile(rules));
  const detail::MixedFtype* mix = llama_ftype.empty() ? nullptr : detail::find_mixed_ftype(llama_ftype);
  const LlamaHyperparameters& hp = model.hyperparameters();
  detail::MixContext ctx;
  ctx.n_layers = hp.n_layers;
  ctx.n_gqa = hp.n_kv_heads > 0 ? hp.n_heads / hp.n_kv_heads : 1;
  ctx.has_output = false;
  for (const auto& t : model.tensors()) {
    const TensorCategory c = tensor_category(t.name);
    if (c == TensorCategory::kAttnV && t.shape.rank() >= 2) ++ctx.n_attn_v;
    if (c == TensorCategory::kOutput) ctx.has_output = true;
  }

  std::vector<quant::TensorPlan> plans;
  for (const auto& t : model.tensors()) {
    quant::TensorPlan p;
    p.name = t.name;
    p.shape = t.shape;
    const TensorName n = parse_tensor_name(t.name);
    const int64_t rows = t.shape.rows(), cols = t.shape.cols();
    if (t.shape.rank() < 2 || n.category == TensorCategory::kNorm) {
      BITSMITH_ASSIGN_OR_RETURN(p.scheme, scheme("f32"));
      p.reason = t.shape.rank() < 2 ? "vector (1-D)" : "norm";
      plans.push_back(std::move(p));
      continue;
    }
    for (const auto& r : compiled) {
      if (!matches(r, n, t.name)) continue;
      p.scheme = r.scheme;
      p.method = r.rule->method;
      p.reason = describe(*r.rule);
      break;
    }
    if (!p.scheme) {
      const bool head = n.category == TensorCategory::kEmbedding || n.category == TensorCategory::kOutput;
      if (is_plain(*b)) {
        p.scheme = b;
      } else if (!is_block_type(*b) && head) {
        // Serving engines keep embeddings and the output head unquantized for these schemes
        // (compressed-tensors lists lm_head in "ignore"); bf16 unless a rule says otherwise.
        BITSMITH_ASSIGN_OR_RETURN(p.scheme, scheme(format == OutputFormat::kGguf ? "fp16" : "bf16"));
        p.reason = "embedding/output";
      } else if (is_block_type(*b)) {
        ctx.category = n.category;
        ctx.layer = n.layer;
        ctx.cols = cols;
        std::string why;
        const std::string choice =
            detail::llama_mix_type(mix ? mix->ftype : detail::LlamaFtype::kNone, b->name(), ctx, &why);
        BITSMITH_ASSIGN_OR_RETURN(p.scheme, scheme(choice));
        if (!why.empty()) p.reason = fmt::format("{}: {}", mix ? mix->name : "llama.cpp", why);
      } else {
        p.scheme = b;
      }
    }
    if (format == OutputFormat::kGguf && !gguf_storable(*p.scheme)) {
      return invalid_argument("{}: scheme {} (tensor '{}') has no GGUF type; write safetensors or pick a GGUF scheme",
                              model.path(), p.scheme->name(), t.name);
    }
    if (!p.scheme->check_shape(rows, cols).ok()) {
      p.requested = p.scheme->name();
      BITSMITH_ASSIGN_OR_RETURN(p.scheme, fallback_scheme(*p.scheme, rows, cols, format));
      p.reason = fmt::format("fallback: row length {} does not fit {}", cols, p.requested);
    }
    plans.push_back(std::move(p));
  }
  return plans;
}

Result<Recipe> recipe_for_scheme_name(std::string_view name) {
  if (quant::find_scheme(name).ok()) return Recipe::uniform(name);
  if (Recipe::is_named(name)) return Recipe::named(name);
  // The scheme registry's message lists the schemes; add the recipes.
  return invalid_argument("{} (or a recipe: {})", quant::find_scheme(name).status().message(),
                          fmt::join(Recipe::named_recipes(), ", "));
}

Result<Recipe> find_recipe(std::string_view name_or_file) {
  if (Recipe::is_named(name_or_file)) return Recipe::named(name_or_file);
  const std::string path(name_or_file);
  if (path.ends_with(".json") || path.find('/') != std::string::npos) return Recipe::load(path);
  return Recipe::named(name_or_file);
}

Result<Recipe> recipe_for_name_or_file(const std::string& name) {
  std::error_code ec;
  return std::filesystem::is_regular_file(name, ec) ? Recipe::load(name) : recipe_for_scheme_name(name);
}

Result<Recipe> recipe_from_options(const std::string& scheme, const std::string& recipe,
                                   const std::vector<std::string>& rules) {
  if (!scheme.empty() && !recipe.empty()) return invalid_argument("give --scheme or --recipe, not both");
  if (scheme.empty() && recipe.empty()) return invalid_argument("give --scheme S or --recipe NAME|FILE");
  BITSMITH_ASSIGN_OR_RETURN(Recipe r, scheme.empty() ? find_recipe(recipe) : recipe_for_scheme_name(scheme));
  std::vector<RecipeRule> first;
  for (const auto& text : rules) {
    const auto eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
      return invalid_argument("--rule '{}': expected REGEX=SCHEME", text);
    }
    RecipeRule rule;
    rule.pattern = text.substr(0, eq);
    rule.scheme = text.substr(eq + 1);
    first.push_back(std::move(rule));
  }
  r.prepend_rules(std::move(first));
  BITSMITH_RETURN_IF_ERROR(r.validate());
  return r;
}

Result<std::vector<std::string>> check_rules_match(const Recipe& recipe, size_t n_user, const Model& model) {
  BITSMITH_ASSIGN_OR_RETURN(auto unmatched, recipe.unmatched_rules(model));
  std::vector<std::string> notes;
  for (size_t i : unmatched) {
    const RecipeRule& r = recipe.rules[i];
    const std::string what =
        r.pattern.empty() ? fmt::format("rule {} ({})", i + 1, r.scheme) : fmt::format("'{}={}'", r.pattern, r.scheme);
    if (i < n_user) return invalid_argument("--rule {} matches no weight matrix of {}", what, model.path());
    notes.push_back(fmt::format("recipe rule {} matches no weight matrix of {}", what, model.path()));
  }
  return notes;
}

double plan_bits_per_weight(const std::vector<quant::TensorPlan>& plans) {
  double bits = 0, params = 0;
  for (const auto& p : plans) {
    const int64_t rows = p.shape.rows(), cols = p.shape.cols();
    bits += 8.0 * static_cast<double>(p.scheme->data_bytes(rows, cols) + p.scheme->scale_bytes(rows, cols) +
                                      p.scheme->zero_bytes(rows, cols));
    params += static_cast<double>(p.shape.numel());
  }
  return params > 0 ? bits / params : 0;
}

std::string Recipe::label() const {
  if (name.ends_with(".json")) return std::filesystem::path(name).stem().string();
  return name;
}

}  // namespace bitsmith::plan
