// Evaluation on real text (REFERENCE.md 5): perplexity in llama.cpp's or the GPTQ papers'
// convention, and, against a reference model run in lockstep chunk by chunk, the mean KL
// divergence per token, top-1 agreement and the perplexity ratio. Logits are consumed one slice
// of the vocabulary at a time (Engine::output_logits), with running log-sum-exp, argmax and KL
// sums per position: a model never holds more than positions x slice logits.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/infer/engine.h"

namespace bitsmith::eval {

enum class PplStyle : uint8_t {
  // llama-perplexity: chunks of ctx tokens, each chunk's first token replaced by BOS, only
  // positions ctx/2+1 .. ctx-1 scored (ctx/2 - 1 tokens per chunk).
  kLlamaCpp,
  // GPTQ/AWQ papers: the tokens (BOS once, at the start) split into non-overlapping segments
  // of ctx; every token after a segment's first is scored (ctx - 1 per segment).
  kGptq,
};
std::string_view style_name(PplStyle s);
Result<PplStyle> parse_style(std::string_view name);

struct EvalOptions {
  PplStyle style = PplStyle::kLlamaCpp;
  int64_t ctx = 512;
  int64_t max_chunks = 0;  // 0 = every whole chunk of the text
  int32_t bos_id = 1;      // what llama.cpp style puts first in each chunk; -1: nothing, as
                          // llama-perplexity does for a vocabulary without add_bos (SmolLM2)
  // Vocabulary entries per logits slice; 0 = about 2 MiB of logits per model per slice.
  int64_t vocab_slice = 0;
  // Called after each chunk: chunks done, chunks in all, seconds so far.
  std::function<void(int64_t, int64_t, double)> progress;
};

// Statistics of one model over the scored tokens.
struct ModelScore {
  double nll = 0;         // mean negative log-likelihood (nats per token)
  double perplexity = 0;  // exp(nll)
  // Against the reference (the first engine given to evaluate); zero for the reference itself.
  double kld = 0;         // mean KL(P_ref || P_model) per token, nats
  double top1_agreement = 0;  // share of tokens whose argmax equals the reference's
  double ppl_ratio = 1;   // perplexity / the reference's perplexity
  // Uncertainties as llama-perplexity gives them: the standard error of the mean NLL carried to
  // perplexity (ppl * sqrt(var(nll) / (n - 1))), and of the mean KLD.
  double ppl_uncertainty = 0;
  double kld_uncertainty = 0;
  // The per-token KLD distribution (llama-perplexity --kl-divergence's percentiles, linear
  // interpolation between ranks).
  double kld_median = 0, kld_p90 = 0, kld_p95 = 0, kld_p99 = 0, kld_p999 = 0, kld_max = 0;
};

struct EvalResult {
  PplStyle style = PplStyle::kLlamaCpp;
  int64_t ctx = 0;
  int64_t tokens = 0;   // tokens of the whole text (BOS included)
  int64_t chunks = 0;   // chunks evaluated
  int64_t scored = 0;   // tokens scored
  double seconds = 0;
  double tokens_per_second = 0;  // chunk tokens through every engine, per second of wall time
  std::vector<ModelScore> models;  // one per engine, in the order given
};

// Runs every engine over the same chunks of `tokens` (the text's ids, BOS first). engines[0]
// is the reference for kld/top-1/ratio. Each engine's context must be at least options.ctx.
Result<EvalResult> evaluate(std::span<infer::Engine* const> engines,
                            std::span<const int32_t> tokens, const EvalOptions& options);

// The seed thresholds on the perplexity increase (REFERENCE.md 5): < 0.1 "excellent",
// < 0.5 "good", < 1.0 "acceptable", else "too aggressive" (also for a NaN increase). Perplexity
// moves with the text's noise (a scheme can even lower it), so it is reported, not judged on.
std::string_view ppl_verdict(double delta_ppl);
// The verdict: mean KLD and top-1 agreement together, the worse of the two, on bands anchored to
// llama.cpp's published LLaMA-3-8B table (REFERENCE.md 6: Q8_0 KLD 0.0014 / 98.5% same top
// token, Q6_K 0.0057, Q5_K_M 0.011, Q4_K_M 0.032 / 92.2%, Q4_0 0.074, Q2_K 0.46):
// "excellent" KLD <= 0.01 and top-1 >= 97% (the Q8_0..Q6_K class); "good" <= 0.05 and >= 90%
// (Q5_K_M..Q4_K_M); "acceptable" <= 0.15 and >= 80% (Q4_0..Q3_K); else "too aggressive" (also
// for NaN).
std::string_view verdict(double kld, double top1_agreement);

// Per-row statistics of one logits row against a target and a reference row (exposed for
// tests): -log softmax(row)[target]; KL(softmax(ref) || softmax(row)); whether argmaxes agree.
struct RowStats {
  double nll = 0;
  double kld = 0;
  bool top1_equal = true;
};
RowStats row_stats(std::span<const float> row, std::span<const float> ref, int32_t target);

}  // namespace bitsmith::eval
