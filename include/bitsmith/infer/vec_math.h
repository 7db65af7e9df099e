// Vectorized exponentials for softmax and SiLU (src/infer/vec_math.cc, dispatched by CPU through
// core/cpu_dispatch.h): the engine's and the trainer's, one copy.
#pragma once

#include <cstdint>

#include "bitsmith/formats/float_bits.h"

namespace bitsmith::infer::detail {

// exp(x) in float32, branch-free so that loops over it vectorize; faithfully rounded (under 1
// ulp from the exact value: at most 0.98 ulp over 2 x 10^8 inputs from |x| = 1e-9 to 104),
// subnormal results and overflow to Inf included; NaN stays NaN, exp(-Inf) = 0
// (tests/infer/vec_math_test.cc against a double-precision exp).
[[gnu::always_inline]] inline float exp_approx(float x) {
  // Clamp first: exp(-104) = 2^-150.04 rounds to 0 in float32, exp(89) = 2^128.4 to Inf, so
  // clamping changes no result, and keeps 2^n below within the two scale factors' range.
  // NaN fails both comparisons and stays NaN; -Inf becomes -104 and so exp gives 0.
  x = x < -104.0f ? -104.0f : x;
  x = x > 89.0f ? 89.0f : x;
  // n = round(x / ln 2) (RNE through the 1.5 * 2^23 trick: |x / ln 2| < 151), r = x - n ln 2 in
  // [-ln2/2, ln2/2], with ln 2 split so that n * kLn2Hi is exact (kLn2Hi has 9 significant bits
  // and |n| < 2^8): kLn2Hi + kLn2Lo = 0.693147180559945 (Cody and Waite).
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  const float t = x * kLog2e + 12582912.0f;
  const float n = t - 12582912.0f;
  // The low mantissa bits of t hold n as a two's complement integer.
  const auto ni = static_cast<int32_t>(formats::float_to_bits(t) - 0x4B400000u);
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  // (exp(r) - 1 - r) / r^2 on [-ln2/2, ln2/2]: Cephes expf's minimax polynomial (relative error
  // about 1e-7).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = (p * (r * r) + r) + 1.0f;
  // Scale by 2^n as 2^(n/2) * 2^(n - n/2): each factor is a normal float32 for |n| <= 151, so
  // the product rounds once, to a subnormal or to Inf exactly as exp itself would.
  const int32_t n1 = ni / 2, n2 = ni - n1;
  const float s1 = formats::bits_to_float(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = formats::bits_to_float(static_cast<uint32_t>(n2 + 127) << 23);
  return (e * s1) * s2;
}

// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new values.
float exp_shifted_sum(float* x, int64_t n, float shift);
// gate[i] = silu(gate[i]) * up[i] for i < n.
void silu_mul_row(float* gate, const float* up, int64_t n);

}  // namespace bitsmith::infer::detail
