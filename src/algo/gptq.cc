#include "bitsmith/algo/gptq.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "bitsmith/quant/group_quantizer.h"

namespace bitsmith::algo {

namespace {

// Upper Cholesky factor of (H + lambda I)^-1, in double (H is accumulated in double; the
// factorizations are where float32 loses the most), or false when H + lambda I is not
// positive definite.
bool inverse_cholesky_upper(const std::vector<double>& h, int64_t n, double lambda,
                            std::vector<double>* u) {
  std::vector<double>& a = *u;
  a = h;
  for (int64_t i = 0; i < n; ++i) a[static_cast<size_t>(i * n + i)] += lambda;
  const auto ln = static_cast<lapack_int>(n);
  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', ln, a.data(), ln) != 0) return false;
  if (LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', ln, a.data(), ln) != 0) return false;
  for (int64_t i = 0; i < n; ++i) {  // dpotri fills the lower triangle: mirror it
    for (int64_t j = i + 1; j < n; ++j) {
      a[static_cast<size_t>(i * n + j)] = a[static_cast<size_t>(j * n + i)];
    }
  }
  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', ln, a.data(), ln) != 0) return false;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) a[static_cast<size_t>(i * n + j)] = 0.0;
  }
  return true;
}

// Gathers rows x g values of physical columns [c0, c0 + g) from the transposed, permuted
// weights wt (cols x rows; row p of wt is physical column perm[p]).
void gather_group(const std::vector<float>& wt, const std::vector<int64_t>& invperm,
                  int64_t rows, int64_t c0, int64_t g, std::vector<float>* out) {
  out->resize(static_cast<size_t>(rows * g));
  for (int64_t j = 0; j < g; ++j) {
    const float* src = wt.data() + invperm[static_cast<size_t>(c0 + j)] * rows;
    for (int64_t r = 0; r < rows; ++r) (*out)[static_cast<size_t>(r * g + j)] = src[r];
  }
}

}  // namespace

Result<quant::QuantizedTensor> gptq_quantize(const quant::Scheme& scheme, const float* w,
                                             int64_t rows, int64_t cols, const double* h,
                                             const GptqOptions& opt, GptqReport* report) {
  GptqReport rep;
  if (rows <= 0 || cols <= 0) return invalid_argument("gptq: empty weight {}x{}", rows, cols);
  if (!(opt.damp > 0) || opt.block_size <= 0) {
    return invalid_argument("gptq: damp {} and block size {} must be positive", opt.damp,
                            opt.block_size);
  }
  const auto n2 = static_cast<size_t>(cols * cols);
  std::vector<double> H(h, h + n2);
  for (size_t i = 0; i < n2; ++i) {
    if (!std::isfinite(H[i])) {
      return invalid_argument("gptq: Hessian entry [{}, {}] is {} (non-finite calibration "
                              "activations?)", i / cols, i % cols, H[i]);
    }
  }
  // Work on the transpose: column c of W is row c of wt, so a column is contiguous.
  std::vector<float> wt(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) wt[static_cast<size_t>(c * rows + r)] = w[r * cols + c];
  }
  for (int64_t c = 0; c < cols; ++c) {
    if (H[static_cast<size_t>(c * cols + c)] == 0.0) {  // no input ever reached this column
      H[static_cast<size_t>(c * cols + c)] = 1.0;
      std::fill_n(wt.begin() + c * rows, rows, 0.0f);
      ++rep.dead_columns;
    }
  }
  std::vector<float> w0(static_cast<size_t>(rows * cols));  // dead-zeroed, row-major
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) w0[static_cast<size_t>(r * cols + c)] = wt[static_cast<size_t>(c * rows + r)];
  }
  quant::QuantizeOptions qo;
  qo.pool = opt.pool;
  BITSMITH_ASSIGN_OR_RETURN(auto gq, quant::make_group_quantizer(scheme, w0.data(), rows, cols, qo));
  const int64_t g = gq->group_cols();
  const bool grouped = g < cols;
  bool static_groups = opt.static_groups || !grouped;
  if (opt.act_order && grouped && !opt.static_groups) {
    static_groups = true;
    rep.forced_static_groups = true;
  }
  std::vector<float> buf;
  if (static_groups) {
    for (int64_t gi = 0; gi < cols / g; ++gi) {
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(w0.begin() + r * cols + gi * g, g, std::back_inserter(buf));
      }
      BITSMITH_RETURN_IF_ERROR(gq->choose_params(gi, buf.data(), nullptr));
      buf.clear();
    }
  }
  w0 = {};

  // act-order: position p processes physical column perm[p].
  std::vector<int64_t> perm(static_cast<size_t>(cols)), invperm(perm.size());
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
      return H[static_cast<size_t>(a * cols + a)] > H[static_cast<size_t>(b * cols + b)];
    });
    std::vector<double> hp(n2);
    std::vector<float> wp(wt.size());
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t pi = perm[static_cast<size_t>(i)];
      for (int64_t j = 0; j < cols; ++j) {
        hp[static_cast<size_t>(i * cols + j)] = H[static_cast<size_t>(pi * cols + perm[static_cast<size_t>(j)])];
      }
      std::copy_n(wt.begin() + pi * rows, rows, wp.begin() + i * rows);
    }
    H.swap(hp);
    wt.swap(wp);
  }
  for (int64_t i = 0; i < cols; ++i) invperm[static_cast<size_t>(perm[static_cast<size_t>(i)])] = i;

  double mean_diag = 0;
  for (int64_t i = 0; i < cols; ++i) mean_diag += H[static_cast<size_t>(i * cols + i)];
  mean_diag /= static_cast<double>(cols);
  std::vector<double> U;
  double damp = opt.damp;
  while (!inverse_cholesky_upper(H, cols, damp * mean_diag, &U)) {
    if (rep.damp_raises >= 2) {
      return invalid_argument("gptq: the Hessian is not positive definite even with damp {} "
                                 "(degenerate calibration activations?)", damp);
    }
    damp *= 10.0;
    ++rep.damp_raises;
  }
  rep.damp = damp;
  H = {};
  std::vector<float> hinv(U.begin(), U.end());
  U = {};

  const int64_t bs = opt.block_size;
  std::vector<float> err(static_cast<size_t>(std::min(bs, cols) * rows));
  std::vector<float> q(static_cast<size_t>(rows));
  double loss = 0;
  for (int64_t i1 = 0; i1 < cols; i1 += bs) {
    const int64_t i2 = std::min(i1 + bs, cols), count = i2 - i1;
    if (!static_groups) {
      // Groups starting in this block get their parameters from the weights as they are now
      // (gptq.py's find_params on W[:, i:i+g], which the block's own updates have not reached).
      for (int64_t c = (i1 + g - 1) / g * g; c < i2; c += g) {
        gather_group(wt, invperm, rows, c, g, &buf);
        BITSMITH_RETURN_IF_ERROR(gq->choose_params(c / g, buf.data(), nullptr));
      }
    }
    for (int64_t i = 0; i < count; ++i) {
      float* col = wt.data() + (i1 + i) * rows;
      const float d = hinv[static_cast<size_t>((i1 + i) * cols + i1 + i)];
      gq->quantize_column(perm[static_cast<size_t>(i1 + i)], col, q.data());
      float* e = err.data() + i * rows;
      for (int64_t r = 0; r < rows; ++r) {
        const float diff = col[r] - q[static_cast<size_t>(r)];
        loss += static_cast<double>(diff) * diff / (static_cast<double>(d) * d) / 2.0;
        e[r] = diff / d;
      }
      // The rest of the block: W1[:, k] -= err * Hinv[i, k].
      const float* hrow = hinv.data() + (i1 + i) * cols;
      for (int64_t k = i + 1; k < count; ++k) {
        const float hk = hrow[i1 + k];
        float* ck = wt.data() + (i1 + k) * rows;
        for (int64_t r = 0; r < rows; ++r) ck[r] -= e[r] * hk;
      }
    }
    if (i2 < cols) {
      // W[:, i2:] -= Err1 Hinv[i1:i2, i2:], transposed: wt[i2:] -= Hinv[i1:i2, i2:]^T Err1.
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(cols - i2),
                  static_cast<int>(rows), static_cast<int>(count), -1.0f,
                  hinv.data() + i1 * cols + i2, static_cast<int>(cols), err.data(),
                  static_cast<int>(rows), 1.0f, wt.data() + i2 * rows, static_cast<int>(rows));
    }
  }
  rep.loss = loss;
  if (report) *report = rep;
  return gq->finish();
}

}  // namespace bitsmith::algo
