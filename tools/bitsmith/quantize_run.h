// `bitsmith quantize`'s run, shared with `bitsmith plan -o OUT.gguf` (which writes its planned
// recipe with the same checks, method and calibration as quantize would).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bitsmith/plan/recipe.h"

namespace bitsmith::cli {

struct QuantizeCliOptions {
  std::string in, out, scheme, recipe, save_recipe, format, tokenizer;
  std::vector<std::string> rules;
  std::optional<plan::Recipe> planned;  // a recipe already built (plan), instead of the flags
  int threads = 0;
  bool json = false;
  bool dry_run = false;
  // Calibrated methods (algo::prepare_method).
  std::string method = "rtn", calib, imatrix, activations = "none";
  int64_t calib_samples = 128, calib_seqlen = 512;
  uint64_t seed = 0;
  bool act_order = false, static_groups = false, allow_requantize = false;
  double damp = 0.01;
};

// Prints the report (table or JSON) and returns the exit status; throws UsageError.
int run_quantize(const QuantizeCliOptions& o);

}  // namespace bitsmith::cli
