// Text generation over an Engine: prompt prefill in one batch, then one token at a time from
// the KV cache, with greedy, temperature and nucleus (top-p) sampling.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/infer/engine.h"
#include "bitsmith/infer/tokenizer.h"

namespace bitsmith::infer {

struct SamplerOptions {
  double temperature = 0.0;  // 0 = greedy (argmax, lowest id on ties)
  double top_p = 1.0;        // nucleus sampling mass in (0, 1]; 1 = the whole distribution
  uint64_t seed = 0;
};

// Samples token ids from logits. Deterministic for a seed: its generator is xorshift64*
// (Vigna), not a standard-library distribution whose output differs between libraries.
class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  int32_t sample(std::span<const float> logits);

 private:
  double uniform();  // [0, 1)
  SamplerOptions opt_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> sorted_;
};

// Index of the largest value (the first of equals); NaN never wins.
int32_t argmax(std::span<const float> logits);

struct GenerateOptions {
  std::string prompt;          // text; BOS is added first when the vocabulary wants it
  int64_t max_tokens = 256;    // new tokens at most (also capped by the engine's context)
  SamplerOptions sampling;
};

struct GenerateResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;  // generated ones
  std::string text;             // decoded generated text
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Generates until BOS/EOS, max_tokens or the end of the context; `on_piece` (may be empty)
// receives each token's text as soon as it is sampled.
Result<GenerateResult> generate(Engine& engine, const Tokenizer& tokenizer,
                                const GenerateOptions& options,
                                const std::function<void(std::string_view)>& on_piece);

}  // namespace bitsmith::infer
