// GPTQ's refit of block scales (GptqOptions::refit_params) against least squares solved here a
// different way: the design matrix A (codes of each block in its scale's column) built densely,
// N = A^T H A and A^T H w formed entry by entry in double and solved by Gaussian elimination with
// partial pivoting, then rounded to fp16 as Q5_0 stores it. The codes are those of the same GPTQ
// run without the refit (the refit changes no code).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "bitsmith/algo/gptq.h"
#include "bitsmith/formats/float_bits.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::algo {
namespace {

// x solving a x = b (n x n, row-major), in place.
std::vector<double> solve(std::vector<double> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[piv * n + c])) piv = r;
    }
    for (size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[piv * n + k]);
    std::swap(b[c], b[piv]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[i * n + k] * x[k];
    x[i] = s / a[i * n + i];
  }
  return x;
}

// Block b of row r's fp16 scale d: the first two bytes of ggml's 22-byte block_q5_0.
float block_scale(const quant::QuantizedTensor& q, int64_t r, int64_t b, int64_t groups) {
  uint16_t h = 0;
  std::memcpy(&h, q.data.data() + (r * groups + b) * 22, sizeof h);
  return formats::fp16_to_fp32(h);
}

TEST(GptqRefit, ScalesAreTheLeastSquaresFitOfTheCodesUnderTheHessian) {
  const int64_t rows = 12, cols = 96, tokens = 400, g = 32, groups = cols / g;
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = static_cast<float>(0.02 * nd(rng));
  // Correlated inputs, so H is far from diagonal: x = z M.
  std::vector<double> mix(static_cast<size_t>(cols * cols)), h(static_cast<size_t>(cols * cols), 0.0);
  for (auto& v : mix) v = nd(rng) / std::sqrt(static_cast<double>(cols));
  for (int64_t i = 0; i < cols; ++i) mix[static_cast<size_t>(i * cols + i)] += 1.0;
  std::vector<double> x(static_cast<size_t>(cols));
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> z(static_cast<size_t>(cols));
    for (auto& v : z) v = nd(rng);
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t i = 0; i < cols; ++i) s += z[static_cast<size_t>(i)] * mix[static_cast<size_t>(i * cols + j)];
      x[static_cast<size_t>(j)] = s;
    }
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) h[static_cast<size_t>(i * cols + j)] += 2.0 / tokens * x[static_cast<size_t>(i)] * x[static_cast<size_t>(j)];
    }
  }
  const quant::Scheme* q50 = *quant::find_scheme("q5_0");
  GptqOptions go;
  go.act_order = true;
  GptqReport plain_rep, refit_rep;
  auto plain = gptq_quantize(*q50, w.data(), rows, cols, h.data(), go, &plain_rep);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  go.refit_params = true;
  auto refit = gptq_quantize(*q50, w.data(), rows, cols, h.data(), go, &refit_rep);
  ASSERT_TRUE(refit.ok()) << refit.status().message();
  EXPECT_GT(refit_rep.refit_rows, rows / 2);
  EXPECT_LT(refit_rep.refit_error_after, 0.99 * refit_rep.refit_error_before);

  std::vector<float> vp(w.size()), vr(w.size());
  ASSERT_TRUE(q50->dequantize(plain->view(), vp.data()).ok());
  ASSERT_TRUE(q50->dequantize(refit->view(), vr.data()).ok());
  // H as GPTQ damped it: + damp * mean(diag H).
  double mean_diag = 0;
  for (int64_t i = 0; i < cols; ++i) mean_diag += h[static_cast<size_t>(i * cols + i)] / cols;
  std::vector<double> hd = h;
  for (int64_t i = 0; i < cols; ++i) hd[static_cast<size_t>(i * cols + i)] += plain_rep.damp * mean_diag;
  auto h_error = [&](const std::vector<float>& v, int64_t r) {
    double s = 0;
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const size_t a = static_cast<size_t>(r * cols + i), b = static_cast<size_t>(r * cols + j);
        s += (w[a] - v[a]) * hd[static_cast<size_t>(i * cols + j)] * (w[b] - v[b]);
      }
    }
    return s;
  };
  double before = 0, after = 0;
  int refit_rows = 0;
  for (int64_t r = 0; r < rows; ++r) {
    before += h_error(vp, r);
    after += h_error(vr, r);
    // The plain run's codes: Q5_0 stores v = d * (q - 16), so v / d is that integer exactly.
    std::vector<double> a(static_cast<size_t>(cols * groups), 0.0);
    for (int64_t c = 0; c < cols; ++c) {
      const double code = vp[static_cast<size_t>(r * cols + c)] / block_scale(*plain, r, c / g, groups);
      ASSERT_EQ(code, std::round(code)) << "row " << r << " col " << c;
      a[static_cast<size_t>(c * groups + c / g)] = code;
    }
    bool changed = false;
    for (int64_t b = 0; b < groups; ++b) changed = changed || block_scale(*plain, r, b, groups) != block_scale(*refit, r, b, groups);
    if (!changed) continue;  // a row the refit did not improve keeps GPTQ's scales
    ++refit_rows;
    // The least squares scales, min over d of (w - A d)^T H (w - A d).
    std::vector<double> n(static_cast<size_t>(groups * groups), 0.0), rhs(static_cast<size_t>(groups), 0.0);
    for (int64_t p = 0; p < groups; ++p) {
      for (int64_t i = 0; i < cols; ++i) {
        const double api = a[static_cast<size_t>(i * groups + p)];
        for (int64_t j = 0; j < cols; ++j) {
          const double hij = hd[static_cast<size_t>(i * cols + j)];
          rhs[static_cast<size_t>(p)] += api * hij * w[static_cast<size_t>(r * cols + j)];
          for (int64_t q = 0; q < groups; ++q) n[static_cast<size_t>(p * groups + q)] += api * hij * a[static_cast<size_t>(j * groups + q)];
        }
      }
    }
    const std::vector<double> best = solve(n, rhs);
    for (int64_t b = 0; b < groups; ++b) {
      const float want = formats::fp16_to_fp32(formats::fp32_to_fp16(static_cast<float>(best[static_cast<size_t>(b)])));
      // fp16 keeps 11 significant bits; the two solves may round apart by one step.
      EXPECT_NEAR(block_scale(*refit, r, b, groups), want, std::abs(want) * 1.0e-3) << "row " << r << " block " << b;
    }
    // Every code kept.
    for (int64_t c = 0; c < cols; ++c) {
      EXPECT_EQ(vr[static_cast<size_t>(r * cols + c)] / block_scale(*refit, r, c / g, groups),
                a[static_cast<size_t>(c * groups + c / g)]);
    }
  }
  EXPECT_EQ(refit_rows, refit_rep.refit_rows);
  EXPECT_LT(after, before);
  EXPECT_NEAR(after, refit_rep.refit_error_after, 1e-4 * after);
}

}  // namespace
}  // namespace bitsmith::algo
