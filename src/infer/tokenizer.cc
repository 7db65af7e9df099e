// The "llama" SentencePiece BPE tokenizer and the tokenizer factory; the byte-level "gpt2" BPE
// lives in tokenizer_bpe.cc.
#include "bitsmith/infer/tokenizer.h"

#include <algorithm>
#include <queue>
#include <unordered_map>

#include "tokenizer_internal.h"

namespace bitsmith::infer {

namespace detail {

int utf8_len(unsigned char first) {
  // By the lead byte's high nibble: 0xxx -> 1, 110x -> 2, 1110 -> 3, 1111 -> 4; a stray
  // continuation byte (10xx) counts as one character, as llama.cpp's unicode_len_utf8 does.
  static constexpr int kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[first >> 4];
}

int parse_byte_token(std::string_view text) {
  // "<0xAB>": exactly six characters, two hex digits.
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]), lo = hex(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace detail

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK "▁"

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocabulary v) : Tokenizer(std::move(v)) {
    std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
    const auto& toks = vocab_.tokens;
    ids_.reserve(toks.size());
    for (size_t i = 0; i < toks.size(); ++i) {
      ids_.emplace(toks[i], static_cast<int32_t>(i));  // the first of duplicates wins
      if (toks[i].find(kSpmSpace) != std::string::npos) space_ = kSpmSpace;
      const int b = detail::parse_byte_token(toks[i]);
      if (b >= 0 && byte_ids_[b] < 0) byte_ids_[b] = static_cast<int32_t>(i);
    }
  }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  std::string decode_piece(int32_t prev, int32_t id) const override;

 private:
  struct Symbol {
    int prev, next;
    size_t offset, len;
  };
  struct Bigram {
    float score;
    int left, right;
    size_t len;
    // Highest score first; among equal scores the leftmost pair.
    bool operator<(const Bigram& o) const {
      return score < o.score || (score == o.score && left > o.left);
    }
  };

  int32_t find(std::string_view s) const {
    auto it = ids_.find(std::string(s));
    return it == ids_.end() ? -1 : it->second;
  }
  float score(int32_t id) const {
    return static_cast<size_t>(id) < vocab_.scores.size() ? vocab_.scores[id] : 0.0f;
  }

  std::unordered_map<std::string, int32_t> ids_;
  int32_t byte_ids_[256];  // the <0xXX> token of each byte, -1 if absent
  std::string_view space_ = " ";
};

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  if (text.empty()) return out;
  // The SentencePiece dummy prefix (unless the model says none, tokenizer.ggml.add_space_prefix
  // false, as llama.cpp honours it), then every space as the vocabulary's space symbol.
  std::string s(vocab_.add_space_prefix == 0 ? std::string() : std::string(space_));
  s.reserve(text.size() * 2);
  for (char c : text) {
    if (c == ' ') {
      s += space_;
    } else {
      s += c;
    }
  }
  std::vector<Symbol> sym;
  sym.reserve(s.size());
  for (size_t off = 0; off < s.size();) {
    const size_t len = std::min<size_t>(detail::utf8_len(static_cast<unsigned char>(s[off])),
                                        s.size() - off);
    const int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, off + len < s.size() ? idx + 1 : -1, off, len});
    off += len;
  }
  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t len = sym[left].len + sym[right].len;
    const int32_t id = find(std::string_view(s).substr(sym[left].offset, len));
    if (id >= 0) queue.push({score(id), left, right, len});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) try_add(i, i + 1);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    // Stale: one side was merged away or grew since this pair was queued.
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int i = 0; i >= 0 && !sym.empty(); i = sym[i].next) {
    const std::string_view piece = std::string_view(s).substr(sym[i].offset, sym[i].len);
    const int32_t id = find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Byte fallback: a character the vocabulary lacks becomes its UTF-8 bytes.
    for (unsigned char c : piece) {
      out.push_back(byte_ids_[c] >= 0 ? byte_ids_[c] : vocab_.unk_id);
    }
  }
  return out;
}

std::string SpmTokenizer::decode_piece(int32_t prev, int32_t id) const {
  if (id < 0 || id >= size()) return {};
  if (detail::is_control(vocab_, id)) return {};
  const std::string& text = vocab_.tokens[static_cast<size_t>(id)];
  const int b = detail::parse_byte_token(text);
  if (b >= 0) return std::string(1, static_cast<char>(b));
  std::string piece;
  piece.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
      piece += ' ';
      i += kSpmSpace.size();
    } else {
      piece += text[i++];
    }
  }
  // The dummy prefix the encoder added is not part of the text.
  const bool at_start = prev < 0 || prev == vocab_.bos_id;
  if (vocab_.add_space_prefix != 0 && at_start && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
  return piece;
}

}  // namespace

namespace detail {
bool is_control(const Vocabulary& v, int32_t id) {
  if (id == v.bos_id || id == v.eos_id) return true;
  return static_cast<size_t>(id) < v.types.size() &&
         v.types[static_cast<size_t>(id)] == TokenType::kControl;
}
}  // namespace detail

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    out += decode_piece(prev, id);
    prev = id;
  }
  return out;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(const Vocabulary& vocab) {
  if (vocab.tokens.empty()) return invalid_argument("tokenizer: the vocabulary is empty");
  if (!vocab.scores.empty() && vocab.scores.size() != vocab.tokens.size()) {
    return corrupt_data("tokenizer: {} scores for {} tokens", vocab.scores.size(),
                        vocab.tokens.size());
  }
  if (vocab.model == "llama" || vocab.model.empty()) {
    auto t = std::make_unique<SpmTokenizer>(vocab);
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  if (vocab.model == "gpt2") return detail::make_bpe_tokenizer(vocab);
  return unsupported("tokenizer model '{}' is not supported (llama, gpt2)", vocab.model);
}

}  // namespace bitsmith::infer
