#include "grad_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "bitsmith/infer/vec_math.h"

namespace bitsmith::train::detail {

namespace {

// Below this many multiply-adds a product runs on the calling thread (waking the pool costs
// more); above it, slices of whole 16-column SIMD panels, one per thread (infer's rule).
constexpr int64_t kSerialMacs = int64_t{1} << 20;

int64_t grain_for(int64_t n, int64_t m, int64_t k, ThreadPool& pool) {
  if (n * m * k < kSerialMacs) return m;
  const int64_t threads = pool.num_threads();
  const int64_t g = (m + threads - 1) / threads;
  return std::max<int64_t>(16, (g + 15) / 16 * 16);
}

blasint bi(int64_t v) { return static_cast<blasint>(v); }

}  // namespace

void gemm_nn(const float* dy, const float* w, float* dx, int64_t n, int64_t m, int64_t k, float beta,
             ThreadPool& pool) {
  if (n == 0 || k == 0) return;
  // Split over the k output columns: each slice reads all of dy and its own columns of w.
  pool.parallel_for(k, grain_for(n, k, m, pool), [&](int64_t j0, int64_t j1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(n), bi(j1 - j0), bi(m), 1.0f, dy, bi(m), w + j0,
                bi(k), beta, dx + j0, bi(k));
  });
}

void gemm_tn_acc(const float* dy, const float* x, float* dw, int64_t n, int64_t m, int64_t k, ThreadPool& pool) {
  if (n == 0 || m == 0) return;
  // Split over the m rows of dw (columns of dy): disjoint outputs, each summed over all n rows.
  pool.parallel_for(m, grain_for(m, n, k, pool), [&](int64_t i0, int64_t i1) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(i1 - i0), bi(k), bi(n), 1.0f, dy + i0, bi(m), x, bi(k),
                1.0f, dw + i0 * k, bi(k));
  });
}

void colsum_acc(const float* dy, float* db, int64_t n, int64_t m) {
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < m; ++j) db[j] += dy[r * m + j];
  }
}

void rmsnorm_backward(const float* x, const float* weight, const float* dy, float* dx, float* dweight, int64_t n,
                      int64_t d, double eps, ThreadPool& pool) {
  std::vector<float> inv(static_cast<size_t>(n));
  const int64_t row_grain = std::max<int64_t>(16, 65536 / std::max<int64_t>(d, 1));
  pool.parallel_for(n, row_grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * d;
      const float* g = dy + r * d;
      // The forward's inverse rms, computed the same way (sum of squares in double).
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const double ir = 1.0 / std::sqrt(ss / static_cast<double>(d) + eps);
      inv[static_cast<size_t>(r)] = static_cast<float>(ir);
      double dot = 0.0;
      for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(weight[i]) * g[i] * xr[i];
      const float a = static_cast<float>(ir);
      const float b = static_cast<float>(ir * ir * ir * dot / static_cast<double>(d));
      float* o = dx + r * d;
      for (int64_t i = 0; i < d; ++i) o[i] += a * weight[i] * g[i] - b * xr[i];
    }
  });
  pool.parallel_for(d, std::max<int64_t>(16, 65536 / std::max<int64_t>(n, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < n; ++r) {
      const float ir = inv[static_cast<size_t>(r)];
      for (int64_t i = c0; i < c1; ++i) dweight[i] += dy[r * d + i] * (x[r * d + i] * ir);
    }
  });
}

void rope_backward(float* dx, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, double theta,
                   RopeStyle style, ThreadPool& pool) {
  const int64_t half = head_dim / 2;
  std::vector<double> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    freq[static_cast<size_t>(i)] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
  }
  pool.parallel_for(batch * seq, std::max<int64_t>(4, 16384 / std::max<int64_t>(heads * head_dim, 1)),
                    [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const double pos = static_cast<double>(r % seq);
      for (int64_t i = 0; i < half; ++i) {
        const double angle = pos * freq[static_cast<size_t>(i)];
        const float c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
        const int64_t a = style == RopeStyle::kInterleaved ? 2 * i : i;
        const int64_t b = style == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
        for (int64_t h = 0; h < heads; ++h) {
          float* v = dx + (r * heads + h) * head_dim;
          const float v0 = v[a], v1 = v[b];
          v[a] = v0 * c + v1 * s;
          v[b] = -v0 * s + v1 * c;
        }
      }
    }
  });
}

void attention_forward(const float* q, const float* k, const float* v, float* p, float* out, int64_t batch,
                       int64_t seq, int64_t n_heads, int64_t n_kv, int64_t hd, ThreadPool& pool) {
  const int64_t group = n_heads / n_kv, qs = n_heads * hd, kvs = n_kv * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t grain = std::max<int64_t>(1, kSerialMacs / std::max<int64_t>(1, 2 * seq * seq * hd));
  pool.parallel_for(batch * n_heads, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / n_heads, h = t % n_heads;
      const float* qh = q + b * seq * qs + h * hd;
      const float* kh = k + b * seq * kvs + (h / group) * hd;
      const float* vh = v + b * seq * kvs + (h / group) * hd;
      float* s = p + t * seq * seq;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(seq), bi(seq), bi(hd), scale, qh, bi(qs), kh, bi(kvs),
                  0.0f, s, bi(seq));
      for (int64_t i = 0; i < seq; ++i) {
        float* row = s + i * seq;
        const int64_t visible = i + 1;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, row[j]);
        const float inv = 1.0f / infer::detail::exp_shifted_sum(row, visible, mx);
        for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
        for (int64_t j = visible; j < seq; ++j) row[j] = 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(seq), bi(hd), bi(seq), 1.0f, s, bi(seq), vh, bi(kvs),
                  0.0f, out + b * seq * qs + h * hd, bi(qs));
    }
  });
}

void attention_backward(const float* q, const float* k, const float* v, const float* p, const float* dout,
                        float* dq, float* dk, float* dv, int64_t batch, int64_t seq, int64_t n_heads, int64_t n_kv,
                        int64_t hd, ThreadPool& pool) {
  const int64_t group = n_heads / n_kv, qs = n_heads * hd, kvs = n_kv * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t grain = std::max<int64_t>(1, kSerialMacs / std::max<int64_t>(1, 4 * group * seq * seq * hd));
  pool.parallel_for(batch * n_kv, grain, [&](int64_t t0, int64_t t1) {
    std::vector<float> ds(static_cast<size_t>(seq * seq));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / n_kv, g = t % n_kv;
      const float* kg = k + b * seq * kvs + g * hd;
      const float* vg = v + b * seq * kvs + g * hd;
      float* dkg = dk + b * seq * kvs + g * hd;
      float* dvg = dv + b * seq * kvs + g * hd;
      for (int64_t hi = 0; hi < group; ++hi) {
        const int64_t h = g * group + hi;
        const float* ph = p + (b * n_heads + h) * seq * seq;
        const float* qh = q + b * seq * qs + h * hd;
        const float* doh = dout + b * seq * qs + h * hd;
        float* dqh = dq + b * seq * qs + h * hd;
        const float beta = hi == 0 ? 0.0f : 1.0f;  // the group's first head overwrites dk, dv
        // dv += p^T dout
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(seq), bi(hd), bi(seq), 1.0f, ph, bi(seq), doh, bi(qs),
                    beta, dvg, bi(kvs));
        // dp = dout v^T, then ds = p (dp - sum_j p dp): the softmax's Jacobian row by row.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(seq), bi(seq), bi(hd), 1.0f, doh, bi(qs), vg, bi(kvs),
                    0.0f, ds.data(), bi(seq));
        for (int64_t i = 0; i < seq; ++i) {
          float* row = ds.data() + i * seq;
          const float* pr = ph + i * seq;
          double dot = 0.0;
          for (int64_t j = 0; j <= i; ++j) dot += static_cast<double>(pr[j]) * row[j];
          const float dd = static_cast<float>(dot);
          for (int64_t j = 0; j <= i; ++j) row[j] = pr[j] * (row[j] - dd) * scale;
          for (int64_t j = i + 1; j < seq; ++j) row[j] = 0.0f;
        }
        // dq = ds k (scale folded into ds); dk += ds^T q
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(seq), bi(hd), bi(seq), 1.0f, ds.data(), bi(seq), kg,
                    bi(kvs), 0.0f, dqh, bi(qs));
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(seq), bi(hd), bi(seq), 1.0f, ds.data(), bi(seq), qh,
                    bi(qs), beta, dkg, bi(kvs));
      }
    }
  });
}

void swiglu_backward(const float* g, const float* u, const float* dh, float* dg, float* du, int64_t count,
                     ThreadPool& pool) {
  pool.parallel_for(count, 32768, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-g[i]));
      const float silu = g[i] * s;
      du[i] = dh[i] * silu;
      dg[i] = dh[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
  });
}

double cross_entropy_rows(float* logits, const int32_t* targets, int64_t n, int64_t vocab, float scale,
                          ThreadPool& pool) {
  std::vector<double> row_loss(static_cast<size_t>(n), 0.0);
  pool.parallel_for(n, std::max<int64_t>(1, 65536 / std::max<int64_t>(vocab, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = logits + r * vocab;
      const int32_t t = targets[r];
      if (t < 0) {
        std::fill(row, row + vocab, 0.0f);
        continue;
      }
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < vocab; ++j) mx = std::max(mx, row[j]);
      const float target_logit = row[t];
      const float sum = infer::detail::exp_shifted_sum(row, vocab, mx);
      row_loss[static_cast<size_t>(r)] =
          std::log(static_cast<double>(sum)) + static_cast<double>(mx) - static_cast<double>(target_logit);
      const float inv = scale / sum;
      for (int64_t j = 0; j < vocab; ++j) row[j] *= inv;
      row[t] -= scale;
    }
  });
  double total = 0.0;  // summed in row order: the same total whatever the thread count
  for (double l : row_loss) total += l;
  return total;
}

double kl_rows(float* logits, const float* teacher, const int32_t* targets, int64_t n, int64_t vocab, float scale,
               ThreadPool& pool) {
  std::vector<double> row_loss(static_cast<size_t>(n), 0.0);
  pool.parallel_for(n, std::max<int64_t>(1, 65536 / std::max<int64_t>(vocab, 1)), [&](int64_t r0, int64_t r1) {
    std::vector<double> pt(static_cast<size_t>(vocab));
    for (int64_t r = r0; r < r1; ++r) {
      float* row = logits + r * vocab;
      if (targets[r] < 0) {
        std::fill(row, row + vocab, 0.0f);
        continue;
      }
      const float* t = teacher + r * vocab;
      // Both log-softmaxes in double: KL is a small difference of large sums at a good student.
      double smax = -std::numeric_limits<double>::infinity(), tmax = smax;
      for (int64_t j = 0; j < vocab; ++j) smax = std::max(smax, static_cast<double>(row[j]));
      for (int64_t j = 0; j < vocab; ++j) tmax = std::max(tmax, static_cast<double>(t[j]));
      double ssum = 0, tsum = 0;
      for (int64_t j = 0; j < vocab; ++j) ssum += std::exp(static_cast<double>(row[j]) - smax);
      for (int64_t j = 0; j < vocab; ++j) {
        pt[static_cast<size_t>(j)] = std::exp(static_cast<double>(t[j]) - tmax);
        tsum += pt[static_cast<size_t>(j)];
      }
      const double slse = smax + std::log(ssum), tlse = tmax + std::log(tsum);
      double kl = 0;
      for (int64_t j = 0; j < vocab; ++j) {
        const double p = pt[static_cast<size_t>(j)] / tsum;
        const double log_ps = static_cast<double>(row[j]) - slse;
        if (p > 0) kl += p * ((static_cast<double>(t[j]) - tlse) - log_ps);
        row[j] = static_cast<float>(static_cast<double>(scale) * (std::exp(log_ps) - p));
      }
      row_loss[static_cast<size_t>(r)] = kl;
    }
  });
  double total = 0.0;  // summed in row order: the same total whatever the thread count
  for (double l : row_loss) total += l;
  return total;
}

}  // namespace bitsmith::train::detail
