// The advisor's alternatives: candidates from scheme traits, itemised memory per task, how the
// device runs each format, and roofline speed bounds. The choice among them is advise_choice.cc.
#include "bitsmith/plan/advise.h"

#include <fmt/format.h>

#include <cmath>

#include "bitsmith/plan/memory.h"
#include "advise_choice.h"

namespace bitsmith::plan {

namespace {

// "70B", "135M", "260K": a parameter count as people say it.
std::string count_text(double n) {
  if (n >= 1e9) return fmt::format("{:.4g}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.4g}M", n / 1e6);
  return fmt::format("{:.4g}K", n / 1e3);
}

std::string quality_note(double precision_bits) {
  if (precision_bits >= 16) return "reference precision";
  if (precision_bits >= 8) return "near-lossless";
  if (precision_bits >= 6) return "close to 8-bit";
  if (precision_bits >= 5) return "small loss";
  if (precision_bits >= 4) return "visible loss: calibrate (GPTQ/AWQ/imatrix)";
  if (precision_bits >= 3) return "large loss";
  return "severe loss: last resort";
}

// How `device` multiplies candidate `c`'s weights.
void set_path(const Candidate& c, const Device& device, Task task, Alternative* a) {
  if (!device.has_compute_figures()) {
    a->path = ExecPath::kUnknown;
    a->runs_as = c.format;
    a->path_note = "unknown (no compute figures for this device)";
    return;
  }
  const ComputeFormat fallback = device.native(ComputeFormat::kFp16) ? ComputeFormat::kFp16 : ComputeFormat::kFp32;
  if (task != Task::kInference) {
    // Training and adapters multiply in bf16 whatever the frozen base is stored in.
    a->path = c.precision_bits >= 16 ? ExecPath::kNative : ExecPath::kWeightOnly;
    a->runs_as = fallback;
    a->path_note = c.precision_bits >= 16 ? "bf16 math" : "base dequantized, bf16 math";
    return;
  }
  if (c.weight_only) {
    a->path = ExecPath::kWeightOnly;
    a->runs_as = c.gguf && device.native(ComputeFormat::kInt8) ? ComputeFormat::kInt8 : fallback;
    a->path_note = c.gguf ? "weight-only: int8 math (llama.cpp kernels)"
                          : fmt::format("weight-only: dequantized, {} math", compute_format_name(a->runs_as));
    return;
  }
  if (device.native(c.format)) {
    a->path = ExecPath::kNative;
    a->runs_as = c.format;
    a->path_note = fmt::format("native {}", compute_format_name(c.format));
    return;
  }
  a->path = ExecPath::kEmulated;
  a->runs_as = fallback;
  a->path_note = fmt::format("emulated: no {} units, {} math", compute_format_name(c.format),
                             compute_format_name(fallback));
}

void add(Alternative* a, std::string label, double bytes, std::string formula, bool counted = true) {
  a->items.push_back({std::move(label), bytes, counted, std::move(formula)});
  if (counted) a->total_bytes += bytes;
}

void inference_memory(const AdviceRequest& r, Alternative* a) {
  const ModelShape& s = r.shape;
  a->weight_bytes = s.params * a->candidate.bits_per_weight / 8;
  add(a, "weights", a->weight_bytes, fmt::format("{} params x {:.4g} bits / 8", count_text(s.params), a->candidate.bits_per_weight));
  a->kv_cache_bytes = kv_cache_bytes(s, r.context, r.batch, r.kv_cache);
  add(a, "KV cache", a->kv_cache_bytes,
      fmt::format("2 x {} layers x {} KV heads x {} head dim x {} context x {} batch x {:.4g} bytes ({})", s.n_layers,
                  s.n_kv_heads, s.head_dim, r.context, r.batch, kv_cache_bytes_per_element(r.kv_cache),
                  kv_cache_name(r.kv_cache)));
  a->activation_bytes = inference_activation_bytes(s, r.context, r.batch);
  add(a, "activations/workspace", a->activation_bytes,
      fmt::format("{} batch x {} tokens x (4 x {} + 2 x {}) x 2 bytes + {} x {} vocab x 4 bytes (logits)", r.batch,
                  std::min(r.context, kPrefillChunk), s.hidden, s.ffn, r.batch, s.vocab));
}

// Full training in bf16 mixed precision with AdamW: 16 bytes per parameter before activations.
void training_memory(const AdviceRequest& r, Alternative* a) {
  const double p = r.shape.params;
  a->weight_bytes = 2 * p;
  add(a, "weights (bf16)", 2 * p, "params x 2 bytes");
  add(a, "gradients (bf16)", 2 * p, "params x 2 bytes");
  add(a, "master weights (fp32)", 4 * p, "params x 4 bytes");
  add(a, "AdamW state (2 x fp32)", 8 * p, "params x 8 bytes (first and second moments)");
}

// LoRA/QLoRA: a frozen base at the candidate's bits, adapters trained like a full model.
void adapter_memory(const AdviceRequest& r, Alternative* a) {
  const double p = r.shape.params;
  a->weight_bytes = p * a->candidate.bits_per_weight / 8;
  add(a, "base weights (frozen)", a->weight_bytes,
      fmt::format("{} params x {:.4g} bits / 8", count_text(p), a->candidate.bits_per_weight));
  const double n = lora_adapter_params(r.shape, r.lora_rank);
  const std::string count = fmt::format("{} adapter params (rank {} on q,k,v,o,gate,up,down)", count_text(n), r.lora_rank);
  add(a, "adapters (fp32)", 4 * n, count + " x 4 bytes");
  add(a, "adapter gradients (fp32)", 4 * n, "adapter params x 4 bytes");
  add(a, "adapter AdamW state", 8 * n, "adapter params x 8 bytes");
}

// Activations for a training task: without checkpointing when that fits, else recomputed.
void training_activations(const AdviceRequest& r, Alternative* a) {
  const double full = training_activation_bytes(r.shape, r.context, r.batch, false);
  const double ckpt = training_activation_bytes(r.shape, r.context, r.batch, true);
  a->checkpointing = a->total_bytes + full + r.device.runtime_overhead > r.device.bytes;
  a->activation_bytes = a->checkpointing ? ckpt : full;
  const std::string per = fmt::format("{:.4g} bytes/token/layer", training_activation_bytes_per_token_layer(r.shape));
  add(a, "activations, no checkpointing", full,
      fmt::format("{} layers x {} tokens x {} batch x {} + fp32 logits", r.shape.n_layers, r.context, r.batch, per),
      !a->checkpointing);
  add(a, "activations, checkpointing", ckpt,
      fmt::format("{} layers x tokens x 2 x {} (layer inputs) + one layer's {} + fp32 logits", r.shape.n_layers,
                  r.shape.hidden, per),
      a->checkpointing);
}

void speed_bounds(const AdviceRequest& r, Alternative* a) {
  const double flops = forward_flops_per_token(r.shape, r.context);
  const double peak = r.device.peak(a->runs_as);
  if (r.task == Task::kInference) {
    if (r.device.bandwidth > 0) {
      a->decode_tokens_per_s = static_cast<double>(r.batch) * r.device.bandwidth / (a->weight_bytes + a->kv_cache_bytes);
    }
    if (peak > 0) a->prefill_tokens_per_s = peak / flops;
    return;
  }
  // Training: forward + backward (twice the forward) = 3x; adapters skip weight gradients of the
  // base, 2x; checkpointing recomputes the forward once more.
  double passes = r.task == Task::kTraining ? 3 : 2;
  if (a->checkpointing) passes += 1;
  if (peak > 0) a->prefill_tokens_per_s = peak / (passes * flops);
}

}  // namespace

std::string_view priority_name(Priority p) {
  switch (p) {
    case Priority::kQuality: return "quality";
    case Priority::kBalanced: return "balanced";
    case Priority::kMemory: return "memory";
  }
  return "?";
}

Result<Priority> parse_priority(std::string_view text) {
  for (Priority p : {Priority::kQuality, Priority::kBalanced, Priority::kMemory}) {
    if (text == priority_name(p)) return p;
  }
  return invalid_argument("unknown priority '{}' (quality, balanced, memory)", text);
}

std::string_view exec_path_name(ExecPath p) {
  switch (p) {
    case ExecPath::kNative: return "native";
    case ExecPath::kWeightOnly: return "weight-only";
    case ExecPath::kEmulated: return "emulated";
    case ExecPath::kUnknown: return "unknown";
  }
  return "?";
}

Candidate candidate_for_scheme(const quant::Scheme& s) {
  const auto& t = s.traits();
  Candidate c;
  c.label = t.name;
  c.bits_per_weight = t.bits_per_weight;
  c.precision_bits = naive_bits(s);
  const std::string& e = t.element_format;
  if (e == "float32") {
    c.format = ComputeFormat::kFp32;
  } else if (e.starts_with("float16") || e.starts_with("bfloat16")) {
    c.format = ComputeFormat::kFp16;
  } else if (t.bytes_per_block > 0) {  // a GGUF block type: llama.cpp's kernels, int8 math
    c.gguf = c.weight_only = true;
    c.format = ComputeFormat::kInt8;
  } else if (e.starts_with("float8")) {
    c.format = ComputeFormat::kFp8;
  } else if (e.starts_with("float6")) {
    c.format = ComputeFormat::kFp6;
  } else if (e.starts_with("float4")) {
    c.format = ComputeFormat::kFp4;
  } else if (e == "int8") {
    c.format = ComputeFormat::kInt8;  // W8A8: activations quantized too, int8 tensor cores
  } else {
    c.format = ComputeFormat::kFp16;  // int2..int7 groups: stored narrow, multiplied in fp16
    c.weight_only = true;
  }
  c.quality_note = quality_note(c.precision_bits);
  return c;
}

Candidate nf4_candidate() {
  Candidate c;
  c.label = "nf4";
  c.bits_per_weight = kNf4BitsPerWeight;
  c.precision_bits = 4;
  c.format = ComputeFormat::kFp16;
  c.weight_only = true;
  c.quality_note = "QLoRA's base format (bitsandbytes, double quantization)";
  return c;
}

std::vector<Candidate> default_candidates(Task t) {
  std::vector<const char*> names;
  switch (t) {
    case Task::kInference:
      names = {"bf16", "fp8_e4m3", "int8", "q8_0", "q6_k", "q5_k", "nvfp4", "int4_g128", "mxfp4", "q4_k", "q3_k", "q2_k"};
      break;
    case Task::kTraining: names = {"bf16"}; break;
    case Task::kLora: names = {"bf16", "fp8_e4m3", "int8"}; break;
    case Task::kQlora: names = {"int4_g128", "nvfp4"}; break;
  }
  std::vector<Candidate> out;
  if (t == Task::kQlora) out.push_back(nf4_candidate());
  for (const char* n : names) {
    if (auto s = quant::find_scheme(n); s.ok()) out.push_back(candidate_for_scheme(**s));
  }
  if (t == Task::kTraining && !out.empty()) out.front().label = "bf16 + AdamW";
  return out;
}

double forward_flops_per_token(const ModelShape& s, int64_t context) {
  return 2 * s.params + 2.0 * static_cast<double>(s.n_layers) * static_cast<double>(context) * static_cast<double>(s.q_dim());
}

Result<Advice> advise(AdviceRequest request) {
  const AdviceRequest& r = request;
  if (r.context < 1) return invalid_argument("context must be at least 1 token, got {}", r.context);
  if (r.batch < 1) return invalid_argument("batch must be at least 1, got {}", r.batch);
  if (r.lora_rank < 1) return invalid_argument("LoRA rank must be at least 1, got {}", r.lora_rank);
  if (!(r.device.bytes > 0)) return invalid_argument("device '{}': memory must be positive", r.device.name);
  if (!(r.shape.params > 0) || r.shape.n_layers <= 0) return invalid_argument("the model shape is empty");
  if (request.candidates.empty()) request.candidates = default_candidates(r.task);
  if (request.candidates.empty()) return invalid_argument("no candidate precisions to compare");
  Advice advice;
  for (const Candidate& c : r.candidates) {
    Alternative a;
    a.candidate = c;
    switch (r.task) {
      case Task::kInference: inference_memory(r, &a); break;
      case Task::kTraining: training_memory(r, &a); break;
      case Task::kLora:
      case Task::kQlora: adapter_memory(r, &a); break;
    }
    if (r.task != Task::kInference) training_activations(r, &a);
    add(&a, "runtime overhead", r.device.runtime_overhead, fmt::format("fixed for {}", r.device.name));
    a.fits = a.total_bytes <= r.device.bytes;
    a.headroom_bytes = r.device.bytes - a.total_bytes;
    set_path(c, r.device, r.task, &a);
    speed_bounds(r, &a);
    advice.alternatives.push_back(std::move(a));
  }
  advice.request = std::move(request);
  choose(&advice);
  return advice;
}

}  // namespace bitsmith::plan
