// Sub-block kernels of the K-quants' final steps (requantize, refit, code tweak), twice: a
// scalar loop (the _ref) and an 8-lane SIMD version with the same float operations in the
// same order (sums in hsum8's lane order), selected by kSimd. n is 16 or 32.
//
// Asymmetric (Q2_K Q4_K Q5_K): level L in [0, nmax], value dl * L - ml.
// Symmetric (Q3_K Q6_K): stored level L = l + nmax, l in [-nmax, nmax - 1], value dl * l.
// `ew` (error weights) null means 1 for every element; 1 * t is t, so both paths may skip it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gguf_search.h"

namespace bitsmith::quant::gguf {

typedef uint8_t v8u8 __attribute__((vector_size(8)));
typedef int8_t v8s8 __attribute__((vector_size(8)));

[[gnu::always_inline]] inline v8f load8_weights(const float* ew, int i) {
  return ew ? load8(ew + i) : v8f{} + 1.f;
}
template <typename B>
[[gnu::always_inline]] inline v8f load8_levels(const B* L) {
  typedef B vb __attribute__((vector_size(8)));
  vb v;
  std::memcpy(&v, L, 8);
  return __builtin_convertvector(__builtin_convertvector(v, v8i), v8f);
}
template <typename B>
[[gnu::always_inline]] inline void store8_levels(v8f l, B* L) {
  typedef B vb __attribute__((vector_size(8)));
  const vb v = __builtin_convertvector(__builtin_convertvector(l, v8i), vb);
  std::memcpy(L, &v, 8);
}

// ---------------------------------------------------------------- asymmetric

// L = clamp(round((x + ml) / dl), 0, nmax).
template <bool kSimd>
[[gnu::always_inline]] inline void asym_levels(int n, int nmax, const float* x, float dl, float ml,
                                               uint8_t* L) {
  const float fmax = static_cast<float>(nmax);
  if constexpr (kSimd) {
    for (int i = 0; i < n; i += 8) store8_levels(vclamp(vround((load8(x + i) + ml) / dl), 0.f, fmax), L + i);
  } else {
    for (int i = 0; i < n; ++i) {
      L[i] = static_cast<uint8_t>(std::clamp(round_magic((x[i] + ml) / dl), 0.f, fmax));
    }
  }
}

// sum w (dl * L - ml - x)^2.
template <bool kSimd>
[[gnu::always_inline]] inline float asym_err(int n, const float* x, const float* ew, const uint8_t* L,
                                             float dl, float ml) {
  if constexpr (kSimd) {
    v8f acc = {};
    for (int i = 0; i < n; i += 8) {
      const v8f t = dl * load8_levels(L + i) - ml - load8(x + i);
      acc += (load8_weights(ew, i) * t) * t;
    }
    return hsum_v(acc);
  } else {
    return lane_sum(n, [&](int i) {
      const float t = dl * static_cast<float>(L[i]) - ml - x[i];
      return (ew ? ew[i] : 1.f) * t * t;
    });
  }
}

// sum w L, sum w L^2, sum w L x.
template <bool kSimd>
[[gnu::always_inline]] inline void asym_moments(int n, const float* x, const float* ew, const uint8_t* L,
                                                float* sl, float* sll, float* slx) {
  if constexpr (kSimd) {
    v8f a = {}, b = {}, c = {};
    for (int i = 0; i < n; i += 8) {
      const v8f l = load8_levels(L + i), wl = load8_weights(ew, i) * l;
      a += wl;
      b += wl * l;
      c += wl * load8(x + i);
    }
    *sl = hsum_v(a), *sll = hsum_v(b), *slx = hsum_v(c);
  } else {
    auto wl = [&](int i) { return (ew ? ew[i] : 1.f) * static_cast<float>(L[i]); };
    *sl = lane_sum(n, wl);
    *sll = lane_sum(n, [&](int i) { return wl(i) * static_cast<float>(L[i]); });
    *slx = lane_sum(n, [&](int i) { return wl(i) * x[i]; });
  }
}

// ---------------------------------------------------------------- symmetric

// L = clamp(round(x / dl), -nmax, nmax - 1) + nmax.
template <bool kSimd>
[[gnu::always_inline]] inline void sym_levels(int n, int nmax, const float* x, float dl, int8_t* L) {
  const float lo = static_cast<float>(-nmax), hi = static_cast<float>(nmax - 1);
  if constexpr (kSimd) {
    for (int i = 0; i < n; i += 8) {
      store8_levels(vclamp(vround(load8(x + i) / dl), lo, hi) + static_cast<float>(nmax), L + i);
    }
  } else {
    for (int i = 0; i < n; ++i) {
      const float l = std::clamp(round_magic(x[i] / dl), lo, hi);
      L[i] = static_cast<int8_t>(static_cast<int>(l) + nmax);
    }
  }
}

// sum w (dl * (L - nmax) - x)^2.
template <bool kSimd>
[[gnu::always_inline]] inline float sym_err(int n, int nmax, const float* x, const float* ew,
                                            const int8_t* L, float dl) {
  if constexpr (kSimd) {
    v8f acc = {};
    for (int i = 0; i < n; i += 8) {
      const v8f t = dl * (load8_levels(L + i) - static_cast<float>(nmax)) - load8(x + i);
      acc += (load8_weights(ew, i) * t) * t;
    }
    return hsum_v(acc);
  } else {
    return lane_sum(n, [&](int i) {
      const float t = dl * static_cast<float>(L[i] - nmax) - x[i];
      return (ew ? ew[i] : 1.f) * t * t;
    });
  }
}

// sum w l^2, sum w l x with l = L - nmax.
template <bool kSimd>
[[gnu::always_inline]] inline void sym_moments(int n, int nmax, const float* x, const float* ew,
                                               const int8_t* L, float* sll, float* slx) {
  if constexpr (kSimd) {
    v8f b = {}, c = {};
    for (int i = 0; i < n; i += 8) {
      const v8f l = load8_levels(L + i) - static_cast<float>(nmax), wl = load8_weights(ew, i) * l;
      b += wl * l;
      c += wl * load8(x + i);
    }
    *sll = hsum_v(b), *slx = hsum_v(c);
  } else {
    auto l = [&](int i) { return static_cast<float>(L[i] - nmax); };
    *sll = lane_sum(n, [&](int i) { return ((ew ? ew[i] : 1.f) * l(i)) * l(i); });
    *slx = lane_sum(n, [&](int i) { return ((ew ? ew[i] : 1.f) * l(i)) * x[i]; });
  }
}

}  // namespace bitsmith::quant::gguf
