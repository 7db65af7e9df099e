// The forward and backward pass of the Llama decoder infer's engine runs (embedding, RMSNorm,
// attention with RoPE and GQA, SwiGLU, tied or separate output, cross-entropy), in float32.
//
// Memory is bounded by one layer: the forward keeps only each layer's input (the residual stream,
// batch x seq x dim floats per layer); the backward runs the layers last to first, recomputing
// one layer's internals (norms, q/k/v, attention probabilities, SwiGLU) from its kept input just
// before differentiating it. The head's logits go a slice of rows at a time, never all
// [tokens x vocab] at once. Cost: one more forward pass of the decoder layers per step.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/train/weights.h"

namespace bitsmith::train {

// One micro-batch: `batch` sequences of `seq` tokens each, row-major; targets[i] is the token
// that should follow tokens[i], or -1 where nothing is scored. Every sequence starts at position 0.
struct Batch {
  std::span<const int32_t> tokens;
  std::span<const int32_t> targets;
  int64_t batch = 1;
  int64_t seq = 0;
  // Distillation (QAT): a teacher's logits of the same tokens (batch*seq x vocab). When given,
  // the loss of a scored row (target >= 0; the target's value is not used) is the KL divergence
  // KL(softmax(teacher) || softmax(student)), whose gradient w.r.t. the student's logits is
  // softmax(student) - softmax(teacher), averaged over the scored rows like the cross-entropy.
  std::span<const float> teacher_logits = {};
};

// Which operand of a linear layer's three matrix products a precision recipe is asked to cast.
// Forward Y = X W^T reduces over the input features; the input gradient dX = dY W over the
// output features; the weight gradient dW = dY^T X over the tokens. Block-scaled formats
// (MXFP8, NVFP4) put their blocks along the reduction dimension, so each product gets its own
// cast: `along_rows` = blocks run along a row of the operand as stored (row-major rows x cols).
enum class Operand : uint8_t {
  kForwardInput,   // X for Y = X W^T          (along rows)
  kForwardWeight,  // W for Y = X W^T          (along rows)
  kDgradGrad,      // dY for dX = dY W         (along rows)
  kDgradWeight,    // W for dX = dY W          (along columns)
  kWgradGrad,      // dY for dW = dY^T X       (along columns)
  kWgradInput,     // X for dW = dY^T X        (along columns)
};
inline constexpr int kOperands = 6;
std::string_view operand_name(Operand op);

// A linear layer: "blk.3.attn_q.weight" or "output.weight".
struct LinearId {
  int64_t layer = -1;
  std::string_view name;  // canonical weight name
};

// What a low-precision training recipe does to the operands of every linear's matrix products
// (precision.h implements bf16, fp8 delayed/current scaling, mxfp8, nvfp4). cast() replaces
// data (rows x cols, row-major) by the values the recipe's quantize-dequantize gives.
// `recompute` is true when the backward pass reruns a layer's forward: a stateful recipe
// (delayed scaling's amax history) must then not record the same tensor twice.
class MatmulPrecision {
 public:
  virtual ~MatmulPrecision() = default;
  // Whether the recipe casts this linear at all (recipes keep chosen layers in float32).
  virtual bool applies(const LinearId& id) const = 0;
  virtual Status cast(const LinearId& id, Operand op, float* data, int64_t rows, int64_t cols, bool recompute) = 0;
  // Called by the trainer before each optimizer step's passes (delayed scaling rolls its amax
  // history; stochastic rounding draws fresh randomness). Evaluation passes come between steps.
  virtual void begin_step(int64_t /*step*/) {}
  // Off while the trainer evaluates held-out text: casts still apply, but no amax history or
  // statistic records them (Transformer Engine updates its history in training steps only).
  virtual void set_recording(bool /*on*/) {}
};

struct PassOptions {
  ThreadPool* pool = nullptr;                // null = ThreadPool::global()
  MatmulPrecision* precision = nullptr;      // null = float32 throughout
  int64_t head_rows = 256;                   // logits rows computed at a time
};

struct PassResult {
  double loss = 0;            // mean cross-entropy (or KL divergence to the teacher) in nats over the scored targets
  int64_t scored = 0;         // targets that counted
  uint64_t activation_bytes = 0;  // the most activation memory the pass held at once
};

// Forward and backward: the mean loss, and grads += d loss / d parameter (the caller zeroes
// grads; accumulating lets micro-batches add up). grads must have w's layout (zeros_like).
// Errors: token or target ids outside the vocabulary, sizes that do not match.
Result<PassResult> loss_and_gradients(const Weights& w, const Batch& b, Weights* grads, const PassOptions& o = {});

// Forward only: the mean loss (evaluation on held-out text), with the same bounded memory.
Result<PassResult> evaluate_loss(const Weights& w, const Batch& b, const PassOptions& o = {});

// Logits of every position (batch*seq x vocab, row-major): the tests compare the trainer's
// forward with infer's engine on it.
Status compute_logits(const Weights& w, const Batch& b, std::vector<float>* logits, const PassOptions& o = {});

// Where a forward pass first produces a NaN or Inf (a diverged run's diagnosis): the tensor
// whose output it is ("blk.2.attn_output.weight", "blk.2.ffn_down.weight", "output.weight" for
// the logits), or "" when the whole pass is finite.
std::string locate_non_finite(const Weights& w, const Batch& b, const PassOptions& o = {});

// Activation bytes one pass holds at most for this shape: the kept residual stream of every
// layer plus one layer's internals plus one slice of logits (part 5's measured figure; the
// advisor's training estimate is compared against it).
uint64_t activation_bytes(const LlamaHyperparameters& hp, int64_t batch, int64_t seq, int64_t head_rows = 256);

}  // namespace bitsmith::train
