// GGUF MXFP4 (ggml type 39, scheme `gguf_mxfp4`): blocks of 32 with one E8M0 exponent byte and
// 4-bit E2M1 codes, ggml's layout (BlockMXFP4) and ggml's reference rule
// (quantize_row_mxfp4_ref), byte for byte:
//   e = floor(log2(amax)) - 2 + 127 (0 for an all-zero block), converted like C's (uint8_t);
//   d = 2^(e - 128) (ggml_e8m0_to_fp32_half: the table holds 2 x E2M1, hence -128);
//   q = the first of the 16 table entries minimising |kMxfp4Values[q] * d - x|.
// Differs from the `mxfp4` scheme (OCP rule, separate scale array) in its bytes and layout.
#include <algorithm>
#include <cmath>

#include "gguf_search.h"

namespace bitsmith::quant::gguf {
namespace {

constexpr int kB = kQK;

// ggml_e8m0_to_fp32_half: 2^(e - 128); e = 0, 1 are the subnormals 2^-128 (0x00200000) and
// 2^-127 (0x00400000), e >= 2 the normal number with biased exponent e - 1.
float e8m0_half(uint8_t e) {
  return formats::bits_to_float(e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23);
}

// ggml's exponent: floorf(log2f(amax)) - 2 + 127, through C's float -> uint8_t conversion
// (x86: truncate to int32, keep the low byte), so tiny blocks wrap as they do in ggml.
uint8_t block_exponent(float amax) {
  if (!(amax > 0.0f)) return 0;
  const float v = std::floor(std::log2(amax)) - 2 + 127;
  return static_cast<uint8_t>(trunc_to_i8(v));
}

// best_index_mxfp4: strict "<", so the first of equal errors wins (index 0 before 8 for 0).
int best_index(float x, float d) {
  int best = 0;
  float best_err = std::fabs(static_cast<float>(kMxfp4Values[0]) * d - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(static_cast<float>(kMxfp4Values[i]) * d - x);
    if (err < best_err) { best = i; best_err = err; }
  }
  return best;
}

template <bool kSimd>
[[gnu::always_inline]] inline void mxfp4_row(const float* x, int64_t n, const float*,
                                             uint8_t* out) {
  for (int64_t b = 0; b < n / kB; ++b) {
    const float* xb = x + b * kB;
    BlockMXFP4 y;
    uint8_t q[kB];
    if constexpr (kSimd) {
      v8f xv[4], am = {};
      for (int v = 0; v < 4; ++v) {
        xv[v] = load8(xb + 8 * v);
        const v8f a = vabs(xv[v]);
        am = am > a ? am : a;
      }
      y.e = block_exponent(vmax_lanes(am));
      const float d = e8m0_half(y.e);
      for (int v = 0; v < 4; ++v) {
        v8i bi = {};
        v8f be = vabs(static_cast<float>(kMxfp4Values[0]) * d - xv[v]);
        for (int i = 1; i < 16; ++i) {
          const v8f e = vabs(static_cast<float>(kMxfp4Values[i]) * d - xv[v]);
          const v8i lt = e < be;
          bi = lt ? i : bi;
          be = lt ? e : be;
        }
        for (int j = 0; j < 8; ++j) q[8 * v + j] = static_cast<uint8_t>(bi[j]);
      }
    } else {
      float amax = 0;
      for (int j = 0; j < kB; ++j) amax = std::max(amax, std::fabs(xb[j]));
      y.e = block_exponent(amax);
      const float d = e8m0_half(y.e);
      for (int j = 0; j < kB; ++j) q[j] = static_cast<uint8_t>(best_index(xb[j], d));
    }
    for (int j = 0; j < 16; ++j) y.qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

void mxfp4_ref(const float* x, int64_t n, const float* imp, uint8_t* out) {
  mxfp4_row<false>(x, n, imp, out);
}
BITSMITH_CPU_CLONES("avx2") void mxfp4_fast(const float* x, int64_t n,
                                                                  const float* imp, uint8_t* out) {
  mxfp4_row<true>(x, n, imp, out);
}

// ggml's dequantize_row_mxfp4: kvalue * d, same nibble order as Q4_0.
void mxfp4_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kB; ++b) {
    BlockMXFP4 blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = e8m0_half(blk.e);
    for (int j = 0; j < 16; ++j) {
      y[b * kB + j] = static_cast<float>(kMxfp4Values[blk.qs[j] & 0xF]) * d;
      y[b * kB + j + 16] = static_cast<float>(kMxfp4Values[blk.qs[j] >> 4]) * d;
    }
  }
}

}  // namespace

void append_mxfp4_kernels(std::vector<GgufKernels>& out) {
  // 4.25 bpw = 8 * 17 / 32; no float16 scale to check for overflow.
  out.push_back(block_kernels(
      "gguf_mxfp4", kMXFP4, kQK, sizeof(BlockMXFP4), "e2m1", "e8m0", mxfp4_ref, mxfp4_fast,
      mxfp4_dequant, -1, "GGUF MXFP4: blocks of 32, E8M0 exponent byte, E2M1 codes (ggml's rule)"));
}

}  // namespace bitsmith::quant::gguf
