#include "bitsmith/eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "bitsmith/infer/generate.h"

namespace bitsmith::eval {

std::string_view style_name(PplStyle s) {
  return s == PplStyle::kGptq ? "gptq" : "llamacpp";
}

Result<PplStyle> parse_style(std::string_view name) {
  if (name == "llamacpp" || name == "llama.cpp") return PplStyle::kLlamaCpp;
  if (name == "gptq") return PplStyle::kGptq;
  return invalid_argument("unknown perplexity style '{}' (llamacpp, gptq)", name);
}

std::string_view verdict(double delta_ppl) {
  if (delta_ppl < 0.1) return "excellent";
  if (delta_ppl < 0.5) return "good";
  if (delta_ppl < 1.0) return "acceptable";
  return "too aggressive";
}

namespace {

// log(sum(exp(v))) in double, shifted by the maximum.
double log_sum_exp(std::span<const float> v) {
  double mx = -std::numeric_limits<double>::infinity();
  for (float x : v) mx = std::max(mx, static_cast<double>(x));
  if (!std::isfinite(mx)) return mx;
  double s = 0;
  for (float x : v) s += std::exp(static_cast<double>(x) - mx);
  return mx + std::log(s);
}

}  // namespace

RowStats row_stats(std::span<const float> row, std::span<const float> ref, int32_t target) {
  RowStats st;
  const double lse = log_sum_exp(row);
  st.nll = lse - static_cast<double>(row[static_cast<size_t>(target)]);
  if (ref.empty()) return st;
  const double lse_ref = log_sum_exp(ref);
  double kld = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    const double lp = static_cast<double>(ref[i]) - lse_ref;
    const double lq = static_cast<double>(row[i]) - lse;
    const double p = std::exp(lp);
    if (p > 0) kld += p * (lp - lq);
  }
  st.kld = kld;
  st.top1_equal = infer::argmax(row) == infer::argmax(ref);
  return st;
}

Result<EvalResult> evaluate(std::span<infer::Engine* const> engines,
                            std::span<const int32_t> tokens, const EvalOptions& opt) {
  using Clock = std::chrono::steady_clock;
  if (engines.empty()) return invalid_argument("evaluate: no model");
  const int64_t ctx = opt.ctx;
  if (ctx < 4) return invalid_argument("evaluate: context {} is too small (at least 4)", ctx);
  for (size_t e = 0; e < engines.size(); ++e) {
    if (engines[e]->context() < ctx) {
      return invalid_argument("evaluate: model {} holds a context of {}, below {}", e,
                              engines[e]->context(), ctx);
    }
    if (engines[e]->vocab_size() != engines[0]->vocab_size()) {
      return invalid_argument("evaluate: vocabulary sizes differ ({} vs {}); KL divergence needs "
                              "the same vocabulary", engines[e]->vocab_size(),
                              engines[0]->vocab_size());
    }
  }
  EvalResult res;
  res.style = opt.style;
  res.ctx = ctx;
  res.tokens = static_cast<int64_t>(tokens.size());
  res.chunks = res.tokens / ctx;
  if (opt.max_chunks > 0) res.chunks = std::min(res.chunks, opt.max_chunks);
  if (res.chunks == 0) {
    return invalid_argument("evaluate: the text has {} tokens, fewer than one chunk of {}",
                            res.tokens, ctx);
  }
  const bool llamacpp = opt.style == PplStyle::kLlamaCpp;
  // Logit rows [first, ctx - 1) predict the tokens after them.
  const int64_t first = llamacpp ? ctx / 2 : 0;
  const int64_t rows = ctx - 1 - first;
  const int64_t vocab = engines[0]->vocab_size();
  const size_t n_models = engines.size();
  std::vector<std::vector<float>> logits(n_models);
  std::vector<double> nll(n_models), kld(n_models), agree(n_models);
  std::vector<RowStats> stats(static_cast<size_t>(rows));
  std::vector<int32_t> chunk(static_cast<size_t>(ctx));
  const auto t0 = Clock::now();
  for (int64_t c = 0; c < res.chunks; ++c) {
    std::copy_n(tokens.begin() + c * ctx, ctx, chunk.begin());
    if (llamacpp && opt.bos_id >= 0) chunk[0] = opt.bos_id;
    for (size_t e = 0; e < n_models; ++e) {
      Status st = engines[e]->forward(chunk, 0, first, &logits[e]);
      if (!st.ok()) return st.with_context(fmt::format("chunk {}", c));
    }
    for (size_t e = 0; e < n_models; ++e) {
      const float* ref = e == 0 ? nullptr : logits[0].data();
      ThreadPool::global().parallel_for(rows, std::max<int64_t>(1, 65536 / vocab), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const auto off = static_cast<size_t>(r * vocab);
          std::span<const float> row(logits[e].data() + off, static_cast<size_t>(vocab));
          std::span<const float> rref;
          if (ref != nullptr) rref = {ref + off, static_cast<size_t>(vocab)};
          stats[static_cast<size_t>(r)] = row_stats(row, rref, chunk[static_cast<size_t>(first + r + 1)]);
        }
      });
      // Summed in row order, so the result does not depend on the thread count.
      for (const RowStats& s : stats) {
        nll[e] += s.nll;
        kld[e] += s.kld;
        agree[e] += s.top1_equal ? 1.0 : 0.0;
      }
    }
    if (opt.progress) {
      opt.progress(c + 1, res.chunks, std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  res.scored = res.chunks * rows;
  res.tokens_per_second = res.seconds > 0
      ? static_cast<double>(res.chunks * ctx) * static_cast<double>(n_models) / res.seconds
      : 0;
  const double n = static_cast<double>(res.scored);
  for (size_t e = 0; e < n_models; ++e) {
    ModelScore m;
    m.nll = nll[e] / n;
    m.perplexity = std::exp(m.nll);
    m.kld = kld[e] / n;
    m.top1_agreement = agree[e] / n;
    m.ppl_ratio = m.perplexity / std::exp(nll[0] / n);
    res.models.push_back(m);
  }
  return res;
}

}  // namespace bitsmith::eval
