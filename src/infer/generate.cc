#include "bitsmith/infer/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace bitsmith::infer {

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[static_cast<size_t>(best)] || std::isnan(logits[static_cast<size_t>(best)])) {
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

Sampler::Sampler(SamplerOptions options)
    // xorshift must not start from 0; any fixed odd offset keeps seed 0 usable.
    : opt_(options), state_(options.seed ^ 0x9E3779B97F4A7C15ull) {
  if (state_ == 0) state_ = 1;
}

double Sampler::uniform() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint64_t r = state_ * 0x2545F4914F6CDD1Dull;
  return static_cast<double>(r >> 11) * 0x1.0p-53;  // 53 random bits -> [0, 1)
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (!(opt_.temperature > 0)) return argmax(logits);
  // Softmax of logits / T over the finite entries, largest first.
  sorted_.clear();
  float mx = -INFINITY;
  for (float v : logits) {
    if (std::isfinite(v)) mx = std::max(mx, v);
  }
  if (!std::isfinite(mx)) return argmax(logits);
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i])) continue;
    const float p = static_cast<float>(std::exp((logits[i] - mx) / opt_.temperature));
    sorted_.emplace_back(p, static_cast<int32_t>(i));
    sum += p;
  }
  std::sort(sorted_.begin(), sorted_.end(),
            [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  // Nucleus: the smallest prefix whose mass reaches top_p.
  double keep = sum;
  size_t n = sorted_.size();
  if (opt_.top_p > 0 && opt_.top_p < 1) {
    double acc = 0;
    for (size_t i = 0; i < sorted_.size(); ++i) {
      acc += sorted_[i].first;
      if (acc >= opt_.top_p * sum) {
        n = i + 1;
        keep = acc;
        break;
      }
    }
  }
  const double r = uniform() * keep;
  double acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += sorted_[i].first;
    if (r < acc) return sorted_[i].second;
  }
  return sorted_[n - 1].second;
}

Result<GenerateResult> generate(Engine& engine, const Tokenizer& tokenizer,
                                const GenerateOptions& options,
                                const std::function<void(std::string_view)>& on_piece) {
  using Clock = std::chrono::steady_clock;
  GenerateResult res;
  res.prompt_tokens = tokenizer.encode(options.prompt, tokenizer.vocabulary().add_bos);
  if (res.prompt_tokens.empty()) res.prompt_tokens.push_back(tokenizer.bos_id());
  const auto n_prompt = static_cast<int64_t>(res.prompt_tokens.size());
  if (n_prompt >= engine.context()) {
    return invalid_argument("prompt of {} tokens does not fit the context of {}", n_prompt,
                            engine.context());
  }
  Sampler sampler(options.sampling);
  std::vector<float> logits;
  auto t0 = Clock::now();
  BITSMITH_RETURN_IF_ERROR(engine.forward(res.prompt_tokens, 0, n_prompt - 1, &logits));
  auto t1 = Clock::now();
  res.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  int32_t prev = res.prompt_tokens.back();
  int64_t pos = n_prompt;
  const int64_t limit = std::min(options.max_tokens, engine.context() - n_prompt);
  for (int64_t i = 0; i < limit; ++i) {
    // NaN logits (non-finite weights or scales the loader could not see, e.g. in a quantized
    // output matrix) would decode as an empty text with success; say so instead.
    if (std::any_of(logits.begin(), logits.end(), [](float x) { return std::isnan(x); })) {
      return corrupt_data("the model produced NaN logits at position {} (non-finite weights or scales)", pos - 1);
    }
    const int32_t next = sampler.sample(logits);
    if (next == tokenizer.bos_id() || next == tokenizer.eos_id()) break;
    res.tokens.push_back(next);
    std::string piece = tokenizer.decode_piece(prev, next);
    res.text += piece;
    if (on_piece) on_piece(piece);
    prev = next;
    if (i + 1 == limit) break;  // no need for the logits of a token we will not sample
    const int32_t one[1] = {next};
    BITSMITH_RETURN_IF_ERROR(engine.forward(one, pos, 0, &logits));
    ++pos;
  }
  res.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return res;
}

}  // namespace bitsmith::infer
