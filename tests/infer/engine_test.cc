// End-to-end golden tests (DESIGN.md convention 8): the stories260K greedy text of
// shared/models/stories260K/README.md, produced by llama2.c's run.c, reproduced exactly; and
// the logits at every position of a fixed prompt against the independent numpy forward pass
// (tests/oracles/llama2c_forward.py, stored by tests/oracles/stories260k_logits.py), as llm.c's
// test_gpt2 checks its logits: the text only shows a drift once it flips an argmax.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "bitsmith/core/npy.h"

#include "bitsmith/infer/engine.h"
#include "bitsmith/infer/generate.h"
#include "bitsmith/infer/tokenizer.h"
#include "test_model.h"

namespace bitsmith::infer {
namespace {


// The indented greedy text of the README, lines joined with "\n".
std::string golden_text() {
  std::ifstream f(testing::shared_path("models/stories260K/README.md"));
  std::string line, text;
  bool in_block = false;
  while (std::getline(f, line)) {
    if (line.rfind("    ", 0) == 0) {
      if (in_block) text += "\n";
      text += line.substr(4);
      in_block = true;
    } else if (in_block) {
      break;
    }
  }
  return text;
}

TEST(Engine, Stories260KGreedyMatchesLlama2c) {
  const Model& m = testing::stories260k();
  auto engine = Engine::create(m, {});
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto tok = Tokenizer::create(m.vocabulary());
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  GenerateOptions opt;
  opt.max_tokens = 256;  // the README: "stops at BOS or after 256 tokens"
  auto res = generate(**engine, **tok, opt, {});
  ASSERT_TRUE(res.ok()) << res.status().to_string();
  const std::string golden = golden_text();
  ASSERT_GT(golden.size(), 400u);
  EXPECT_EQ(res->text.substr(0, golden.size()), golden);
}

std::string golden_path(const std::string& name) {
  return std::string(BITSMITH_SOURCE_DIR) + "/tests/infer/golden/" + name;
}

TEST(Engine, Stories260KLogitsMatchNumpyForward) {
  std::ifstream tf(golden_path("stories260k_tokens.txt"));
  ASSERT_TRUE(tf.good());
  std::vector<int32_t> tokens;
  for (int32_t t; tf >> t;) tokens.push_back(t);
  auto ref = read_npy(golden_path("stories260k_logits.npy"));
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  const int64_t vocab = ref->shape()[1];
  ASSERT_EQ(ref->shape()[0], static_cast<int64_t>(tokens.size()));
  ASSERT_GE(tokens.size(), 16u);

  const Model& m = testing::stories260k();
  auto engine = Engine::create(m, {});
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::vector<float> logits;
  ASSERT_TRUE((*engine)->forward(tokens, 0, 0, &logits).ok());
  ASSERT_EQ(logits.size(), tokens.size() * static_cast<size_t>(vocab));

  // numpy runs the attention in float64 and everything else in float32 with other summation
  // orders; observed: max difference 1.8e-5, ~1e-6 of the largest logit (22). The bound, 2e-5
  // of the largest logit (4.4e-4), leaves room for other BLAS kernels and CPUs and is far below
  // any real error (a wrong RoPE or norm moves logits by whole units); checked at every
  // position, not only the last.
  const float* r = ref->as<float>().data();
  float amax = 0;
  for (int64_t i = 0; i < ref->shape()[0] * vocab; ++i) amax = std::max(amax, std::fabs(r[i]));
  const float tol = 2e-5f * amax;
  float worst = 0;
  for (size_t p = 0; p < tokens.size(); ++p) {
    for (int64_t v = 0; v < vocab; ++v) {
      const size_t i = p * static_cast<size_t>(vocab) + static_cast<size_t>(v);
      worst = std::max(worst, std::fabs(logits[i] - r[i]));
      ASSERT_NEAR(logits[i], r[i], tol) << "position " << p << ", token " << v;
    }
  }
  std::printf("max |logit - numpy| = %.3g (tolerance %.3g)\n", static_cast<double>(worst),
              static_cast<double>(tol));
}

}  // namespace
}  // namespace bitsmith::infer
