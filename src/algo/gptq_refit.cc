// refit_linear_params (gptq_refit.h).
#include "gptq_refit.h"

#include <cblas.h>
#include <lapacke.h>

#include <cmath>
#include <vector>

namespace bitsmith::algo::detail {

namespace {

// Per-thread scratch of one row's least squares.
struct RowWork {
  std::vector<float> e, he, hg;
  std::vector<double> n, rhs;
};

}  // namespace

Status refit_linear_params(quant::GroupQuantizer& gq, const float* w, const double* h, double lambda,
                           ThreadPool& pool, RefitReport* report) {
  const int k = gq.linear_params();
  if (k == 0) return Status::Ok();
  const int64_t rows = gq.rows(), cols = gq.cols(), g = gq.group_cols(), groups = gq.groups();
  const int64_t np = groups * k;  // unknowns per row: (d_b, m_b) for each group b
  std::vector<float> basis(static_cast<size_t>(rows * cols)), d(static_cast<size_t>(rows * groups)),
      m(static_cast<size_t>(rows * groups));
  BITSMITH_RETURN_IF_ERROR(gq.linear_basis(basis.data(), d.data(), m.data()));

  // H as GPTQ factorized it: damped, a dead column's (h_ii = 0) diagonal taken as 1, and a dead
  // column's weight as 0 (its target in GPTQ too).
  std::vector<float> hf(static_cast<size_t>(cols * cols));
  std::vector<bool> dead(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) hf[static_cast<size_t>(i * cols + j)] = static_cast<float>(h[i * cols + j]);
    const double hii = h[i * cols + i];
    dead[static_cast<size_t>(i)] = hii == 0.0;
    hf[static_cast<size_t>(i * cols + i)] = static_cast<float>((hii == 0.0 ? 1.0 : hii) + lambda);
  }
  auto target = [&](int64_t r, int64_t c) { return dead[static_cast<size_t>(c)] ? 0.0f : w[r * cols + c]; };
  // Row-independent: hm[b * cols + i] = sum over group b's columns j of H[i][j] (the offset's column).
  std::vector<float> hm;
  if (k == 2) {
    hm.assign(static_cast<size_t>(groups * cols), 0.0f);
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) hm[static_cast<size_t>((j / g) * cols + i)] += hf[static_cast<size_t>(i * cols + j)];
    }
  }
  // e = target - (d g + m) for row r, and its H-norm e^T H e; he = H e.
  auto residual = [&](int64_t r, const float* dr, const float* mr, RowWork& t) {
    const float* gr = basis.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) t.e[c] = target(r, c) - (dr[c / g] * gr[c] + mr[c / g]);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(cols), static_cast<int>(cols), 1.0f, hf.data(),
                static_cast<int>(cols), t.e.data(), 1, 0.0f, t.he.data(), 1);
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(t.e[c]) * t.he[c];
    return s;
  };

  std::vector<float> nd = d, nm = m;
  std::vector<double> before(static_cast<size_t>(rows));
  pool.parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    RowWork t;
    t.e.resize(static_cast<size_t>(cols));
    t.he.resize(static_cast<size_t>(cols));
    t.hg.resize(static_cast<size_t>(groups * cols));
    t.n.resize(static_cast<size_t>(np * np));
    t.rhs.resize(static_cast<size_t>(np));
    for (int64_t r = r0; r < r1; ++r) {
      const float* gr = basis.data() + r * cols;
      before[static_cast<size_t>(r)] = residual(r, d.data() + r * groups, m.data() + r * groups, t);
      // hg[b * cols + i] = sum over group b's columns j of H[i][j] g_j (the scale's column).
      for (int64_t i = 0; i < cols; ++i) {
        const float* hi = hf.data() + i * cols;
        for (int64_t b = 0; b < groups; ++b) {
          float s = 0;
          for (int64_t j = b * g; j < (b + 1) * g; ++j) s += hi[j] * gr[j];
          t.hg[static_cast<size_t>(b * cols + i)] = s;
        }
      }
      // Normal equations for the step from the current parameters: unknown p = b * k + s (s = 0:
      // d_b, s = 1: m_b), whose column of A is g (s = 0) or 1 (s = 1) on group b's columns.
      // N = A^T H A, rhs = A^T H e.
      for (int64_t p = 0; p < np; ++p) {
        const int64_t bp = p / k;
        const bool offset_p = p % k == 1;
        double rhs = 0;
        for (int64_t i = bp * g; i < (bp + 1) * g; ++i) rhs += static_cast<double>(offset_p ? 1.0f : gr[i]) * t.he[i];
        t.rhs[static_cast<size_t>(p)] = rhs;
        for (int64_t q = 0; q < np; ++q) {
          const float* hq = q % k == 1 ? hm.data() + (q / k) * cols : t.hg.data() + (q / k) * cols;
          double s = 0;
          for (int64_t i = bp * g; i < (bp + 1) * g; ++i) s += static_cast<double>(offset_p ? 1.0f : gr[i]) * hq[i];
          t.n[static_cast<size_t>(p * np + q)] = s;
        }
      }
      // A small ridge keeps groups whose codes are all equal (d and m then move together)
      // solvable; it pulls the step toward none.
      double trace = 0;
      for (int64_t p = 0; p < np; ++p) trace += t.n[static_cast<size_t>(p * np + p)];
      const double ridge = 1e-9 * trace / static_cast<double>(np) + 1e-30;
      for (int64_t p = 0; p < np; ++p) t.n[static_cast<size_t>(p * np + p)] += ridge;
      if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', static_cast<lapack_int>(np), 1, t.n.data(), static_cast<lapack_int>(np),
                        t.rhs.data(), 1) != 0) {
        continue;  // not positive definite: keep this row as GPTQ left it
      }
      for (int64_t b = 0; b < groups; ++b) {
        nd[static_cast<size_t>(r * groups + b)] += static_cast<float>(t.rhs[static_cast<size_t>(b * k)]);
        if (k == 2) nm[static_cast<size_t>(r * groups + b)] += static_cast<float>(t.rhs[static_cast<size_t>(b * k + 1)]);
      }
    }
  });
  // Stored as the scheme stores them (fp16), then kept only for the rows where the stored values
  // lower the error: rounding, or a solve that failed, leaves the rest as GPTQ made them.
  BITSMITH_RETURN_IF_ERROR(gq.set_linear_params(nd.data(), nm.data()));
  std::vector<double> after(static_cast<size_t>(rows));
  pool.parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    RowWork t;
    t.e.resize(static_cast<size_t>(cols));
    t.he.resize(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) after[static_cast<size_t>(r)] = residual(r, nd.data() + r * groups, nm.data() + r * groups, t);
  });
  RefitReport rep;
  for (int64_t r = 0; r < rows; ++r) {
    rep.error_before += before[static_cast<size_t>(r)];
    const bool better = std::isfinite(after[static_cast<size_t>(r)]) && after[static_cast<size_t>(r)] < before[static_cast<size_t>(r)];
    if (better) {
      ++rep.rows_refit;
      rep.error_after += after[static_cast<size_t>(r)];
    } else {
      rep.error_after += before[static_cast<size_t>(r)];
      for (int64_t b = 0; b < groups; ++b) {
        nd[static_cast<size_t>(r * groups + b)] = d[static_cast<size_t>(r * groups + b)];
        nm[static_cast<size_t>(r * groups + b)] = m[static_cast<size_t>(r * groups + b)];
      }
    }
  }
  if (rep.rows_refit < rows) BITSMITH_RETURN_IF_ERROR(gq.set_linear_params(nd.data(), nm.data()));
  if (report) *report = rep;
  return Status::Ok();
}

}  // namespace bitsmith::algo::detail
