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
// A recipe's label in tables: its name, or the file's stem.
std::string recipe_label(const plan::Recipe& r);

}  // namespace bitsmith::cli
