// Vectorized exponentials for softmax and SiLU: plain C++ loops over one branch-free exp,
// compiled once per CPU level by the project's one dispatch mechanism (core/cpu_dispatch.h:
// AVX-512, AVX2, baseline; the loader picks one). The file is compiled with -ffp-contract=off
// and -fno-trapping-math (src/infer/CMakeLists.txt says why) and every loop keeps the same 16
// partial sums whatever the vector width, so each CPU level returns the same bits.
#include "bitsmith/infer/vec_math.h"

#include "bitsmith/core/cpu_dispatch.h"

namespace bitsmith::infer::detail {

namespace {
// Partial sums kept whatever the vector width: the summation order, and so the bits, do not
// depend on which clone runs.
constexpr int64_t kLanes = 16;
}  // namespace

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
float exp_shifted_sum(float* __restrict x, int64_t n, float shift) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const float e = exp_approx(x[i + l] - shift);
      x[i + l] = e;
      acc[l] += e;
    }
  }
  for (int64_t l = 0; i < n; ++i, ++l) {
    const float e = exp_approx(x[i] - shift);
    x[i] = e;
    acc[l] += e;
  }
  // Pairwise: 16 -> 8 -> 4 -> 2 -> 1.
  for (int64_t w = kLanes / 2; w > 0; w /= 2) {
    for (int64_t l = 0; l < w; ++l) acc[l] += acc[l + w];
  }
  return acc[0];
}

BITSMITH_CPU_CLONES("arch=x86-64-v4", "arch=x86-64-v3")
void silu_mul_row(float* __restrict gate, const float* __restrict up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + exp_approx(-g)) * up[i];
  }
}

}  // namespace bitsmith::infer::detail
