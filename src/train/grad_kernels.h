// The backward kernels of the Llama decoder (internal to train), beside the forward kernels the
// trainer borrows from infer (infer/kernels.h), so the forward it differentiates is the engine's.
// Row-major float32; every kernel writes only its own rows/columns per thread, so results do not
// depend on the thread count.
#pragma once

#include <cstdint>

#include "bitsmith/core/model.h"
#include "bitsmith/core/thread_pool.h"

namespace bitsmith::train::detail {

// dx[n x k] = beta * dx + dy[n x m] * w[m x k]: a linear's input gradient (w is [out, in]).
void gemm_nn(const float* dy, const float* w, float* dx, int64_t n, int64_t m, int64_t k, float beta,
             ThreadPool& pool);
// dw[m x k] += dy[n x m]^T * x[n x k]: a linear's weight gradient, summed over the n rows.
void gemm_tn_acc(const float* dy, const float* x, float* dw, int64_t n, int64_t m, int64_t k, ThreadPool& pool);
// db[m] += column sums of dy[n x m]: a bias's gradient.
void colsum_acc(const float* dy, float* db, int64_t n, int64_t m);

// Backward of out = weight * x / sqrt(mean(x^2) + eps) (infer's rmsnorm, row by row):
//   dx += inv * (weight * dy) - x * inv^3 / d * sum_j(weight_j dy_j x_j)
//   dweight += sum over rows of dy * x * inv
void rmsnorm_backward(const float* x, const float* weight, const float* dy, float* dx, float* dweight, int64_t n,
                      int64_t d, double eps, ThreadPool& pool);

// The transpose of infer's rope: rotates each head's pairs by -angle (a rotation's inverse is its
// transpose), in place, for `batch` sequences of `seq` rows at positions 0..seq-1.
void rope_backward(float* dx, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, double theta,
                   RopeStyle style, ThreadPool& pool);

// Causal grouped-query attention of `batch` sequences of `seq` rows that keeps the softmax
// probabilities p [batch x n_heads x seq x seq] for the backward pass (the engine's kernel
// computes the same scores with the same sgemm and exponentials, but keeps none).
//   q, out: [batch*seq x n_heads*hd]; k, v: [batch*seq x n_kv*hd]
void attention_forward(const float* q, const float* k, const float* v, float* p, float* out, int64_t batch,
                       int64_t seq, int64_t n_heads, int64_t n_kv, int64_t hd, ThreadPool& pool);
// Gradients of q, k, v from dout, given the kept p (dq, dk, dv overwritten). A kv head's
// gradient sums over the query heads of its group, one task per (sequence, kv head).
void attention_backward(const float* q, const float* k, const float* v, const float* p, const float* dout,
                        float* dq, float* dk, float* dv, int64_t batch, int64_t seq, int64_t n_heads, int64_t n_kv,
                        int64_t hd, ThreadPool& pool);

// SwiGLU's backward: h = silu(g) * u. dg = dh * u * silu'(g), du = dh * silu(g), with
// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
void swiglu_backward(const float* g, const float* u, const float* dh, float* dg, float* du, int64_t count,
                     ThreadPool& pool);

// Cross-entropy of rows of logits (n x vocab) against targets (-1 = not scored): returns the
// summed loss (double) and overwrites logits with d(sum loss * scale)/d logits = scale (p - onehot)
// (rows without a target get zeros). A target outside the vocabulary is the caller's check.
double cross_entropy_rows(float* logits, const int32_t* targets, int64_t n, int64_t vocab, float scale,
                          ThreadPool& pool);

// KL(P_teacher || P_student) of rows of student logits against the teacher's logits (n x vocab
// each), rows with target -1 not scored: returns the summed divergence (double) and overwrites
// logits with d(sum KL * scale)/d logits = scale (softmax(student) - softmax(teacher)).
double kl_rows(float* logits, const float* teacher, const int32_t* targets, int64_t n, int64_t vocab, float scale,
               ThreadPool& pool);

}  // namespace bitsmith::train::detail
