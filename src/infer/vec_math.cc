// Vectorized exponentials for softmax and SiLU, compiled for every SIMD target Highway knows and
// dispatched by the CPU at run time (DESIGN.md: no -march flags, no #ifdef forests). Highway's
// Exp is accurate to a few ulp, far inside what a perplexity to 4 significant digits needs.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "vec_math.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <cmath>

#include "vec_math.h"

HWY_BEFORE_NAMESPACE();
namespace bitsmith::infer::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float ExpShiftedSum(float* x, int64_t n, float shift) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vshift = hn::Set(d, shift);
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto e = hn::CallExp(d, hn::Sub(hn::LoadU(d, x + i), vshift));
    hn::StoreU(e, d, x + i);
    acc = hn::Add(acc, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, acc));
  // The tail (fewer than one vector) in scalar code: Highway 1.0 has no partial loads.
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

void SiluMul(float* gate, const float* up, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto g = hn::LoadU(d, gate + i);
    const auto s = hn::Div(g, hn::Add(one, hn::CallExp(d, hn::Neg(g))));
    hn::StoreU(hn::Mul(s, hn::LoadU(d, up + i)), d, gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace bitsmith::infer::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace bitsmith::infer::detail {
HWY_EXPORT(ExpShiftedSum);
HWY_EXPORT(SiluMul);

float exp_shifted_sum(float* x, int64_t n, float shift) {
  return HWY_DYNAMIC_DISPATCH(ExpShiftedSum)(x, n, shift);
}
void silu_mul_row(float* gate, const float* up, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SiluMul)(gate, up, n);
}
}  // namespace bitsmith::infer::detail
#endif
