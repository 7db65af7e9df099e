// The byte-level BPE tokenizer (tokenizer.ggml.model "gpt2", Hugging Face ByteLevel BPE), as
// llama.cpp's llm_tokenizer_bpe runs it:
//   1. the pre-tokenizer of Vocabulary::pre splits the text into words (tokenizer_bpe_split.cc);
//   2. each word's bytes are spelled as GPT-2's printable characters (byte_to_unicode below);
//   3. starting from single characters, the adjacent pair with the lowest merge rank is merged,
//      the leftmost first among equal ranks, until no pair has a rank;
//   4. each final symbol is its vocabulary id (a symbol the vocabulary lacks, which a consistent
//      vocabulary never produces, becomes its single characters' ids where they exist).
// Special tokens in the text are not parsed (llama.cpp's default for tokenize without
// parse_special: control tokens are plain text); user-defined tokens are not split out either.
#include <queue>
#include <unordered_map>

#include "tokenizer_internal.h"

namespace bitsmith::infer::detail {

namespace {

// GPT-2's byte <-> printable character table: the printable Latin-1 bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes (controls, space, 0x7F-0xA0,
// soft hyphen 0xAD), in byte order, become U+0100, U+0101, ... (so space 0x20 is U+0120 'Ġ').
struct ByteTable {
  std::string to_text[256];       // UTF-8 of the character spelling each byte
  int16_t from_cp[0x180];         // the byte a character below U+0180 spells, or -1
  ByteTable() {
    std::fill(std::begin(from_cp), std::end(from_cp), int16_t{-1});
    uint32_t next = 0x100;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? b : next++;
      from_cp[cp] = static_cast<int16_t>(b);
      std::string& s = to_text[b];
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(Vocabulary v, BpePreInfo pre) : Tokenizer(std::move(v)), pre_(pre) {
    const auto& toks = vocab_.tokens;
    ids_.reserve(toks.size());
    for (size_t i = 0; i < toks.size(); ++i) ids_.emplace(toks[i], static_cast<int32_t>(i));
    ranks_.reserve(vocab_.merges.size());
    for (size_t r = 0; r < vocab_.merges.size(); ++r) {
      ranks_.emplace(vocab_.merges[r], static_cast<int32_t>(r));  // the first of duplicates
    }
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode_piece(int32_t prev, int32_t id) const override;

 private:
  using Symbol = MergeSymbol;
  struct Pair {
    int32_t rank;
    int left, right;
    size_t len;
    // Lowest rank first; among equal ranks the leftmost pair.
    bool operator<(const Pair& o) const {
      return rank > o.rank || (rank == o.rank && left > o.left);
    }
  };

  int32_t find(std::string_view s) const {
    auto it = ids_.find(std::string(s));
    return it == ids_.end() ? -1 : it->second;
  }
  int32_t rank(std::string_view a, std::string_view b) const {
    std::string key;
    key.reserve(a.size() + b.size() + 1);
    key.append(a).append(1, ' ').append(b);
    auto it = ranks_.find(key);
    return it == ranks_.end() ? -1 : it->second;
  }
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;

  BpePreInfo pre_;
  std::unordered_map<std::string, int32_t> ids_;
  std::unordered_map<std::string, int32_t> ranks_;  // "left right" -> merge rank
};

// One word, already spelled in GPT-2's characters.
void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
  if (pre_.ignore_merges) {
    if (const int32_t id = find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  for (size_t off = 0; off < word.size();) {
    const size_t len = std::min<size_t>(utf8_len(static_cast<unsigned char>(word[off])),
                                        word.size() - off);
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, off + len < word.size() ? idx + 1 : -1, off, len});
    off += len;
  }
  const std::string_view w(word);
  std::priority_queue<Pair> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = sym[static_cast<size_t>(left)];
    const Symbol& r = sym[static_cast<size_t>(right)];
    const int32_t rk = rank(w.substr(l.offset, l.len), w.substr(r.offset, r.len));
    if (rk >= 0) queue.push({rk, left, right, l.len + r.len});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) try_add(i, i + 1);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& l = sym[static_cast<size_t>(p.left)];
    Symbol& r = sym[static_cast<size_t>(p.right)];
    // Stale: one side was merged away or grew since the pair was queued (symbols only grow
    // by absorbing their right neighbour, so the lengths tell).
    if (l.len == 0 || r.len == 0 || l.len + r.len != p.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = p.left;
    try_add(l.prev, p.left);
    try_add(p.left, l.next);
  }
  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[static_cast<size_t>(i)].next) {
    const std::string_view piece = w.substr(sym[static_cast<size_t>(i)].offset,
                                            sym[static_cast<size_t>(i)].len);
    if (const int32_t id = find(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (size_t k = 0; k < piece.size(); ++k) {
      if (const int32_t id = find(piece.substr(k, 1)); id >= 0) out.push_back(id);
    }
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  if (text.empty()) return out;
  const ByteTable& bt = byte_table();
  // Words repeat a lot in real text: remember each distinct word's ids for this call.
  std::unordered_map<std::string, std::vector<int32_t>> cache;
  std::string spelled;
  for (const std::string& word : bpe_pre_split(pre_.pre, text)) {
    auto it = cache.find(word);
    if (it == cache.end()) {
      spelled.clear();
      for (unsigned char c : word) spelled += bt.to_text[c];
      std::vector<int32_t> ids;
      encode_word(spelled, ids);
      it = cache.emplace(word, std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

std::string BpeTokenizer::decode_piece(int32_t /*prev*/, int32_t id) const {
  if (id < 0 || id >= size() || is_control(vocab_, id)) return {};
  const std::string& text = vocab_.tokens[static_cast<size_t>(id)];
  const ByteTable& bt = byte_table();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    const size_t len = std::min<size_t>(utf8_len(b0), text.size() - i);
    uint32_t cp = b0;
    if (len == 2) cp = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
    // A character of GPT-2's table gives its byte; anything else (a vocabulary that stores
    // raw text) is copied as it is.
    if ((len == 1 || len == 2) && cp < 0x180 && bt.from_cp[cp] >= 0) {
      out += static_cast<char>(bt.from_cp[cp]);
    } else {
      out.append(text, i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(const Vocabulary& vocab) {
  BITSMITH_ASSIGN_OR_RETURN(BpePreInfo pre, bpe_pre_from_name(vocab.pre));
  if (vocab.merges.empty()) {
    return invalid_argument("tokenizer model 'gpt2': the vocabulary has no merges");
  }
  return std::unique_ptr<Tokenizer>(std::make_unique<BpeTokenizer>(vocab, pre));
}

}  // namespace bitsmith::infer::detail
