// SIMD exponentials (vec_math.cc, Highway with run-time dispatch); internal to infer.
#pragma once

#include <cstdint>

namespace bitsmith::infer::detail {

// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new values.
float exp_shifted_sum(float* x, int64_t n, float shift);
// gate[i] = silu(gate[i]) * up[i] for i < n.
void silu_mul_row(float* gate, const float* up, int64_t n);

}  // namespace bitsmith::infer::detail
