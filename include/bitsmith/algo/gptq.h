// GPTQ (Frantar et al. 2022; IST-DASLab/gptq gptq.py), on any scheme with a grid: the scheme's
// own quantizer (quant/group_quantizer.h) is applied to the group each column belongs to, with
// the group's parameters chosen from the error-updated weights when the lazy block containing
// the group's first column starts (columns past the block are as of that moment, as in gptq.py).
//
// Per layer, with H = 2/n sum x x^T (cols x cols) over the calibration inputs:
//   dead columns (H_ii = 0): H_ii = 1 and the weight column is zeroed;
//   lambda = damp * mean(diag H) is added to the diagonal; when a Cholesky factorization fails,
//   damp is multiplied by 10 and the factorization retried (up to 1e2 * the initial), and the
//   damp that worked is reported;
//   Hinv = upper Cholesky factor of H^-1; columns in lazy blocks of 128:
//   q = quant(w), err = (w - q) / Hinv_ii, the rest of the block -= err * Hinv_i,: and, at the
//   end of the block, the remaining columns -= Err_block * Hinv_block,rest (one sgemm).
//   act_order: columns by descending diag(H) (a stable sort; gptq.py's torch.argsort is not
//   stable, which only matters for exact ties). Grouped schemes store one set of parameters
//   per physical group, so act_order there implies static groups (reported), which is what the
//   GPTQ authors recommend with act-order.
//   static_groups: every group's parameters from the original (dead-zeroed) weights up front.
//   Row and tensor schemes (one group spanning all columns) choose their parameters up front
//   from the original weights, as gptq.py does when groupsize is -1.
#pragma once

#include <cstdint>
#include <string>

#include "bitsmith/core/status.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::algo {

struct GptqOptions {
  double damp = 0.01;        // percdamp: fraction of mean(diag H) added to the diagonal
  int64_t block_size = 128;  // lazy batch size
  bool act_order = false;
  bool static_groups = false;
  // Each group's parameters (scale, min, sub-block scales) by the scheme's importance-weighted
  // search with the Hessian's diagonal H_ii (2x the imatrix) as the weights, instead of the
  // scheme's plain rule (gptq.py's min/max): the error feedback then starts from llama.cpp's
  // imatrix choice of the grid. Off by default: gptq.py's rule is what the oracle tests pin.
  bool weighted_params = false;
  // After the last column: every row's group scales (and offsets) refit by least squares to the
  // codes GPTQ chose, under the same Hessian (gptq_refit.h), where the scheme's values are linear
  // in them (GGUF q4_0..q8_0, iq4_nl; others unchanged). A row keeps GPTQ's parameters unless
  // the stored refit lowers its error.
  bool refit_params = false;
  float shared_amax = 0.0f;  // a fused group's amax for a global scale (QuantizeOptions::shared_amax)
  ThreadPool* pool = nullptr;
};

struct GptqReport {
  double damp = 0;              // the damp that factorized (> options.damp when raised)
  int damp_raises = 0;          // how many times it was multiplied by 10
  int64_t dead_columns = 0;     // H_ii == 0
  bool forced_static_groups = false;  // act_order on a grouped scheme
  double loss = 0;              // gptq.py's Losses: sum (w - q)^2 / Hinv_ii^2 / 2
  // refit_params: rows refit, and sum over rows of (w - q)^T H (w - q) before and after.
  int64_t refit_rows = 0;
  double refit_error_before = 0, refit_error_after = 0;
};

// w: rows x cols row-major (cols = the layer's input); h: cols x cols, row-major, symmetric.
// Errors: non-finite w or h, a scheme without a grid, a shape the scheme refuses, a Hessian
// that no damping up to 100x makes positive definite.
Result<quant::QuantizedTensor> gptq_quantize(const quant::Scheme& scheme, const float* w,
                                             int64_t rows, int64_t cols, const double* h,
                                             const GptqOptions& opt, GptqReport* report);

}  // namespace bitsmith::algo
