#include "kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

#include "bitsmith/infer/vec_math.h"

namespace bitsmith::infer::detail {

namespace {

// OpenBLAS's own threads would compete with the ThreadPool's (both sized to the cores), so the
// engine keeps OpenBLAS single-threaded and parallelizes around it. Set once per process.
void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Column slices of a gemm: one per thread, a multiple of 16 columns (whole SIMD panels).
// Products below this many multiply-adds run on the calling thread: waking the pool costs
// more than the work (stories260K's layers are 64 x 64).
constexpr int64_t kSerialGemmMacs = int64_t{1} << 20;

int64_t gemm_grain(int64_t n, int64_t m, int64_t k, ThreadPool& pool) {
  if (n * m * k < kSerialGemmMacs) return m;
  const int64_t threads = pool.num_threads();
  int64_t g = (m + threads - 1) / threads;
  return std::max<int64_t>(16, (g + 15) / 16 * 16);
}

}  // namespace

void gemm_nt(const float* a, const float* w, float* c, int64_t n, int64_t m, int64_t k,
             ThreadPool& pool) {
  if (n == 0 || m == 0) return;
  blas_single_threaded();
  pool.parallel_for(m, gemm_grain(n, m, k, pool), [&](int64_t j0, int64_t j1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n),
                static_cast<blasint>(j1 - j0), static_cast<blasint>(k), 1.0f, a,
                static_cast<blasint>(k), w + j0 * k, static_cast<blasint>(k), 0.0f, c + j0,
                static_cast<blasint>(m));
  });
}

void gemm_nt_naive(const float* a, const float* w, float* c, int64_t n, int64_t m, int64_t k,
                   ThreadPool& pool) {
  pool.parallel_for(m, gemm_grain(n, m, k, pool), [&](int64_t j0, int64_t j1) {
    for (int64_t i = 0; i < n; ++i) {
      const float* ai = a + i * k;
      for (int64_t j = j0; j < j1; ++j) {
        const float* wj = w + j * k;
        float s = 0.0f;
        for (int64_t t = 0; t < k; ++t) s += ai[t] * wj[t];
        c[i * m + j] = s;
      }
    }
  });
}

void rmsnorm(const float* x, const float* weight, float* out, int64_t n, int64_t d, double eps,
             ThreadPool& pool) {
  pool.parallel_for(n, std::max<int64_t>(16, 65536 / std::max<int64_t>(d, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * d;
      float* orow = out + r * d;
      // Sum of squares in double: a long row of large activations loses digits in float.
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
      for (int64_t i = 0; i < d; ++i) orow[i] = weight[i] * (xr[i] * inv);
    }
  });
}

void rope(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t pos0, double theta,
          RopeStyle style, ThreadPool& pool) {
  const int64_t half = head_dim / 2;
  // Frequencies theta^(-2i/head_dim), i < head_dim/2: the same for both styles; only which two
  // values of a head form pair i differs (adjacent 2i, 2i+1 or split i, i + head_dim/2).
  std::vector<double> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    freq[static_cast<size_t>(i)] =
        std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
  }
  pool.parallel_for(n, std::max<int64_t>(4, 16384 / std::max<int64_t>(heads * head_dim, 1)), [&](int64_t t0, int64_t t1) {
    std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t t = t0; t < t1; ++t) {
      const double pos = static_cast<double>(pos0 + t);
      for (int64_t i = 0; i < half; ++i) {
        const double angle = pos * freq[static_cast<size_t>(i)];
        cs[static_cast<size_t>(i)] = static_cast<float>(std::cos(angle));
        sn[static_cast<size_t>(i)] = static_cast<float>(std::sin(angle));
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (t * heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = style == RopeStyle::kInterleaved ? 2 * i : i;
          const int64_t b = style == RopeStyle::kInterleaved ? 2 * i + 1 : i + half;
          const float c = cs[static_cast<size_t>(i)], s = sn[static_cast<size_t>(i)];
          const float v0 = v[a], v1 = v[b];
          v[a] = v0 * c - v1 * s;
          v[b] = v0 * s + v1 * c;
        }
      }
    }
  });
}

void attention(const float* q, const float* k, const float* v, float* out, int64_t n,
               int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t hd, ThreadPool& pool) {
  blas_single_threaded();
  // Query rows go in blocks, so a block's scores stop at its own last position instead of
  // computing (and masking) the whole causal square.
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  const int64_t group = n_heads / n_kv_heads;
  const int64_t q_stride = n_heads * hd, kv_stride = n_kv_heads * hd;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  // Tasks of under ~2^20 multiply-adds are grouped so small models do not pay for wake-ups.
  const int64_t task_macs = std::max<int64_t>(1, std::min(kBlock, n) * (pos0 + n) * hd * 2);
  const int64_t grain = std::max<int64_t>(1, kSerialGemmMacs / task_macs);
  pool.parallel_for(n_heads * blocks, grain, [&](int64_t t0, int64_t t1) {
    std::vector<float> scores;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t h = t / blocks, b = t % blocks;
      const int64_t r0 = b * kBlock, rows = std::min(kBlock, n - r0);
      const int64_t keys = pos0 + r0 + rows;  // keys visible to the block's last row
      const float* qh = q + r0 * q_stride + h * hd;
      const float* kh = k + (h / group) * hd;
      const float* vh = v + (h / group) * hd;
      scores.resize(static_cast<size_t>(rows * keys));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(keys), static_cast<blasint>(hd), scale, qh,
                  static_cast<blasint>(q_stride), kh, static_cast<blasint>(kv_stride), 0.0f,
                  scores.data(), static_cast<blasint>(keys));
      for (int64_t i = 0; i < rows; ++i) {
        float* s = scores.data() + i * keys;
        const int64_t visible = pos0 + r0 + i + 1;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, s[j]);
        const float sum = exp_shifted_sum(s, visible, mx);
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < visible; ++j) s[j] *= inv;
        for (int64_t j = visible; j < keys; ++j) s[j] = 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(hd), static_cast<blasint>(keys), 1.0f, scores.data(),
                  static_cast<blasint>(keys), vh, static_cast<blasint>(kv_stride), 0.0f,
                  out + r0 * q_stride + h * hd, static_cast<blasint>(q_stride));
    }
  });
}

void silu_mul(float* gate, const float* up, int64_t count, ThreadPool& pool) {
  pool.parallel_for(count, 32768, [&](int64_t i0, int64_t i1) {
    silu_mul_row(gate + i0, up + i0, i1 - i0);
  });
}

void add_bias(float* x, const float* bias, int64_t n, int64_t d) {
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < d; ++i) x[r * d + i] += bias[i];
  }
}

}  // namespace bitsmith::infer::detail
