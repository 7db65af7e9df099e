// QAT (qat.h): algo's side of quantization-aware fine-tuning. The training itself is train's
// (run_training with per-tensor fake quantization and, for --distill, a float teacher); this
// file turns a quantize request into that run and the trained weights into the model to write.
#include "qat.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "bitsmith/train/trainer.h"

namespace bitsmith::algo {

namespace {

train::Weights deep_copy(const train::Weights& w) {
  train::Weights c = w.zeros_like();
  for (size_t i = 0; i < w.params().size(); ++i) {
    std::memcpy(c.params()[i].data(), w.params()[i].data(), static_cast<size_t>(w.params()[i].value.nbytes()));
  }
  return c;
}

}  // namespace

Status run_qat(const Model& model, const SchemeFor& scheme_for, const MethodOptions& opt,
               const std::vector<std::vector<int32_t>>& segs, OverlayModel* ov, std::vector<std::string>* notes) {
  const QatOptions& q = opt.qat;
  if (segs.empty()) return invalid_argument("qat: no calibration segments");
  const auto seqlen = static_cast<int64_t>(segs.front().size());
  if (seqlen < 2) return invalid_argument("qat: --calib-seqlen {} leaves no token to predict (at least 2)", seqlen);
  BITSMITH_ASSIGN_OR_RETURN(train::Weights w, train::Weights::load(model));
  train::TrainConfig c;
  c.steps = q.steps > 0 ? q.steps : kQatSteps;
  c.lr = q.lr > 0 ? q.lr : kQatLr;
  c.min_lr = c.lr / 10;
  c.warmup = c.steps / 10;
  c.batch = std::min<int64_t>(q.batch > 0 ? q.batch : kQatBatch, static_cast<int64_t>(segs.size()));
  c.seq = seqlen - 1;
  c.seed = opt.calib.seed;
  c.adam.weight_decay = 0;  // fine-tuning from trained weights: no pull towards zero
  c.clip = 1.0;
  c.eval_batches = 0;  // the calibration text is for training; evaluate on another text
  for (const auto& p : w.params()) {
    if (p.value.shape().rank() != 2) continue;
    if (const quant::Scheme* s = scheme_for(p.name); s != nullptr) c.qat_schemes[p.name] = s;
  }
  if (c.qat_schemes.empty()) return invalid_argument("qat: the plan quantizes no matrix of {}", model.path());
  // A safetensors output shares nvfp4's global scale across fused groups (prepare_write hands
  // the groups' amax over for exactly those outputs): train through the same scales.
  c.qat_fused_global_scales = !opt.shared_amax.empty();
  // Distillation's teacher: the unquantized model, frozen.
  train::Weights teacher;
  if (q.distill) {
    teacher = deep_copy(w);
    c.teacher = &teacher;
  }
  train::TrainState state(std::move(w), c.adam);
  train::TokenStreams data;
  data.segments = segs;
  // Each segment starts with BOS, as every evaluation chunk does (llama-imatrix does the same).
  const Vocabulary& vocab = model.vocabulary();
  if (vocab.add_bos && vocab.bos_id >= 0 && vocab.bos_id < state.weights.hparams().vocab_size) {
    for (auto& s : data.segments) s.front() = vocab.bos_id;
  }
  auto sum = train::run_training(state, data, c, {});
  if (!sum.ok()) {
    // The trainer's divergence message speaks of checkpoints; quantize writes none, and nothing.
    std::string msg = sum.status().message();
    if (auto at = msg.find(" (no checkpoint of this run was written yet)"); at != std::string::npos) {
      msg.replace(at, std::string::npos, ": nothing was written");
    }
    return Status(sum.status().code(), "qat: " + msg);
  }
  const auto& curve = state.curve;
  notes->push_back(fmt::format("{} steps of {} x {} tokens ({}), lr {:.2g} warm-up {} cosine to {:.2g}: loss {:.4f} "
                               "(step 1) -> {:.4f} (step {}), {:.1f} s, {:.0f} tokens/s",
                               c.steps, c.batch, c.seq,
                               q.distill ? "KL divergence to the float model" : "cross-entropy on the text", c.lr,
                               c.warmup, c.min_lr, curve.front().loss, curve.back().loss, curve.back().step,
                               sum->seconds, sum->tokens_per_s));
  for (auto& p : state.weights.params()) ov->replace(p.name, std::move(p.value));
  return Status::Ok();
}

}  // namespace bitsmith::algo
