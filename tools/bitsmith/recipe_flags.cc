#include "recipe_flags.h"

#include <cstdio>

#include "command.h"

namespace bitsmith::cli {

plan::Recipe recipe_from_name(const std::string& name) {
  auto r = plan::recipe_for_name_or_file(name);
  if (!r.ok()) throw UsageError(r.status().message());
  return std::move(*r);
}

plan::Recipe recipe_from_flags(const std::string& scheme, const std::string& recipe,
                               const std::vector<std::string>& rules) {
  auto r = plan::recipe_from_options(scheme, recipe, rules);
  if (!r.ok()) throw UsageError(r.status().message());
  return std::move(*r);
}

void check_user_rules(const plan::Recipe& recipe, size_t n_user, const Model& model) {
  auto notes = plan::check_rules_match(recipe, n_user, model);
  if (!notes.ok()) throw UsageError(notes.status().message());
  for (const auto& n : *notes) std::fprintf(stderr, "bitsmith: note: %s\n", n.c_str());
}

}  // namespace bitsmith::cli
