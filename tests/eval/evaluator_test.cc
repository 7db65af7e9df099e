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

}  // namespace
}  // namespace bitsmith::eval
