// IQ4_NL: blocks of 32 with one fp16 scale and 4-bit indices into a non-linear grid
// (kIQ4NLValues). The search follows ggml's quantize_row_iq4_nl_impl (weights x^2, or
// imp * sqrt(sigma2 + x^2); 16 candidate inverse scales, each scored by weighted least
// squares) and adds a final step ggml lacks: the indices are re-chosen for the fp16-rounded
// scale and the scale refitted, kept only when the stored block's error drops.
#include <algorithm>
#include <cmath>

#include "gguf_search.h"

namespace bitsmith::quant::gguf {
namespace {

constexpr int kB = kQK;

// Midpoints between adjacent grid values ((-127 + -104) / 2 = -115.5, ...) and the steps
// between them: a value at or above midpoint k takes level k + 1 (a tie goes up).
struct Grid {
  float mid[15];
  float step[15];
};
constexpr Grid make_grid() {
  Grid g{};
  for (int k = 0; k < 15; ++k) {
    g.mid[k] = 0.5f * static_cast<float>(kIQ4NLValues[k] + kIQ4NLValues[k + 1]);
    g.step[k] = static_cast<float>(kIQ4NLValues[k + 1] - kIQ4NLValues[k]);
  }
  return g;
}
constexpr Grid kGrid = make_grid();
constexpr float kV0 = static_cast<float>(kIQ4NLValues[0]);  // -127

inline int grid_index(float al) {
  int idx = 0;
  for (int k = 0; k < 15; ++k) idx += al >= kGrid.mid[k] ? 1 : 0;
  return idx;
}
inline float grid_value(float al) { return static_cast<float>(kIQ4NLValues[grid_index(al)]); }

[[gnu::always_inline]] inline v8f grid_value_v(v8f al) {
  v8f q = v8f{} + kV0;
  for (int k = 0; k < 15; ++k) q += al >= kGrid.mid[k] ? v8f{} + kGrid.step[k] : v8f{};
  return q;
}

void block_weights(const float* x, const float* imp, float* w) {
  if (imp) {
    // ggml: sigma2 = 2 * mean(x^2) over the (32-value) super-block.
    const float sigma2 = 2.f * lane_sum(kB, [&](int i) { return x[i] * x[i]; }) / kB;
    for (int i = 0; i < kB; ++i) w[i] = imp[i] * std::sqrt(sigma2 + x[i] * x[i]);
  } else {
    for (int i = 0; i < kB; ++i) w[i] = x[i] * x[i];
  }
}

// The candidate search; returns the unrounded scale (0 for an all-zero block).
float search_ref(const float* x, const float* w, float max) {
  float best_d = 0, best = 0;
  for (int t = -8; t <= 7; t += t < -7 ? 1 : 5) {
    // t = -8 is ggml's first guess id = 127 / max; then id = (t - 127) / max, t = -7..7.
    const float id = t < -7 ? 1 / (max / -kV0) : (static_cast<float>(t) + kV0) / max;
    const float sumqx = lane_sum(kB, [&](int i) { return (w[i] * grid_value(id * x[i])) * x[i]; });
    const float sumq2 = lane_sum(kB, [&](int i) {
      const float q = grid_value(id * x[i]);
      return (w[i] * q) * q;
    });
    if (t < -7) {
      best_d = sumqx / sumq2;
      best = best_d * sumqx;
    } else if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      best_d = sumqx / sumq2;
      best = best_d * sumqx;
    }
  }
  return best_d;
}

[[gnu::always_inline]] inline float search_simd(const float* x, const float* w, float max) {
  v8f xv[4], wv[4];
  for (int v = 0; v < 4; ++v) { xv[v] = load8(x + 8 * v); wv[v] = load8(w + 8 * v); }
  float best_d = 0, best = 0;
  for (int t = -8; t <= 7; t += t < -7 ? 1 : 5) {
    const float id = t < -7 ? 1 / (max / -kV0) : (static_cast<float>(t) + kV0) / max;
    v8f sqx = {}, sq2 = {};
    for (int v = 0; v < 4; ++v) {
      const v8f q = grid_value_v(id * xv[v]);
      sqx += (wv[v] * q) * xv[v];
      sq2 += (wv[v] * q) * q;
    }
    const float sumqx = hsum_v(sqx), sumq2 = hsum_v(sq2);
    if (t < -7) {
      best_d = sumqx / sumq2;
      best = best_d * sumqx;
    } else if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      best_d = sumqx / sumq2;
      best = best_d * sumqx;
    }
  }
  return best_d;
}

double stored_error(const float* x, const float* ew, uint16_t d16, const uint8_t* L) {
  const float d = fp16_to_fp32(d16);
  double e = 0;
  for (int i = 0; i < kB; ++i) {
    const double r = static_cast<double>(d * static_cast<float>(kIQ4NLValues[L[i]])) - x[i];
    e += (ew ? ew[i] : 1.0) * r * r;
  }
  return e;
}

template <bool kSimd>
[[gnu::always_inline]] inline void iq4nl_block(const float* x, const float* imp, BlockIQ4_NL& y) {
  float amax = 0, max = 0;
  for (int i = 0; i < kB; ++i) {
    if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); max = x[i]; }
  }
  uint8_t L[kB];
  if (amax < 1e-15f) {  // GROUP_MAX_EPS: an all-zero block (index 8 is the grid value 1)
    y.d = 0;
    std::fill(L, L + kB, uint8_t{8});
  } else {
    float w[kB];
    block_weights(x, imp, w);
    float d = kSimd ? search_simd(x, w, max) : search_ref(x, w, max);
    y.d = fp32_to_fp16(d);
    float id = d != 0 ? 1 / d : 0.f;
    for (int i = 0; i < kB; ++i) L[i] = static_cast<uint8_t>(grid_index(id * x[i]));
    double best = stored_error(x, imp, y.d, L);
    for (int round = 0; round < 2; ++round) {
      // Indices for the scale as stored, then the least-squares scale for those indices.
      const float ds = fp16_to_fp32(y.d);
      if (ds == 0) break;
      uint8_t T[kB];
      double sqx = 0, sq2 = 0;
      for (int i = 0; i < kB; ++i) {
        T[i] = static_cast<uint8_t>(grid_index(x[i] / ds));
        const double q = kIQ4NLValues[T[i]], ew = imp ? imp[i] : 1.0;
        sqx += ew * q * x[i];
        sq2 += ew * q * q;
      }
      if (!(sq2 > 0)) break;
      const uint16_t t16 = fp32_to_fp16(static_cast<float>(sqx / sq2));
      const double e = std::min(stored_error(x, imp, y.d, T), stored_error(x, imp, t16, T));
      if (!(e < best)) break;
      best = e;
      std::copy(T, T + kB, L);
      if (stored_error(x, imp, t16, T) == e) y.d = t16;
    }
  }
  for (int j = 0; j < 16; ++j) y.qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
}

template <bool kSimd>
[[gnu::always_inline]] inline void iq4nl_row(const float* x, int64_t n, const float* imp, uint8_t* out) {
  for (int64_t b = 0; b < n / kB; ++b) {
    BlockIQ4_NL y{};
    iq4nl_block<kSimd>(x + b * kB, imp ? imp + b * kB : nullptr, y);
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

void iq4nl_ref(const float* x, int64_t n, const float* imp, uint8_t* out) {
  iq4nl_row<false>(x, n, imp, out);
}
__attribute__((target_clones("avx2", "default"))) void iq4nl_fast(const float* x, int64_t n,
                                                                  const float* imp, uint8_t* out) {
  iq4nl_row<true>(x, n, imp, out);
}

// ggml's dequantize_row_iq4_nl: d * kvalues[q], same nibble order as Q4_0.
void iq4nl_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kB; ++b) {
    BlockIQ4_NL blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = fp16_to_fp32(blk.d);
    for (int j = 0; j < 16; ++j) {
      y[b * kB + j] = d * static_cast<float>(kIQ4NLValues[blk.qs[j] & 0xF]);
      y[b * kB + j + 16] = d * static_cast<float>(kIQ4NLValues[blk.qs[j] >> 4]);
    }
  }
}

}  // namespace

void append_nonlinear_kernels(std::vector<GgufKernels>& out) {
  GgufKernels k;
  k.traits.name = "iq4_nl";
  k.traits.element_format = "iq4_nl_grid";
  k.traits.scale_format = "float16";
  k.traits.granularity = Granularity::kGguf;
  k.traits.block_cols = kB;
  k.traits.bytes_per_block = sizeof(BlockIQ4_NL);
  k.traits.bits_per_weight = 4.5;  // 8 * 18 / 32
  k.traits.symmetric = true;
  k.traits.gguf_type = kIQ4_NL;
  k.traits.description = "GGUF IQ4_NL: blocks of 32, fp16 scale, 4-bit non-linear grid";
  k.quantize_ref = iq4nl_ref;
  k.quantize_fast = iq4nl_fast;
  k.dequantize = iq4nl_dequant;
  k.scale_offsets[0] = 0;
  k.scale_offsets[1] = -1;
  out.push_back(k);
}

}  // namespace bitsmith::quant::gguf
