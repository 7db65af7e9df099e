// Tokenizers built from a core::Vocabulary (whatever file it came from):
//   "llama": SentencePiece BPE with byte fallback, as llama.cpp's SPM tokenizer and llama2.c's
//            encoder do it: a "▁" prefix, spaces as "▁" (or as " " when the vocabulary spells
//            them so, like llama2.c's tokenizer.bin), highest-score merges first, leftmost on
//            ties, characters outside the vocabulary as <0xXX> byte tokens.
//   "gpt2":  byte-level BPE: a regex pre-tokenizer (GPT-2's, or llama3/qwen2/smollm per
//            Vocabulary::pre), bytes mapped to printable characters, merges by rank.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"

namespace bitsmith::infer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // A tokenizer for vocab.model; the vocabulary is copied.
  static Result<std::unique_ptr<Tokenizer>> create(const Vocabulary& vocab);

  // Token ids of `text`, with BOS first when add_bos (and the vocabulary has one).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // The bytes token `id` stands for when it follows `prev` (-1 at the start): byte tokens give
  // their byte, "▁" gives a space, and the space a SentencePiece prefix added after BOS is
  // dropped. Control tokens give nothing. Streaming concatenates these.
  virtual std::string decode_piece(int32_t prev, int32_t id) const = 0;
  std::string decode(std::span<const int32_t> ids) const;

  const Vocabulary& vocabulary() const { return vocab_; }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  int64_t size() const { return static_cast<int64_t>(vocab_.tokens.size()); }

 protected:
  explicit Tokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {}
  Vocabulary vocab_;
};

}  // namespace bitsmith::infer
