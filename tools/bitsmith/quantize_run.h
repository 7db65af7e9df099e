// `bitsmith quantize`'s run, shared with `bitsmith plan -o OUT.gguf` (which writes its planned
// recipe with the same checks, method and calibration as quantize would).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bitsmith/algo/quantize_file.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::cli {

struct QuantizeCliOptions {
  // The flags that map one to one onto the library's request (input, output, --format, --scheme,
  // --method, --calib, --calib-samples/-seqlen, --seed, --imatrix, GPTQ's, --activations,
  // --allow-requantize, --dry-run); run_quantize adds the recipe and the progress bar.
  algo::QuantizeRequest request;
  std::string recipe, save_recipe, tokenizer;
  std::vector<std::string> rules;
  std::optional<plan::Recipe> planned;  // a recipe already built (plan), instead of the flags
  int threads = 0;
  bool json = false;
};

// Prints the report (table or JSON) and returns the exit status; throws UsageError.
int run_quantize(const QuantizeCliOptions& o);

}  // namespace bitsmith::cli
