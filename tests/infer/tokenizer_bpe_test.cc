// The byte-level ("gpt2") BPE tokenizer: pre-tokenizer splits derived by hand from the regexes,
// merges on a hand-built vocabulary, and, when SmolLM2-135M is installed
// (scripts/models/install_smollm2.sh) and llama-cpp-python is present, token ids equal to
// llama.cpp's on the same GGUF (tests/oracles/bpe_llama_tokens.py) for lines of the shared texts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bitsmith/infer/tokenizer.h"
#include "test_model.h"
#include "../../src/infer/tokenizer_internal.h"

namespace bitsmith::infer {
namespace {

using detail::BpePre;
using Words = std::vector<std::string>;

TEST(BpeUnicode, CharacterClasses) {
  using detail::CharClass;
  using detail::char_class;
  EXPECT_EQ(char_class('a'), CharClass::kLetter);
  EXPECT_EQ(char_class('Z'), CharClass::kLetter);
  EXPECT_EQ(char_class('7'), CharClass::kNumber);
  EXPECT_EQ(char_class(','), CharClass::kPunct);
  EXPECT_EQ(char_class('$'), CharClass::kOther);  // Sc: a symbol, not punctuation
  EXPECT_EQ(char_class(0xE9), CharClass::kLetter);    // é
  EXPECT_EQ(char_class(0xD7), CharClass::kOther);     // × (Sm)
  EXPECT_EQ(char_class(0xB2), CharClass::kNumber);    // ² (No)
  EXPECT_EQ(char_class(0x2013), CharClass::kPunct);   // – en dash (Pd)
  EXPECT_EQ(char_class(0x20AC), CharClass::kOther);   // € (Sc)
  EXPECT_EQ(char_class(0x0301), CharClass::kOther);   // combining acute (Mn)
  EXPECT_EQ(char_class(0x65E5), CharClass::kLetter);  // 日 (Lo)
  EXPECT_EQ(char_class(0x0663), CharClass::kNumber);  // Arabic-Indic three (Nd)
  EXPECT_EQ(char_class(0x10FFFF), CharClass::kUnassigned);
  EXPECT_TRUE(detail::is_unicode_space(0xA0));
  EXPECT_TRUE(detail::is_unicode_space('\n'));
  EXPECT_FALSE(detail::is_unicode_space(0x200B));  // zero width space is not White_Space
}

TEST(BpePreSplit, Gpt2) {
  const Words got = detail::bpe_pre_split(BpePre::kGpt2, "Hello world, it's 1990's  x\n\n y");
  // ' ?\p{L}+' keeps the leading space; "  x": \s+(?!\S) leaves one space for " x".
  const Words want = {"Hello", " world", ",", " it", "'s", " 1990", "'s", " ", " x", "\n\n", " y"};
  EXPECT_EQ(got, want);
  EXPECT_EQ(detail::bpe_pre_split(BpePre::kGpt2, "a  "), (Words{"a", "  "}));  // at the end: all
  EXPECT_EQ(detail::bpe_pre_split(BpePre::kGpt2, "IT'S"), (Words{"IT", "'", "S"}));  // case matters
  EXPECT_TRUE(detail::bpe_pre_split(BpePre::kGpt2, "").empty());
}

TEST(BpePreSplit, SmollmIsolatesEveryDigit) {
  // \p{N} first: each digit is a piece of its own, so " 1990" loses its space to the piece before.
  const Words got = detail::bpe_pre_split(BpePre::kSmollm, "in 1990, x2 \xC2\xB2");  // ² is \p{N}
  const Words want = {"in", " ", "1", "9", "9", "0", ",", " x", "2", " ", "\xC2\xB2"};
  EXPECT_EQ(got, want);
}

TEST(BpePreSplit, Llama3AndQwen2) {
  const std::string text = "I'M 12345 ok!!\n\n  end \xC3\xA9t\xC3\xA9";  // été
  const Words llama3 = {"I", "'M", " ", "123", "45", " ok", "!!\n\n", " ", " end", " \xC3\xA9t\xC3\xA9"};
  EXPECT_EQ(detail::bpe_pre_split(BpePre::kLlama3, text), llama3);
  const Words qwen2 = {"I", "'M", " ", "1", "2", "3", "4", "5", " ok", "!!\n\n", " ", " end",
                       " \xC3\xA9t\xC3\xA9"};
  EXPECT_EQ(detail::bpe_pre_split(BpePre::kQwen2, text), qwen2);
  // \s*[\r\n]+ takes the whitespace up to the last line break.
  EXPECT_EQ(detail::bpe_pre_split(BpePre::kLlama3, "a \n \nb"), (Words{"a", " \n \n", "b"}));
}

TEST(BpePreSplit, DefaultSplitsPunctuationAndDigitTriples) {
  const Words got = detail::bpe_pre_split(BpePre::kDefault, "ab... 12345");
  EXPECT_EQ(got, (Words{"ab", "...", " ", "123", "45"}));
}

TEST(BpePreSplit, InvalidUtf8BecomesReplacementCharacter) {
  const Words got = detail::bpe_pre_split(BpePre::kGpt2, "a\xFF");
  EXPECT_EQ(got, (Words{"a", "\xEF\xBF\xBD"}));
}

// A small vocabulary spelled in GPT-2's characters: the 256 byte characters, then merges.
Vocabulary toy_vocabulary() {
  Vocabulary v;
  v.model = "gpt2";
  v.pre = "gpt2";
  v.bos_id = -1;
  v.eos_id = -1;
  v.add_bos = false;
  int next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : next++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    v.tokens.push_back(s);
  }
  // "Ġ" is U+0120, the space. Ranks: "l o" before "Ġ l", so " lo" is "Ġ" + "lo".
  v.merges = {"l o", "Ġ l", "Ġ lo", "h e", "he l", "hel lo"};
  for (const char* t : {"lo", "Ġl", "Ġlo", "he", "hel", "hello"}) v.tokens.push_back(t);
  return v;
}

TEST(BpeTokenizer, MergesByRankAndDecodesBytes) {
  auto tok = Tokenizer::create(toy_vocabulary());
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const auto id = [&](const char* s) {
    const auto& t = (*tok)->vocabulary().tokens;
    return static_cast<int32_t>(std::find(t.begin(), t.end(), s) - t.begin());
  };
  EXPECT_EQ((*tok)->encode("hello", false), (std::vector<int32_t>{id("hello")}));
  EXPECT_EQ((*tok)->encode(" lo", false), (std::vector<int32_t>{id("Ġlo")}));
  EXPECT_EQ((*tok)->encode(" l", false), (std::vector<int32_t>{id("Ġl")}));
  // No merge for "x"/"y": single byte characters.
  EXPECT_EQ((*tok)->encode("xy\n", false), (std::vector<int32_t>{'x', 'y', id("Ċ")}));
  for (const std::string& text : std::vector<std::string>{"hello lo", "caf\xC3\xA9 \xF0\x9F\x98\x80\n\t x", std::string("a\0b", 3)}) {
    EXPECT_EQ((*tok)->decode((*tok)->encode(text, false)), text);
  }
}

TEST(BpeTokenizer, RejectsUnknownPreTokenizerAndMissingMerges) {
  Vocabulary v = toy_vocabulary();
  v.pre = "no-such-pre";
  EXPECT_FALSE(Tokenizer::create(v).ok());
  v = toy_vocabulary();
  v.merges.clear();
  EXPECT_FALSE(Tokenizer::create(v).ok());
}

// --- Against llama.cpp on SmolLM2-135M (skips when the model or llama_cpp is absent) ---

std::string run_command(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  if (status != nullptr) *status = st;
  return out;
}

std::string smollm2_path() {
  std::string path = run_command(fmt::format("{} {}/scripts/models/find_model.py smollm2 2>/dev/null",
                                             BITSMITH_PYTHON, BITSMITH_SOURCE_DIR));
  while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
  return path;
}

const Model* smollm2() {
  static std::unique_ptr<Model> m = []() -> std::unique_ptr<Model> {
    const std::string path = smollm2_path();
    if (path.empty()) return nullptr;
    auto r = io::open_model(path);
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return m.get();
}

std::vector<int32_t> parse_ids(const std::string& line) {
  std::istringstream in(line);
  std::vector<int32_t> ids;
  int32_t id;
  while (in >> id) ids.push_back(id);
  return ids;
}

// llama.cpp's ids for each text; empty when the oracle cannot run (no llama_cpp).
std::vector<std::vector<int32_t>> llama_ids(const std::string& model,
                                            const std::vector<std::string>& texts) {
  const std::string in_path = ::testing::TempDir() + "/bpe_oracle_in.txt";
  {
    std::ofstream f(in_path);
    for (const auto& t : texts) {
      for (unsigned char c : t) f << fmt::format("{:02x}", c);
      f << "\n";
    }
  }
  int status = 0;
  const std::string out = run_command(
      fmt::format("{} {}/tests/oracles/bpe_llama_tokens.py '{}' < {} 2>/dev/null", BITSMITH_PYTHON,
                  BITSMITH_SOURCE_DIR, model, in_path), &status);
  std::vector<std::vector<int32_t>> ids;
  if (status != 0) return ids;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) ids.push_back(parse_ids(line));
  return ids;
}

std::vector<std::string> sample_texts() {
  std::vector<std::string> texts = {
      "Hello world, it's 1990's  test\n\nok",
      "  two leading spaces and  double   spaces ",
      "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 emoji \xE2\x80\x93 dash",
      "numbers 1234567890 and symbols #@$%^&*()[]{}<>~`|\\",
      "I'M HERE, YOU'RE THERE; we'll see\r\n\ttab",
      "<|im_start|>user\nplain text, not a special token<|im_end|>",
  };
  // Every 37th non-empty line of each shared text (about 90 lines), whole lines with newlines.
  for (const char* file : {"data/wikitext2_test.txt", "data/tinyshakespeare.txt"}) {
    std::ifstream in(testing::shared_path(file));
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      if (!line.empty() && i % 37 == 0) texts.push_back(line + "\n");
    }
  }
  return texts;
}

TEST(BpeTokenizer, Smollm2MatchesLlamaCpp) {
  const Model* m = smollm2();
  if (m == nullptr) GTEST_SKIP() << "SmolLM2-135M not installed (scripts/models/install_smollm2.sh)";
  const std::vector<std::string> texts = sample_texts();
  const auto want = llama_ids(m->path(), texts);
  if (want.empty()) GTEST_SKIP() << "llama_cpp (llama-cpp-python) not importable";
  ASSERT_EQ(want.size(), texts.size());
  auto tok = Tokenizer::create(m->vocabulary());
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  EXPECT_EQ(m->vocabulary().pre, "smollm");
  size_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto got = (*tok)->encode(texts[i], false);
    tokens += got.size();
    EXPECT_EQ(got, want[i]) << "text " << i << ": " << texts[i];
    EXPECT_EQ((*tok)->decode(got), texts[i]) << "text " << i;
  }
  EXPECT_GT(tokens, 1000u);
}

TEST(BpeTokenizer, Smollm2SpecialTokensAndBos) {
  const Model* m = smollm2();
  if (m == nullptr) GTEST_SKIP() << "SmolLM2-135M not installed (scripts/models/install_smollm2.sh)";
  auto tok = Tokenizer::create(m->vocabulary());
  ASSERT_TRUE(tok.ok());
  const Vocabulary& v = m->vocabulary();
  EXPECT_FALSE(v.add_bos);  // tokenizer.ggml.add_bos_token = false
  EXPECT_EQ((*tok)->encode("Hi", true).front(), v.bos_id);
  EXPECT_EQ((*tok)->decode_piece(-1, v.eos_id), "");  // control tokens have no text
  EXPECT_EQ((*tok)->decode((*tok)->encode(" The capital of France", false)), " The capital of France");
}

// Both shared texts whole (650k tokens; about 6 s here, most of it llama.cpp's side).
TEST(BpeTokenizer, Smollm2WholeFilesMatchLlamaCpp) {
  const Model* m = smollm2();
  if (m == nullptr) GTEST_SKIP() << "SmolLM2-135M not installed";
  auto tok = Tokenizer::create(m->vocabulary());
  ASSERT_TRUE(tok.ok());
  for (const char* file : {"data/wikitext2_test.txt", "data/tinyshakespeare.txt"}) {
    const std::string path = testing::shared_path(file);
    int status = 0;
    const auto want = parse_ids(run_command(
        fmt::format("{} {}/tests/oracles/bpe_llama_tokens.py '{}' --file '{}' 2>/dev/null",
                    BITSMITH_PYTHON, BITSMITH_SOURCE_DIR, m->path(), path), &status));
    if (status != 0) GTEST_SKIP() << "llama_cpp not importable";
    std::ifstream in(path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto got = (*tok)->encode(text, false);
    size_t first = 0;
    while (first < got.size() && first < want.size() && got[first] == want[first]) ++first;
    std::printf("%s: bitsmith %zu tokens, llama.cpp %zu, %s\n", file, got.size(), want.size(),
                got == want ? "identical" : fmt::format("first mismatch at {}", first).c_str());
    EXPECT_EQ(got.size(), want.size()) << file;
    EXPECT_EQ(first, got.size()) << file << ": first mismatch at token " << first;
  }
}

}  // namespace
}  // namespace bitsmith::infer
