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

std::string_view verdict(double kld, double top1) {
  if (kld <= 0.01 && top1 >= 0.97) return "excellent";
  if (kld <= 0.05 && top1 >= 0.90) return "good";
  if (kld <= 0.15 && top1 >= 0.80) return "acceptable";
  return "too aggressive";
}

std::string_view ppl_verdict(double delta_ppl) {
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

namespace {

// Running statistics of one logits row over the vocabulary slices seen so far.
struct RowAcc {
  double max = -std::numeric_limits<double>::infinity();  // NaN ignored, as log_sum_exp does
  double sum = 0;     // sum of exp(x - max)
  double target = 0;  // the target token's logit
  double kl = 0;      // models: sum of exp(a - max_ref) (a - b) over the reference's logits a
  float best = 0;     // argmax so far (first maximum; a NaN best gives way, as infer::argmax)
  int32_t best_index = -1;
  double lse() const { return std::isfinite(max) ? max + std::log(sum) : max; }
};

// Folds the slice x[0..w) (vocabulary entries v0..) into acc's maximum, argmax and target, and
// rescales acc.sum (and the rescale factor is returned, for the KL partial sums tied to it).
double fold_max(RowAcc& acc, const float* x, int64_t w, int64_t v0, int32_t target) {
  double mx = acc.max;
  for (int64_t i = 0; i < w; ++i) {
    mx = std::max(mx, static_cast<double>(x[i]));
    if (acc.best_index < 0 || x[i] > acc.best || std::isnan(acc.best)) {
      acc.best = x[i];
      acc.best_index = static_cast<int32_t>(v0 + i);
    }
  }
  if (target >= v0 && target < v0 + w) acc.target = static_cast<double>(x[target - v0]);
  const double scale = mx == acc.max ? 1.0 : std::exp(acc.max - mx);
  acc.sum *= scale;
  acc.max = mx;
  return scale;
}

// One row of one slice for every model: accs[e] are the models' accumulators of this row,
// logits[e] their slice rows; model 0 is the reference.
void fold_row(std::span<RowAcc* const> accs, std::span<const float* const> logits, int64_t w,
              int64_t v0, int32_t target) {
  thread_local std::vector<double> p;
  p.resize(static_cast<size_t>(w));
  RowAcc& ref = *accs[0];
  const float* a = logits[0];
  const double scale = fold_max(ref, a, w, v0, target);
  for (size_t e = 1; e < accs.size(); ++e) accs[e]->kl *= scale;
  for (int64_t i = 0; i < w; ++i) {
    p[static_cast<size_t>(i)] = std::exp(static_cast<double>(a[i]) - ref.max);
    ref.sum += p[static_cast<size_t>(i)];
  }
  for (size_t e = 1; e < accs.size(); ++e) {
    RowAcc& m = *accs[e];
    const float* b = logits[e];
    fold_max(m, b, w, v0, target);
    double s = 0, kl = 0;
    for (int64_t i = 0; i < w; ++i) {
      s += std::exp(static_cast<double>(b[i]) - m.max);
      const double pi = p[static_cast<size_t>(i)];
      if (pi > 0) kl += pi * (static_cast<double>(a[i]) - static_cast<double>(b[i]));
    }
    m.sum += s;
    m.kl += kl;
  }
}

// KL(P_ref || P_model) = sum p (a - b) - lse_ref + lse_model, since sum p = 1.
RowStats finish_row(const RowAcc& m, const RowAcc& ref, bool is_ref) {
  RowStats st;
  st.nll = m.lse() - m.target;
  if (is_ref) return st;
  st.kld = m.kl / ref.sum - ref.lse() + m.lse();
  st.top1_equal = m.best_index == ref.best_index;
  return st;
}

int64_t slice_width(int64_t requested, int64_t rows, int64_t vocab) {
  int64_t w = requested > 0 ? requested : std::max<int64_t>(256, (int64_t{1} << 19) / rows / 64 * 64);
  return std::min(w, vocab);
}

}  // namespace

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
  const int64_t width = slice_width(opt.vocab_slice, rows, vocab);
  const size_t n_models = engines.size();
  // forward_hidden keeps ctx - first rows (the last predicts nothing here and is not scored).
  std::vector<std::vector<float>> logits(n_models, std::vector<float>(static_cast<size_t>((rows + 1) * width)));
  std::vector<std::vector<RowAcc>> acc(n_models);
  std::vector<double> nll(n_models), nll2(n_models), kld(n_models), kld2(n_models), agree(n_models);
  std::vector<std::vector<float>> kld_values(n_models);  // per scored token, for the percentiles
  std::vector<int32_t> chunk(static_cast<size_t>(ctx));
  const auto t0 = Clock::now();
  for (int64_t c = 0; c < res.chunks; ++c) {
    std::copy_n(tokens.begin() + c * ctx, ctx, chunk.begin());
    if (llamacpp && opt.bos_id >= 0) chunk[0] = opt.bos_id;
    for (size_t e = 0; e < n_models; ++e) {
      Status st = engines[e]->forward_hidden(chunk, 0, first);
      if (!st.ok()) return st.with_context(fmt::format("chunk {}", c));
      acc[e].assign(static_cast<size_t>(rows), RowAcc{});
    }
    for (int64_t v0 = 0; v0 < vocab; v0 += width) {
      const int64_t w = std::min(width, vocab - v0);
      for (size_t e = 0; e < n_models; ++e) {
        Status st = engines[e]->output_logits(v0, v0 + w, logits[e].data());
        if (!st.ok()) return st.with_context(fmt::format("chunk {}", c));
      }
      const int64_t grain = std::max<int64_t>(1, 32768 / (w * static_cast<int64_t>(n_models)));
      ThreadPool::global().parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
        std::vector<RowAcc*> accs(n_models);
        std::vector<const float*> rowp(n_models);
        for (int64_t r = r0; r < r1; ++r) {
          for (size_t e = 0; e < n_models; ++e) {
            accs[e] = &acc[e][static_cast<size_t>(r)];
            rowp[e] = logits[e].data() + r * w;
          }
          fold_row(accs, rowp, w, v0, chunk[static_cast<size_t>(first + r + 1)]);
        }
      });
    }
    // Summed in row order, so the result does not depend on the thread count.
    for (size_t e = 0; e < n_models; ++e) {
      for (int64_t r = 0; r < rows; ++r) {
        const RowStats s = finish_row(acc[e][static_cast<size_t>(r)], acc[0][static_cast<size_t>(r)], e == 0);
        nll[e] += s.nll;
        nll2[e] += s.nll * s.nll;
        kld[e] += s.kld;
        kld2[e] += s.kld * s.kld;
        kld_values[e].push_back(static_cast<float>(s.kld));
        agree[e] += s.top1_equal ? 1.0 : 0.0;
      }
      // The engine refuses non-finite float weights as it loads them; this catches the rest
      // (a NaN scale in a quantized matrix, an overflow) instead of reporting perplexity "nan".
      if (!std::isfinite(nll[e])) {
        return corrupt_data("evaluate: model {} gave non-finite logits in chunk {} (NaN or Inf weights or scales)",
                            e == 0 ? std::string("0 (the reference)") : fmt::format("{} (under test)", e), c);
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
    // Standard errors of the means, as llama-perplexity computes them.
    auto stderr_of = [&](double sum, double sum2) {
      const double mean = sum / n, var = sum2 / n - mean * mean;
      return n > 1 && var > 0 ? std::sqrt(var / (n - 1)) : 0.0;
    };
    m.ppl_uncertainty = m.perplexity * stderr_of(nll[e], nll2[e]);
    m.kld_uncertainty = stderr_of(kld[e], kld2[e]);
    std::vector<float>& v = kld_values[e];
    std::sort(v.begin(), v.end());
    auto percentile = [&](double q) {
      if (v.empty()) return 0.0;
      const double p = q * static_cast<double>(v.size() - 1);
      const size_t i = static_cast<size_t>(p);
      const double f = p - static_cast<double>(i);
      return (1 - f) * v[i] + f * v[std::min(i + 1, v.size() - 1)];
    };
    m.kld_median = percentile(0.5);
    m.kld_p90 = percentile(0.9);
    m.kld_p95 = percentile(0.95);
    m.kld_p99 = percentile(0.99);
    m.kld_p999 = percentile(0.999);
    m.kld_max = v.empty() ? 0.0 : v.back();
    res.models.push_back(m);
  }
  return res;
}

}  // namespace bitsmith::eval
