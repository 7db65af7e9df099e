// The one place that decides each tensor's scheme. A Recipe is a base scheme, ordered rules
// (tensor category and/or regex, layer range -> scheme, optional method) and, for llama.cpp's
// named mixes, llama.cpp's own per-tensor logic; resolve() turns it into the finished
// per-tensor plan (quant::TensorPlan) that io writes and eval scores.
//
// Names (docs/model_files.md):
//   --scheme S    Recipe::uniform(S): every matrix in S. GGUF block types keep llama.cpp's head
//                 rule (output, or the tied embedding, in q6_k; q8_0 stays q8_0), which is what
//                 llama-quantize does for its one-type ftypes (Q4_0, Q8_0, ...).
//   --recipe R    a named recipe (llama-quantize's ftype names: q2_k, q3_k_s, q3_k_m, q3_k_l,
//                 q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k) or a recipe JSON file.
// So `--recipe q2_k` is llama.cpp's Q2_K mix (attn_v/ffn_down/attn_output get more bits) while
// `--scheme q2_k` is uniform q2_k. Where a scheme is expected, a name that is not a scheme but is
// a named recipe (q4_k_m) means the recipe: `--scheme q4_k_m` keeps working.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/quant/tensor_plan.h"

namespace bitsmith::plan {

// One override: every condition given must hold. Rules are tried in order; the first match wins
// over the base scheme and the llama.cpp mix (not over 1-D tensors and norms, which stay F32).
struct RecipeRule {
  std::optional<TensorCategory> category;
  std::string pattern;          // ECMAScript regex searched in the canonical name; "" = any
  int64_t layer_min = -1;       // inclusive layer range of blk.N tensors; -1 = open. A range
  int64_t layer_max = -1;       // excludes the tensors outside the blocks.
  std::string scheme;
  std::string method;           // optional: rtn, gptq, awq, imatrix, hqq ("" = the command's)
};

// Recipe and measurement files are refused above this size (a planned recipe of a 70B model,
// one rule per tensor, is about 100 KB; measurements of one with 10 candidates a few MB).
inline constexpr uint64_t kMaxPlanFileBytes = uint64_t{256} << 20;

struct Recipe {
  std::string name;
  std::string base;         // the scheme of every matrix no rule names
  // llama.cpp ftype whose mix applies after the rules ("q4_k_m", ...); "" = none. A GGUF block
  // base always gets the head rule (see above), as llama_tensor_get_type gives every ftype.
  std::string llama_ftype;
  std::vector<RecipeRule> rules;

  // How reports name the recipe: its name, or a recipe file's stem ("mix" for "dir/mix.json").
  std::string label() const;

  // A scheme as a recipe; error for an unknown scheme.
  static Result<Recipe> uniform(std::string_view scheme);
  // A named llama.cpp mix; error listing the names otherwise.
  static Result<Recipe> named(std::string_view name);
  static std::vector<std::string> named_recipes();
  static bool is_named(std::string_view name);

  // JSON: {"name", "base", "llama_ftype", "rules": [{"category", "pattern", "layers": [min, max],
  // "scheme", "method"}]}. Unknown keys, schemes, categories or bad regexes are errors.
  static Result<Recipe> from_json(std::string_view text, std::string_view origin = "recipe");
  static Result<Recipe> load(const std::string& path);
  std::string to_json() const;
  Status save(const std::string& path) const;

  // Rules that win over everything else (the CLI's --rule REGEX=SCHEME), in order.
  void prepend_rules(std::vector<RecipeRule> rules);
  // The file format the recipe is naturally written as: GGUF when its base has a GGUF type.
  quant::OutputFormat preferred_format() const;
  // Checks names, schemes and regexes without a model.
  Status validate() const;

  // Tensors stored quantized (GGUF blocks, compressed-tensors, ...) that `plans` quantizes again:
  // errors compound (llama-quantize refuses without --allow-requantize).
  static std::vector<std::string> requantized(const Model& model, const std::vector<quant::TensorPlan>& plans);

  // Indices of the rules that match no matrix of the model (norms and vectors are never ruled):
  // a --rule that matches nothing would otherwise pass silently.
  Result<std::vector<size_t>> unmatched_rules(const Model& model) const;

  // The finished plan: every tensor of the model, in model order, with its scheme, what was
  // requested before a fallback, and why. Errors: a scheme `format` cannot store.
  Result<std::vector<quant::TensorPlan>> resolve(const Model& model, quant::OutputFormat format) const;
};

// --recipe NAME|FILE: a named recipe, else a JSON file at that path.
Result<Recipe> find_recipe(std::string_view name_or_file);
// A name where a scheme is expected (--scheme, compare --schemes, memory, error): a scheme is
// uniform, else a named recipe.
Result<Recipe> recipe_for_scheme_name(std::string_view name);
// One entry of a list where schemes are expected (compare --schemes, memory, error, Python's
// schemes=): a file that exists is read as a recipe, else a scheme or a named recipe.
Result<Recipe> recipe_for_name_or_file(const std::string& name);
// --scheme S (a scheme, or a named recipe) or --recipe NAME|FILE, exactly one of them, then the
// REGEX=SCHEME rules (`rules`, as --rule spells them) in front of the recipe's own; validated.
// The first n_user rules (the user's --rule) must each match some weight matrix of `model`: an
// error naming the first that matches none. Recipe-file rules that match nothing come back as
// notes ("recipe rule 'R=S' matches no weight matrix of M").
Result<std::vector<std::string>> check_rules_match(const Recipe& recipe, size_t n_user, const Model& model);
Result<Recipe> recipe_from_options(const std::string& scheme, const std::string& recipe,
                                   const std::vector<std::string>& rules);

// The scheme llama.cpp falls back to when a tensor's rows do not fit `scheme` (llama-quant.cpp:
// q2_k/q3_k -> iq4_nl, q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0; then f16), else nearest in
// bits per weight that fits (non-GGUF schemes), fp16 as the last resort.
Result<const quant::Scheme*> fallback_scheme(const quant::Scheme& scheme, int64_t rows, int64_t cols,
                                             quant::OutputFormat format);

// Bits per weight of the model written with the resolved plan (every tensor, scales included).
double plan_bits_per_weight(const std::vector<quant::TensorPlan>& plans);

}  // namespace bitsmith::plan
