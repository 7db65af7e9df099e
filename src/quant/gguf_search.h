// The scale searches of the GGUF quantizers, written once over a lane type F: F = float searches
// one block (the scalar _ref paths, which define the bytes); F = v8f searches 8 blocks at once,
// one per lane (the SIMD fast paths). Every decision is a per-lane select, so both
// instantiations perform the same float operations on each block and give the same bytes.
// Sums over a block run in an order fixed by a Sum policy: InOrderSum (element order; the
// K-quants' sub-blocks, gguf_klanes.h) or ByEightSum (element i into partial sum i % 8, combined
// as hsum8; the legacy types, gguf_legacy.cc, whose bytes were defined that way).
//
// The searches follow ggml's ideas (ggml-quants.c make_qx_quants, make_qkx2_quants) with one
// change: the asymmetric search scores each candidate by its weighted squared error computed in
// closed form from the sums it already has, instead of a second pass over the elements.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "gguf_common.h"

// The 32-byte vector helpers below are always inlined, so no vector crosses a call boundary
// and GCC's -Wpsabi note about the AVX calling convention does not apply: the GGUF codec files
// that include this header are compiled with -Wno-psabi (src/quant/CMakeLists.txt), no other.

namespace bitsmith::quant::gguf {

// ---------------------------------------------------------------- 8-lane vectors

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

[[gnu::always_inline]] inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline float hsum_v(v8f v) {
  float lane[8];
  std::memcpy(lane, &v, sizeof lane);
  return hsum8(lane);
}
[[gnu::always_inline]] inline v8f vclamp(v8f v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}
[[gnu::always_inline]] inline v8f vabs(v8f v) {
  return reinterpret_cast<v8f>(reinterpret_cast<v8i>(v) & 0x7fffffff);
}
[[gnu::always_inline]] inline float vmax_lanes(v8f v) {
  float lane[8];
  std::memcpy(lane, &v, sizeof lane);
  return *std::max_element(lane, lane + 8);
}

// ---------------------------------------------------------------- lane helpers (F = float or v8f)

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
[[gnu::always_inline]] inline F rnd(F v) { return formats::round_half_even_small(v); }
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

// ---------------------------------------------------------------- block sums

// Lane-ordered block sum of f(i) (the order hsum8 defines).
template <typename F>
inline float lane_sum(int n, F f) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i) lane[i % 8] += f(i);
  return hsum8(lane);
}

// Block sums in element order (one running sum per lane).
template <class F>
struct InOrderSum {
  F s = splat<F>(0);
  [[gnu::always_inline]] void add(int, F v) { s += v; }
  [[gnu::always_inline]] F total() const { return s; }
};

// Block sums in hsum8's order: element i into partial sum i % 8, the 8 combined pairwise (the
// order of lane_sum, per lane).
template <class F>
struct ByEightSum {
  F p[8] = {splat<F>(0), splat<F>(0), splat<F>(0), splat<F>(0),
            splat<F>(0), splat<F>(0), splat<F>(0), splat<F>(0)};
  [[gnu::always_inline]] void add(int i, F v) { p[i % 8] += v; }
  [[gnu::always_inline]] F total() const {
    return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
  }
};

// ---------------------------------------------------------------- symmetric search

// The signed value of largest magnitude of each lane's block, first occurrence (ggml's
// `amax < fabsf(v)` scan), in *max, and that magnitude in *amax; both 0 for an all-zero block.
template <class F>
[[gnu::always_inline]] inline void signed_absmax(int n, const F* x, F* amax_out, F* max_out) {
  F amax = splat<F>(0), max = amax;
  for (int i = 0; i < n; ++i) {
    const F a = absf(x[i]);
    const auto gt = a > amax;
    amax = gt ? a : amax;
    max = gt ? x[i] : max;
  }
  *amax_out = amax;
  *max_out = max;
}

// Symmetric: x ~ scale * l, l in [-nmax, nmax - 1], for each lane's block of n values;
// 2 nsym + 1 candidate inverse scales -(nmax + step k) / max for k = 0, -nsym..nsym (max = the
// signed value of largest magnitude, first occurrence; ggml's make_qx_quants: nsym 9, step
// 0.1), the best by weighted least squares. Returns the scale per lane; all-zero lanes (below
// ggml's GROUP_MAX_EPS) get scale 0 and l = -nmax.
template <class F, template <class> class Sum = InOrderSum>
[[gnu::always_inline]] inline F sym_search(int nmax, int nsym, float step, int n, const F* x,
                                           const F* w, F* l) {
  const F zero = splat<F>(0);
  F amax, max;
  signed_absmax(n, x, &amax, &max);
  const auto empty = amax < 1e-15f;  // ggml's GROUP_MAX_EPS
  const float lo = static_cast<float>(-nmax), hi = static_cast<float>(nmax - 1);
  F best_iscale = zero, best_sumlx = zero, best_suml2 = zero;
  for (int k = 0; k <= 2 * nsym; ++k) {
    const int is = k == 0 ? 0 : (k <= nsym ? k - nsym - 1 : k - nsym);  // 0, -nsym..-1, 1..nsym
    const F iscale = -(static_cast<float>(nmax) + step * static_cast<float>(is)) / max;
    Sum<F> sumlx_sum, suml2_sum;
    for (int i = 0; i < n; ++i) {
      const F li = clampf(rnd(iscale * x[i]), lo, hi);
      sumlx_sum.add(i, (w[i] * li) * x[i]);
      suml2_sum.add(i, (w[i] * li) * li);
    }
    const F sumlx = sumlx_sum.total(), suml2 = suml2_sum.total();
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

// ---------------------------------------------------------------- asymmetric search

// Weighted sum of squared error of x ~ a * l + b given the block sums (S_w = sum w, S_x = sum
// w x, S_xx = sum w x^2, S_l = sum w l, S_ll = sum w l^2, S_xl = sum w x l), per lane.
template <class F>
[[gnu::always_inline]] inline F asym_error(F a, F b, F sw, F sx, F sxx, F sl, F sll, F sxl) {
  return a * a * sll + 2 * a * b * sl + b * b * sw - 2 * a * sxl - 2 * b * sx + sxx;
}

// Asymmetric: x ~ scale * l + min, l in [0, nmax], min <= 0, for each lane's block of n values.
// Candidate inverse scales (rmin + rdelta k + nmax) / (max - min0) for k = 0..nstep after the
// plain min/max one; for each, (scale, min) is the weighted least-squares fit of the levels it
// picks (min clamped to <= 0), scored in closed form from the sums (asym_error). As in ggml's
// make_qkx2_quants, later candidates measure from the best minimum so far. Levels to l;
// *scale_out and *negmin_out (= -min, what the blocks store) per lane; flat lanes get scale 0.
template <class F, template <class> class Sum = InOrderSum>
[[gnu::always_inline]] inline void asym_search(int nmax, float rmin, float rdelta, int nstep,
                                               int n, const F* x, const F* w, F* l, F* scale_out,
                                               F* negmin_out) {
  F mn = x[0], mx = x[0];
  Sum<F> sw_sum, sx_sum, sxx_sum;
  for (int i = 0; i < n; ++i) {
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
    sw_sum.add(i, w[i]);
    sx_sum.add(i, w[i] * x[i]);
    sxx_sum.add(i, (w[i] * x[i]) * x[i]);
  }
  const F sw = sw_sum.total(), sx = sx_sum.total(), sxx = sxx_sum.total();
  const F zero = splat<F>(0);
  mn = mn < 0.f ? mn : zero;  // min <= 0; also turns -0 into +0 whatever the scan order
  const auto flat = mx == mn;
  const float fmax = static_cast<float>(nmax);
  F best_err = zero, best_scale = zero, best_min = mn, best_iscale = zero, best_shift = mn;
  F shift = mn;
  for (int k = -1; k <= nstep; ++k) {
    const float num = k < 0 ? fmax : rmin + rdelta * static_cast<float>(k) + fmax;
    const F iscale = num / (mx - shift);
    Sum<F> sl_sum, sll_sum, sxl_sum;
    for (int i = 0; i < n; ++i) {
      const F li = clampf(rnd(iscale * (x[i] - shift)), 0.f, fmax);
      const F wl = w[i] * li;
      sl_sum.add(i, wl);
      sll_sum.add(i, wl * li);
      sxl_sum.add(i, wl * x[i]);
    }
    const F sl = sl_sum.total(), sll = sll_sum.total(), sxl = sxl_sum.total();
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
    const F err = asym_error(scale, off, sw, sx, sxx, sl, sll, sxl);
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

}  // namespace bitsmith::quant::gguf
