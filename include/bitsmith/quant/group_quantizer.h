// A scheme's own quantizer, opened up for error-feedback methods (GPTQ): parameters of one group
// of columns are chosen from values the caller supplies (GPTQ's error-updated weights when the
// block starts), then columns are quantized one at a time on those fixed parameters while their
// values keep changing, and at the end the chosen codes and parameters are packed into the
// scheme's QuantizedTensor bytes directly (re-quantizing the final weights would pick other
// scales: the block maximum is rarely on the top code after GPTQ's updates).
//
// Group = the columns that share parameters in every row: 16 for nvfp4, 32 for MX and q4_0..q8_0,
// 256 for K-quants, the group size of int<b>_g<g>, 128 for 128x128 tiles, and all columns for
// per-row or per-tensor schemes (whose parameters are then chosen once, up front, from the
// original weights, as gptq.py does with groupsize -1).
//
// Choosing a group's parameters from the same values and quantizing its columns from those values
// reproduces Scheme::quantize byte for byte for the scaled schemes (int groups, fp8, nvfp4, MX);
// GGUF types reproduce it up to exact rounding ties (their encoders round x * (1/d), this one
// picks the nearest grid value), which the tests bound.
#pragma once

#include <cstdint>
#include <memory>

#include "bitsmith/core/status.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {

class GroupQuantizer {
 public:
  virtual ~GroupQuantizer() = default;

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Columns sharing parameters; divides cols.
  int64_t group_cols() const { return group_; }
  int64_t groups() const { return cols_ / group_; }

  // Chooses the parameters of group gi (columns [gi*g, gi*g+g)) from `values`, rows x g
  // row-major, with the scheme's scale rule (and its importance-weighted search when importance,
  // length g, is given). May be called again for the same group; the last call wins.
  virtual Status choose_params(int64_t gi, const float* values, const float* importance) = 0;
  // Quantizes column `col` (every row: values[r], r < rows) on its group's parameters, records
  // the codes and writes the dequantized values to out (may alias values).
  virtual void quantize_column(int64_t col, const float* values, float* out) = 0;
  // The same for rows [r0, r1) of the column only: values[r - r0] and out[r - r0] are row r's.
  // GPTQ processes row tiles this way (rows are independent), so a block's columns stay in
  // cache. Calls on disjoint row ranges may run concurrently once every group that the columns
  // belong to has its parameters and prepare_column(col) has returned for the column.
  virtual void quantize_column_rows(int64_t col, int64_t r0, int64_t r1, const float* values,
                                    float* out) = 0;
  // Builds whatever quantize_column_rows needs for `col` that is shared between rows (a
  // cached grid); call it once, from one thread, before concurrent calls on the column.
  virtual void prepare_column(int64_t col) { (void)col; }
  // Affine integer schemes (int<b>_g<g>) only: sets group gi's scale and zero point per row
  // directly (HQQ's optimized, possibly fractional zero points), stored as the scheme stores
  // them (fp16); codes are then clamp(rne(x / d + z), 0, 2^b - 1). Other schemes: unsupported.
  virtual Status set_affine_params(int64_t gi, const float* scale, const float* zero) {
    (void)gi, (void)scale, (void)zero;
    return unsupported("this scheme has no affine scale and zero point");
  }
  // Schemes whose every value is d * g(code) + m per row and group, with the scale d and offset
  // m stored as fp16 (GGUF q4_1 and q5_1: 2) or the scale alone (q4_0, q5_0, q8_0, iq4_nl: 1),
  // so that with the codes fixed the values are linear in the parameters (GPTQ refits them to
  // its final codes by least squares); 0 for every other scheme.
  virtual int linear_params() const { return 0; }
  // Once every column is quantized: g(code) of every recorded code (rows x cols), and each
  // group's d and m as stored (rows x groups each; m = 0 for scale-only schemes).
  virtual Status linear_basis(float* g, float* d, float* m) const {
    (void)g, (void)d, (void)m;
    return unsupported("this scheme's values are not linear in its group parameters");
  }
  // Sets every group's d (and m) to the values given (rows x groups), rounded as the scheme
  // stores them; d and m are overwritten with the stored values.
  virtual Status set_linear_params(float* d, float* m) {
    (void)d, (void)m;
    return unsupported("this scheme's values are not linear in its group parameters");
  }
  // Packs the recorded codes and parameters. Every group must have parameters and every
  // column must have been quantized.
  virtual Result<QuantizedTensor> finish() = 0;

 protected:
  GroupQuantizer(int64_t rows, int64_t cols, int64_t group)
      : rows_(rows), cols_(cols), group_(group) {}
  int64_t rows_, cols_, group_;
};

// For a rows x cols weight `w` (row-major; used for tensor-level parameters such as nvfp4's
// second-level scale or a per-tensor fp8 scale, fixed from the original weights). Errors: a
// scheme without a grid (f32/fp16/bf16 casts), a shape the scheme cannot take, non-finite w.
Result<std::unique_ptr<GroupQuantizer>> make_group_quantizer(const Scheme& scheme, const float* w,
                                                             int64_t rows, int64_t cols,
                                                             const QuantizeOptions& opt = {});

// Whether make_group_quantizer supports the scheme (false for plain casts); the same as
// scheme.has_group_quantizer().
bool has_group_quantizer(const Scheme& scheme);

}  // namespace bitsmith::quant
