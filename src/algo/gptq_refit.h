// GPTQ's last step for schemes whose values are linear in their group parameters
// (GroupQuantizer::linear_params: GGUF q4_0..q8_0 and iq4_nl): with every code fixed as GPTQ
// chose it, each row's scales (and offsets) are refit together by least squares under the
// layer's Hessian, min over d, m of (w - q(d, m))^T H (w - q(d, m)), the very error GPTQ
// minimises. GPTQ picks a group's parameters before its columns are quantized (from weights its
// error feedback then changes), so the final codes are rarely best served by them. Internal to
// src/algo.
#pragma once

#include <cstdint>

#include "bitsmith/core/status.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/quant/group_quantizer.h"

namespace bitsmith::algo::detail {

struct RefitReport {
  int64_t rows_refit = 0;    // rows whose stored parameters lowered the error (the others kept)
  double error_before = 0;   // sum over rows of (w - q)^T H (w - q), GPTQ's parameters
  double error_after = 0;    // the same, refit
};

// w: the original weights (rows x cols); h: cols x cols (as gptq_quantize takes it), damped by
// lambda on the diagonal as GPTQ factorized it. A row is changed only when the stored (fp16)
// parameters lower its error. Does nothing for schemes with linear_params() == 0.
Status refit_linear_params(quant::GroupQuantizer& gq, const float* w, const double* h, double lambda,
                           ThreadPool& pool, RefitReport* report);

}  // namespace bitsmith::algo::detail
