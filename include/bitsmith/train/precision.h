// Low-precision training recipes, simulated with bitsmith's own bit-exact casts: every operand of
// every linear's three matrix products (backward.h's Operand) is quantized and dequantized the
// way the recipe's hardware would see it, the product then runs in float32 (as a tensor core
// accumulates in fp32), and master weights, optimizer state, norms, softmax and the loss stay
// float32.
//
//   fp32         nothing cast (the baseline)
//   bf16         bf16 inputs of every product (rne), fp32 master weights
//   fp8-current  per-tensor current scaling: scale = amax / fmax of this very tensor;
//                E4M3 for weights and activations, E5M2 for gradients
//   fp8-delayed  Transformer Engine's delayed scaling: the scale comes from the amax history of
//                the previous H steps (max over the window) with a margin: scale = amax_hist *
//                2^margin / fmax; the current amax joins the history after the cast, so values
//                above the scale saturate (counted as overflows)
//   mxfp8        OCP MX: blocks of 32 along the reduction dimension, E8M0 block scales, E4M3
//                elements in both directions (forward and backward)
//   nvfp4        NVIDIA's NVFP4 recipe: blocks of 16 along the reduction dimension, E4M3 block
//                scales and an FP32 tensor scale, E2M1 elements; stochastic rounding of the
//                gradients, a random Hadamard transform (16 x 16, random signs) on both inputs
//                of the weight-gradient product, and chosen layers kept in bf16 (the last
//                `keep_last` layers and the output head)
//
// Per tensor (linear x operand) the recipe keeps statistics: values cast, overflows (|x| above
// the format's range after scaling: saturated), underflows (non-zero values that became zero),
// the amax history and the last scale.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/train/backward.h"

namespace bitsmith::train {

struct CastStats {
  uint64_t values = 0, overflows = 0, underflows = 0, casts = 0;
  float last_scale = 1.0f;        // dequantized = code value * scale (per-tensor recipes)
  std::vector<float> amax_history;  // most recent last (fp8-delayed)
  float last_amax = 0.0f;
};

struct RecipeOptions {
  int64_t amax_history = 16;  // fp8-delayed: window length H
  int margin = 0;             // fp8-delayed: scale headroom of 2^margin
  int64_t keep_last = 1;      // nvfp4: the last layers kept in bf16 (the head always is)
  uint64_t seed = 1;          // stochastic rounding and the Hadamard signs
};

class PrecisionRecipe : public MatmulPrecision {
 public:
  virtual std::string_view name() const = 0;
  // Statistics by "blk.3.attn_q.weight/fwd_input".
  virtual const std::map<std::string, CastStats>& stats() const = 0;
};

// "fp32", "bf16", "fp8-current", "fp8-delayed", "mxfp8", "nvfp4".
std::vector<std::string_view> recipe_names();
// The recipe called `name` for a model of n_layers (nvfp4 keeps the last keep_last in bf16);
// fp32 is a null pointer (nothing to cast). Errors: an unknown name, listing the known ones.
Result<std::unique_ptr<PrecisionRecipe>> make_recipe(std::string_view name, const RecipeOptions& o = {},
                                                     int64_t n_layers = 0);

}  // namespace bitsmith::train
