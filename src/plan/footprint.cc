#include "bitsmith/plan/footprint.h"

#include <algorithm>

namespace bitsmith::plan {

std::string_view task_name(Task t) {
  switch (t) {
    case Task::kInference: return "inference";
    case Task::kTraining: return "training";
    case Task::kLora: return "lora";
    case Task::kQlora: return "qlora";
  }
  return "?";
}

Result<Task> parse_task(std::string_view text) {
  for (Task t : {Task::kInference, Task::kTraining, Task::kLora, Task::kQlora}) {
    if (text == task_name(t)) return t;
  }
  return invalid_argument("unknown task '{}' (inference, training, lora, qlora)", text);
}

std::string_view kv_cache_name(KvCacheType t) {
  switch (t) {
    case KvCacheType::kFp16: return "fp16";
    case KvCacheType::kFp8: return "fp8";
    case KvCacheType::kQ8_0: return "q8_0";
  }
  return "?";
}

Result<KvCacheType> parse_kv_cache(std::string_view text) {
  for (KvCacheType t : {KvCacheType::kFp16, KvCacheType::kFp8, KvCacheType::kQ8_0}) {
    if (text == kv_cache_name(t)) return t;
  }
  return invalid_argument("unknown KV cache type '{}' (fp16, fp8, q8_0)", text);
}

double kv_cache_bytes_per_element(KvCacheType t) {
  switch (t) {
    case KvCacheType::kFp16: return 2;
    case KvCacheType::kFp8: return 1;
    case KvCacheType::kQ8_0: return 34.0 / 32.0;  // 32 int8 codes + 2-byte fp16 scale per block
  }
  return 2;
}

double kv_cache_bytes(const ModelShape& s, int64_t context, int64_t batch, KvCacheType t) {
  return 2.0 * static_cast<double>(s.n_layers) * static_cast<double>(s.n_kv_heads) * static_cast<double>(s.head_dim) *
         static_cast<double>(context) * static_cast<double>(batch) * kv_cache_bytes_per_element(t);
}

double inference_activation_bytes(const ModelShape& s, int64_t context, int64_t batch) {
  const double tokens = static_cast<double>(batch) * static_cast<double>(std::min(context, kPrefillChunk));
  return tokens * (4.0 * static_cast<double>(s.hidden) + 2.0 * static_cast<double>(s.ffn)) * 2.0 + static_cast<double>(batch) * static_cast<double>(s.vocab) * 4.0;
}

double training_activation_bytes_per_token_layer(const ModelShape& s) {
  return 2.0 * (6.0 * static_cast<double>(s.hidden) + 2.0 * static_cast<double>(s.kv_dim()) + 4.0 * static_cast<double>(s.ffn));
}

double training_activation_bytes(const ModelShape& s, int64_t seq, int64_t batch, bool checkpointing) {
  const double tokens = static_cast<double>(seq) * static_cast<double>(batch);
  const double logits = tokens * static_cast<double>(s.vocab) * 4.0;
  const double per_layer = tokens * training_activation_bytes_per_token_layer(s);
  const double layers = static_cast<double>(s.n_layers);
  if (!checkpointing) return layers * per_layer + logits;
  return layers * tokens * 2.0 * static_cast<double>(s.hidden) + per_layer + logits;
}

double lora_adapter_params(const ModelShape& s, int64_t rank) {
  const double h = static_cast<double>(s.hidden), q = static_cast<double>(s.q_dim());
  const double kv = static_cast<double>(s.kv_dim()), f = static_cast<double>(s.ffn);
  // (in + out) of q, k, v, o, gate, up, down.
  const double per_layer = (h + q) + 2 * (h + kv) + (q + h) + 2 * (h + f) + (f + h);
  return static_cast<double>(rank) * per_layer * static_cast<double>(s.n_layers);
}

}  // namespace bitsmith::plan
