// The model abstraction shared by readers (io) and the engine (infer): hyperparameters, the
// tokenizer's vocabulary as data, and tensors by canonical name loaded on demand. It lives in
// core so that io implements it and infer consumes it without either depending on the other.
//
// Canonical tensor names are GGUF's (llama.cpp's): token_embd.weight, output_norm.weight,
// output.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
// ffn_up, ffn_down}.weight (and blk.N.attn_{q,k,v}.bias for Qwen2-style models).
// Shapes are row-major [out_features, in_features], as PyTorch and llama2.c store them
// (GGUF lists the same dims innermost first).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"

namespace bitsmith {

enum class RopeStyle : uint8_t {
  kInterleaved,  // rotate adjacent pairs (2i, 2i+1): llama2.c, GGUF llama
  kHalfSplit,    // rotate (i, i + head_dim/2): Hugging Face Llama/Qwen
};

struct LlamaHyperparameters {
  std::string architecture = "llama";
  int64_t dim = 0;             // embedding length
  int64_t hidden_dim = 0;      // feed-forward length
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;        // usually dim / n_heads
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  bool tied_embeddings = false;  // output projection = token embedding
  bool qkv_bias = false;
  std::string name;  // general.name, when the file has one
};

enum class TokenType : int32_t {  // llama.cpp's llama_token_type values
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5,
  kByte = 6,
};

// A tokenizer as data, whatever file it came from.
struct Vocabulary {
  std::string model;  // "llama" (SentencePiece BPE, byte fallback) or "gpt2" (byte-level BPE)
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  std::vector<std::string> merges;  // gpt2 only: "a b" pairs in rank order
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;
  bool add_bos = true;
  std::string pre;  // gpt2 pre-tokenizer name ("default", "llama-bpe", "qwen2", ...)
  // Carried through every conversion as they came (GGUF tokenizer.* keys, tokenizer_config.json).
  std::string chat_template;  // Jinja, as is
  int32_t pad_id = -1;        // -1: none
  bool add_eos = false;
  // SentencePiece's dummy prefix (a space before the text); -1 unknown: the model's default.
  int8_t add_space_prefix = -1;
  bool empty() const { return tokens.empty(); }
};

struct ModelTensorInfo {
  std::string name;         // canonical name
  Shape shape;
  std::string storage;      // how it is stored: "F32", "BF16", "q4_k", "nvfp4", ...
  uint64_t bytes = 0;       // bytes it occupies in the file (scales included)
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const std::string& path() const = 0;
  virtual std::string_view file_format() const = 0;  // "gguf", "safetensors", "llama2c"
  virtual const LlamaHyperparameters& hyperparameters() const = 0;
  virtual const Vocabulary& vocabulary() const = 0;  // empty() when the file has none
  virtual const std::vector<ModelTensorInfo>& tensors() const = 0;
  virtual bool has_tensor(const std::string& name) const = 0;
  // The tensor as float32, dequantized if needed; owned by the caller.
  virtual Result<Tensor> load_f32(const std::string& name) const = 0;
  // Every file the model was read from (weights, shards, config, tokenizer): outputs must never
  // replace one of them.
  virtual std::vector<std::string> source_files() const { return {path()}; }
};

}  // namespace bitsmith
