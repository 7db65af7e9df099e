#include "bitsmith/eval/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "../infer/test_model.h"
#include "bitsmith/infer/tokenizer.h"

namespace bitsmith::eval {
namespace {

std::vector<int32_t> wikitext_tokens() {
  std::ifstream f(testing::shared_path("data/wikitext2_test.txt"), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();
  auto tok = infer::Tokenizer::create(testing::stories260k().vocabulary());
  EXPECT_TRUE(tok.ok());
  return (*tok)->encode(text, true);
}

// The full llama.cpp-convention run of shared/models/stories260K/README.md: 3183 chunks of 256,
// llama.cpp 116.0674, float64 reference 116.0679.
TEST(Evaluator, Stories260KWikitextCtx256MatchesLlamaCpp) {
  infer::EngineOptions eo;
  eo.context = 256;
  auto engine = infer::Engine::create(testing::stories260k(), eo);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const auto tokens = wikitext_tokens();
  ASSERT_EQ(tokens.size(), 815069u);
  infer::Engine* engines[] = {engine->get()};
  EvalOptions opt;
  opt.ctx = 256;
  auto r = evaluate(engines, tokens, opt);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->chunks, 3183);
  EXPECT_EQ(r->scored, 3183 * 127);
  std::printf("stories260K wikitext2 ctx 256: %lld tokens, %lld chunks, ppl %.6f\n",
              static_cast<long long>(r->tokens), static_cast<long long>(r->chunks),
              r->models[0].perplexity);
  EXPECT_NEAR(r->models[0].perplexity, 116.0679, 0.005);
}

// The evaluator consumes logits one vocabulary slice at a time (running log-sum-exp, argmax and
// KL sums): whatever the slice width, it gives what row_stats gives on whole logits rows. One
// slice of the whole vocabulary runs the same products as forward(): equal to 1e-13. Narrower
// slices change OpenBLAS's blocking of the output product (logits move by float rounding), so
// they agree to 1e-6 (a wrong rescaling of the running sums would be off by O(1)).
TEST(Evaluator, SlicedStatisticsEqualWholeRows) {
  auto fp8 = quant::find_scheme("fp8_e4m3");
  ASSERT_TRUE(fp8.ok());
  infer::EngineOptions eo;
  eo.context = 64;
  auto ref = infer::Engine::create(testing::stories260k(), eo);
  eo.weight_scheme = *fp8;
  auto q = infer::Engine::create(testing::stories260k(), eo);
  ASSERT_TRUE(ref.ok() && q.ok());
  const auto all = wikitext_tokens();
  const std::vector<int32_t> tokens(all.begin(), all.begin() + 64 * 3);
  infer::Engine* engines[] = {ref->get(), q->get()};
  for (PplStyle style : {PplStyle::kLlamaCpp, PplStyle::kGptq}) {
    // Whole rows: forward's logits and row_stats, summed the same way.
    const int64_t first = style == PplStyle::kLlamaCpp ? 32 : 0;
    double nll[2] = {0, 0}, kld = 0, agree = 0;
    int64_t scored = 0;
    for (int64_t c = 0; c < 3; ++c) {
      std::vector<int32_t> chunk(tokens.begin() + c * 64, tokens.begin() + (c + 1) * 64);
      if (style == PplStyle::kLlamaCpp) chunk[0] = 1;
      std::vector<float> la, lb;
      ASSERT_TRUE((*ref)->forward(chunk, 0, first, &la).ok());
      ASSERT_TRUE((*q)->forward(chunk, 0, first, &lb).ok());
      for (int64_t r = 0; r + first < 63; ++r, ++scored) {
        std::span<const float> a(la.data() + r * 512, 512), b(lb.data() + r * 512, 512);
        const int32_t target = chunk[static_cast<size_t>(first + r + 1)];
        nll[0] += row_stats(a, {}, target).nll;
        const RowStats s = row_stats(b, a, target);
        nll[1] += s.nll;
        kld += s.kld;
        agree += s.top1_equal ? 1 : 0;
      }
    }
    for (int64_t slice : {0, 7, 64, 100, 256, 512}) {
      EvalOptions opt;
      opt.ctx = 64;
      opt.style = style;
      opt.vocab_slice = slice;
      auto r = evaluate(engines, tokens, opt);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      ASSERT_EQ(r->scored, scored);
      const double n = static_cast<double>(scored);
      const bool whole = slice == 0 || slice == 512;
      const double tol = whole ? 1e-13 : 1e-6;
      EXPECT_NEAR(r->models[0].nll, nll[0] / n, tol) << slice;
      EXPECT_NEAR(r->models[1].nll, nll[1] / n, tol) << slice;
      EXPECT_NEAR(r->models[1].kld, kld / n, tol / 10) << slice;
      EXPECT_GT(r->models[1].kld, 1e-5);
      // A near tie may flip with the rounding of narrower slices.
      EXPECT_NEAR(r->models[1].top1_agreement, agree / n, whole ? 0.0 : 1.5 / n) << slice;
      EXPECT_EQ(r->models[0].kld, 0.0);
      EXPECT_EQ(r->models[0].top1_agreement, 1.0);
    }
  }
}

}  // namespace
}  // namespace bitsmith::eval
