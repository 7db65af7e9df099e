#include "bitsmith/algo/gptq.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "bitsmith/core/cpu_dispatch.h"
#include "bitsmith/quant/group_quantizer.h"
#include "gptq_refit.h"

namespace bitsmith::algo {

namespace {

// The hot loops run compiled for AVX-512, AVX2 and baseline, picked at load time, without
// contracting w -= e * h into a fused multiply-add: the product and the difference round
// separately, as numpy's float32 W1 -= outer(err, Hinv) does, for identical results.
#if defined(__GNUC__) && !defined(__clang__)
#define GPTQ_NO_FMA __attribute__((optimize("fp-contract=off")))
#else
#define GPTQ_NO_FMA
#endif

// Row-major (rows x cols) -> column-major: out[c * rows + r] = in[r * ld + src_col(c)], in
// strips of 8 rows: the rows are often 4 KB apart (one L1 set), so more would evict each other.
template <typename ColOf>
void transpose_cols(const float* in, int64_t rows, int64_t cols, int64_t ld, ColOf src_col,
                    float* out) {
  constexpr int64_t kT = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += kT) {
    const int64_t r1 = std::min(rows, r0 + kT);
    for (int64_t c = 0; c < cols; ++c) {
      const float* src = in + src_col(c);
      float* dst = out + c * rows;
      for (int64_t r = r0; r < r1; ++r) dst[r] = src[r * ld];
    }
  }
}

// Upper Cholesky factor U of (H + lambda I)^-1 (U^T U = (H + lambda I)^-1), as float32
// row-major, computed in double; false when H + lambda I is not positive definite. Processing
// order: H(i, j) = h[perm[i]][perm[j]], with a dead column's diagonal (h_ii = 0) taken as 1.
// gptq.py's route, which the float32 result is sensitive to (a shorter one, one Cholesky of the
// order-reversed H and a triangular inverse, gives the same factor mathematically but changes
// ~10% of the float32 entries by an ulp and a few quantized values with them): L = chol(H),
// H^-1 = L^-T L^-1 (dpotri), U^T = chol(H^-1) (lower, as torch/numpy's cholesky(...).T).
// All in column-major LAPACK calls without LAPACKE's transposes and NaN checks: the lower
// factor of H^-1 in column-major is U in row-major.
bool inverse_cholesky_upper(const double* h, const std::vector<int64_t>& perm, int64_t n,
                            double lambda, std::vector<double>* work, std::vector<float>* hinv) {
  std::vector<double>& a = *work;
  a.resize(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {  // symmetric: column j of a is row perm[j] of h, permuted
    const double* hrow = h + perm[static_cast<size_t>(j)] * n;
    double* acol = a.data() + j * n;
    for (int64_t i = 0; i < n; ++i) acol[i] = hrow[perm[static_cast<size_t>(i)]];
    if (acol[j] == 0.0) acol[j] = 1.0;
    acol[j] += lambda;
  }
  const auto ln = static_cast<lapack_int>(n);
  if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', ln, a.data(), ln) != 0) return false;
  if (LAPACKE_dpotri_work(LAPACK_COL_MAJOR, 'L', ln, a.data(), ln) != 0) return false;
  if (LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', ln, a.data(), ln) != 0) return false;
  // U(i, j) = L2(j, i) = a[i n + j] for j >= i; the rest of a holds stale values.
  hinv->resize(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i) {
    float* out = hinv->data() + i * n;
    const double* in = a.data() + i * n;
    for (int64_t j = 0; j < i; ++j) out[j] = 0.0f;
    for (int64_t j = i; j < n; ++j) out[j] = static_cast<float>(in[j]);
  }
  return true;
}

// Rows the lazy block is processed in at a time: a block's 128 columns of 64 rows (32 KB) and
// their errors stay in L1/L2, and tiles are independent (GPTQ treats rows separately), so they
// can run on several threads.
constexpr int64_t kRowTile = 64;

// Column c of a tile (rows r0..r0+n of processing-order column i1+c) receives the updates of the
// block's earlier columns, in their order: w -= err_k * Hinv[i1+k, i1+c] for k < c (the same
// per-element operations, in the same order, as gptq.py's right-looking W1 -= outer(err, Hinv)).
// hb(k, c) = Hinv[i1+k, i1+c]; err rows are `ld` apart.
GPTQ_NO_FMA BITSMITH_CPU_CLONES("avx512f", "avx2")
void apply_block_updates(float* __restrict col, int64_t n, const float* __restrict err,
                         int64_t ld, const float* __restrict hcol, int64_t c) {
  if (n == kRowTile) {
    float acc[kRowTile];
    for (int64_t r = 0; r < kRowTile; ++r) acc[r] = col[r];
    for (int64_t k = 0; k < c; ++k) {
      const float h = hcol[k];
      const float* e = err + k * ld;
      for (int64_t r = 0; r < kRowTile; ++r) acc[r] -= e[r] * h;
    }
    for (int64_t r = 0; r < kRowTile; ++r) col[r] = acc[r];
    return;
  }
  for (int64_t k = 0; k < c; ++k) {
    const float h = hcol[k];
    const float* e = err + k * ld;
    for (int64_t r = 0; r < n; ++r) col[r] -= e[r] * h;
  }
}

// err = (w - q) / d; returns sum (w - q)^2 (the loss report's; in 8 partial sums, which
// vectorize).
GPTQ_NO_FMA BITSMITH_CPU_CLONES("avx512f", "avx2")
double column_error(const float* __restrict w, const float* __restrict q, int64_t n, float d,
                    float* __restrict err) {
  double part[8] = {};
  int64_t r = 0;
  for (; r + 8 <= n; r += 8) {
    for (int j = 0; j < 8; ++j) {
      const float diff = w[r + j] - q[r + j];
      part[j] += static_cast<double>(diff) * diff;
      err[r + j] = diff / d;
    }
  }
  for (; r < n; ++r) {
    const float diff = w[r] - q[r];
    part[0] += static_cast<double>(diff) * diff;
    err[r] = diff / d;
  }
  double s = 0;
  for (double p : part) s += p;
  return s;
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
  for (size_t i = 0; i < n2; ++i) {
    if (!std::isfinite(h[i])) {
      return invalid_argument("gptq: Hessian entry [{}, {}] is {} (non-finite calibration "
                              "activations?)", i / cols, i % cols, h[i]);
    }
  }
  // H_ii with a dead column's (no input ever reached it: h_ii = 0) taken as 1.
  auto diag = [&](int64_t c) {
    const double d = h[static_cast<size_t>(c * cols + c)];
    return d == 0.0 ? 1.0 : d;
  };
  std::vector<float> w0(w, w + rows * cols);  // dead-zeroed, row-major
  for (int64_t c = 0; c < cols; ++c) {
    if (h[static_cast<size_t>(c * cols + c)] == 0.0) {
      for (int64_t r = 0; r < rows; ++r) w0[static_cast<size_t>(r * cols + c)] = 0.0f;
      ++rep.dead_columns;
    }
  }
  quant::QuantizeOptions qo;
  qo.pool = opt.pool;
  qo.shared_amax = opt.shared_amax;
  BITSMITH_ASSIGN_OR_RETURN(auto gq, quant::make_group_quantizer(scheme, w0.data(), rows, cols, qo));
  const int64_t g = gq->group_cols();
  const bool grouped = g < cols;
  bool static_groups = opt.static_groups || !grouped;
  if (opt.act_order && grouped && !opt.static_groups) {
    static_groups = true;
    rep.forced_static_groups = true;
  }
  // Weights of the importance-weighted parameter search: H_ii per physical column.
  std::vector<float> col_weight;
  if (opt.weighted_params) {
    col_weight.resize(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) col_weight[static_cast<size_t>(c)] = static_cast<float>(diag(c));
  }
  auto group_weight = [&](int64_t gi) { return col_weight.empty() ? nullptr : col_weight.data() + gi * g; };
  std::vector<float> buf;
  if (static_groups) {
    for (int64_t gi = 0; gi < cols / g; ++gi) {
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(w0.begin() + r * cols + gi * g, g, std::back_inserter(buf));
      }
      BITSMITH_RETURN_IF_ERROR(gq->choose_params(gi, buf.data(), group_weight(gi)));
      buf.clear();
    }
  }

  // act-order: position p processes physical column perm[p].
  std::vector<int64_t> perm(static_cast<size_t>(cols)), invperm(perm.size());
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
      return diag(a) > diag(b);
    });
  }
  for (int64_t i = 0; i < cols; ++i) invperm[static_cast<size_t>(perm[static_cast<size_t>(i)])] = i;
  // Work on the transpose, in processing order: row p of wt is physical column perm[p], so a
  // column is contiguous.
  std::vector<float> wt(static_cast<size_t>(rows * cols));
  transpose_cols(w0.data(), rows, cols, cols,
                 [&](int64_t p) { return perm[static_cast<size_t>(p)]; }, wt.data());
  w0 = {};

  double mean_diag = 0;
  for (int64_t i = 0; i < cols; ++i) mean_diag += diag(perm[static_cast<size_t>(i)]);
  mean_diag /= static_cast<double>(cols);
  std::vector<double> work;
  std::vector<float> hinv;
  double damp = opt.damp;
  while (!inverse_cholesky_upper(h, perm, cols, damp * mean_diag, &work, &hinv)) {
    if (rep.damp_raises >= 2) {
      return invalid_argument("gptq: the Hessian is not positive definite even with damp {} "
                                 "(degenerate calibration activations?)", damp);
    }
    damp *= 10.0;
    ++rep.damp_raises;
  }
  rep.damp = damp;
  work = {};

  // Row tiles of a block run on the pool for the scaled schemes (their quantizer only reads
  // shared state once parameters are chosen); GGUF grids are cached per group, so those tiles
  // run in order, and with act-order (columns of many groups in one block) as one tile of all
  // rows, which builds each grid once per column as before.
  const bool gguf = scheme.traits().granularity == quant::Granularity::kGguf;
  const int64_t tile = gguf && opt.act_order ? rows : kRowTile;
  const int64_t ntiles = (rows + tile - 1) / tile;
  ThreadPool* pool = opt.pool ? opt.pool : &ThreadPool::global();
  const int64_t bs = opt.block_size;
  std::vector<float> err(static_cast<size_t>(std::min(bs, cols) * rows));
  std::vector<float> hb(static_cast<size_t>(std::min(bs, cols) * std::min(bs, cols)));
  std::vector<double> tile_loss(static_cast<size_t>(ntiles), 0.0);
  for (int64_t i1 = 0; i1 < cols; i1 += bs) {
    const int64_t i2 = std::min(i1 + bs, cols), count = i2 - i1;
    if (!static_groups) {
      // Groups starting in this block get their parameters from the weights as they are now
      // (gptq.py's find_params on W[:, i:i+g], which the block's own updates have not reached).
      for (int64_t c = (i1 + g - 1) / g * g; c < i2; c += g) {
        gather_group(wt, invperm, rows, c, g, &buf);
        BITSMITH_RETURN_IF_ERROR(gq->choose_params(c / g, buf.data(), group_weight(c / g)));
      }
    }
    // hb(c, k) = Hinv[i1+k, i1+c]: column c's block coefficients, contiguous.
    for (int64_t c = 0; c < count; ++c) {
      for (int64_t k = 0; k < c; ++k) {
        hb[static_cast<size_t>(c * count + k)] = hinv[static_cast<size_t>((i1 + k) * cols + i1 + c)];
      }
    }
    auto run_tiles = [&](int64_t t0, int64_t t1) {
      std::vector<float> q(static_cast<size_t>(tile));
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = t * tile, n = std::min(tile, rows - r0);
        double loss = 0;
        for (int64_t c = 0; c < count; ++c) {
          const int64_t i = i1 + c;
          float* col = wt.data() + i * rows + r0;
          apply_block_updates(col, n, err.data() + r0, rows, hb.data() + c * count, c);
          gq->quantize_column_rows(perm[static_cast<size_t>(i)], r0, r0 + n, col, q.data());
          const float d = hinv[static_cast<size_t>(i * cols + i)];
          const double s = column_error(col, q.data(), n, d, err.data() + c * rows + r0);
          loss += s / (static_cast<double>(d) * d) / 2.0;
        }
        tile_loss[static_cast<size_t>(t)] += loss;
      }
    };
    if (gguf) {
      run_tiles(0, ntiles);
    } else {
      for (int64_t i = i1; i < i2; ++i) gq->prepare_column(perm[static_cast<size_t>(i)]);
      pool->parallel_for(ntiles, 1, run_tiles);
    }
    if (i2 < cols) {
      // W[:, i2:] -= Err1 Hinv[i1:i2, i2:], transposed: wt[i2:] -= Hinv[i1:i2, i2:]^T Err1.
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(cols - i2),
                  static_cast<int>(rows), static_cast<int>(count), -1.0f,
                  hinv.data() + i1 * cols + i2, static_cast<int>(cols), err.data(),
                  static_cast<int>(rows), 1.0f, wt.data() + i2 * rows, static_cast<int>(rows));
    }
  }
  for (double l : tile_loss) rep.loss += l;
  if (opt.refit_params) {
    detail::RefitReport rr;
    BITSMITH_RETURN_IF_ERROR(detail::refit_linear_params(*gq, w, h, damp * mean_diag, *pool, &rr));
    rep.refit_rows = rr.rows_refit;
    rep.refit_error_before = rr.error_before;
    rep.refit_error_after = rr.error_after;
  }
  if (report) *report = rep;
  return gq->finish();
}

}  // namespace bitsmith::algo
