// Numeric kernels of the forward pass (internal to infer). Row-major float32 throughout.
// Every kernel writes only rows/columns of its own range, so results do not depend on the
// number of threads.
#pragma once

#include <cstdint>

#include "bitsmith/core/model.h"
#include "bitsmith/core/thread_pool.h"

namespace bitsmith::infer::detail {

// C[n x m] = A[n x k] * W[m x k]^T (a linear layer: W is [out, in]). The m output columns are
// split over the pool's threads, each running single-threaded OpenBLAS sgemm on its slice.
void gemm_nt(const float* a, const float* w, float* c, int64_t n, int64_t m, int64_t k,
             ThreadPool& pool);
// The same product as a plain triple loop (float accumulation): the baseline the benchmark
// compares OpenBLAS against, and the tests' check of gemm_nt.
void gemm_nt_naive(const float* a, const float* w, float* c, int64_t n, int64_t m, int64_t k,
                   ThreadPool& pool);

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for n rows of d values.
void rmsnorm(const float* x, const float* weight, float* out, int64_t n, int64_t d, double eps,
             ThreadPool& pool);

// Rotates each head of `n` token rows in place; row t holds `heads` heads of head_dim values
// (row stride heads * head_dim) at position pos0 + t.
void rope(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t pos0, double theta,
          RopeStyle style, ThreadPool& pool);

// Causal grouped-query attention of n new queries at positions [pos0, pos0 + n) against the
// cache's keys/values for positions [0, pos0 + n).
//   q:   [n x n_heads*hd]; out: [n x n_heads*hd]
//   k,v: cache rows [ctx x n_kv*hd]
void attention(const float* q, const float* k, const float* v, float* out, int64_t n,
               int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t hd, ThreadPool& pool);

// gate[i] = silu(gate[i]) * up[i] over count values.
void silu_mul(float* gate, const float* up, int64_t count, ThreadPool& pool);

// x[r] += bias for n rows of d values.
void add_bias(float* x, const float* bias, int64_t n, int64_t d);

}  // namespace bitsmith::infer::detail
