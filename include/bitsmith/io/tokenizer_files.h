// Tokenizer files as data: llama2.c's tokenizer.bin and Hugging Face's tokenizer.json, read into
// (and written from) core::Vocabulary in GGUF's spelling (see model_file.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"

namespace bitsmith::io {

// llama2.c tokenizer: int32 max_token_length, then per token: float score, int32 length, bytes.
// vocab_size tokens are expected (the checkpoint's); the file must hold exactly that many.
Result<Vocabulary> read_llama2c_tokenizer(const std::string& path, int64_t vocab_size);
// Parses the same from bytes (what the fuzzer drives); `name` labels errors.
Result<Vocabulary> parse_llama2c_tokenizer(std::span<const uint8_t> bytes, std::string_view name,
                                           int64_t vocab_size);
// The llama2.c -> GGUF vocabulary conversion of REFERENCE.md 3, applied in place.
void convert_llama2c_vocabulary(Vocabulary& v);

// Hugging Face tokenizer.json with a BPE model: llama style (byte_fallback, U+2581 spaces) ->
// model "llama"; byte-level (ByteLevel pre-tokenizer) -> model "gpt2" with merges. Scores of a
// llama-style vocabulary are rebuilt from the merge ranks (-rank of the merge that makes the
// token), which orders merges exactly as the SentencePiece scores did. Special tokens come from
// added_tokens; bos/eos from tokenizer_config.json beside it when present.
Result<Vocabulary> read_hf_tokenizer(const std::string& path);
Result<Vocabulary> parse_hf_tokenizer(std::string_view json_text, std::string_view name);
// Writes tokenizer.json + tokenizer_config.json into dir (each atomically). For a "llama"
// vocabulary the merges are derived from the scores the way Hugging Face's SentencePiece
// converter does (every split of a token into two vocabulary pieces, ranked by the token's
// score), so HF's fast tokenizer and read_hf_tokenizer reproduce the same ids.
Status write_hf_tokenizer(const Vocabulary& v, const std::string& dir);

}  // namespace bitsmith::io
