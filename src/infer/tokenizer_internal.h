// Helpers shared by the tokenizer implementations (internal to infer).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "bitsmith/infer/tokenizer.h"

namespace bitsmith::infer::detail {

// Bytes in the UTF-8 character that starts with `first` (1 for a stray continuation byte).
int utf8_len(unsigned char first);
// The byte of a "<0xAB>" token, or -1.
int parse_byte_token(std::string_view text);
// BOS, EOS and tokens typed control: they have no text.
bool is_control(const Vocabulary& v, int32_t id);
// The byte-level BPE tokenizer (tokenizer_bpe.cc).
Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(const Vocabulary& vocab);

}  // namespace bitsmith::infer::detail
