// IQ4_NL: blocks of 32 with one fp16 scale and 4-bit indices into a non-linear grid
// (kIQ4NLValues). The search follows ggml's quantize_row_iq4_nl_impl (weights x^2, or
// imp * sqrt(sigma2 + x^2); candidate inverse scales 127 / max and (t - 127) / max for every
// 5th t of ggml's -7..7, each scored by weighted least squares) and adds a final step ggml
// lacks: the indices are re-chosen for the fp16-rounded scale and the scale refitted, kept
// only when the stored block's error drops.
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

void block_weights(const float* x, const float* imp, float* w) {
  if (imp) {
    // ggml: sigma2 = 2 * mean(x^2) over the (32-value) super-block.
    const float sigma2 = 2.f * lane_sum(kB, [&](int i) { return x[i] * x[i]; }) / kB;
    for (int i = 0; i < kB; ++i) w[i] = imp[i] * std::sqrt(sigma2 + x[i] * x[i]);
  } else {
    for (int i = 0; i < kB; ++i) w[i] = x[i] * x[i];
  }
}

// ---------------------------------------------------------------- lane-generic block search
//
// Written once over a lane type F (klanes: float = one block, the _ref; v8f = 8 blocks, one
// per lane, the fast path). Sums run over a block's elements in order, decisions are per-lane
// selects, so both give the same bytes.

// Grid index (0..15, as a float) and grid value of the nearest level of al: the index counts
// the midpoints at or below al, the value is a table lookup (exact either way).
template <class F>
[[gnu::always_inline]] inline void grid_lookup(F al, F* idx, F* val) {
  if constexpr (kLanes<F> == 1) {
    int i = 0;
    for (int k = 0; k < 15; ++k) i += al >= kGrid.mid[k] ? 1 : 0;
    *idx = static_cast<float>(i);
    *val = static_cast<float>(kIQ4NLValues[i]);
  } else {
    v8i i = {};
    for (int k = 0; k < 15; ++k) i -= al >= kGrid.mid[k];  // a true lane compares as -1
    static const v8f kLo = {-127, -104, -83, -65, -49, -35, -22, -10};
    static const v8f kHi = {1, 13, 25, 38, 53, 69, 89, 113};
    *idx = __builtin_convertvector(i, v8f);
#if defined(__clang__)  // clang has no variable two-source shuffle builtin: pick lane by lane
    for (int k = 0; k < 8; ++k) (*val)[k] = i[k] < 8 ? kLo[i[k]] : kHi[i[k] - 8];
#else
    *val = __builtin_shuffle(kLo, kHi, i);
#endif
  }
}

// sum e (d q - x)^2.
template <class F>
[[gnu::always_inline]] inline F stored_err(const F* x, const F* e, F d, const F* q) {
  F acc = splat<F>(0);
  for (int i = 0; i < kB; ++i) {
    const F t = d * q[i] - x[i];
    acc += (e[i] * t) * t;
  }
  return acc;
}

// Per-lane fp16 rounding of a scale: the bits and their value.
template <class F>
[[gnu::always_inline]] inline F to_fp16(F d, uint16_t* bits) {
  F r = d;
  for (int k = 0; k < kLanes<F>; ++k) {
    bits[k] = formats::fp32_to_fp16(get(d, k));
    put(r, k, formats::fp16_to_fp32(bits[k]));
  }
  return r;
}

// kLanes<F> consecutive blocks.
template <class F>
[[gnu::always_inline]] inline void iq4nl_blocks(const float* x, const float* imp, uint8_t* out) {
  constexpr int L = kLanes<F>;
  F xv[kB], wv[kB], ev[kB];
  to_lanes(x, kB, kB, xv);
  if (imp) {
    float w[kB * L];
    for (int k = 0; k < L; ++k) block_weights(x + k * kB, imp + k * kB, w + k * kB);
    to_lanes(w, kB, kB, wv);
    to_lanes(imp, kB, kB, ev);
  } else {
    for (int i = 0; i < kB; ++i) {
      wv[i] = xv[i] * xv[i];  // block_weights without importance: x^2
      ev[i] = splat<F>(1);
    }
  }
  const F zero = splat<F>(0);
  F amax, max;
  signed_absmax(kB, xv, &amax, &max);
  const auto empty = amax < 1e-15f;  // GROUP_MAX_EPS: an all-zero block
  // ggml's candidates: id = 127 / max first, then id = (t - 127) / max (every 5th t here).
  F best_d = zero, best = zero;
  for (int t = -8; t <= 7; t += t < -7 ? 1 : 5) {
    const F id = t < -7 ? 1.f / (max / -kV0) : (static_cast<float>(t) + kV0) / max;
    F sqx = zero, sq2 = zero;
    for (int i = 0; i < kB; ++i) {
      F idx, q;
      grid_lookup(id * xv[i], &idx, &q);
      sqx += (wv[i] * q) * xv[i];
      sq2 += (wv[i] * q) * q;
    }
    auto take = best == best;  // all lanes: the first candidate is always taken
    if (t >= -7) take = sq2 > 0.f && sqx * sqx > best * sq2;
    best_d = take ? sqx / sq2 : best_d;
    best = take ? (sqx / sq2) * sqx : best;
  }
  uint16_t d16[L], t16[L];
  F ds = to_fp16(best_d, d16);
  const F id = best_d != 0.f ? 1.f / best_d : zero;
  F li[kB], q[kB], lt[kB], qt[kB];
  for (int i = 0; i < kB; ++i) grid_lookup(id * xv[i], &li[i], &q[i]);
  F err = stored_err(xv, ev, ds, q);
  // Indices for the scale as stored, then the least-squares scale for those indices; per lane,
  // kept while the stored error drops (two rounds).
  auto active = ds != 0.f;
  for (int round = 0; round < 2; ++round) {
    F sqx = zero, sq2 = zero;
    const F ids = 1.f / ds;
    for (int i = 0; i < kB; ++i) {
      grid_lookup(xv[i] * ids, &lt[i], &qt[i]);
      sqx += (ev[i] * qt[i]) * xv[i];
      sq2 += (ev[i] * qt[i]) * qt[i];
    }
    const F tv = to_fp16(sqx / sq2, t16);
    const F e1 = stored_err(xv, ev, ds, qt), e2 = stored_err(xv, ev, tv, qt);
    const F e = e2 < e1 ? e2 : e1;
    active = active && sq2 > 0.f && e < err;
    const auto use_t = active && e2 == e;
    err = active ? e : err;
    for (int i = 0; i < kB; ++i) li[i] = active ? lt[i] : li[i];
    for (int k = 0; k < L; ++k) {
      if (get(use_t ? splat<F>(1) : zero, k) != 0) d16[k] = t16[k];
    }
    ds = use_t ? tv : ds;
    active = active && ds != 0.f;
  }
  float idx[kB * L];
  for (int i = 0; i < kB; ++i) li[i] = empty ? splat<F>(8) : li[i];  // index 8 is the grid value 1
  from_lanes(li, kB, kB, idx);
  for (int k = 0; k < L; ++k) {
    BlockIQ4_NL y;
    y.d = get(empty ? splat<F>(1) : zero, k) != 0 ? uint16_t{0} : d16[k];
    const float* ib = idx + k * kB;
    for (int j = 0; j < 16; ++j) {
      y.qs[j] = static_cast<uint8_t>(static_cast<int>(ib[j]) | (static_cast<int>(ib[j + 16]) << 4));
    }
    std::memcpy(out + k * sizeof y, &y, sizeof y);
  }
}

template <class F>
[[gnu::always_inline]] inline void iq4nl_row(const float* x, int64_t n, const float* imp,
                                             uint8_t* out) {
  constexpr int L = kLanes<F>;
  const int64_t nb = n / kB;
  int64_t b = 0;
  for (; b + L <= nb; b += L) {
    iq4nl_blocks<F>(x + b * kB, imp ? imp + b * kB : nullptr, out + b * sizeof(BlockIQ4_NL));
  }
  for (; b < nb; ++b) {  // the tail one block at a time: the same operations per block
    iq4nl_blocks<float>(x + b * kB, imp ? imp + b * kB : nullptr, out + b * sizeof(BlockIQ4_NL));
  }
}

void iq4nl_ref(const float* x, int64_t n, const float* imp, uint8_t* out) {
  iq4nl_row<float>(x, n, imp, out);
}
BITSMITH_CPU_CLONES("avx2") void iq4nl_fast(const float* x, int64_t n,
                                                                  const float* imp, uint8_t* out) {
  iq4nl_row<v8f>(x, n, imp, out);
}

// ggml's dequantize_row_iq4_nl: d * kvalues[q], same nibble order as Q4_0.
void iq4nl_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kB; ++b) {
    BlockIQ4_NL blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = formats::fp16_to_fp32(blk.d);
    for (int j = 0; j < 16; ++j) {
      y[b * kB + j] = d * static_cast<float>(kIQ4NLValues[blk.qs[j] & 0xF]);
      y[b * kB + j + 16] = d * static_cast<float>(kIQ4NLValues[blk.qs[j] >> 4]);
    }
  }
}

}  // namespace

void append_nonlinear_kernels(std::vector<GgufKernels>& out) {
  GgufKernels k = block_kernels("iq4_nl", kIQ4_NL, kQK, sizeof(BlockIQ4_NL), "iq4_nl_grid",
                                "float16", iq4nl_ref, iq4nl_fast, iq4nl_dequant, 0,
                                "GGUF IQ4_NL: blocks of 32, fp16 scale, 4-bit non-linear grid");
  k.ncodes = 16;
  k.set_code = set_nibble_code<BlockIQ4_NL>;
  k.linear_fp16_params = true;  // d * kvalues[q]
  out.push_back(k);
}

}  // namespace bitsmith::quant::gguf
