#include "bitsmith/train/precision.h"

#include <fmt/format.h>

namespace bitsmith::train {

std::vector<std::string_view> recipe_names() { return {"fp32"}; }

Result<std::unique_ptr<PrecisionRecipe>> make_recipe(std::string_view name, const RecipeOptions& o) {
  (void)o;
  if (name == "fp32") return std::unique_ptr<PrecisionRecipe>();
  return invalid_argument("unknown training recipe '{}' (known: {})", name, fmt::join(recipe_names(), ", "));
}

}  // namespace bitsmith::train
