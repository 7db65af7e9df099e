// End-to-end golden test (DESIGN.md convention 8): the stories260K greedy text of
// shared/models/stories260K/README.md, produced by llama2.c's run.c, reproduced exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace bitsmith::infer
