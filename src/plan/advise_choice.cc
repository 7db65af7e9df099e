// Choosing among the advisor's alternatives by priority, and saying why in words.
//   quality:  the highest precision that fits (its KV cache included);
//   balanced: an 8-bit format if one fits with kBalancedHeadroom of memory free, else the best
//             4-bit format that fits, else the highest precision that fits;
//   memory:   the fewest bytes among formats of 4 bits or more (below 4 bits the loss is large),
//             else the highest precision that fits.
// Ties go to the path the device runs best (native tensor-core math, then weight-only kernels,
// then emulation; on a CPU llama.cpp's block types first), then to the candidate list's order.
#include "advise_choice.h"

#include <fmt/format.h>

#include <functional>

namespace bitsmith::plan {

namespace {

std::string gb(double bytes) { return fmt::format("{:.2f} GB", bytes / 1e9); }

int path_rank(const Alternative& a, const Device& d) {
  if (d.cpu) return a.candidate.gguf ? 0 : 1;  // llama.cpp's block types are the CPU runtime's
  switch (a.path) {
    case ExecPath::kNative: return 0;
    case ExecPath::kWeightOnly:
    case ExecPath::kUnknown: return 1;
    case ExecPath::kEmulated: return 2;
  }
  return 2;
}

// The first index that `keep` accepts and no later accepted one beats under `better`.
int pick(const Advice& advice, const std::function<bool(const Alternative&)>& keep,
         const std::function<bool(const Alternative&, const Alternative&)>& better) {
  int best = -1;
  for (size_t i = 0; i < advice.alternatives.size(); ++i) {
    const Alternative& a = advice.alternatives[i];
    if (!keep(a)) continue;
    if (best < 0 || better(a, advice.alternatives[static_cast<size_t>(best)])) best = static_cast<int>(i);
  }
  return best;
}

std::string speed_text(const Alternative& a, Task task) {
  std::string out;
  if (task == Task::kInference) {
    if (a.decode_tokens_per_s > 0) out += fmt::format("decode <= {:.1f} tok/s", a.decode_tokens_per_s);
    if (a.prefill_tokens_per_s > 0) {
      out += fmt::format("{}prefill <= {:.0f} tok/s", out.empty() ? "" : ", ", a.prefill_tokens_per_s);
    }
  } else if (a.prefill_tokens_per_s > 0) {
    out = fmt::format("training <= {:.0f} tok/s", a.prefill_tokens_per_s);
  }
  return out.empty() ? "" : " (" + out + ", roofline bounds)";
}

std::string describe(const Alternative& a, const AdviceRequest& r) {
  std::string parts = gb(a.weight_bytes) + (r.task == Task::kInference ? " weights" : " base/weights");
  if (r.task == Task::kInference) parts += " + " + gb(a.kv_cache_bytes) + " KV cache";
  parts += " + " + gb(a.activation_bytes) + " activations";
  const double free_pct = 100.0 * a.headroom_bytes / r.device.bytes;
  return fmt::format("{} at {:.4g} bits per weight needs {} + runtime = {} of {}'s {} ({} free, {:.0f}%); {}{}",
                     a.candidate.label, a.candidate.bits_per_weight, parts, gb(a.total_bytes), r.device.name,
                     gb(r.device.bytes), gb(a.headroom_bytes), free_pct, a.path_note, speed_text(a, r.task));
}

std::string rec_reason_prefix(const Advice& advice) {
  const AdviceRequest& r = advice.request;
  if (advice.alternatives.size() == 1) return "";
  const Alternative& rec = advice.alternatives[static_cast<size_t>(advice.recommended)];
  switch (r.priority) {
    case Priority::kQuality: return "Priority quality: the highest precision that fits. ";
    case Priority::kMemory:
      return rec.candidate.precision_bits >= 4 ? "Priority memory: the fewest bytes at 4 bits or more. "
                                               : "Priority memory: nothing of 4 bits or more fits; the largest that does. ";
    case Priority::kBalanced:
      if (rec.candidate.precision_bits >= 8) {
        return fmt::format("Priority balanced: an 8-bit format fits with at least {:.0f}% of memory free. ",
                           100 * kBalancedHeadroom);
      }
      if (rec.candidate.precision_bits >= 4) {
        return fmt::format("Priority balanced: no 8-bit format leaves {:.0f}% of memory free, so the best 4-bit "
                           "format that fits. ", 100 * kBalancedHeadroom);
      }
      return "Priority balanced: nothing of 4 bits or more fits; the largest that does (expect a large loss). ";
  }
  return "";
}

void reason_inference(Advice* advice) {
  const AdviceRequest& r = advice->request;
  const auto& alts = advice->alternatives;
  std::string text;
  for (const Alternative& a : alts) {
    if (a.candidate.precision_bits < 16) continue;
    text = fmt::format("In {} the weights alone take {}; with a {}-token {} KV cache for {} sequence{}, activations "
                       "and runtime it needs {}, which {} {}'s {}. ",
                       a.candidate.label, gb(a.weight_bytes), r.context, kv_cache_name(r.kv_cache), r.batch,
                       r.batch == 1 ? "" : "s", gb(a.total_bytes), a.fits ? "fits" : "does not fit", r.device.name,
                       gb(r.device.bytes));
    break;
  }
  if (advice->recommended < 0) {
    int smallest = 0;
    for (size_t i = 0; i < alts.size(); ++i) {
      if (alts[i].total_bytes < alts[static_cast<size_t>(smallest)].total_bytes) smallest = static_cast<int>(i);
    }
    const Alternative& s = alts[static_cast<size_t>(smallest)];
    advice->reasoning = text + fmt::format("Nothing fits: the smallest, {}, needs {} of {}. Use a device with more "
                                           "memory, a shorter --context or smaller --batch, a smaller KV cache "
                                           "(--kv-cache fp8), or split the model over several devices.",
                                           s.candidate.label, gb(s.total_bytes), gb(r.device.bytes));
    return;
  }
  const Alternative& rec = alts[static_cast<size_t>(advice->recommended)];
  advice->reasoning = text + rec_reason_prefix(*advice) + describe(rec, r) + ".";
  if (rec.path == ExecPath::kEmulated) {
    advice->reasoning += fmt::format(" {} has no {} units: this format saves memory and bandwidth, not compute.",
                                     r.device.name, compute_format_name(rec.candidate.format));
  }
  // The fastest decode that fits, when it is another format (what --priority memory would trade).
  const int fastest = pick(
      *advice, [](const Alternative& a) { return a.fits && a.candidate.precision_bits >= 4 && a.decode_tokens_per_s > 0; },
      [&r](const Alternative& a, const Alternative& b) {
        if (a.decode_tokens_per_s != b.decode_tokens_per_s) return a.decode_tokens_per_s > b.decode_tokens_per_s;
        return path_rank(a, r.device) < path_rank(b, r.device);
      });
  if (fastest >= 0 && fastest != advice->recommended && r.priority != Priority::kMemory) {
    const Alternative& f = alts[static_cast<size_t>(fastest)];
    advice->reasoning += fmt::format(" For speed, {} ({}) bounds decode at {:.1f} tok/s against {:.1f}.",
                                     f.candidate.label, gb(f.total_bytes), f.decode_tokens_per_s, rec.decode_tokens_per_s);
  }
}

void reason_training(Advice* advice) {
  const AdviceRequest& r = advice->request;
  const auto& alts = advice->alternatives;
  std::string what;
  switch (r.task) {
    case Task::kTraining:
      what = "Full training in bf16 mixed precision keeps bf16 weights and gradients, fp32 master weights and "
             "AdamW's two fp32 moments: 16 bytes per parameter, 8x the bf16 weights, before activations. ";
      break;
    case Task::kLora:
    case Task::kQlora:
      what = fmt::format("{} freezes the base and trains rank-{} adapters on every attention and MLP projection "
                         "(fp32 adapters, gradients and AdamW state: 16 bytes per adapter parameter). ",
                         r.task == Task::kLora ? "LoRA" : "QLoRA", r.lora_rank);
      break;
    case Task::kInference: break;
  }
  if (advice->recommended < 0) {
    const Alternative& a = alts.front();
    advice->reasoning = what + fmt::format("Nothing fits: {} needs {} of {}'s {} even with activation checkpointing "
                                           "at {} tokens x batch {}.", a.candidate.label, gb(a.total_bytes),
                                           r.device.name, gb(r.device.bytes), r.context, r.batch);
    if (r.task == Task::kTraining) advice->reasoning += " Try --task lora or --task qlora, or several devices.";
    if (r.task == Task::kLora) advice->reasoning += " Try --task qlora (a 4-bit base).";
    return;
  }
  const Alternative& rec = alts[static_cast<size_t>(advice->recommended)];
  advice->reasoning = what + rec_reason_prefix(*advice) + describe(rec, r) + ".";
  advice->reasoning += rec.checkpointing ? " Activations are recomputed (checkpointing): without it they would not fit."
                                         : " Activations are kept (no checkpointing needed).";
}

}  // namespace

void choose(Advice* advice) {
  const AdviceRequest& r = advice->request;
  const Device& d = r.device;
  auto highest = [&d](const Alternative& a, const Alternative& b) {
    if (a.candidate.precision_bits != b.candidate.precision_bits) return a.candidate.precision_bits > b.candidate.precision_bits;
    if (path_rank(a, d) != path_rank(b, d)) return path_rank(a, d) < path_rank(b, d);
    return a.candidate.bits_per_weight > b.candidate.bits_per_weight;  // finer blocks, smaller error
  };
  auto fits = [](const Alternative& a) { return a.fits; };
  int chosen = -1;
  switch (r.priority) {
    case Priority::kQuality: chosen = pick(*advice, fits, highest); break;
    case Priority::kBalanced: {
      const double need = kBalancedHeadroom * d.bytes;
      chosen = pick(*advice,
                    [need](const Alternative& a) {
                      return a.fits && a.headroom_bytes >= need && a.candidate.precision_bits >= 8 &&
                             a.candidate.precision_bits < 16;
                    },
                    [&d](const Alternative& a, const Alternative& b) {
                      if (path_rank(a, d) != path_rank(b, d)) return path_rank(a, d) < path_rank(b, d);
                      return a.candidate.bits_per_weight < b.candidate.bits_per_weight;  // fewer bytes: faster
                    });
      if (chosen < 0) {
        chosen = pick(*advice, [](const Alternative& a) { return a.fits && a.candidate.precision_bits == 4; },
                      [&d](const Alternative& a, const Alternative& b) { return path_rank(a, d) < path_rank(b, d); });
      }
      if (chosen < 0) chosen = pick(*advice, fits, highest);
      break;
    }
    case Priority::kMemory:
      chosen = pick(*advice, [](const Alternative& a) { return a.fits && a.candidate.precision_bits >= 4; },
                    [&d](const Alternative& a, const Alternative& b) {
                      if (a.candidate.bits_per_weight != b.candidate.bits_per_weight) {
                        return a.candidate.bits_per_weight < b.candidate.bits_per_weight;
                      }
                      return path_rank(a, d) < path_rank(b, d);
                    });
      if (chosen < 0) chosen = pick(*advice, fits, highest);
      break;
  }
  advice->recommended = chosen;
  if (r.task == Task::kInference) {
    reason_inference(advice);
  } else {
    reason_training(advice);
  }

  auto& notes = advice->notes;
  notes.push_back("model shape: " + r.shape.source);
  notes.push_back("speeds are roofline upper bounds: decode = batch x bandwidth / (weights + KV cache bytes read per "
                  "step, at the full context); prefill and training = peak dense FLOP/s of the format the device "
                  "multiplies / FLOPs per token (2 x params + causal attention; training x3, adapters x2, "
                  "checkpointing +1). Real engines reach a fraction of them.");
  if (r.task == Task::kInference) {
    notes.push_back("every weight is counted at the format's true bits per weight (scales included); engines often "
                    "keep the embedding and output head at higher precision.");
  }
  if (d.unified_memory) {
    notes.push_back(fmt::format("{}'s memory is shared with the CPU and the OS: the runtime overhead of {} allows for "
                                "that.", d.name, gb(d.runtime_overhead)));
  }
  if (r.shape.context_length > 0 && r.context > r.shape.context_length) {
    notes.push_back(fmt::format("context {} exceeds the model's trained context {}.", r.context, r.shape.context_length));
  }
  std::string emulated;
  for (const Alternative& a : advice->alternatives) {
    if (a.path == ExecPath::kEmulated) emulated += (emulated.empty() ? "" : ", ") + a.candidate.label;
  }
  if (!emulated.empty()) {
    notes.push_back(fmt::format("emulated on {}: {} (no tensor cores for their format: weights are dequantized and "
                                "multiplied in fp16, saving memory and bandwidth but not compute).", d.name, emulated));
  }
  if (d.bandwidth <= 0 && r.task == Task::kInference) {
    notes.push_back("no bandwidth figure for this device: give --bandwidth for decode bounds.");
  }
  if (!d.has_compute_figures()) notes.push_back("no compute figures for this device: name a known --device for prefill bounds.");
}

}  // namespace bitsmith::plan
