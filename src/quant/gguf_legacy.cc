// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: bytes identical to ggml's reference quantizers
// (ggml-quants.c quantize_row_*_ref), checked against the gguf Python package in
// tests/gguf. With importance weights, Q4_0/Q5_0/Q4_1/Q5_1 use a weighted scale search the way
// ggml's quantize_row_*_impl do (Q8_0 ignores them, as ggml does).
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "gguf_search.h"

#if BITSMITH_CPU_DISPATCH
#include <immintrin.h>
#endif

namespace bitsmith::quant::gguf {
namespace {

constexpr int kB = kQK;

// Packs 32 codes: byte j = code j (low nibble) | code j + 16 (high nibble); bit 4 of each code
// into qh (element j -> bit j) when `qh` is given.
void pack_nibbles(const uint8_t* q, uint8_t* qs, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    h |= ((q[j] & 0x10u) >> 4) << j;
    h |= ((q[j + 16] & 0x10u) >> 4) << (j + 16);
  }
  if (qh) std::memcpy(qh, &h, 4);
}

// The signed value of largest magnitude of a block, first occurrence (gguf_search.h).
float block_signed_absmax(const float* x) {
  float amax, max;
  signed_absmax(kB, x, &amax, &max);
  return max;
}

// ---------------------------------------------------------------- scalar reference

// Symmetric types (Q4_0: nmax 8, Q5_0: nmax 16): d = max / -nmax, q = min(2 nmax - 1,
// (int8)(x / d + nmax + 0.5)).
void sym_block_ref(const float* x, int nmax, uint16_t* d16, uint8_t* q) {
  const float d = block_signed_absmax(x) / static_cast<float>(-nmax);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  *d16 = formats::fp32_to_fp16(d);
  const float off = static_cast<float>(nmax) + 0.5f;
  for (int j = 0; j < kB; ++j) {
    q[j] = static_cast<uint8_t>(std::min(2 * nmax - 1, trunc_to_i8(x[j] * id + off)));
  }
}

// Asymmetric types (Q4_1: nmax 15, Q5_1: nmax 31): d = (max - min) / nmax, m = min,
// q = (x - min) / d + 0.5 truncated (Q4_1 clamps to 15; Q5_1 keeps ggml's unclamped cast).
void asym_block_ref(const float* x, int nmax, uint16_t* d16, uint16_t* m16, uint8_t* q) {
  float mn = FLT_MAX, mx = -FLT_MAX;
  for (int j = 0; j < kB; ++j) {
    if (x[j] < mn) mn = x[j];
    if (x[j] > mx) mx = x[j];
  }
  const float d = (mx - mn) / static_cast<float>(nmax);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  *d16 = formats::fp32_to_fp16(d);
  *m16 = formats::fp32_to_fp16(mn);
  for (int j = 0; j < kB; ++j) {
    const int32_t v = trunc_to_i8((x[j] - mn) * id + 0.5f);
    q[j] = static_cast<uint8_t>(nmax == 15 ? std::min(15, v) : v);
  }
}

// ---------------------------------------------------------------- SIMD fast path

// The fast kernels fall back to the reference for a block whose inverse scale is not finite
// (a denormal block): there ggml's bytes come from C's out-of-range conversions, which the
// reference reproduces and a vector conversion need not.
void sym_block_fast(const float* x, int nmax, uint16_t* d16, uint8_t* q) {
  const float d = block_signed_absmax(x) / static_cast<float>(-nmax);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  if (!std::isfinite(id)) return sym_block_ref(x, nmax, d16, q);
  *d16 = formats::fp32_to_fp16(d);
  const float off = static_cast<float>(nmax) + 0.5f;
  for (int v = 0; v < kB / 8; ++v) {
    // In range here, so the truncating conversion is exact and (int8) is the identity.
    v8i t = __builtin_convertvector(load8(x + 8 * v) * id + off, v8i);
    t = t > 2 * nmax - 1 ? 2 * nmax - 1 : t;
    for (int j = 0; j < 8; ++j) q[8 * v + j] = static_cast<uint8_t>(t[j]);
  }
}

void asym_block_fast(const float* x, int nmax, uint16_t* d16, uint16_t* m16, uint8_t* q) {
  v8f vmn = load8(x), vmx = vmn;
  for (int v = 1; v < kB / 8; ++v) {
    const v8f a = load8(x + 8 * v);
    vmn = a < vmn ? a : vmn;
    vmx = a > vmx ? a : vmx;
  }
  const float mn = -vmax_lanes(-vmn), mx = vmax_lanes(vmx);
  const float d = (mx - mn) / static_cast<float>(nmax);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  // mn == 0: which signed zero is the minimum depends on scan order; the reference decides.
  if (!std::isfinite(id) || !std::isfinite(mx - mn) || mn == 0)
    return asym_block_ref(x, nmax, d16, m16, q);
  *d16 = formats::fp32_to_fp16(d);
  *m16 = formats::fp32_to_fp16(mn);
  for (int v = 0; v < kB / 8; ++v) {
    v8i t = __builtin_convertvector((load8(x + 8 * v) - mn) * id + 0.5f, v8i);
    if (nmax == 15) t = t > 15 ? 15 : t;
    for (int j = 0; j < 8; ++j) q[8 * v + j] = static_cast<uint8_t>(t[j]);
  }
}

// C's roundf (half away from zero) as numpy's np_roundf writes it: floor(a) + floor(2 (a -
// floor(a))), exact for every finite float; a = |v| < 2^31 here.
[[gnu::always_inline]] inline v8i round_away_v(v8f v) {
  const v8f a = vabs(v);
  const v8f f = __builtin_convertvector(__builtin_convertvector(a, v8i), v8f);
  const v8i r = __builtin_convertvector(
      f + __builtin_convertvector(__builtin_convertvector(2 * (a - f), v8i), v8f), v8i);
  return v < 0 ? -r : r;
}

// ---------------------------------------------------------------- weighted (importance) path

// ggml's quant_weights rule: w = imp * sqrt(sigma2 + x^2), sigma2 = mean x^2 over the row.
void importance_weights(const float* x, const float* imp, float sigma2, float* w) {
  for (int j = 0; j < kB; ++j) w[j] = imp[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// The weighted searches (gguf_search.h, in ByEightSum order) for `nb` consecutive blocks: 8 at
// a time, one per lane, on the fast path; one at a time otherwise (the reference, and the fast
// path's last nb % 8 blocks): the same float operations either way. d[k] and the codes
// q[32 k ..] of block k; asymmetric types also m[k] (the stored minimum).
template <class F>
[[gnu::always_inline]] inline void weighted_blocks(const float* x, const float* imp, float sigma2,
                                                   int nmax, bool sym, float* d, float* m,
                                                   uint8_t* q) {
  constexpr int L = kLanes<F>;
  float w[L * kB], levels[L * kB];
  for (int k = 0; k < L; ++k) importance_weights(x + k * kB, imp + k * kB, sigma2, w + k * kB);
  F xl[kB], wl[kB], ll[kB], scale, neg_min;
  to_lanes(x, kB, kB, xl);
  to_lanes(w, kB, kB, wl);
  if (sym) {
    scale = sym_search<F, ByEightSum>(nmax, 9, 0.1f, kB, xl, wl, ll);
  } else {
    // ggml's make_qkx3_quants grid for these types: (-0.9, 0.05, 36).
    asym_search<F, ByEightSum>(nmax, -0.9f, 0.05f, 36, kB, xl, wl, ll, &scale, &neg_min);
  }
  from_lanes(ll, kB, kB, levels);
  for (int k = 0; k < L; ++k) {
    d[k] = get(scale, k);
    if (!sym) m[k] = -get(neg_min, k);
  }
  // Symmetric levels are -nmax..nmax-1, stored with the offset nmax.
  const int offset = sym ? nmax : 0;
  for (int i = 0; i < L * kB; ++i) q[i] = static_cast<uint8_t>(static_cast<int>(levels[i]) + offset);
}

template <bool kSimd>
void weighted_row_blocks(const float* x, const float* imp, int64_t nb, float sigma2, int nmax,
                         bool sym, float* d, float* m, uint8_t* q) {
  int64_t b = 0;
  if constexpr (kSimd) {
    for (; b + 8 <= nb; b += 8) {
      weighted_blocks<v8f>(x + b * kB, imp + b * kB, sigma2, nmax, sym, d + b, m + b, q + b * kB);
    }
  }
  for (; b < nb; ++b) {
    weighted_blocks<float>(x + b * kB, imp + b * kB, sigma2, nmax, sym, d + b, m + b, q + b * kB);
  }
}

float row_sigma2(const float* x, int64_t n) {
  return lane_sum(static_cast<int>(n), [&](int i) { return x[i] * x[i]; }) / static_cast<float>(n);
}

// ---------------------------------------------------------------- rows

// Q4_0 / Q5_0 (kSym, nmax 8 / 16) and Q4_1 / Q5_1 (nmax 15 / 31), one block after another; with
// importance, the weighted searches run 64 blocks at a time (weighted_row_blocks).
template <bool kSimd, int kNmax, bool kSym>
[[gnu::always_inline]] inline void nibble_row(const float* x, int64_t n, const float* imp,
                                              uint8_t* out) {
  using Block = std::conditional_t<kSym, std::conditional_t<kNmax == 8, BlockQ4_0, BlockQ5_0>,
                                   std::conditional_t<kNmax == 15, BlockQ4_1, BlockQ5_1>>;
  constexpr bool kFiveBits = kNmax == 16 || kNmax == 31;
  const float sigma2 = imp ? row_sigma2(x, n) : 0.f;
  constexpr int64_t kChunk = 64;  // blocks searched per call (a multiple of 8 lanes)
  float dw[kChunk], mw[kChunk];
  uint8_t qw[kChunk * kB];
  for (int64_t b = 0; b < n / kB; ++b) {
    Block y{};
    uint8_t q[kB];
    const float* xb = x + b * kB;
    if (imp) {
      if (b % kChunk == 0) {
        weighted_row_blocks<kSimd>(xb, imp + b * kB, std::min(kChunk, n / kB - b), sigma2, kNmax,
                                   kSym, dw, mw, qw);
      }
      y.d = formats::fp32_to_fp16(dw[b % kChunk]);
      if constexpr (!kSym) y.m = formats::fp32_to_fp16(mw[b % kChunk]);
      std::memcpy(q, qw + (b % kChunk) * kB, kB);
    } else if constexpr (kSym) {
      if (kSimd) sym_block_fast(xb, kNmax, &y.d, q);
      else sym_block_ref(xb, kNmax, &y.d, q);
    } else {
      if (kSimd) asym_block_fast(xb, kNmax, &y.d, &y.m, q);
      else asym_block_ref(xb, kNmax, &y.d, &y.m, q);
    }
    if constexpr (kFiveBits) {
      pack_nibbles(q, y.qs, y.qh);
    } else {
      pack_nibbles(q, y.qs, nullptr);
    }
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

// Q8_0: d = amax / 127, q = roundf(x / d).
template <bool kSimd>
[[gnu::always_inline]] inline void q8_row(const float* x, int64_t n, const float*, uint8_t* out) {
  for (int64_t b = 0; b < n / kB; ++b) {
    const float* xb = x + b * kB;
    BlockQ8_0 y{};
    float amax = 0;
    for (int j = 0; j < kB; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y.d = formats::fp32_to_fp16(d);
    if (kSimd && std::isfinite(id)) {
      for (int v = 0; v < kB / 8; ++v) {
        const v8i r = round_away_v(load8(xb + 8 * v) * id);
        for (int j = 0; j < 8; ++j) y.qs[8 * v + j] = static_cast<int8_t>(r[j]);
      }
    } else {
      for (int j = 0; j < kB; ++j)
        y.qs[j] = static_cast<int8_t>(trunc_to_i8(std::round(xb[j] * id)));
    }
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

// ---------------------------------------------------------------- AVX2 rows (no importance)
//
// The same float operations as the _ref blocks, 8 lanes at a time, with the codes packed in
// registers. No FMA is enabled in these targets, so a * b + c stays two roundings as in the
// reference. Blocks whose inverse scale is not finite go to the reference. Hand-written for
// AVX2, so they are the "avx2" versions of name##_rows (core/cpu_dispatch.h); the helpers are
// compiled for AVX2 to be inlined into them.
#if BITSMITH_CPU_DISPATCH
#define BITSMITH_AVX2 __attribute__((target("avx2")))

struct Block32 {
  __m256 v[4];
};

BITSMITH_AVX2 inline Block32 load_block(const float* x) {
  return {{_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16),
           _mm256_loadu_ps(x + 24)}};
}
BITSMITH_AVX2 inline __m256 abs8(__m256 v) {
  return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}
// Horizontal max / min of 8 lanes (exact: max and min do not round).
BITSMITH_AVX2 inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
BITSMITH_AVX2 inline float hmin8(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
// The signed value of largest magnitude, first occurrence (block_signed_absmax's scan).
BITSMITH_AVX2 inline float signed_absmax8(const Block32& b, const float* x) {
  const __m256 a0 = abs8(b.v[0]), a1 = abs8(b.v[1]), a2 = abs8(b.v[2]), a3 = abs8(b.v[3]);
  const __m256 m = _mm256_max_ps(_mm256_max_ps(a0, a1), _mm256_max_ps(a2, a3));
  const float amax_s = hmax8(m);
  if (amax_s == 0) return 0.f;  // the scan's initial +0, whatever the zeros' signs
  const __m256 amax = _mm256_set1_ps(amax_s);
  const uint32_t mask =
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a0, amax, _CMP_EQ_OQ))) |
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a1, amax, _CMP_EQ_OQ))) << 8 |
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a2, amax, _CMP_EQ_OQ))) << 16 |
      static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a3, amax, _CMP_EQ_OQ))) << 24;
  return x[__builtin_ctz(mask)];
}
// 4 x 8 int32 codes (0..255) -> 32 bytes in element order.
BITSMITH_AVX2 inline __m256i pack_codes(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i p = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
// Byte j = code j (low nibble) | code j + 16 (high nibble); returns the fifth bits (bit j =
// bit 4 of code j) for the Q5 types.
BITSMITH_AVX2 inline uint32_t store_nibbles(__m256i codes, uint8_t* qs) {
  const uint32_t qh = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_slli_epi16(codes, 3)));
  const __m256i lo4 = _mm256_and_si256(codes, _mm256_set1_epi8(0x0F));
  const __m128i lo = _mm256_castsi256_si128(lo4), hi = _mm256_extracti128_si256(lo4, 1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
  return qh;
}

// Q4_0 (nmax 8) / Q5_0 (nmax 16).
template <int kNmax>
BITSMITH_AVX2 void sym_row_avx2(const float* x, int64_t n, uint8_t* out) {
  using Block = std::conditional_t<kNmax == 8, BlockQ4_0, BlockQ5_0>;
  for (int64_t b = 0; b < n / kB; ++b, out += sizeof(Block)) {
    const float* xb = x + b * kB;
    Block y;
    const Block32 v = load_block(xb);
    const float d = signed_absmax8(v, xb) / static_cast<float>(-kNmax);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    if (!std::isfinite(id)) {
      nibble_row<false, kNmax, true>(xb, kB, nullptr, out);  // one block through the reference
      continue;
    }
    {
      y.d = formats::fp32_to_fp16(d);
      const __m256 vid = _mm256_set1_ps(id), off = _mm256_set1_ps(kNmax + 0.5f);
      const __m256i top = _mm256_set1_epi32(2 * kNmax - 1);
      __m256i c[4];
      for (int k = 0; k < 4; ++k) {
        c[k] = _mm256_min_epi32(
            top, _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v.v[k], vid), off)));
      }
      const uint32_t qh = store_nibbles(pack_codes(c[0], c[1], c[2], c[3]), y.qs);
      if constexpr (kNmax == 16) std::memcpy(y.qh, &qh, 4);
    }
    std::memcpy(out, &y, sizeof y);
  }
}

// Q4_1 (nmax 15) / Q5_1 (nmax 31).
template <int kNmax>
BITSMITH_AVX2 void asym_row_avx2(const float* x, int64_t n, uint8_t* out) {
  using Block = std::conditional_t<kNmax == 15, BlockQ4_1, BlockQ5_1>;
  for (int64_t b = 0; b < n / kB; ++b, out += sizeof(Block)) {
    const float* xb = x + b * kB;
    Block y;
    const Block32 v = load_block(xb);
    const float mn =
        hmin8(_mm256_min_ps(_mm256_min_ps(v.v[0], v.v[1]), _mm256_min_ps(v.v[2], v.v[3])));
    const float mx =
        hmax8(_mm256_max_ps(_mm256_max_ps(v.v[0], v.v[1]), _mm256_max_ps(v.v[2], v.v[3])));
    const float d = (mx - mn) / static_cast<float>(kNmax);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    if (!std::isfinite(id) || !std::isfinite(mx - mn) || mn == 0) {
      nibble_row<false, kNmax, false>(xb, kB, nullptr, out);
      continue;
    }
    {
      y.d = formats::fp32_to_fp16(d);
      y.m = formats::fp32_to_fp16(mn);
      const __m256 vid = _mm256_set1_ps(id), vmn = _mm256_set1_ps(mn), half = _mm256_set1_ps(0.5f);
      __m256i c[4];
      for (int k = 0; k < 4; ++k) {
        c[k] = _mm256_cvttps_epi32(
            _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v.v[k], vmn), vid), half));
        if constexpr (kNmax == 15) c[k] = _mm256_min_epi32(c[k], _mm256_set1_epi32(15));
      }
      const uint32_t qh = store_nibbles(pack_codes(c[0], c[1], c[2], c[3]), y.qs);
      if constexpr (kNmax == 31) std::memcpy(y.qh, &qh, 4);
    }
    std::memcpy(out, &y, sizeof y);
  }
}

// Q8_0: roundf (half away from zero) as trunc(a) + (a - trunc(a) >= 0.5), exact.
BITSMITH_AVX2 void q8_row_avx2(const float* x, int64_t n, uint8_t* out) {
  for (int64_t b = 0; b < n / kB; ++b, out += sizeof(BlockQ8_0)) {
    const float* xb = x + b * kB;
    const Block32 v = load_block(xb);
    const float amax = hmax8(_mm256_max_ps(_mm256_max_ps(abs8(v.v[0]), abs8(v.v[1])),
                                           _mm256_max_ps(abs8(v.v[2]), abs8(v.v[3]))));
    const float d = amax / 127.f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    if (!std::isfinite(id)) {
      q8_row<false>(xb, kB, nullptr, out);
      continue;
    }
    BlockQ8_0 y;
    y.d = formats::fp32_to_fp16(d);
    const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f);
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
    __m256i c[4];
    for (int k = 0; k < 4; ++k) {
      const __m256 r = _mm256_mul_ps(v.v[k], vid);
      const __m256 a = abs8(r);
      const __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256 up = _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(a, t), half, _CMP_GE_OQ),
                                      _mm256_set1_ps(1.f));
      c[k] = _mm256_cvttps_epi32(_mm256_or_ps(_mm256_add_ps(t, up), _mm256_and_ps(r, sign)));
    }
    const __m256i p =
        _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
    const __m256i codes = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    std::memcpy(y.qs, &codes, 32);
    std::memcpy(out, &y, sizeof y);
  }
}

// clang-format off
BITSMITH_CPU_VERSION("avx2") void q4_0_rows(const float* x, int64_t n, uint8_t* o) { sym_row_avx2<8>(x, n, o); }
BITSMITH_CPU_VERSION("avx2") void q5_0_rows(const float* x, int64_t n, uint8_t* o) { sym_row_avx2<16>(x, n, o); }
BITSMITH_CPU_VERSION("avx2") void q4_1_rows(const float* x, int64_t n, uint8_t* o) { asym_row_avx2<15>(x, n, o); }
BITSMITH_CPU_VERSION("avx2") void q5_1_rows(const float* x, int64_t n, uint8_t* o) { asym_row_avx2<31>(x, n, o); }
BITSMITH_CPU_VERSION("avx2") void q8_0_rows(const float* x, int64_t n, uint8_t* o) { q8_row_avx2(x, n, o); }
// clang-format on
#undef BITSMITH_AVX2
#endif  // BITSMITH_CPU_DISPATCH

// name_ref: the scalar reference. name_fast: without importance, name_rows (the hand-written
// AVX2 version where the CPU has it, else the vector-extension rows compiled for the baseline);
// with importance, the vector-extension rows cloned for AVX2 and baseline.
#define BITSMITH_GGUF_ROW_PAIR(name, fn)                                                 \
  void name##_ref(const float* x, int64_t n, const float* imp, uint8_t* out) {           \
    fn<false>(x, n, imp, out);                                                           \
  }                                                                                      \
  BITSMITH_CPU_CLONES("avx2") void name##_simd(const float* x, int64_t n, const float* imp, \
                                               uint8_t* out) {                           \
    fn<true>(x, n, imp, out);                                                            \
  }                                                                                      \
  BITSMITH_CPU_VERSION("default") void name##_rows(const float* x, int64_t n, uint8_t* out) { \
    fn<true>(x, n, nullptr, out);                                                        \
  }                                                                                      \
  void name##_fast(const float* x, int64_t n, const float* imp, uint8_t* out) {          \
    if (!imp) return name##_rows(x, n, out);                                             \
    name##_simd(x, n, imp, out);                                                         \
  }
// clang-format off
template <bool S> void q4_0_row(const float* x, int64_t n, const float* i, uint8_t* o) { nibble_row<S, 8, true>(x, n, i, o); }
template <bool S> void q5_0_row(const float* x, int64_t n, const float* i, uint8_t* o) { nibble_row<S, 16, true>(x, n, i, o); }
template <bool S> void q4_1_row(const float* x, int64_t n, const float* i, uint8_t* o) { nibble_row<S, 15, false>(x, n, i, o); }
template <bool S> void q5_1_row(const float* x, int64_t n, const float* i, uint8_t* o) { nibble_row<S, 31, false>(x, n, i, o); }
// clang-format on
BITSMITH_GGUF_ROW_PAIR(q4_0, q4_0_row)
BITSMITH_GGUF_ROW_PAIR(q4_1, q4_1_row)
BITSMITH_GGUF_ROW_PAIR(q5_0, q5_0_row)
BITSMITH_GGUF_ROW_PAIR(q5_1, q5_1_row)
BITSMITH_GGUF_ROW_PAIR(q8_0, q8_row)
#undef BITSMITH_GGUF_ROW_PAIR

// ---------------------------------------------------------------- dequantization (ggml's order)

// Code of element j (0..31) in a nibble block with optional fifth bits.
inline int code_at(const uint8_t* qs, uint32_t qh, int j) {
  const int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}

template <typename Block, int kOffset, bool kHasMin, bool kHasQh>
void nibble_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kB; ++b) {
    Block blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = formats::fp16_to_fp32(blk.d);
    float m = 0;
    uint32_t qh = 0;
    if constexpr (kHasMin) m = formats::fp16_to_fp32(blk.m);
    if constexpr (kHasQh) std::memcpy(&qh, blk.qh, 4);
    for (int j = 0; j < kB; ++j) {
      const float v = static_cast<float>(code_at(blk.qs, qh, j) - kOffset) * d;
      if constexpr (kHasMin) {
        y[b * kB + j] = v + m;
      } else {
        y[b * kB + j] = v;
      }
    }
  }
}

void q8_0_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kB; ++b) {
    BlockQ8_0 blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = formats::fp16_to_fp32(blk.d);
    for (int j = 0; j < kB; ++j) y[b * kB + j] = static_cast<float>(blk.qs[j]) * d;
  }
}

// ---------------------------------------------------------------- code writers (GPTQ)

// 5-bit codes: the low nibble in qs, bit 4 of element j is bit j of the little-endian qh word.
template <typename Block>
void set_nibble5_code(uint8_t* blk, int j, uint32_t c) {
  set_nibble32(blk + offsetof(Block, qs), j, c);
  set_bit(blk + offsetof(Block, qh), j, c >> 4);
}
// q8_0: code c is the stored int8 c - 127 (ggml writes -127..127 only).
void set_q8_0_code(uint8_t* blk, int j, uint32_t c) {
  blk[offsetof(BlockQ8_0, qs) + static_cast<size_t>(j)] =
      static_cast<uint8_t>(static_cast<int8_t>(static_cast<int>(c) - 127));
}

GgufKernels legacy(const char* name, int type, uint64_t bytes, const char* elem, bool sym,
                   QuantizeRowFn ref, QuantizeRowFn fast, DequantizeRowFn deq, int off0, int off1,
                   int ncodes, SetCodeFn set_code, const char* desc) {
  GgufKernels k =
      block_kernels(name, type, kQK, bytes, elem, "float16", ref, fast, deq, off0, desc);
  k.traits.symmetric = sym;
  k.scale_offsets[1] = off1;  // Q4_1/Q5_1: the fp16 min
  k.ncodes = ncodes;
  k.set_code = set_code;
  k.linear_fp16_params = true;  // d * (q - offset) or d * q + m
  return k;
}

}  // namespace

void append_legacy_kernels(std::vector<GgufKernels>& out) {
  out.push_back(legacy("q4_0", kQ4_0, sizeof(BlockQ4_0), "uint4", true, q4_0_ref, q4_0_fast,
                       nibble_dequant<BlockQ4_0, 8, false, false>, 0, -1, 16,
                       set_nibble_code<BlockQ4_0>,
                       "GGUF Q4_0: blocks of 32, fp16 scale, 4-bit codes offset 8"));
  out.push_back(legacy("q4_1", kQ4_1, sizeof(BlockQ4_1), "uint4", false, q4_1_ref, q4_1_fast,
                       nibble_dequant<BlockQ4_1, 0, true, false>, 0, 2, 16,
                       set_nibble_code<BlockQ4_1>,
                       "GGUF Q4_1: blocks of 32, fp16 scale and min, 4-bit codes"));
  out.push_back(legacy("q5_0", kQ5_0, sizeof(BlockQ5_0), "uint5", true, q5_0_ref, q5_0_fast,
                       nibble_dequant<BlockQ5_0, 16, false, true>, 0, -1, 32,
                       set_nibble5_code<BlockQ5_0>,
                       "GGUF Q5_0: blocks of 32, fp16 scale, 5-bit codes offset 16"));
  out.push_back(legacy("q5_1", kQ5_1, sizeof(BlockQ5_1), "uint5", false, q5_1_ref, q5_1_fast,
                       nibble_dequant<BlockQ5_1, 0, true, true>, 0, 2, 32,
                       set_nibble5_code<BlockQ5_1>,
                       "GGUF Q5_1: blocks of 32, fp16 scale and min, 5-bit codes"));
  out.push_back(legacy("q8_0", kQ8_0, sizeof(BlockQ8_0), "int8", true, q8_0_ref, q8_0_fast,
                       q8_0_dequant, 0, -1, 255, set_q8_0_code, "GGUF Q8_0: blocks of 32, fp16 scale, int8 codes"));
}

}  // namespace bitsmith::quant::gguf
