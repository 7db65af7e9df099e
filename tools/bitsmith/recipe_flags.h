// --scheme / --recipe / --rule, as quantize, eval and compare spell them: turned into one
// plan::Recipe (the library resolves names; this only maps its errors to usage errors).
#pragma once

#include <string>
#include <vector>

#include "bitsmith/plan/recipe.h"

namespace bitsmith::cli {

// --scheme S (a scheme, or a named recipe for back-compat) or --recipe NAME|FILE (exactly one,
// unless `optional`), then the REGEX=SCHEME rules in front. Throws UsageError.
plan::Recipe recipe_from_flags(const std::string& scheme, const std::string& recipe,
                               const std::vector<std::string>& rules);
// One entry of a list where schemes are expected (compare --schemes, memory, error): a scheme,
// a named recipe, or a recipe file. Throws UsageError.
plan::Recipe recipe_from_name(const std::string& name);
// The first n_user rules (--rule) must each match some matrix of the model: UsageError naming
// the first that matches none. Recipe-file rules that match nothing get a note on stderr.
void check_user_rules(const plan::Recipe& recipe, size_t n_user, const Model& model);

}  // namespace bitsmith::cli
