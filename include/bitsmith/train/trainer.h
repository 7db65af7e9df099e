// The training loop: micro-batches of random windows of a token stream, the backward pass,
// gradient clipping, AdamW under a warm-up + cosine schedule, evaluation on held-out tokens every
// N steps, checkpoints through a hook (the caller writes the model file; this module writes the
// optimizer state beside it), and divergence stopped with the step and tensor named.
//
// Deterministic: the windows of step s depend only on (seed, s), so a run resumed from a
// checkpoint takes the same batches, and reaches the same weights, as one that never stopped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/train/backward.h"
#include "bitsmith/train/optimizer.h"
#include "bitsmith/train/weights.h"

namespace bitsmith::train {

struct TrainConfig {
  int64_t steps = 1000;     // optimizer updates in all (a resumed run continues to this count)
  int64_t stop_at = 0;      // stop after this update (a checkpoint is written; the schedule still
                            // runs to `steps`, so a resume continues it); 0 = steps
  int64_t batch = 8;        // sequences per micro-batch
  int64_t seq = 128;        // tokens per sequence
  int64_t accumulate = 1;   // micro-batches summed per update
  uint64_t seed = 1337;
  double lr = 3e-4, min_lr = 3e-5;
  int64_t warmup = 0;
  AdamWOptions adam;
  double clip = 1.0;          // global gradient norm; 0 = no clipping
  int64_t eval_every = 100;   // 0 = evaluate only at the end
  int64_t eval_batches = 4;   // held-out micro-batches per evaluation; 0 = no evaluation at all
  int64_t checkpoint_every = 0;  // 0 = only at the end
  // Quantization-aware training: every pass runs on the block linears fake-quantized to this
  // scheme (quantize then dequantize, quant's RTN), the gradients flow straight through to the
  // float32 master weights (the straight-through estimator), and the held-out loss is the
  // quantized model's. Null = plain training. Norms and embeddings stay float32.
  const quant::Scheme* qat_scheme = nullptr;
  // QAT with a scheme per tensor (the plan `quantize` writes: fallbacks included), by canonical
  // name; tensors not named stay float32. Used instead of qat_scheme when not empty.
  std::map<std::string, const quant::Scheme*> qat_schemes;
  // With qat_schemes: a tensor-level scale (nvfp4's global scale) is shared by each fused group
  // (core's fused_group_of: q/k/v, gate/up), as io writes safetensors.
  bool qat_fused_global_scales = false;
  // Distillation: the loss is the KL divergence from this model's logits on the same tokens
  // (KL(P_teacher || P_student), backward.h's Batch::teacher_logits), the held-out loss too.
  // Null = cross-entropy on the text. Must outlive the run; it runs in float32.
  const Weights* teacher = nullptr;
};

// Tokens to train on and held-out tokens to evaluate on.
struct TokenStreams {
  std::vector<int32_t> train, val;
  // Fixed training sequences of seq + 1 tokens each (QAT's calibration segments), used instead
  // of random windows of `train` when not empty: every epoch visits each once, in an order
  // shuffled from (seed, epoch).
  std::vector<std::vector<int32_t>> segments;
};
// The last `val_fraction` of the tokens held out (0 < val_fraction < 1).
TokenStreams split_tokens(std::vector<int32_t> tokens, double val_fraction);
// Refuses streams too short for the configuration: a train stream shorter than one micro-batch
// (batch x seq + 1 tokens) or a held-out stream shorter than one sequence (seq + 1).
Status check_streams(const TokenStreams& s, const TrainConfig& c);

struct CurvePoint {
  int64_t step = 0;           // 1-based: updates done
  double loss = 0;            // mean training loss of the step's micro-batches
  double lr = 0;
  double grad_norm = 0;       // before clipping
  double tokens_per_s = 0;
  double seconds = 0;         // since the run (or the resumed part) started
  double val_loss = -1;       // held-out loss at this step, -1 when not evaluated
};

// Everything a checkpoint holds: weights, optimizer moments, updates done, the curve so far.
struct TrainState {
  Weights weights;
  AdamW optimizer;
  int64_t step = 0;
  std::vector<CurvePoint> curve;
  explicit TrainState(Weights w, AdamWOptions o = {}) : weights(std::move(w)), optimizer(weights, o) {}
};

struct TrainHooks {
  // After every update (the progress line).
  std::function<void(const CurvePoint&, int64_t steps_total)> progress;
  // Every checkpoint_every updates and at the end, with the state after the update; an error
  // stops the run.
  std::function<Status(const TrainState&)> checkpoint;
};

struct TrainSummary {
  int64_t steps_run = 0;
  double final_loss = 0, final_val_loss = -1;
  double seconds = 0, tokens_per_s = 0;
  uint64_t activation_bytes = 0;  // the most one pass held (backward.h)
};

// Runs updates state.step .. cfg.steps - 1. Errors: streams too short, a batch the model cannot
// take, a hook's error, and divergence: a non-finite loss or gradient stops the run with the
// step and the first tensor named (kOutOfRange), after the last good checkpoint.
Result<TrainSummary> run_training(TrainState& state, const TokenStreams& data, const TrainConfig& cfg,
                                  const TrainHooks& hooks, const PassOptions& pass = {});

// The weights a QAT pass runs on: a copy of `w` with every block linear fake-quantized to
// `scheme` (errors: a shape the scheme cannot take, naming the tensor).
Status fake_quantize_linears(const Weights& w, const quant::Scheme& scheme, Weights* out);
// The same with a scheme per tensor (TrainConfig::qat_schemes); tensors not in the map are copied.
// fused_global_scales: TrainConfig::qat_fused_global_scales.
Status fake_quantize_tensors(const Weights& w, const std::map<std::string, const quant::Scheme*>& schemes,
                             Weights* out, bool fused_global_scales = false);

// The held-out loss: eval_batches micro-batches of consecutive windows from the stream's start.
Result<double> held_out_loss(const Weights& w, const std::vector<int32_t>& val, const TrainConfig& cfg,
                             const PassOptions& pass = {});

// The optimizer state beside a checkpoint (OUT.trainstate): a JSON header (updates done, the
// curve, each tensor's name and shape, a hash of the weights it belongs to) and the AdamW
// moments. Written atomically. read_train_state refuses a file whose tensors or weight hash do
// not match `state.weights` (another architecture, or a checkpoint it was not written with).
Status write_train_state(const std::string& path, const TrainState& state);
Status read_train_state(const std::string& path, TrainState& state);
// A 64-bit FNV-1a of every weight's bytes in order.
uint64_t weights_hash(const Weights& w);

// The loss curve as JSON ({"points": [...]}) or CSV (step,loss,lr,grad_norm,tokens_per_s,seconds,val_loss).
std::string curve_json(const std::vector<CurvePoint>& curve);
std::string curve_csv(const std::vector<CurvePoint>& curve);

}  // namespace bitsmith::train
