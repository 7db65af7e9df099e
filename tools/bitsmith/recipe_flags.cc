#include "recipe_flags.h"

#include <cstdio>

#include <fmt/format.h>

#include <filesystem>

#include "command.h"

namespace bitsmith::cli {

plan::Recipe recipe_from_name(const std::string& name) {
  // A file that exists is read as a recipe; otherwise the name is a scheme or a named recipe.
  std::error_code ec;
  auto r = std::filesystem::is_regular_file(name, ec) ? plan::Recipe::load(name) : plan::recipe_for_scheme_name(name);
  if (!r.ok()) throw UsageError(r.status().message());
  return std::move(*r);
}

plan::Recipe recipe_from_flags(const std::string& scheme, const std::string& recipe,
                               const std::vector<std::string>& rules) {
  if (!scheme.empty() && !recipe.empty()) throw UsageError("give --scheme or --recipe, not both");
  if (scheme.empty() && recipe.empty()) throw UsageError("give --scheme S or --recipe NAME|FILE");
  Result<plan::Recipe> r = scheme.empty() ? plan::find_recipe(recipe) : plan::recipe_for_scheme_name(scheme);
  if (!r.ok()) throw UsageError(r.status().message());
  std::vector<plan::RecipeRule> first;
  for (const auto& text : rules) {
    const auto eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
      throw UsageError(fmt::format("--rule '{}': expected REGEX=SCHEME", text));
    }
    plan::RecipeRule rule;
    rule.pattern = text.substr(0, eq);
    rule.scheme = text.substr(eq + 1);
    first.push_back(std::move(rule));
  }
  r->prepend_rules(std::move(first));
  Status ok = r->validate();
  if (!ok.ok()) throw UsageError(ok.message());
  return std::move(*r);
}

void check_user_rules(const plan::Recipe& recipe, size_t n_user, const Model& model) {
  auto unmatched = recipe.unmatched_rules(model);
  if (!unmatched.ok()) throw UsageError(unmatched.status().message());
  for (size_t i : *unmatched) {
    const plan::RecipeRule& r = recipe.rules[i];
    const std::string what = r.pattern.empty() ? fmt::format("rule {} ({})", i + 1, r.scheme) : fmt::format("'{}={}'", r.pattern, r.scheme);
    if (i < n_user) throw UsageError(fmt::format("--rule {} matches no weight matrix of {}", what, model.path()));
    std::fprintf(stderr, "bitsmith: note: recipe rule %s matches no weight matrix of %s\n", what.c_str(), model.path().c_str());
  }
}

}  // namespace bitsmith::cli
