// AWQ's two searches on one set of linears sharing an input (Lin et al. 2023; mit-han-lab/llm-awq
// auto_scale.py, auto_clip.py), used layer by layer by prepare_method and on their own by the
// numpy oracle (tests/oracles/awq_reference.py).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::algo {

// One linear of the set: rows x cols weights (cols = the shared input), row-major, not owned.
struct AwqLinear {
  const quant::Scheme* scheme = nullptr;
  const float* w = nullptr;
  int64_t rows = 0;
};

struct AwqScaleSearch {
  int best = 0;                 // alpha = best / grid
  std::vector<float> scales;    // per input column, the winner's s
  std::vector<double> losses;   // per grid point: sum over the linears of ||x W^T - (x/s) Q(W diag s)^T||^2
};

// For alpha = i / grid (i < grid): s = max(mean|x|^alpha, 1e-4) per column (llm-awq clamps after
// the power), s /= sqrt(max s * min s); the alpha with the least loss on the m x cols input rows x
// wins (the first on ties; alpha 0 is plain RTN). mean_abs: mean |x| per column over every
// calibration token. Errors: a scheme that refuses the shape.
Result<AwqScaleSearch> awq_search_scale(std::span<const AwqLinear> linears, const float* x,
                                        int64_t m, int64_t cols,
                                        std::span<const float> mean_abs, int grid);

}  // namespace bitsmith::algo
