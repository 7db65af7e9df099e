// Helpers shared by the tokenizer implementations (internal to infer).
#pragma once

#include <cstdint>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/infer/tokenizer.h"

namespace bitsmith::infer::detail {

// Bytes in the UTF-8 character that starts with `first` (1 for a stray continuation byte).
int utf8_len(unsigned char first);
// The byte of a "<0xAB>" token, or -1.
int parse_byte_token(std::string_view text);
// BOS, EOS and tokens typed control: they have no text.
bool is_control(const Vocabulary& v, int32_t id);
// One symbol of a word being merged: bytes [offset, offset + len), neighbours by index (-1: none).
struct MergeSymbol {
  int prev, next;
  size_t offset, len;
};
// The byte-level BPE tokenizer (tokenizer_bpe.cc).
Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(const Vocabulary& vocab);

// --- Byte-level BPE pre-tokenization (tokenizer_bpe_split.cc) ---
// Unicode general-category classes the pre-tokenizer regexes ask about (\p{L}, \p{N}, \p{P}).
enum class CharClass : uint8_t { kUnassigned = 0, kLetter = 1, kNumber = 2, kPunct = 3, kOther = 4 };
// Generated table (tokenizer_bpe_unicode.cc): (first code point << 3) | class, sorted.
extern const uint32_t kUnicodeClassRanges[];
extern const size_t kUnicodeClassRangeCount;
CharClass char_class(uint32_t cp);
// The Unicode White_Space property (what \s matches in llama.cpp's pre-tokenizers).
bool is_unicode_space(uint32_t cp);

// The regex pipelines llama.cpp applies for a tokenizer.ggml.pre name.
enum class BpePre { kDefault, kGpt2, kSmollm, kLlama3, kQwen2 };
struct BpePreInfo {
  BpePre pre;
  bool ignore_merges;  // a whole word found in the vocabulary is one token (llama3)
};
// The pipeline for `name` ("" = default); an error names the unsupported pre-tokenizer.
Result<BpePreInfo> bpe_pre_from_name(std::string_view name);
// `text` split into words, each re-encoded as UTF-8 (invalid bytes become U+FFFD).
std::vector<std::string> bpe_pre_split(BpePre pre, std::string_view text);

}  // namespace bitsmith::infer::detail
