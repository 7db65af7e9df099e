// The K-quant code search, written once over a lane type F: F = float runs one sub-block at a
// time (the scalar _ref, which defines the bytes); F = v8f runs 8 sub-blocks at once, one per
// lane (the SIMD fast path). Every sum runs over a sub-block's elements in order within its
// lane, and every decision is a per-lane select, so both instantiations perform the same float
// operations on each sub-block and give the same bytes.
//
// Per super-block: search weights (ggml's rules), a weighted scale search per sub-block,
// sub-block scales quantized against the fp16 super-block scale(s) as ggml does, values
// re-quantized with the stored scales, a least-squares refit of the fp16 scale(s) with the
// codes fixed (kept when the stored error drops) and a +-1 (+-2) search over each stored
// sub-block code (kept per sub-block when its error drops).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "gguf_search.h"

namespace bitsmith::quant::gguf::klanes {

constexpr int kN = kQK_K;

// ---------------------------------------------------------------- parameters and results

enum class WeightRule { kAbs, kAvPlusAbs, kSquare };

struct AsymParams {
  int sub;        // sub-block length: 16 or 32
  int nmax;       // largest level: 3, 15, 31
  int scale_max;  // largest sub-block scale code: 15 (4 bits) or 63 (6 bits)
  float rmin, rdelta;
  int nstep;
  WeightRule rule;
  float sigma2_factor;  // with importance: sigma2 = factor * mean(x^2)
};

struct AsymResult {
  uint16_t d = 0, dmin = 0;
  uint8_t sc[16] = {}, m[16] = {};
  uint8_t L[kN] = {};
};

struct SymParams {
  int nmax;         // levels -nmax..nmax-1: 4 (Q3_K), 32 (Q6_K)
  float scale_neg;  // the largest-magnitude sub-block scale maps to this code: -32, -128
  int code_lo, code_hi;  // sub-block scale code range: [-32, 31], [-128, 127]
  float sigma2_factor;
  int nsym;    // candidate inverse scales -(nmax + step k) / max, k = -nsym..nsym
  float step;
};

struct SymResult {
  uint16_t d = 0;
  int sc[16] = {};
  int8_t L[kN] = {};  // level + nmax
};

// Search weights: ggml's quant_weights rule with importance (imp * sqrt(sigma2 + x^2)),
// otherwise the type's own heuristic. Sums in hsum8's lane order (shared by both paths).
inline void search_weights(const float* x, const float* imp, WeightRule rule, float sigma2_factor,
                           int sub, float* w) {
  auto sum_sq = [](const float* v, int n) {
    return lane_sum(n, [&](int i) { return v[i] * v[i]; });
  };
  if (imp) {
    const float sigma2 = sigma2_factor * sum_sq(x, kN) / kN;
    for (int i = 0; i < kN; ++i) w[i] = imp[i] * std::sqrt(sigma2 + x[i] * x[i]);
    return;
  }
  for (int j = 0; j < kN; j += sub) {
    const float av = rule == WeightRule::kAvPlusAbs
                         ? std::sqrt(sum_sq(x + j, sub) / static_cast<float>(sub)) : 0.f;
    for (int i = j; i < j + sub; ++i) {
      w[i] = rule == WeightRule::kSquare ? x[i] * x[i] : av + std::fabs(x[i]);
    }
  }
}

// Sub-blocks of n values in lane layout: group g holds sub-blocks g*lanes .. g*lanes+lanes-1,
// element i of lane k at t[g * n + i][k].
template <class F>
struct Lanes {
  F x[kN / kLanes<F>], w[kN / kLanes<F>], e[kN / kLanes<F>], l[kN / kLanes<F>];
};

template <class F>
[[gnu::always_inline]] inline void gather(const float* src, int n, F* t) {
  constexpr int L = kLanes<F>;
  for (int g = 0; g < kN / (n * L); ++g) to_lanes(src + g * L * n, n, n, t + g * n);
}

// The inverse of gather for levels: element i of sub-block j, as an integer plus `offset`.
template <class F, typename T>
[[gnu::always_inline]] inline void scatter_levels(const F* t, int n, int offset, T* dst) {
  constexpr int L = kLanes<F>;
  float tmp[kN];
  for (int g = 0; g < kN / (n * L); ++g) from_lanes(t + g * n, n, n, tmp + g * L * n);
  for (int i = 0; i < kN; ++i) dst[i] = static_cast<T>(static_cast<int>(tmp[i]) + offset);
}

// ---------------------------------------------------------------- asymmetric search

// ---------------------------------------------------------------- asymmetric final steps

// Per-lane state of one group of sub-blocks: codes as floats.
template <class F>
struct AsymCodes {
  F sc[16], m[16];  // one per group (index g)
};

// New levels for stored scales dl, ml; lanes with dl == 0 keep theirs.
template <class F>
[[gnu::always_inline]] inline void asym_levels(int n, float fmax, const F* x, F dl, F ml, F* l) {
  const auto keep = dl == 0.f;
  const F idl = 1.f / dl;  // one division per lane, then products
  for (int i = 0; i < n; ++i) l[i] = keep ? l[i] : clampf(rnd((x[i] + ml) * idl), 0.f, fmax);
}

template <class F>
[[gnu::always_inline]] inline F asym_err(int n, const F* x, const F* e, const F* l, F dl, F ml) {
  F acc = splat<F>(0);
  for (int i = 0; i < n; ++i) {
    const F t = dl * l[i] - ml - x[i];
    acc += (e[i] * t) * t;
  }
  return acc;
}

// Sum over sub-blocks (in sub-block order, double) of the stored error.
template <class F>
[[gnu::always_inline]] inline double asym_total(int n, const Lanes<F>& s, const F* l,
                                                const AsymCodes<F>& c, float d, float dmin) {
  double tot = 0;
  for (int g = 0; g < kN / (n * kLanes<F>); ++g) {
    const F e = asym_err(n, s.x + g * n, s.e + g * n, l + g * n, d * c.sc[g], dmin * c.m[g]);
    for (int k = 0; k < kLanes<F>; ++k) tot += get(e, k);
  }
  return tot;
}

template <class F>
[[gnu::always_inline]] inline void asym_requant(int n, float fmax, const Lanes<F>& s, F* l,
                                                const AsymCodes<F>& c, float d, float dmin) {
  for (int g = 0; g < kN / (n * kLanes<F>); ++g) {
    asym_levels(n, fmax, s.x + g * n, d * c.sc[g], dmin * c.m[g], l + g * n);
  }
}

// Least-squares refit of (d, dmin) with the codes fixed (value = d * (sc l) + dmin * (-m)),
// then re-quantization; kept while the error drops (two rounds).
template <class F>
[[gnu::always_inline]] inline void asym_refit(const AsymParams& p, Lanes<F>& s,
                                              const AsymCodes<F>& c, uint16_t* d16,
                                              uint16_t* dmin16) {
  const int n = p.sub, ng = kN / (n * kLanes<F>);
  const float fmax = static_cast<float>(p.nmax);
  double best = asym_total(n, s, s.l, c, formats::fp16_to_fp32(*d16), formats::fp16_to_fp32(*dmin16));
  F t[kN / kLanes<F>];
  for (int round = 0; round < 2; ++round) {
    double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
    for (int g = 0; g < ng; ++g) {
      F sw = splat<F>(0), sx = sw, sl = sw, sll = sw, slx = sw;
      for (int i = g * n; i < (g + 1) * n; ++i) {
        const F wl = s.e[i] * s.l[i];
        sw += s.e[i];
        sx += s.e[i] * s.x[i];
        sl += wl;
        sll += wl * s.l[i];
        slx += wl * s.x[i];
      }
      for (int k = 0; k < kLanes<F>; ++k) {
        const double sc = get(c.sc[g], k), m = get(c.m[g], k);
        saa += sc * sc * get(sll, k); sab -= sc * m * get(sl, k); sbb += m * m * get(sw, k);
        sax += sc * get(slx, k); sbx -= m * get(sx, k);
      }
    }
    const double det = saa * sbb - sab * sab;
    if (!(det > 0)) return;
    const uint16_t nd = formats::fp32_to_fp16(static_cast<float>((sax * sbb - sab * sbx) / det));
    const uint16_t nm = formats::fp32_to_fp16(static_cast<float>((saa * sbx - sab * sax) / det));
    if ((nd & 0x7fffu) >= 0x7c00u || (nm & 0x7fffu) >= 0x7c00u) return;
    std::copy(s.l, s.l + kN / kLanes<F>, t);
    asym_requant(n, fmax, s, t, c, formats::fp16_to_fp32(nd), formats::fp16_to_fp32(nm));
    const double e = asym_total(n, s, t, c, formats::fp16_to_fp32(nd), formats::fp16_to_fp32(nm));
    if (!(e < best)) return;
    best = e;
    *d16 = nd;
    *dmin16 = nm;
    std::copy(t, t + kN / kLanes<F>, s.l);
  }
}

// Each sub-block's scale code and min code one step down and up (levels re-chosen), kept per
// lane when that sub-block's stored error drops.
template <class F>
[[gnu::always_inline]] inline void asym_tweak(const AsymParams& p, Lanes<F>& s, AsymCodes<F>& c,
                                              float d, float dmin) {
  const int n = p.sub;
  const float fmax = static_cast<float>(p.nmax), smax = static_cast<float>(p.scale_max);
  static constexpr float kSteps[4][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}};
  for (int g = 0; g < kN / (n * kLanes<F>); ++g) {
    const F* x = s.x + g * n;
    const F* e = s.e + g * n;
    F* l = s.l + g * n;
    F best = asym_err(n, x, e, l, d * c.sc[g], dmin * c.m[g]);
    const F sc0 = c.sc[g], m0 = c.m[g];
    for (const auto& st : kSteps) {
      const F sc = sc0 + st[0], m = m0 + st[1];
      const F dl = d * sc, ml = dmin * m;
      F t[32];
      const F idl = 1.f / dl;
      for (int i = 0; i < n; ++i) t[i] = clampf(rnd((x[i] + ml) * idl), 0.f, fmax);
      const F err = asym_err(n, x, e, t, dl, ml);
      const auto ok = sc >= 1.f && sc <= smax && m >= 0.f && m <= smax && err < best;
      best = ok ? err : best;
      c.sc[g] = ok ? sc : c.sc[g];
      c.m[g] = ok ? m : c.m[g];
      for (int i = 0; i < n; ++i) l[i] = ok ? t[i] : l[i];
    }
  }
}

template <class F>
[[gnu::always_inline]] inline void asym_super_block(const AsymParams& p, const float* x,
                                                    const float* imp, AsymResult& r) {
  constexpr int L = kLanes<F>;
  const int n = p.sub, nsub = kN / n, ng = nsub / L;
  float w[kN];
  search_weights(x, imp, p.rule, p.sigma2_factor, n, w);
  Lanes<F> s;
  gather(x, n, s.x);
  gather(w, n, s.w);
  if (imp) gather(imp, n, s.e);
  else std::fill(s.e, s.e + kN / L, splat<F>(1));
  float scales[16], mins[16];
  for (int g = 0; g < ng; ++g) {
    F sc, nm;
    asym_search(p.nmax, p.rmin, p.rdelta, p.nstep, n, s.x + g * n, s.w + g * n, s.l + g * n,
                &sc, &nm);
    for (int k = 0; k < L; ++k) { scales[g * L + k] = get(sc, k); mins[g * L + k] = get(nm, k); }
  }
  // Sub-block scales and mins as codes under one fp16 scale each (ggml's reference rule).
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < nsub; ++j) {
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float qmax = static_cast<float>(p.scale_max);
  const float inv_scale = max_scale > 0 ? qmax / max_scale : 0.f;
  const float inv_min = max_min > 0 ? qmax / max_min : 0.f;
  AsymCodes<F> c{};
  for (int j = 0; j < nsub; ++j) {
    put(c.sc[j / L], j % L, std::clamp(formats::round_half_even_small(inv_scale * scales[j]), 0.f, qmax));
    put(c.m[j / L], j % L, std::clamp(formats::round_half_even_small(inv_min * mins[j]), 0.f, qmax));
  }
  r.d = formats::fp32_to_fp16(max_scale / qmax);
  r.dmin = formats::fp32_to_fp16(max_min / qmax);
  asym_requant(n, static_cast<float>(p.nmax), s, s.l, c, formats::fp16_to_fp32(r.d), formats::fp16_to_fp32(r.dmin));
  asym_refit(p, s, c, &r.d, &r.dmin);
  asym_tweak(p, s, c, formats::fp16_to_fp32(r.d), formats::fp16_to_fp32(r.dmin));
  for (int j = 0; j < nsub; ++j) {
    r.sc[j] = static_cast<uint8_t>(get(c.sc[j / L], j % L));
    r.m[j] = static_cast<uint8_t>(get(c.m[j / L], j % L));
  }
  scatter_levels(s.l, n, 0, r.L);
}

// ---------------------------------------------------------------- symmetric (Q3_K Q6_K)

template <class F>
[[gnu::always_inline]] inline void sym_levels(int n, float lo, float hi, const F* x, F dl, F* l) {
  const auto keep = dl == 0.f;
  const F idl = 1.f / dl;
  for (int i = 0; i < n; ++i) l[i] = keep ? l[i] : clampf(rnd(x[i] * idl), lo, hi);
}

template <class F>
[[gnu::always_inline]] inline F sym_err(int n, const F* x, const F* e, const F* l, F dl) {
  F acc = splat<F>(0);
  for (int i = 0; i < n; ++i) {
    const F t = dl * l[i] - x[i];
    acc += (e[i] * t) * t;
  }
  return acc;
}

template <class F>
[[gnu::always_inline]] inline double sym_total(const Lanes<F>& s, const F* l, const F* sc,
                                               float d) {
  double tot = 0;
  for (int g = 0; g < kN / (16 * kLanes<F>); ++g) {
    const F e = sym_err(16, s.x + g * 16, s.e + g * 16, l + g * 16, d * sc[g]);
    for (int k = 0; k < kLanes<F>; ++k) tot += get(e, k);
  }
  return tot;
}

template <class F>
[[gnu::always_inline]] inline void sym_requant(const SymParams& p, const Lanes<F>& s, F* l,
                                               const F* sc, float d) {
  for (int g = 0; g < kN / (16 * kLanes<F>); ++g) {
    sym_levels(16, static_cast<float>(-p.nmax), static_cast<float>(p.nmax - 1), s.x + g * 16,
               d * sc[g], l + g * 16);
  }
}

// Least-squares refit of d with the codes fixed (value = d * (sc l)), kept while better.
template <class F>
[[gnu::always_inline]] inline void sym_refit(const SymParams& p, Lanes<F>& s, const F* sc,
                                             uint16_t* d16) {
  double best = sym_total(s, s.l, sc, formats::fp16_to_fp32(*d16));
  F t[kN / kLanes<F>];
  for (int round = 0; round < 2; ++round) {
    double saa = 0, sax = 0;
    for (int g = 0; g < kN / (16 * kLanes<F>); ++g) {
      F sll = splat<F>(0), slx = sll;
      for (int i = g * 16; i < (g + 1) * 16; ++i) {
        const F wl = s.e[i] * s.l[i];
        sll += wl * s.l[i];
        slx += wl * s.x[i];
      }
      for (int k = 0; k < kLanes<F>; ++k) {
        const double c = get(sc[g], k);
        saa += c * c * get(sll, k);
        sax += c * get(slx, k);
      }
    }
    if (!(saa > 0)) return;
    const uint16_t nd = formats::fp32_to_fp16(static_cast<float>(sax / saa));
    if ((nd & 0x7fffu) >= 0x7c00u) return;
    std::copy(s.l, s.l + kN / kLanes<F>, t);
    sym_requant(p, s, t, sc, formats::fp16_to_fp32(nd));
    const double e = sym_total(s, t, sc, formats::fp16_to_fp32(nd));
    if (!(e < best)) return;
    best = e;
    *d16 = nd;
    std::copy(t, t + kN / kLanes<F>, s.l);
  }
}

// Each sub-block scale code +-1, +-2 (never 0), levels re-chosen, kept per lane when better.
template <class F>
[[gnu::always_inline]] inline void sym_tweak(const SymParams& p, Lanes<F>& s, F* sc, float d) {
  const float lo = static_cast<float>(-p.nmax), hi = static_cast<float>(p.nmax - 1);
  for (int g = 0; g < kN / (16 * kLanes<F>); ++g) {
    const F* x = s.x + g * 16;
    const F* e = s.e + g * 16;
    F* l = s.l + g * 16;
    F best = sym_err(16, x, e, l, d * sc[g]);
    const F base = sc[g];
    for (float delta : {-2.f, -1.f, 1.f, 2.f}) {
      const F c = base + delta;
      const F dl = d * c;
      F t[16];
      const F idl = 1.f / dl;
      for (int i = 0; i < 16; ++i) t[i] = clampf(rnd(x[i] * idl), lo, hi);
      const F err = sym_err(16, x, e, t, dl);
      const auto ok = c >= static_cast<float>(p.code_lo) && c <= static_cast<float>(p.code_hi) &&
                      c != 0.f && err < best;
      best = ok ? err : best;
      sc[g] = ok ? c : sc[g];
      for (int i = 0; i < 16; ++i) l[i] = ok ? t[i] : l[i];
    }
  }
}

// Returns false for an all-zero super-block (every byte 0).
template <class F>
[[gnu::always_inline]] inline bool sym_super_block(const SymParams& p, const float* x,
                                                   const float* imp, SymResult& r) {
  constexpr int L = kLanes<F>;
  float w[kN];
  // Q6_K uses the importance as is (ggml's quantize_row_q6_K_impl); Q3_K scales it like the
  // other K-quants; without importance both weight by x^2 (make_qx_quants rmse_type 1).
  if (imp && p.nmax == 32) {
    std::copy(imp, imp + kN, w);
  } else {
    search_weights(x, imp, WeightRule::kSquare, p.sigma2_factor, 16, w);
  }
  Lanes<F> s;
  gather(x, 16, s.x);
  gather(w, 16, s.w);
  if (imp) gather(imp, 16, s.e);
  else std::fill(s.e, s.e + kN / L, splat<F>(1));
  float scales[16];
  for (int g = 0; g < 16 / L; ++g) {
    const F sc = sym_search(p.nmax, p.nsym, p.step, 16, s.x + g * 16, s.w + g * 16, s.l + g * 16);
    for (int k = 0; k < L; ++k) scales[g * L + k] = get(sc, k);
  }
  float max_scale = 0, max_abs = 0;
  for (int j = 0; j < 16; ++j) {
    if (std::fabs(scales[j]) > max_abs) { max_abs = std::fabs(scales[j]); max_scale = scales[j]; }
  }
  if (max_abs < 1e-15f) return false;
  const float iscale = p.scale_neg / max_scale;
  r.d = formats::fp32_to_fp16(1 / iscale);
  F sc[16] = {};
  for (int j = 0; j < 16; ++j) {
    put(sc[j / L], j % L, std::clamp(formats::round_half_even_small(iscale * scales[j]), static_cast<float>(p.code_lo),
                                     static_cast<float>(p.code_hi)));
  }
  sym_requant(p, s, s.l, sc, formats::fp16_to_fp32(r.d));
  sym_refit(p, s, sc, &r.d);
  sym_tweak(p, s, sc, formats::fp16_to_fp32(r.d));
  for (int j = 0; j < 16; ++j) {
    r.sc[j] = static_cast<int>(get(sc[j / L], j % L));
  }
  scatter_levels(s.l, 16, p.nmax, r.L);
  return true;
}

}  // namespace bitsmith::quant::gguf::klanes
