// The precision advisor: for a model shape, a device and a task, every candidate precision's
// itemised memory, whether it fits, roofline speed bounds, and one recommendation in words.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitsmith/core/status.h"
#include "bitsmith/plan/allocate.h"
#include "bitsmith/plan/devices.h"
#include "bitsmith/plan/footprint.h"
#include "bitsmith/plan/model_shape.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::plan {

enum class Priority : uint8_t { kQuality, kBalanced, kMemory };
std::string_view priority_name(Priority p);
Result<Priority> parse_priority(std::string_view text);

// One way to store the weights. Usually a scheme from quant's registry (its true bits per
// weight), a recipe resolved on a model, or bitsandbytes' NF4 for QLoRA. This is the hook for
// `bitsmith plan`: a planned mix enters as one more Candidate with its achieved bits per weight.
struct Candidate {
  std::string label;
  double bits_per_weight = 0;  // everything counted (scales, zero points)
  double precision_bits = 0;   // element bits: the quality class (16, 8, 6, 5, 4, 3, 2)
  ComputeFormat format = ComputeFormat::kFp16;  // what tensor cores multiply when they have it
  bool weight_only = false;    // a storage format, dequantized for the multiply (int4 groups, GGUF)
  bool gguf = false;           // a llama.cpp block type (int8 math in llama.cpp's kernels)
  std::string quality_note;
};

Candidate candidate_for_scheme(const quant::Scheme& s);
// bitsandbytes NF4 with double quantization (QLoRA's base): 4 + 8/64 + 32/(64 x 256) bits.
Candidate nf4_candidate();
inline constexpr double kNf4BitsPerWeight = 4.0 + 8.0 / 64 + 32.0 / (64 * 256);  // = 4.127
// What `advise` compares without --schemes: inference bf16 .. q2_k; lora bf16/fp8/int8 bases;
// qlora nf4 and other 4-bit bases; training bf16 mixed precision.
std::vector<Candidate> default_candidates(Task t);

enum class ExecPath : uint8_t { kNative, kWeightOnly, kEmulated, kUnknown };
std::string_view exec_path_name(ExecPath p);

struct MemoryItem {
  std::string label;
  double bytes = 0;
  bool counted = true;  // false: shown for comparison (activations without checkpointing, ...)
  std::string formula;
};

struct Alternative {
  Candidate candidate;
  std::vector<MemoryItem> items;
  double weight_bytes = 0, kv_cache_bytes = 0, activation_bytes = 0, total_bytes = 0;
  bool fits = false;
  double headroom_bytes = 0;    // capacity - total (negative when it does not fit)
  bool checkpointing = false;   // training: activations recomputed (needed to fit)
  ExecPath path = ExecPath::kUnknown;
  ComputeFormat runs_as = ComputeFormat::kFp16;  // the multiply the device actually does
  std::string path_note;        // "native fp8", "emulated: no fp4 tensor cores, fp16 math", ...
  // Roofline upper bounds in tokens/s; 0 = unknown (a device without the figure).
  double decode_tokens_per_s = 0;   // inference: all sequences of the batch together
  double prefill_tokens_per_s = 0;  // inference: prompt processing; training: tokens trained
};

struct AdviceRequest {
  ModelShape shape;
  Device device;
  Task task = Task::kInference;
  Priority priority = Priority::kBalanced;
  int64_t context = 4096;
  int64_t batch = 1;
  KvCacheType kv_cache = KvCacheType::kFp16;
  int64_t lora_rank = 16;
  std::vector<Candidate> candidates;  // empty: default_candidates(task)
};

// A mix planned from measurements (allocate.h) under what the device leaves for weights: the
// alternative "planned mix", and the recommendation when it fits.
struct PlannedMix {
  std::string measured;         // where the measurements came from: a file, or "measured on CALIB"
  std::string method, costs;    // how they were measured (plan::MeasureConfig)
  int64_t calib_tokens = 0;
  Allocation allocation;
  std::vector<KindChoice> by_kind;
  nlohmann::json allocation_doc;  // allocation_json(): what `bitsmith plan --json` prints for this budget
};

struct Advice {
  AdviceRequest request;
  std::optional<PlannedMix> planned;
  std::vector<Alternative> alternatives;  // in candidate order
  int recommended = -1;                   // index into alternatives; -1 = nothing fits
  std::string reasoning;                  // the recommendation in words
  std::vector<std::string> notes;         // assumptions and caveats
};

// Fraction of memory that must stay free for the balanced priority to take an 8-bit format.
inline constexpr double kBalancedHeadroom = 0.10;

Result<Advice> advise(AdviceRequest request);

// FLOPs per token: 2 x params for the matrix products plus causal attention averaged over the
// context, 2 x layers x context x q_dim (QK^T and AV, 4 x position x q_dim at each position).
double forward_flops_per_token(const ModelShape& s, int64_t context);

}  // namespace bitsmith::plan
