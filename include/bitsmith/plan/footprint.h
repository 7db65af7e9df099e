// Memory a model needs beyond its weights, each piece a documented formula (docs/advise.md):
// KV cache, inference activations, training state (gradients, AdamW, master weights), training
// activations with and without checkpointing, and LoRA adapters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bitsmith/core/status.h"
#include "bitsmith/plan/model_shape.h"

namespace bitsmith::plan {

enum class Task : uint8_t { kInference, kTraining, kLora, kQlora };
std::string_view task_name(Task t);
Result<Task> parse_task(std::string_view text);

enum class KvCacheType : uint8_t { kFp16, kFp8, kQ8_0 };
std::string_view kv_cache_name(KvCacheType t);
Result<KvCacheType> parse_kv_cache(std::string_view text);
// fp16 2 bytes; fp8 1; q8_0 34 bytes per block of 32 (int8 codes + an fp16 scale) = 8.5 bits.
double kv_cache_bytes_per_element(KvCacheType t);

// 2 (K and V) x layers x KV heads x head dim x context x batch x bytes per element.
double kv_cache_bytes(const ModelShape& s, int64_t context, int64_t batch, KvCacheType t);

// Tokens one inference forward pass processes at once per sequence: prompts are taken in chunks
// of 512 (llama.cpp's default micro-batch), so the workspace does not grow with the context.
inline constexpr int64_t kPrefillChunk = 512;

// The working set of one forward pass (flash attention: no context x context score matrix):
// fp16 activations of a prefill chunk, batch x chunk x (4 x hidden + 2 x ffn) x 2 bytes (hidden
// state, residual, q/k/v and attention output; gate and up), plus float32 logits of the last
// position, batch x vocab x 4.
double inference_activation_bytes(const ModelShape& s, int64_t context, int64_t batch);

// Activations kept for the backward pass, in bf16, per token and layer (SwiGLU, GQA, flash
// attention; after Korthikanti et al. 2022, "Reducing Activation Recomputation"):
// 2 x (6 x hidden + 2 x kv_dim + 4 x ffn) bytes: the inputs of both norms and of the q/k/v and
// gate/up projections, q, k, v, the attention output, and gate, up, silu(gate), silu(gate) x up.
double training_activation_bytes_per_token_layer(const ModelShape& s);
// Without checkpointing: every layer's activations for seq x batch tokens, plus float32 logits
// (seq x batch x vocab x 4). With full checkpointing: each layer's bf16 input (2 x hidden bytes
// per token) and one layer's activations recomputed at a time, plus the logits.
double training_activation_bytes(const ModelShape& s, int64_t seq, int64_t batch, bool checkpointing);

// LoRA adapters of rank r on every attention and MLP projection: r x (in + out) per matrix.
double lora_adapter_params(const ModelShape& s, int64_t rank);

}  // namespace bitsmith::plan
