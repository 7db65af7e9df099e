// llama.cpp's per-tensor type choice for its named ftypes (llama_tensor_get_type_impl in
// llama.cpp's src/llama-quant.cpp), re-expressed for Llama-architecture models. Internal to plan.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bitsmith/core/tensor_names.h"

namespace bitsmith::plan::detail {

enum class LlamaFtype : uint8_t { kNone, kQ2_K, kQ3_K_S, kQ3_K_M, kQ3_K_L, kQ4_K_S, kQ4_K_M, kQ5_K_S, kQ5_K_M, kQ6_K };

struct MixedFtype {
  std::string_view name;  // the recipe name (llama-quantize's ftype, lower case)
  LlamaFtype ftype;
  std::string_view base;  // the ftype's default type
};
// The nine named recipes, in llama-quantize's order.
const MixedFtype* mixed_ftypes(size_t* count);
const MixedFtype* find_mixed_ftype(std::string_view name);

// What llama.cpp needs to know about the model and the tensor.
struct MixContext {
  TensorCategory category = TensorCategory::kOther;
  int64_t layer = -1;          // blk.N; llama.cpp counts attn_v/ffn_down tensors in file order,
                               // which is the layer index in any layer-ordered file
  int64_t n_attn_v = 0;        // attn_v tensors in the model (llama.cpp's n_attention_wv)
  int64_t n_layers = 0;        // the ffn_down count llama.cpp uses (hparams.n_layer)
  int64_t n_gqa = 1;           // n_heads / n_kv_heads
  bool has_output = true;      // the model has output.weight (else the embedding is the head)
  int64_t cols = 0;            // row length (ggml's ne[0])
};

// The type for a matrix whose default is the quantized GGUF type `base` (a scheme name), before
// the row-length fallback. kNone applies only the head rule every ftype shares. `why` says
// which rule chose it ("" when none did).
std::string llama_mix_type(LlamaFtype ftype, const std::string& base, const MixContext& c, std::string* why);

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third layer in
// between, get more bits.
bool use_more_bits(int64_t i, int64_t n);

}  // namespace bitsmith::plan::detail
