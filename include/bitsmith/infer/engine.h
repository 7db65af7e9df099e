// The CPU forward pass of Llama-family decoders (llama2.c, GGUF llama, Hugging Face Llama/Qwen2):
// RMSNorm, rotary embeddings (RopeStyle), grouped-query attention, SwiGLU, tied or separate
// output, optional q/k/v biases, and a KV cache.
//
// A whole sequence goes through each linear layer as one matrix-matrix product (prefill), so
// logits come out for every position (perplexity needs them) and generation reuses the cache.
//
// Memory: per layer, the weights are loaded through Model::load_f32 (dequantized on the fly)
// when that layer runs and dropped after it, so at most one layer is held in float32 — unless
// EngineOptions::resident_bytes lets the engine keep layers it has already loaded. The token
// embedding, the final norm and the output projection stay resident: they are needed by every
// call (for a tied output they are the same tensor). A quantized embedding/output stays in its
// quantized form (EngineOptions::stored_view, or the engine's own quantization under
// weight_scheme_for): the lookup dequantizes only the rows of the tokens, and the output
// projection runs over slices of vocabulary rows dequantized on the fly, so the float32 matrix
// never exists. output_logits() computes logits one vocabulary slice at a time, so a caller
// (the evaluator) never needs all [positions x vocab] logits at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::infer {

// The input of one linear layer as that layer consumes it (after any activation fake-quant):
// `tokens` rows of `cols` floats, row-major. `name` is the linear's canonical suffix:
// "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "output".
// q/k/v (and gate/up) share one input; the hook is called once per linear all the same, so a
// calibration collector can key on (layer, name) alone. layer is -1 for "output".
struct LinearInput {
  int layer = 0;
  std::string_view name;
  const float* data = nullptr;
  int64_t tokens = 0;
  int64_t cols = 0;
};
using ActivationHook = std::function<void(const LinearInput&)>;

// A linear input's static activation quantization (a W8A8/W4A4 checkpoint's calibrated range):
// the scheme and the amax its scale was computed from; a null scheme = none.
struct StaticActivation {
  const quant::Scheme* scheme = nullptr;
  float amax = 0;
};

struct EngineOptions {
  // Positions the KV cache holds; 0 = the model's context length.
  int64_t context = 0;
  // Fake-quantizes every linear weight of the blocks (not embeddings, norms or biases) as it
  // is loaded: quantize then dequantize with this scheme. Null = the weights as stored.
  const quant::Scheme* weight_scheme = nullptr;
  // When set, replaces weight_scheme: called with the canonical name of every matrix the engine
  // loads (block linears, token_embd.weight, output.weight) and returns its scheme, or null to
  // keep it as stored. The CLI feeds it io's quantization plan, so fake-quant sees exactly the
  // schemes (recipes, fallbacks) a quantized file would hold. A tied output uses the embedding's.
  std::function<const quant::Scheme*(const std::string&)> weight_scheme_for;
  // Fake-quantizes the input of every linear layer of the blocks, one token row at a time
  // (dynamic per-token scale: fp8_e4m3 per-tensor on a row, mxfp8, nvfp4, mxfp4). The output
  // projection's input stays float32, as W8A8/W4A4 recipes keep lm_head in high precision.
  // Null = float32 activations.
  const quant::Scheme* act_scheme = nullptr;
  // Static activation quantization by (layer, linear name) of the decoder blocks, as a serving
  // engine runs a checkpoint with calibrated input scales; overrides act_scheme where it gives a
  // scheme. The input is clipped to [-amax, amax] and then fake-quantized over the whole input:
  // fp8_e4m3 with the one scale amax / 448 (compressed-tensors' static input_scale: x / scale
  // rounded to e4m3, saturating); nvfp4 with the global scale from amax and block scales per 16
  // from the values (input_global_scale with dynamic "local" block scales). Clipping first gives
  // what saturating the e4m3 block scale at 448 and the e2m1 codes at 6 give.
  std::function<StaticActivation(int layer, std::string_view linear)> static_activation;
  // Called with the input of every linear layer; empty = no hook.
  ActivationHook hook;
  // Bytes of dequantized layer weights the engine may keep between calls (0 = load each layer
  // every call, holding one at a time). Worth it when the same model runs many chunks and the
  // scheme's quantizer is slow.
  uint64_t resident_bytes = 0;
  ThreadPool* pool = nullptr;  // null = ThreadPool::global()
  // Where the engine can read token_embd.weight / output.weight as stored (quantized bytes, e.g.
  // a view over the memory-mapped file, valid while the model lives); a view with a null scheme
  // = not available that way (the engine then loads float32 through Model::load_f32). Ignored
  // for a matrix weight_scheme_for fake-quantizes. The CLI wires io's FileModel sources here.
  std::function<quant::QuantizedView(const std::string&)> stored_view;
  // Called with the name of every block tensor once the engine no longer needs the bytes it read
  // from the model (the layer ran and is not kept): the CLI drops those pages of the memory map,
  // so a model's file pages are not all resident at once. Empty = nothing.
  std::function<void(const std::string&)> release_tensor;
};

class Engine {
 public:
  // Checks the hyperparameters and the shapes of the resident tensors; loads the embedding,
  // final norm and output projection. `model` must outlive the engine.
  static Result<std::unique_ptr<Engine>> create(const Model& model, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const LlamaHyperparameters& hparams() const;
  int64_t context() const;
  int64_t vocab_size() const;

  // Runs tokens at positions [pos, pos + tokens.size()) of the cache (positions before pos must
  // have been run already; pos 0 starts a new sequence). Writes the logits of the last
  // tokens.size() - logits_from positions to `logits` (resized to rows x vocab), or none when
  // logits is null.
  Status forward(std::span<const int32_t> tokens, int64_t pos, int64_t logits_from,
                 std::vector<float>* logits);

  // The same pass split in two, for callers that consume logits a slice at a time (never all
  // [rows x vocab] at once): forward_hidden runs the tokens like forward() and keeps the
  // final-normed hidden states of positions [logits_from, tokens.size()) (calling the "output"
  // hook); output_logits then writes the logits of vocabulary entries [v0, v1) for those rows to
  // out (rows x (v1 - v0), row-major), bit-identical to the same columns of forward()'s logits.
  Status forward_hidden(std::span<const int32_t> tokens, int64_t pos, int64_t logits_from);
  int64_t hidden_rows() const;
  Status output_logits(int64_t v0, int64_t v1, float* out);

  // Layer at a time (algo's sequential calibration keeps the hidden states of its segments
  // between layers instead of rerunning the layers before): `embed` writes the embeddings of
  // `tokens` to x (tokens.size() x dim); `forward_layer` runs decoder layer `layer` alone on the
  // hidden states x (tokens x dim, updated in place) at positions [pos, pos + tokens) of that
  // layer's cache, calling the hook as forward does. forward() is embed, every forward_layer,
  // then the output head.
  Status embed(std::span<const int32_t> tokens, float* x) const;
  Status forward_layer(int64_t layer, float* x, int64_t tokens, int64_t pos);
  // Drops the layers kept under EngineOptions::resident_bytes (their weights are loaded again
  // from the model on the next call: after the model's tensors were replaced).
  void drop_cached_layers();
  // Drops one kept layer (after one of its tensors was replaced in the model).
  void drop_cached_layer(int64_t layer);
  // The output head on hidden states the caller ran through forward_layer (rows x dim, the last
  // layer's outputs): final norm, then output_logits() serves these rows as after
  // forward_hidden (the "output" hook is called too). Sensitivity measurement runs the layers
  // after a replaced tensor from kept hidden states and needs the logits of the result.
  Status head_from_hidden(const float* x, int64_t rows);

  // Bytes of the weights currently held: float32 cached layers and final norm, and the
  // embedding/output as held (float32, or their quantized bytes when kept quantized; a view
  // over the model's file counts its bytes too).
  uint64_t weight_bytes_held() const;
  // Float32 bytes of the KV cache.
  uint64_t kv_cache_bytes() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitsmith::infer
