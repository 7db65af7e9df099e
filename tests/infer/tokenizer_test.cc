// The "llama" tokenizer against llama2.c's encoder (tests/oracles/llama2c_tokenizer.py, an
// independent reimplementation of run.c's algorithm reading tok512.bin) and against the token
// count llama.cpp gives for wikitext2 (shared/models/stories260K/README.md: 815,069 with BOS).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "bitsmith/infer/tokenizer.h"
#include "test_model.h"

namespace bitsmith::infer {
namespace {

const Tokenizer& stories_tokenizer() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::create(testing::stories260k().vocabulary());
    if (!r.ok()) std::abort();
    return std::move(r).value();
  }();
  return *t;
}

std::string hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

// Runs the Python oracle over the texts; empty result when Python is missing.
std::vector<std::vector<int32_t>> oracle_ids(const std::vector<std::string>& texts) {
  const std::string in_path = ::testing::TempDir() + "/tok_oracle_in.txt";
  {
    std::ofstream f(in_path);
    for (const auto& t : texts) f << hex(t) << "\n";
  }
  const std::string cmd = fmt::format(
      "{} {}/tests/oracles/llama2c_tokenizer.py {} 512 < {}", BITSMITH_PYTHON,
      BITSMITH_SOURCE_DIR, testing::shared_path("models/stories260K/tok512.bin"), in_path);
  std::vector<std::vector<int32_t>> out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[1 << 16];
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    std::istringstream line(buf);
    std::vector<int32_t> ids;
    int32_t id;
    while (line >> id) ids.push_back(id);
    out.push_back(ids);
  }
  pclose(p);
  return out;
}

TEST(Tokenizer, LlamaMatchesLlama2cEncoder) {
  std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily.",
      "Lily's mom said, \"Lily, let's go to the park.\"",
      "  two leading spaces and  double   spaces ",
      "line one\nline two\n\n\ttab",
      "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 emoji",  // é ï 日本 😀
      "numbers 1234567890 and symbols #@$%^&*()[]{}<>~`|\\",
      " = Robert Boulter = \n Robert Boulter is an English film , television and theatre actor .",
      "a",
      " ",
      "ZZZZqqqqxxxx",
  };
  // Plus lines of real text: the first lines of wikitext2 with some content.
  std::ifstream wt(testing::shared_path("data/wikitext2_test.txt"));
  std::string line;
  for (int i = 0; i < 400 && std::getline(wt, line); ++i) {
    if (line.size() > 20 && i % 7 == 0) texts.push_back(line);
  }
  auto expected = oracle_ids(texts);
  if (expected.empty()) GTEST_SKIP() << "python3 oracle did not run";
  ASSERT_EQ(expected.size(), texts.size());
  const Tokenizer& tok = stories_tokenizer();
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(tok.encode(texts[i], true), expected[i]) << "text " << i << ": " << texts[i];
  }
}

TEST(Tokenizer, DecodeInvertsEncode) {
  const Tokenizer& tok = stories_tokenizer();
  for (std::string text : {"Once upon a time", "  spaced  out ", "caf\xC3\xA9 \xF0\x9F\x98\x80",
                           "a\nb\n"}) {
    auto ids = tok.encode(text, true);
    EXPECT_EQ(tok.decode(ids), text);
  }
}

TEST(Tokenizer, EmptyAndBosOnly) {
  const Tokenizer& tok = stories_tokenizer();
  EXPECT_EQ(tok.encode("", true), std::vector<int32_t>{tok.bos_id()});
  EXPECT_TRUE(tok.encode("", false).empty());
  EXPECT_EQ(tok.decode_piece(-1, 99999), "");
  EXPECT_EQ(tok.decode_piece(-1, -5), "");
}

TEST(Tokenizer, ByteFallbackForUnknownCharacters) {
  const Tokenizer& tok = stories_tokenizer();
  // U+4E2D (中) is not one of the 512 tokens: three byte tokens <0xE4><0xB8><0xAD>.
  auto ids = tok.encode("\xE4\xB8\xAD", false);
  ASSERT_GE(ids.size(), 3u);
  const auto& v = tok.vocabulary().tokens;
  EXPECT_EQ(v[static_cast<size_t>(ids[ids.size() - 3])], "<0xE4>");
  EXPECT_EQ(v[static_cast<size_t>(ids[ids.size() - 1])], "<0xAD>");
}

TEST(Tokenizer, Wikitext2CountMatchesLlamaCpp) {
  std::ifstream f(testing::shared_path("data/wikitext2_test.txt"), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();  // llama.cpp drops one newline
  EXPECT_EQ(stories_tokenizer().encode(text, true).size(), 815069u);
}

TEST(Tokenizer, RejectsBadVocabularies) {
  Vocabulary v;
  EXPECT_FALSE(Tokenizer::create(v).ok());
  v.tokens = {"a", "b"};
  v.scores = {1.0f};
  EXPECT_FALSE(Tokenizer::create(v).ok());
  v.scores = {1.0f, 2.0f};
  v.model = "wordpiece";
  auto r = Tokenizer::create(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("wordpiece"), std::string::npos);
}

}  // namespace
}  // namespace bitsmith::infer
