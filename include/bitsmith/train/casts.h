// The casts a training recipe applies to a matrix-product operand, each built from bitsmith's
// bit-exact format and scheme code (formats/convert.h, quant's scheme registry), so what the
// recipes simulate is exactly what `bitsmith cast` and `quantize` produce. Every cast replaces
// the values in place by their quantize-dequantize and counts what the format lost.
#pragma once

#include <cstdint>

#include "bitsmith/core/status.h"
#include "bitsmith/formats/codec.h"

namespace bitsmith::train {

struct CastCount {
  uint64_t overflows = 0;   // values the saturation changed: |x| / scale at or past the midpoint
                            // above the format's largest value (e4m3 464, e5m2 61440, e2m1 7)
  uint64_t underflows = 0;  // non-zero values that became zero
  float amax = 0;           // max |x| before the cast
};

// max |x| (NaN-free input assumed: the trainer stops on non-finite values first).
float amax_of(const float* x, int64_t n);

// bfloat16, round to nearest even (formats::f32_to_bf16).
CastCount cast_bf16(float* x, int64_t n);

enum class Fp8 : uint8_t { kE4M3, kE5M2 };
float fp8_max(Fp8 f);  // 448 = 1.75 * 2^8 (e4m3fn), 57344 = 1.75 * 2^15 (e5m2)
// Per-tensor scaled FP8: x' = decode(encode_rne_saturate(x / scale)) * scale (float32 division
// and product, as compressed-tensors' and Transformer Engine's casts do).
CastCount cast_fp8(float* x, int64_t n, Fp8 f, float scale);

// MXFP8 (E4M3 elements, E8M0 scale per 32 along each row; quant's "mxfp8_e4m3"). Rows whose
// length is not a multiple of 32 are padded with zeros to the next block (zeros change no block
// maximum), as a kernel pads the reduction dimension.
Result<CastCount> cast_mxfp8(float* x, int64_t rows, int64_t cols);
// NVFP4 (quant's "nvfp4": FP32 tensor scale, E4M3 scale per 16 along each row, E2M1 elements):
// the scales are quant's; the elements are rounded with `rounding` (rne gives quant's
// fake_quantize bit for bit; stochastic draws element i's word from (seed, i), formats' rule).
// Padded like cast_mxfp8.
Result<CastCount> cast_nvfp4(float* x, int64_t rows, int64_t cols, formats::Rounding rounding, uint64_t seed);

// x (rows x cols) <- transpose in place through a scratch copy: a cast "along columns" is the
// row cast of the transpose.
void transpose(float* x, int64_t rows, int64_t cols);

// The random Hadamard transform of NVIDIA's NVFP4 recipe over the rows of x (rows x cols): each
// group of 16 consecutive rows is multiplied by H16 diag(signs) / 4 (orthogonal: the transform of
// both operands of dW = dY^T X cancels in the product), signs drawn from seed. A tail of fewer
// than 16 rows is left as is (both operands alike).
void random_hadamard_rows(float* x, int64_t rows, int64_t cols, uint64_t seed);

}  // namespace bitsmith::train
