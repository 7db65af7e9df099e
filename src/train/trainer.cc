#include "bitsmith/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/core/hashing.h"

namespace bitsmith::train {

namespace {

// Micro-batch `micro` of update `step`: `batch` windows of seq + 1 tokens at random starts,
// drawn from (seed, step, micro) alone.
void sample_windows(const std::vector<int32_t>& stream, const TrainConfig& c, int64_t step, int64_t micro,
                    std::vector<int32_t>& tokens, std::vector<int32_t>& targets) {
  const auto starts = static_cast<uint64_t>(static_cast<int64_t>(stream.size()) - c.seq);
  tokens.resize(static_cast<size_t>(c.batch * c.seq));
  targets.resize(tokens.size());
  uint64_t state = mix64(c.seed ^ mix64(static_cast<uint64_t>(step) * 0x10001ull + static_cast<uint64_t>(micro)));
  for (int64_t b = 0; b < c.batch; ++b) {
    state = mix64(state);
    const auto start = static_cast<size_t>(state % starts);
    for (int64_t t = 0; t < c.seq; ++t) {
      tokens[static_cast<size_t>(b * c.seq + t)] = stream[start + static_cast<size_t>(t)];
      targets[static_cast<size_t>(b * c.seq + t)] = stream[start + static_cast<size_t>(t) + 1];
    }
  }
}

// Micro-batch `micro` of update `step` from fixed segments: the k-th sequence of the run is
// segment order_e[k mod count] of epoch e = k / count, order_e a shuffle seeded by (seed, e).
void sample_segments(const std::vector<std::vector<int32_t>>& segs, const TrainConfig& c, int64_t step, int64_t micro,
                     std::vector<int32_t>& tokens, std::vector<int32_t>& targets) {
  const auto count = static_cast<int64_t>(segs.size());
  tokens.resize(static_cast<size_t>(c.batch * c.seq));
  targets.resize(tokens.size());
  std::vector<int64_t> order;
  int64_t epoch = -1;
  for (int64_t b = 0; b < c.batch; ++b) {
    const int64_t k = (step * c.accumulate + micro) * c.batch + b;
    if (k / count != epoch) {
      epoch = k / count;
      order.resize(static_cast<size_t>(count));
      for (int64_t i = 0; i < count; ++i) order[static_cast<size_t>(i)] = i;
      uint64_t state = mix64(c.seed ^ mix64(0x5e9ull + static_cast<uint64_t>(epoch)));
      for (int64_t i = count - 1; i > 0; --i) {  // Fisher-Yates
        state = mix64(state);
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(state % static_cast<uint64_t>(i + 1))]);
      }
    }
    const auto& s = segs[static_cast<size_t>(order[static_cast<size_t>(k % count)])];
    for (int64_t t = 0; t < c.seq; ++t) {
      tokens[static_cast<size_t>(b * c.seq + t)] = s[static_cast<size_t>(t)];
      targets[static_cast<size_t>(b * c.seq + t)] = s[static_cast<size_t>(t) + 1];
    }
  }
}

// The teacher's logits of a batch (distillation), in float32 without a precision recipe.
Status teacher_logits(const TrainConfig& c, const Batch& b, const PassOptions& pass, std::vector<float>* out) {
  if (c.teacher == nullptr) return Status::Ok();
  PassOptions plain = pass;
  plain.precision = nullptr;
  return compute_logits(*c.teacher, b, out, plain);
}

void scale(Weights& g, float s) {
  for (auto& p : g.params()) {
    for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] *= s;
  }
}

void zero(Weights& g) {
  for (auto& p : g.params()) std::fill_n(p.data(), p.numel(), 0.0f);
}

}  // namespace

TokenStreams split_tokens(std::vector<int32_t> tokens, double val_fraction) {
  TokenStreams s;
  const auto keep = static_cast<size_t>(std::llround(static_cast<double>(tokens.size()) * (1.0 - val_fraction)));
  s.val.assign(tokens.begin() + static_cast<std::ptrdiff_t>(std::min(keep, tokens.size())), tokens.end());
  tokens.resize(std::min(keep, tokens.size()));
  s.train = std::move(tokens);
  return s;
}

Status check_streams(const TokenStreams& s, const TrainConfig& c) {
  if (c.batch <= 0 || c.seq <= 0 || c.accumulate <= 0 || c.steps <= 0) {
    return invalid_argument("steps {}, batch {}, seq {}, accumulate {}: each must be positive", c.steps, c.batch, c.seq,
                            c.accumulate);
  }
  if (!s.segments.empty()) {
    for (size_t i = 0; i < s.segments.size(); ++i) {
      if (s.segments[i].size() != static_cast<size_t>(c.seq + 1)) {
        return invalid_argument("training segment {} has {} tokens, not seq + 1 = {}", i, s.segments[i].size(), c.seq + 1);
      }
    }
  }
  if (c.eval_batches == 0 && !s.segments.empty()) return Status::Ok();
  const auto need = static_cast<size_t>(c.batch * c.seq + 1);
  if (s.segments.empty() && s.train.size() < need) {
    return invalid_argument("the training text has {} tokens, shorter than one batch ({} x {} + 1 = {} tokens)",
                            s.train.size(), c.batch, c.seq, need);
  }
  if (s.val.size() < static_cast<size_t>(c.seq + 1)) {
    return invalid_argument("the held-out text has {} tokens, shorter than one sequence ({} + 1)", s.val.size(), c.seq);
  }
  return Status::Ok();
}

Status fake_quantize_linears(const Weights& w, const quant::Scheme& scheme, Weights* out) {
  if (out->params().size() != w.params().size()) *out = w.zeros_like();
  for (size_t i = 0; i < w.params().size(); ++i) {
    const Param& p = w.params()[i];
    Param& q = out->params()[i];
    const TensorName tn = parse_tensor_name(p.name);
    if (!is_block_linear(tn.category) || !tn.is_weight()) {
      std::copy_n(p.data(), p.numel(), q.data());
      continue;
    }
    const int64_t rows = p.value.shape().rows(), cols = p.value.shape().cols();
    Status st = scheme.check_shape(rows, cols);
    if (st.ok()) st = scheme.fake_quantize(p.data(), rows, cols, q.data());
    if (!st.ok()) return st.with_context(fmt::format("tensor '{}' ({})", p.name, scheme.name()));
  }
  return Status::Ok();
}

Status fake_quantize_tensors(const Weights& w, const std::map<std::string, const quant::Scheme*>& schemes,
                             Weights* out, bool fused_global_scales) {
  if (out->params().size() != w.params().size()) *out = w.zeros_like();
  // A fused group's shared amax (io's fused_group_amax over the current weights): groups of at
  // least two tensors whose schemes carry a global scale.
  std::map<std::string, float> group_amax;
  std::map<std::string, int> group_size;
  if (fused_global_scales) {
    for (const auto& p : w.params()) {
      auto it = schemes.find(p.name);
      if (it == schemes.end() || it->second == nullptr || !it->second->traits().global_scale) continue;
      const std::string g = fused_group_of(p.name);
      if (g.empty()) continue;
      float& a = group_amax[g];
      for (int64_t i = 0; i < p.numel(); ++i) {
        if (std::isfinite(p.data()[i])) a = std::max(a, std::fabs(p.data()[i]));
      }
      ++group_size[g];
    }
  }
  for (size_t i = 0; i < w.params().size(); ++i) {
    const Param& p = w.params()[i];
    Param& q = out->params()[i];
    auto it = schemes.find(p.name);
    if (it == schemes.end() || it->second == nullptr || p.value.shape().rank() != 2) {
      std::copy_n(p.data(), p.numel(), q.data());
      continue;
    }
    const int64_t rows = p.value.shape().rows(), cols = p.value.shape().cols();
    quant::QuantizeOptions opt;
    if (fused_global_scales && it->second->traits().global_scale) {
      const std::string g = fused_group_of(p.name);
      if (!g.empty() && group_size[g] >= 2) opt.shared_amax = group_amax[g];
    }
    Status st = it->second->check_shape(rows, cols);
    if (st.ok()) st = it->second->fake_quantize(p.data(), rows, cols, q.data(), opt);
    if (!st.ok()) return st.with_context(fmt::format("tensor '{}' ({})", p.name, it->second->name()));
  }
  return Status::Ok();
}

Result<double> held_out_loss(const Weights& w, const std::vector<int32_t>& val, const TrainConfig& cfg,
                             const PassOptions& pass) {
  const int64_t available = (static_cast<int64_t>(val.size()) - 1) / cfg.seq;
  const int64_t windows = std::min(available, cfg.eval_batches * cfg.batch);
  if (windows <= 0) return invalid_argument("the held-out text has {} tokens, fewer than one sequence", val.size());
  double total = 0;
  int64_t scored = 0;
  std::vector<int32_t> tokens, targets;
  std::vector<float> teacher;
  for (int64_t w0 = 0; w0 < windows; w0 += cfg.batch) {
    const int64_t n = std::min(cfg.batch, windows - w0);
    tokens.resize(static_cast<size_t>(n * cfg.seq));
    targets.resize(tokens.size());
    for (int64_t i = 0; i < n * cfg.seq; ++i) {
      const auto at = static_cast<size_t>(w0 * cfg.seq + i);
      tokens[static_cast<size_t>(i)] = val[at];
      targets[static_cast<size_t>(i)] = val[at + 1];
    }
    Batch b{tokens, targets, n, cfg.seq};
    BITSMITH_RETURN_IF_ERROR(teacher_logits(cfg, b, pass, &teacher));
    if (cfg.teacher != nullptr) b.teacher_logits = teacher;
    BITSMITH_ASSIGN_OR_RETURN(PassResult r, evaluate_loss(w, b, pass));
    total += r.loss * static_cast<double>(r.scored);
    scored += r.scored;
  }
  return total / static_cast<double>(scored);
}

Result<TrainSummary> run_training(TrainState& state, const TokenStreams& data, const TrainConfig& cfg,
                                  const TrainHooks& hooks, const PassOptions& pass) {
  BITSMITH_RETURN_IF_ERROR(check_streams(data, cfg));
  const LrSchedule schedule{cfg.lr, cfg.min_lr, cfg.warmup, cfg.steps};
  Weights grads = state.weights.zeros_like();
  // QAT: the passes run on `quantized`, refreshed from the master weights before every step.
  Weights quantized;
  auto pass_weights = [&]() -> Result<const Weights*> {
    if (!cfg.qat_schemes.empty()) {
      BITSMITH_RETURN_IF_ERROR(
          fake_quantize_tensors(state.weights, cfg.qat_schemes, &quantized, cfg.qat_fused_global_scales));
      return &quantized;
    }
    if (cfg.qat_scheme == nullptr) return &state.weights;
    BITSMITH_RETURN_IF_ERROR(fake_quantize_linears(state.weights, *cfg.qat_scheme, &quantized));
    return &quantized;
  };
  std::vector<int32_t> tokens, targets;
  std::vector<float> teacher;
  TrainSummary sum;
  const auto t_start = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  // A checkpoint is written once its weights are known good: the state after update k is saved
  // at step k + 1, when the forward on those weights has given a finite loss and finite
  // gradients (the optimizer has not yet moved them), so a diverging run never keeps the
  // weights that diverged. Only the run's last state is written right after its update.
  int64_t last_checkpoint = -1;
  bool checkpoint_due = false;
  auto write_checkpoint = [&]() -> Status {
    Status st = hooks.checkpoint(state);
    if (!st.ok()) return st.with_context(fmt::format("checkpoint at step {}", state.step));
    last_checkpoint = state.step;
    checkpoint_due = false;
    return Status::Ok();
  };
  auto kept = [&] {
    return last_checkpoint < 0 ? std::string("no checkpoint of this run was written yet")
                               : fmt::format("the last checkpoint, step {}, is kept", last_checkpoint);
  };
  const int64_t end = cfg.stop_at > 0 ? std::min(cfg.stop_at, cfg.steps) : cfg.steps;
  while (state.step < end) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t step = state.step;  // 0-based index of this update
    zero(grads);
    if (pass.precision != nullptr) pass.precision->begin_step(step);
    BITSMITH_ASSIGN_OR_RETURN(const Weights* run_w, pass_weights());
    double loss = 0;
    for (int64_t a = 0; a < cfg.accumulate; ++a) {
      if (data.segments.empty()) {
        sample_windows(data.train, cfg, step, a, tokens, targets);
      } else {
        sample_segments(data.segments, cfg, step, a, tokens, targets);
      }
      Batch b{tokens, targets, cfg.batch, cfg.seq};
      if (Status st = teacher_logits(cfg, b, pass, &teacher); !st.ok()) {
        return st.with_context(fmt::format("step {}, the teacher's logits", step + 1));
      }
      if (cfg.teacher != nullptr) b.teacher_logits = teacher;
      auto r = loss_and_gradients(*run_w, b, &grads, pass);
      if (!r.ok()) return r.status().with_context(fmt::format("step {}", step + 1));
      loss += r->loss / static_cast<double>(cfg.accumulate);
      sum.activation_bytes = std::max(sum.activation_bytes, r->activation_bytes);
    }
    if (!std::isfinite(loss)) {
      // Name where it broke: a weight already non-finite, else the first output that overflowed.
      std::string where = first_non_finite(state.weights);
      where = !where.empty() ? "the weight " + where + " is not finite"
                             : "the output of " + locate_non_finite(*run_w, Batch{tokens, targets, cfg.batch, cfg.seq}, pass) +
                                   " is the first to overflow";
      return out_of_range("step {}: the training loss is {} ({}): the run diverged ({})",
                          step + 1, std::isnan(loss) ? "NaN" : "Inf", where, kept());
    }
    if (cfg.accumulate > 1) scale(grads, 1.0f / static_cast<float>(cfg.accumulate));
    const std::string bad = first_non_finite(grads);
    if (!bad.empty()) {
      return out_of_range("step {}: the gradient of {} is not finite: the run diverged ({})", step + 1, bad, kept());
    }
    if (checkpoint_due) BITSMITH_RETURN_IF_ERROR(write_checkpoint());
    CurvePoint pt;
    pt.step = step + 1;
    pt.loss = loss;
    pt.grad_norm = clip_grad_norm(grads, cfg.clip);
    pt.lr = schedule.at(step);
    state.optimizer.step(state.weights, grads, pt.lr, step + 1);
    state.step = step + 1;
    const double step_s = seconds_since(t0);
    pt.tokens_per_s = static_cast<double>(cfg.batch * cfg.seq * cfg.accumulate) / std::max(step_s, 1e-9);
    const bool last = state.step == end;
    if (cfg.eval_batches > 0 && (last || (cfg.eval_every > 0 && state.step % cfg.eval_every == 0))) {
      if (pass.precision != nullptr) pass.precision->set_recording(false);
      auto eval_w = pass_weights();
      if (!eval_w.ok()) return eval_w.status();
      auto v = held_out_loss(**eval_w, data.val, cfg, pass);
      if (pass.precision != nullptr) pass.precision->set_recording(true);
      if (!v.ok()) return v.status().with_context(fmt::format("step {}, evaluation", state.step));
      if (!std::isfinite(*v)) {
        return out_of_range("step {}: the held-out loss is {}: the run diverged ({})", state.step, *v, kept());
      }
      pt.val_loss = *v;
      sum.final_val_loss = *v;
    }
    pt.seconds = seconds_since(t_start);
    state.curve.push_back(pt);
    ++sum.steps_run;
    sum.final_loss = loss;
    if (hooks.progress) hooks.progress(pt, cfg.steps);
    if (hooks.checkpoint && (last || (cfg.checkpoint_every > 0 && state.step % cfg.checkpoint_every == 0))) {
      checkpoint_due = true;
      if (last) BITSMITH_RETURN_IF_ERROR(write_checkpoint());
    }
  }
  sum.seconds = seconds_since(t_start);
  sum.tokens_per_s = sum.seconds > 0 ? static_cast<double>(sum.steps_run * cfg.batch * cfg.seq * cfg.accumulate) / sum.seconds : 0;
  return sum;
}

}  // namespace bitsmith::train
