// AdamW (decoupled weight decay, Loshchilov & Hutter) over Weights, the learning-rate schedule
// (linear warm-up, then cosine decay to a floor) and gradient clipping by the global L2 norm.
#pragma once

#include <cstdint>
#include <string>

#include "bitsmith/train/weights.h"

namespace bitsmith::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  // Decays matrices (embeddings and linears) only: norms and biases are not pulled to zero
  // (llama2.c's and nanoGPT's choice).
  double weight_decay = 0.1;
};

// Linear warm-up over `warmup` steps to `lr`, then cosine decay to `min_lr` at `total` steps
// (constant min_lr after). Steps count from 0.
struct LrSchedule {
  double lr = 3e-4;
  double min_lr = 3e-5;
  int64_t warmup = 0;
  int64_t total = 1;
  double at(int64_t step) const;
};

class AdamW {
 public:
  AdamW(const Weights& like, AdamWOptions o);
  // One update with bias-corrected moments; `t` is the 1-based update count.
  void step(Weights& w, const Weights& grads, double lr, int64_t t);
  // The mutable moments (what a checkpoint saves and a resume restores).
  Weights& first_moment() { return m_; }
  Weights& second_moment() { return v_; }
  const Weights& first_moment() const { return m_; }
  const Weights& second_moment() const { return v_; }
  const AdamWOptions& options() const { return o_; }
 private:
  AdamWOptions o_;
  Weights m_, v_;
};

// The global L2 norm of every gradient; when above max_norm (> 0) every gradient is scaled by
// max_norm / norm. Returns the norm before clipping.
double clip_grad_norm(Weights& grads, double max_norm);

// The first tensor holding a NaN or Inf, as "name[element]", or "" when every value is finite.
std::string first_non_finite(const Weights& w);

}  // namespace bitsmith::train
