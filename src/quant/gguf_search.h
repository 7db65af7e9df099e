// The scale searches of the GGUF quantizers, twice: a plain scalar loop (the _ref, which defines
// the bytes) and an 8-lane SIMD version (GCC/Clang vector extensions; compiled for AVX2 at run
// time through target_clones) that performs the same float operations in the same order, so the
// two agree bit for bit. Sums over a block follow hsum8's lane order in both.
//
// The searches follow ggml's ideas (ggml-quants.c make_qx_quants, make_qkx2_quants) with one
// change: the asymmetric search scores each candidate by its weighted squared error computed in
// closed form from the sums it already has, instead of a second pass over the elements.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gguf_common.h"

// The 32-byte vector helpers below are always inlined, so no vector crosses a call boundary
// and GCC's note about the AVX calling convention does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace bitsmith::quant::gguf {

// Weighted sum of squared error of x ~ a * l + b given the block sums (S_w = sum w, S_x = sum
// w x, S_xx = sum w x^2, S_l = sum w l, S_ll = sum w l^2, S_xl = sum w x l).
inline float asym_error(float a, float b, float sw, float sx, float sxx, float sl, float sll,
                        float sxl) {
  return a * a * sll + 2 * a * b * sl + b * b * sw - 2 * a * sxl - 2 * b * sx + sxx;
}

// ---------------------------------------------------------------- scalar reference searches

// Lane-ordered block sum of f(i) (the order hsum8 defines).
template <typename F>
inline float lane_sum(int n, F f) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < n; ++i) lane[i % 8] += f(i);
  return hsum8(lane);
}

// Symmetric: x ~ scale * l, l in [-nmax, nmax-1]; 2 nsym + 1 candidate inverse scales
// -(nmax + step k) / max for k = 0, -nsym..nsym (max = the signed value of largest magnitude;
// ggml's make_qx_quants: nsym 9, step 0.1), the best by weighted least squares. L gets
// l + nmax. Returns the scale (0 for an all-zero block).
inline float sym_search_ref(int n, int nmax, const float* x, const float* w, int8_t* L,
                            int nsym = 9, float step = 0.1f) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) { amax = std::fabs(x[i]); max = x[i]; }
  }
  if (amax < 1e-15f) {  // ggml's GROUP_MAX_EPS: treat as all zero
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.f;
  }
  float best_iscale = 0, best_sumlx = 0, best_suml2 = 0;
  for (int k = 0; k <= 2 * nsym; ++k) {
    const int is = k == 0 ? 0 : (k <= nsym ? k - nsym - 1 : k - nsym);  // 0, -nsym..-1, 1..nsym
    const float iscale = -(static_cast<float>(nmax) + step * static_cast<float>(is)) / max;
    auto level = [&](int i) {
      return std::clamp(round_magic(iscale * x[i]), static_cast<float>(-nmax),
                        static_cast<float>(nmax - 1));
    };
    const float sumlx = lane_sum(n, [&](int i) { return (w[i] * level(i)) * x[i]; });
    const float suml2 = lane_sum(n, [&](int i) { return (w[i] * level(i)) * level(i); });
    if (suml2 > 0 && (k == 0 || sumlx * sumlx * best_suml2 > best_sumlx * best_sumlx * suml2)) {
      best_iscale = iscale; best_sumlx = sumlx; best_suml2 = suml2;
    }
  }
  for (int i = 0; i < n; ++i) {
    const float l = std::clamp(round_magic(best_iscale * x[i]), static_cast<float>(-nmax),
                               static_cast<float>(nmax - 1));
    L[i] = static_cast<int8_t>(static_cast<int>(l) + nmax);
  }
  return best_suml2 > 0 ? best_sumlx / best_suml2 : 0.f;
}

// Asymmetric: x ~ scale * l + min, l in [0, nmax], min <= 0. Candidate inverse scales
// (rmin + rdelta k + nmax) / (max - min0) for k = 0..nstep after the plain min/max one; for
// each, (scale, min) is the weighted least-squares fit of the levels it picks (min clamped to
// <= 0). Returns the scale; *neg_min gets -min (what K-quants store as the block minimum).
inline float asym_search_ref(int n, int nmax, const float* x, const float* w, float rmin,
                             float rdelta, int nstep, uint8_t* L, float* neg_min) {
  float mn = x[0], mx = x[0];
  for (int i = 1; i < n; ++i) { mn = std::min(mn, x[i]); mx = std::max(mx, x[i]); }
  if (!(mn < 0)) mn = 0;  // min <= 0; also turns -0 into +0 whatever the scan order
  if (mx == mn) {
    std::memset(L, 0, static_cast<size_t>(n));
    *neg_min = -mn;
    return 0.f;
  }
  const float sw = lane_sum(n, [&](int i) { return w[i]; });
  const float sx = lane_sum(n, [&](int i) { return w[i] * x[i]; });
  const float sxx = lane_sum(n, [&](int i) { return (w[i] * x[i]) * x[i]; });
  const float fmax = static_cast<float>(nmax);
  // As in ggml's make_qkx2_quants, later candidates measure from the best minimum so far.
  float best_err = 0, best_scale = 0, best_min = mn, best_iscale = 0, best_shift = mn;
  float shift = mn;
  for (int k = -1; k <= nstep; ++k) {
    const float iscale = k < 0 ? fmax / (mx - shift)
                               : (rmin + rdelta * static_cast<float>(k) + fmax) / (mx - shift);
    auto level = [&](int i) {
      return std::clamp(round_magic(iscale * (x[i] - shift)), 0.f, fmax);
    };
    const float sl = lane_sum(n, [&](int i) { return w[i] * level(i); });
    const float sll = lane_sum(n, [&](int i) { return (w[i] * level(i)) * level(i); });
    const float sxl = lane_sum(n, [&](int i) { return (w[i] * level(i)) * x[i]; });
    float scale, off;
    if (k < 0) {
      scale = 1 / iscale;  // the plain min/max fit
      off = mn;
    } else {
      const float D = sw * sll - sl * sl;
      if (!(D > 0)) continue;
      scale = (sw * sxl - sx * sl) / D;
      off = (sll * sx - sl * sxl) / D;
      if (off > 0) { off = 0; scale = sxl / sll; }
    }
    const float err = asym_error(scale, off, sw, sx, sxx, sl, sll, sxl);
    if (k < 0 || err < best_err) {
      best_err = err; best_scale = scale; best_min = off; best_iscale = iscale; best_shift = shift;
      shift = off;
    }
  }
  for (int i = 0; i < n; ++i) {
    L[i] =
        static_cast<uint8_t>(std::clamp(round_magic(best_iscale * (x[i] - best_shift)), 0.f, fmax));
  }
  *neg_min = -best_min;
  return best_scale;
}

// ---------------------------------------------------------------- SIMD searches

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
[[gnu::always_inline]] inline v8f vround(v8f v) { return (v + 12582912.f) - 12582912.f; }
[[gnu::always_inline]] inline v8f vabs(v8f v) {
  return reinterpret_cast<v8f>(reinterpret_cast<v8i>(v) & 0x7fffffff);
}
[[gnu::always_inline]] inline float vmax_lanes(v8f v) {
  float lane[8];
  std::memcpy(lane, &v, sizeof lane);
  return *std::max_element(lane, lane + 8);
}

// sym_search_ref for n = 8 * NV elements.
template <int NV>
[[gnu::always_inline]] inline float sym_search_simd(int nmax, const float* x, const float* w,
                                                    int8_t* L, int nsym = 9, float step = 0.1f) {
  constexpr int n = 8 * NV;
  v8f xv[NV], wv[NV];
  v8f am = {};
  for (int v = 0; v < NV; ++v) {
    xv[v] = load8(x + 8 * v);
    wv[v] = load8(w + 8 * v);
    const v8f a = vabs(xv[v]);
    am = am > a ? am : a;
  }
  const float amax = vmax_lanes(am);
  if (amax < 1e-15f) {
    std::memset(L, 0, n);
    return 0.f;
  }
  float max = 0;
  for (int i = 0; i < n; ++i) {  // first element of largest magnitude, as the scalar scan
    if (std::fabs(x[i]) == amax) { max = x[i]; break; }
  }
  const float lo = static_cast<float>(-nmax), hi = static_cast<float>(nmax - 1);
  float best_iscale = 0, best_sumlx = 0, best_suml2 = 0;
  for (int k = 0; k <= 2 * nsym; ++k) {
    const int is = k == 0 ? 0 : (k <= nsym ? k - nsym - 1 : k - nsym);
    const float iscale = -(static_cast<float>(nmax) + step * static_cast<float>(is)) / max;
    v8f slx = {}, sl2 = {};
    for (int v = 0; v < NV; ++v) {
      const v8f l = vclamp(vround(iscale * xv[v]), lo, hi);
      slx += (wv[v] * l) * xv[v];
      sl2 += (wv[v] * l) * l;
    }
    const float sumlx = hsum_v(slx), suml2 = hsum_v(sl2);
    if (suml2 > 0 && (k == 0 || sumlx * sumlx * best_suml2 > best_sumlx * best_sumlx * suml2)) {
      best_iscale = iscale; best_sumlx = sumlx; best_suml2 = suml2;
    }
  }
  for (int v = 0; v < NV; ++v) {
    const v8i l = __builtin_convertvector(vclamp(vround(best_iscale * xv[v]), lo, hi), v8i) + nmax;
    for (int j = 0; j < 8; ++j) L[8 * v + j] = static_cast<int8_t>(l[j]);
  }
  return best_suml2 > 0 ? best_sumlx / best_suml2 : 0.f;
}

// asym_search_ref for n = 8 * NV elements.
template <int NV>
[[gnu::always_inline]] inline float asym_search_simd(int nmax, const float* x, const float* w,
                                                     float rmin, float rdelta, int nstep,
                                                     uint8_t* L, float* neg_min) {
  constexpr int n = 8 * NV;
  v8f xv[NV], wv[NV];
  v8f vmn = load8(x), vmx = vmn, vsw = {}, vsx = {}, vsxx = {};
  for (int v = 0; v < NV; ++v) {
    xv[v] = load8(x + 8 * v);
    wv[v] = load8(w + 8 * v);
    vmn = xv[v] < vmn ? xv[v] : vmn;
    vmx = xv[v] > vmx ? xv[v] : vmx;
    vsw += wv[v];
    vsx += wv[v] * xv[v];
    vsxx += (wv[v] * xv[v]) * xv[v];
  }
  float mn = -vmax_lanes(-vmn), mx = vmax_lanes(vmx);
  if (!(mn < 0)) mn = 0;  // min <= 0; also turns -0 into +0 whatever the scan order
  if (mx == mn) {
    std::memset(L, 0, n);
    *neg_min = -mn;
    return 0.f;
  }
  const float sw = hsum_v(vsw), sx = hsum_v(vsx), sxx = hsum_v(vsxx);
  const float fmax = static_cast<float>(nmax);
  v8f xs[NV];
  for (int v = 0; v < NV; ++v) xs[v] = xv[v] - mn;
  float best_err = 0, best_scale = 0, best_min = mn, best_iscale = 0, best_shift = mn;
  float shift = mn;
  for (int k = -1; k <= nstep; ++k) {
    const float iscale = k < 0 ? fmax / (mx - shift)
                               : (rmin + rdelta * static_cast<float>(k) + fmax) / (mx - shift);
    v8f vl = {}, vll = {}, vxl = {};
    for (int v = 0; v < NV; ++v) {
      const v8f l = vclamp(vround(iscale * xs[v]), 0.f, fmax);
      const v8f wl = wv[v] * l;
      vl += wl;
      vll += wl * l;
      vxl += wl * xv[v];
    }
    const float sl = hsum_v(vl), sll = hsum_v(vll), sxl = hsum_v(vxl);
    float scale, off;
    if (k < 0) {
      scale = 1 / iscale;
      off = mn;
    } else {
      const float D = sw * sll - sl * sl;
      if (!(D > 0)) continue;
      scale = (sw * sxl - sx * sl) / D;
      off = (sll * sx - sl * sxl) / D;
      if (off > 0) { off = 0; scale = sxl / sll; }
    }
    const float err = asym_error(scale, off, sw, sx, sxx, sl, sll, sxl);
    if (k < 0 || err < best_err) {
      best_err = err; best_scale = scale; best_min = off; best_iscale = iscale; best_shift = shift;
      if (off != shift) {
        shift = off;
        for (int v = 0; v < NV; ++v) xs[v] = xv[v] - shift;
      }
    }
  }
  for (int v = 0; v < NV; ++v) {
    const v8i l = __builtin_convertvector(
        vclamp(vround(best_iscale * (xv[v] - best_shift)), 0.f, fmax), v8i);
    for (int j = 0; j < 8; ++j) L[8 * v + j] = static_cast<uint8_t>(l[j]);
  }
  *neg_min = -best_min;
  return best_scale;
}

}  // namespace bitsmith::quant::gguf
