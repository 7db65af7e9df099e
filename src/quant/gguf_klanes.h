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

// ---------------------------------------------------------------- lane helpers

template <class F>
inline constexpr int kLanes = static_cast<int>(sizeof(F) / sizeof(float));

template <class F>
[[gnu::always_inline]] inline float get(const F& v, int k) {
  if constexpr (kLanes<F> == 1) return v; else return v[k];
}
template <class F>
[[gnu::always_inline]] inline void put(F& v, int k, float x) {
  if constexpr (kLanes<F> == 1) v = x; else v[k] = x;
}
template <class F>
[[gnu::always_inline]] inline F splat(float x) {
  if constexpr (kLanes<F> == 1) return x; else return F{} + x;
}
template <class F>
[[gnu::always_inline]] inline F rnd(F v) { return (v + 12582912.f) - 12582912.f; }  // round_magic
template <class F>
[[gnu::always_inline]] inline F clampf(F v, float lo, float hi) {
  v = v < lo ? splat<F>(lo) : v;
  return v > hi ? splat<F>(hi) : v;
}
template <class F>
[[gnu::always_inline]] inline F absf(F v) {
  if constexpr (kLanes<F> == 1) {
    return std::fabs(v);
  } else {
    typedef int32_t VI __attribute__((vector_size(sizeof(F))));
    return reinterpret_cast<F>(reinterpret_cast<VI>(v) & 0x7fffffff);
  }
}

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

// 8 x 8 transpose: out[j][k] = r[k][j] (unpack within 128-bit halves, then swap halves).
[[gnu::always_inline]] inline void transpose8(const v8f* r, v8f* out) {
// Two-source shuffles with constant lane indices: GCC spells them __builtin_shuffle with a mask
// vector, clang (the fuzz build) __builtin_shufflevector with the indices as arguments.
#if defined(__clang__)
#define BITSMITH_SHUFFLE2(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
  typedef int32_t m8 __attribute__((vector_size(32)));
#define BITSMITH_SHUFFLE2(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shuffle(a, b, m8{i0, i1, i2, i3, i4, i5, i6, i7})
#endif
  v8f t[8], u[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = BITSMITH_SHUFFLE2(r[2 * k], r[2 * k + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[2 * k + 1] = BITSMITH_SHUFFLE2(r[2 * k], r[2 * k + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) and 4-7 (h = 1)
    u[4 * h + 0] = BITSMITH_SHUFFLE2(t[4 * h], t[4 * h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * h + 1] = BITSMITH_SHUFFLE2(t[4 * h], t[4 * h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[4 * h + 2] = BITSMITH_SHUFFLE2(t[4 * h + 1], t[4 * h + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * h + 3] = BITSMITH_SHUFFLE2(t[4 * h + 1], t[4 * h + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int j = 0; j < 4; ++j) {
    out[j] = BITSMITH_SHUFFLE2(u[j], u[4 + j], 0, 1, 2, 3, 8, 9, 10, 11);
    out[4 + j] = BITSMITH_SHUFFLE2(u[j], u[4 + j], 4, 5, 6, 7, 12, 13, 14, 15);
  }
#undef BITSMITH_SHUFFLE2
}

// dst[i] lane k = src[k * stride + i], i < n (n a multiple of 8 for vectors).
template <class F>
[[gnu::always_inline]] inline void to_lanes(const float* src, int stride, int n, F* dst) {
  if constexpr (kLanes<F> == 1) {
    std::copy(src, src + n, dst);
  } else {
    static_assert(kLanes<F> == 8);
    for (int i0 = 0; i0 < n; i0 += 8) {
      v8f r[8];
      for (int k = 0; k < 8; ++k) r[k] = load8(src + k * stride + i0);
      transpose8(r, dst + i0);
    }
  }
}

// The inverse: dst[k * stride + i] = src[i] lane k.
template <class F>
[[gnu::always_inline]] inline void from_lanes(const F* src, int n, int stride, float* dst) {
  if constexpr (kLanes<F> == 1) {
    std::copy(src, src + n, dst);
  } else {
    for (int i0 = 0; i0 < n; i0 += 8) {
      v8f r[8];
      transpose8(src + i0, r);
      for (int k = 0; k < 8; ++k) std::memcpy(dst + k * stride + i0, &r[k], sizeof r[k]);
    }
  }
}

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

// gguf_search.h's asym_error on lanes (same expression, same order).
template <class F>
[[gnu::always_inline]] inline F asym_error_l(F a, F b, F sw, F sx, F sxx, F sl, F sll, F sxl) {
  return a * a * sll + 2 * a * b * sl + b * b * sw - 2 * a * sxl - 2 * b * sx + sxx;
}

// x ~ scale * l + min, l in [0, nmax], min <= 0, for each lane's sub-block (gguf_search.h's
// asym_search_ref with in-order sums). Levels to l; *scale and *negmin (= -min) per lane.
template <class F>
[[gnu::always_inline]] inline void asym_search(const AsymParams& p, int n, const F* x, const F* w,
                                               F* l, F* scale_out, F* negmin_out) {
  F mn = x[0], mx = x[0], sw = splat<F>(0), sx = sw, sxx = sw;
  for (int i = 0; i < n; ++i) {
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
    sw += w[i];
    sx += w[i] * x[i];
    sxx += (w[i] * x[i]) * x[i];
  }
  const F zero = splat<F>(0);
  mn = mn < 0.f ? mn : zero;  // min <= 0; also turns -0 into +0 whatever the scan order
  const auto flat = mx == mn;
  const float fmax = static_cast<float>(p.nmax);
  F best_err = zero, best_scale = zero, best_min = mn, best_iscale = zero, best_shift = mn;
  F shift = mn;
  for (int k = -1; k <= p.nstep; ++k) {
    const float num = k < 0 ? fmax : p.rmin + p.rdelta * static_cast<float>(k) + fmax;
    const F iscale = num / (mx - shift);
    F sl = zero, sll = zero, sxl = zero;
    for (int i = 0; i < n; ++i) {
      const F li = clampf(rnd(iscale * (x[i] - shift)), 0.f, fmax);
      const F wl = w[i] * li;
      sl += wl;
      sll += wl * li;
      sxl += wl * x[i];
    }
    F scale, off;
    auto better = best_err == best_err;  // all lanes true (k < 0: the plain min/max fit)
    if (k < 0) {
      scale = 1.f / iscale;
      off = mn;
    } else {
      const F D = sw * sll - sl * sl;
      scale = (sw * sxl - sx * sl) / D;
      off = (sll * sx - sl * sxl) / D;
      const auto pos = off > 0.f;
      scale = pos ? sxl / sll : scale;
      off = pos ? zero : off;
      better = D > 0.f;
    }
    const F err = asym_error_l(scale, off, sw, sx, sxx, sl, sll, sxl);
    if (k >= 0) better = better && err < best_err;
    best_err = better ? err : best_err;
    best_scale = better ? scale : best_scale;
    best_min = better ? off : best_min;
    best_iscale = better ? iscale : best_iscale;
    best_shift = better ? shift : best_shift;
    shift = better ? off : shift;
  }
  for (int i = 0; i < n; ++i) {
    l[i] = flat ? zero : clampf(rnd(best_iscale * (x[i] - best_shift)), 0.f, fmax);
  }
  *scale_out = flat ? zero : best_scale;
  *negmin_out = flat ? -mn : -best_min;
}

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
  double best = asym_total(n, s, s.l, c, fp16_to_fp32(*d16), fp16_to_fp32(*dmin16));
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
    const uint16_t nd = fp32_to_fp16(static_cast<float>((sax * sbb - sab * sbx) / det));
    const uint16_t nm = fp32_to_fp16(static_cast<float>((saa * sbx - sab * sax) / det));
    if ((nd & 0x7fffu) >= 0x7c00u || (nm & 0x7fffu) >= 0x7c00u) return;
    std::copy(s.l, s.l + kN / kLanes<F>, t);
    asym_requant(n, fmax, s, t, c, fp16_to_fp32(nd), fp16_to_fp32(nm));
    const double e = asym_total(n, s, t, c, fp16_to_fp32(nd), fp16_to_fp32(nm));
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
    asym_search(p, n, s.x + g * n, s.w + g * n, s.l + g * n, &sc, &nm);
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
    put(c.sc[j / L], j % L, std::clamp(round_magic(inv_scale * scales[j]), 0.f, qmax));
    put(c.m[j / L], j % L, std::clamp(round_magic(inv_min * mins[j]), 0.f, qmax));
  }
  r.d = fp32_to_fp16(max_scale / qmax);
  r.dmin = fp32_to_fp16(max_min / qmax);
  asym_requant(n, static_cast<float>(p.nmax), s, s.l, c, fp16_to_fp32(r.d), fp16_to_fp32(r.dmin));
  asym_refit(p, s, c, &r.d, &r.dmin);
  asym_tweak(p, s, c, fp16_to_fp32(r.d), fp16_to_fp32(r.dmin));
  for (int j = 0; j < nsub; ++j) {
    r.sc[j] = static_cast<uint8_t>(get(c.sc[j / L], j % L));
    r.m[j] = static_cast<uint8_t>(get(c.m[j / L], j % L));
  }
  scatter_levels(s.l, n, 0, r.L);
}

// ---------------------------------------------------------------- symmetric (Q3_K Q6_K)

// x ~ scale * l, l in [-nmax, nmax - 1], per lane (gguf_search.h's sym_search_ref with
// in-order sums). All-zero lanes get scale 0 and l = -nmax.
template <class F>
[[gnu::always_inline]] inline F sym_search(const SymParams& p, int n, const F* x, const F* w,
                                           F* l) {
  const F zero = splat<F>(0);
  F amax = zero, max = zero;
  for (int i = 0; i < n; ++i) {
    const F a = absf(x[i]);
    const auto gt = a > amax;
    amax = gt ? a : amax;
    max = gt ? x[i] : max;
  }
  const auto empty = amax < 1e-15f;  // ggml's GROUP_MAX_EPS
  const float lo = static_cast<float>(-p.nmax), hi = static_cast<float>(p.nmax - 1);
  F best_iscale = zero, best_sumlx = zero, best_suml2 = zero;
  for (int k = 0; k <= 2 * p.nsym; ++k) {
    const int is = k == 0 ? 0 : (k <= p.nsym ? k - p.nsym - 1 : k - p.nsym);
    const F iscale = -(static_cast<float>(p.nmax) + p.step * static_cast<float>(is)) / max;
    F sumlx = zero, suml2 = zero;
    for (int i = 0; i < n; ++i) {
      const F li = clampf(rnd(iscale * x[i]), lo, hi);
      sumlx += (w[i] * li) * x[i];
      suml2 += (w[i] * li) * li;
    }
    auto better = suml2 > 0.f;
    if (k > 0) better = better && sumlx * sumlx * best_suml2 > best_sumlx * best_sumlx * suml2;
    best_iscale = better ? iscale : best_iscale;
    best_sumlx = better ? sumlx : best_sumlx;
    best_suml2 = better ? suml2 : best_suml2;
  }
  for (int i = 0; i < n; ++i) l[i] = empty ? splat<F>(lo) : clampf(rnd(best_iscale * x[i]), lo, hi);
  const F scale = best_suml2 > 0.f ? best_sumlx / best_suml2 : zero;
  return empty ? zero : scale;
}

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
  double best = sym_total(s, s.l, sc, fp16_to_fp32(*d16));
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
    const uint16_t nd = fp32_to_fp16(static_cast<float>(sax / saa));
    if ((nd & 0x7fffu) >= 0x7c00u) return;
    std::copy(s.l, s.l + kN / kLanes<F>, t);
    sym_requant(p, s, t, sc, fp16_to_fp32(nd));
    const double e = sym_total(s, t, sc, fp16_to_fp32(nd));
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
    const F sc = sym_search(p, 16, s.x + g * 16, s.w + g * 16, s.l + g * 16);
    for (int k = 0; k < L; ++k) scales[g * L + k] = get(sc, k);
  }
  float max_scale = 0, max_abs = 0;
  for (int j = 0; j < 16; ++j) {
    if (std::fabs(scales[j]) > max_abs) { max_abs = std::fabs(scales[j]); max_scale = scales[j]; }
  }
  if (max_abs < 1e-15f) return false;
  const float iscale = p.scale_neg / max_scale;
  r.d = fp32_to_fp16(1 / iscale);
  F sc[16] = {};
  for (int j = 0; j < 16; ++j) {
    put(sc[j / L], j % L, std::clamp(round_magic(iscale * scales[j]), static_cast<float>(p.code_lo),
                                     static_cast<float>(p.code_hi)));
  }
  sym_requant(p, s, s.l, sc, fp16_to_fp32(r.d));
  sym_refit(p, s, sc, &r.d);
  sym_tweak(p, s, sc, fp16_to_fp32(r.d));
  for (int j = 0; j < 16; ++j) {
    r.sc[j] = static_cast<int>(get(sc[j / L], j % L));
  }
  scatter_levels(s.l, 16, p.nmax, r.L);
  return true;
}

}  // namespace bitsmith::quant::gguf::klanes
