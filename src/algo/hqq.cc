// HQQ (Badri & Shaji 2023; mobiusml/hqq optimize_weights_proximal_legacy): half-quadratic
// optimization of the zero points of an affine quantizer, no calibration data. With the
// inverse scale s = qmax / (max - min) of each group and zero z = -min * s (the grid GPTQ's
// min/max rule uses, without its rounding of z), iterate
//   Wq = clamp(round(W s + z), 0, qmax);  Wr = (Wq - z) / s
//   We = shrink_p(W - Wr, beta)           (proximal l_p, p = 0.7: sign(e) relu(|e| - |e|^(p-1) / beta))
//   z  = mean over the group of (Wq - (W - We) s);  beta *= kappa
// stopping when the mean |W - Wr| over the tensor stops decreasing (20 iterations at most).
#include <algorithm>
#include <cmath>
#include <vector>

#include "bitsmith/algo/methods.h"
#include "bitsmith/quant/group_quantizer.h"

namespace bitsmith::algo {

bool hqq_supports(const quant::Scheme& scheme) {
  const auto& t = scheme.traits();
  return t.element_format.rfind("uint", 0) == 0 && !t.symmetric &&
         (t.granularity == quant::Granularity::kGroup || t.granularity == quant::Granularity::kRow);
}

Result<quant::QuantizedTensor> hqq_quantize(const quant::Scheme& scheme, const float* w,
                                            int64_t rows, int64_t cols, const HqqOptions& opt) {
  const auto& t = scheme.traits();
  if (!hqq_supports(scheme)) {
    return unsupported("hqq: scheme {} is not an affine integer scheme (use int<b>_g<g>)",
                       scheme.name());
  }
  BITSMITH_ASSIGN_OR_RETURN(auto gq, quant::make_group_quantizer(scheme, w, rows, cols));
  const int64_t g = gq->group_cols(), ng = cols / g;
  const int bits = std::stoi(t.element_format.substr(4));
  const float qmax = static_cast<float>((1 << bits) - 1);
  const int64_t n = rows * ng;  // groups, indexed r * ng + gi
  std::vector<float> s(static_cast<size_t>(n)), z(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t gi = 0; gi < ng; ++gi) {
      const float* x = w + r * cols + gi * g;
      const auto [mn, mx] = std::minmax_element(x, x + g);
      const float range = *mx - *mn;
      // hqq clamps the inverse scale at 2e4 (a constant group).
      const float si = range > 0 ? std::min(qmax / range, 2e4f) : 2e4f;
      s[static_cast<size_t>(r * ng + gi)] = si;
      z[static_cast<size_t>(r * ng + gi)] = -*mn * si;
    }
  }
  auto wq_of = [&](int64_t i, float zi, float si) {
    return std::min(std::max(std::nearbyint(w[i] * si + zi), 0.0f), qmax);
  };
  float beta = opt.beta;
  double best = 1e4;
  for (int it = 0; it < opt.iters; ++it) {
    double err = 0;
    std::vector<float> znew(z.size());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t gi = 0; gi < ng; ++gi) {
        const size_t k = static_cast<size_t>(r * ng + gi);
        double acc = 0;
        for (int64_t j = 0; j < g; ++j) {
          const int64_t i = r * cols + gi * g + j;
          const float q = wq_of(i, z[k], s[k]);
          const float wr = (q - z[k]) / s[k];
          const float e = w[i] - wr;
          const float ae = std::fabs(e);
          const float shrunk = std::copysign(std::max(ae - std::pow(ae, opt.lp_norm - 1.0f) / beta, 0.0f), e);
          acc += q - (w[i] - shrunk) * s[k];
          err += ae;
        }
        znew[k] = static_cast<float>(acc / static_cast<double>(g));
      }
    }
    z.swap(znew);
    beta *= opt.kappa;
    err /= static_cast<double>(rows * cols);
    if (err < best) best = err;
    else break;
  }
  // Store d = 1 / s and the zero point per group; the group quantizer rounds them to fp16 and
  // encodes every column on that grid.
  std::vector<float> d(static_cast<size_t>(rows)), zz(static_cast<size_t>(rows));
  for (int64_t gi = 0; gi < ng; ++gi) {
    for (int64_t r = 0; r < rows; ++r) {
      d[static_cast<size_t>(r)] = 1.0f / s[static_cast<size_t>(r * ng + gi)];
      zz[static_cast<size_t>(r)] = z[static_cast<size_t>(r * ng + gi)];
    }
    BITSMITH_RETURN_IF_ERROR(gq->set_affine_params(gi, d.data(), zz.data()));
  }
  std::vector<float> col(static_cast<size_t>(rows));
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t r = 0; r < rows; ++r) col[static_cast<size_t>(r)] = w[r * cols + c];
    gq->quantize_column(c, col.data(), col.data());
  }
  return gq->finish();
}

}  // namespace bitsmith::algo
