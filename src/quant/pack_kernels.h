// Row kernels of ScaledScheme: quantize one row (all its blocks) into one code byte per element
// plus its stored scales/zeros, and decode one row back. Fast (vectorized, CPU-dispatched) and
// reference (formats::encode) instances share the scale arithmetic and differ only in how
// elements and scales are encoded, which the tests compare byte for byte.
#pragma once

#include <cstdint>

#include "pack_scheme.h"

namespace bitsmith::quant::detail {

struct RowCtx {
  const SchemeSpec* spec = nullptr;
  int64_t cols = 0;
  int64_t block = 0;              // values per scale block along the row
  const float* given = nullptr;   // kGiven: the divisor of each block of this row
  float tensor_scale = 1.0f;      // nvfp4: S
  float six_s = 6.0f;             // nvfp4: 6 * S in float32, as ModelOpt computes it
  bool flush_zero = false;        // nvfp4: tensor amax below 2^-126, quantized to zeros
  const float* importance = nullptr;  // per column of the row, or null
};

// Returns false when the row holds a NaN/Inf (its blocks are then left as zeros).
using RowQuantFn = bool (*)(const float* x, const RowCtx& c, uint8_t* codes, uint8_t* scales,
                            uint8_t* zeros);
RowQuantFn select_row_quant(ElemKind elem, ScaleRule rule, bool ref);

// A block's grid as its stored bytes define it: element value = (code value - z) * d, integer
// codes clamped to [lo, hi] relative to z. GPTQ (group_quantizer_scaled.cc) fixes a block's grid
// when the block starts, then encodes each column on it as the column's values change.
struct BlockGrid {
  float d = 1.0f;
  float z = 0.0f;
  float lo = 0.0f, hi = 0.0f;
};
BlockGrid stored_grid(const RowCtx& c, const uint8_t* scales, const uint8_t* zeros, int64_t b);
// n values -> codes (one per byte) on a fixed grid, with the row kernels' fast encoder.
void encode_on_grid(ElemKind e, const float* x, int64_t n, const BlockGrid& g, uint8_t* codes);

// Decodes one row: codes (one per byte) -> (lut[code] - z) * d per block.
void dequant_row(const uint8_t* codes, const uint8_t* scales, const uint8_t* zeros,
                 const RowCtx& c, const float* lut, float* out);

// Bytes each rule stores per block (scales, zeros).
int rule_scale_width(ScaleRule rule);
int rule_zero_width(ScaleRule rule);

}  // namespace bitsmith::quant::detail
