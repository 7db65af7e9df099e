// Pre-tokenization for the byte-level ("gpt2") BPE tokenizer: the regex pipelines llama.cpp runs
// for each tokenizer.ggml.pre, written out by hand over code points (no std::regex).
//
// A pipeline is a list of stages. The text starts as one piece; each stage splits every piece
// on its own (a match never crosses a piece boundary, and a lookahead sees the end of the piece
// as the end of the text), keeping both the matches and the text between them as pieces.
//
//   default  [\p{P}$+<=>^~|]+ , gpt2 , \p{N}+ , [0-9][0-9][0-9]
//   gpt2     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
//   smollm   \p{N} , gpt2                    (starcoder, refact, command-r, codeshell, ...)
//   llama3   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//            | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2    llama3 with \p{N} instead of \p{N}{1,3}
//
// Character classes come from a generated Unicode table (tokenizer_bpe_unicode.cc); \s is the
// White_Space property. Limits: the contractions' case folding is ASCII only; letters assigned
// after the table's Unicode version count as unassigned.
#include <algorithm>
#include <array>
#include <span>

#include "tokenizer_internal.h"

namespace bitsmith::infer::detail {

CharClass char_class(uint32_t cp) {
  if (cp < 0x80) {
    // ASCII by hand (the table agrees): letters, digits, everything else printable is P or S.
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CharClass::kLetter;
    if (cp >= '0' && cp <= '9') return CharClass::kNumber;
    static constexpr std::string_view kPunct = "!\"#%&'()*,-./:;?@[\\]_{}";
    if (kPunct.find(static_cast<char>(cp)) != std::string_view::npos) return CharClass::kPunct;
    return CharClass::kOther;
  }
  const std::span<const uint32_t> t(kUnicodeClassRanges, kUnicodeClassRangeCount);
  // The last range whose first code point is <= cp.
  auto it = std::upper_bound(t.begin(), t.end(), cp,
                             [](uint32_t v, uint32_t e) { return v < (e >> 3); });
  if (it == t.begin()) return CharClass::kUnassigned;
  return static_cast<CharClass>(*(it - 1) & 7);
}

bool is_unicode_space(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

Result<BpePreInfo> bpe_pre_from_name(std::string_view name) {
  using P = BpePre;
  struct Entry {
    std::string_view name;
    BpePreInfo info;
  };
  static constexpr std::array<Entry, 19> kNames = {{
      {"", {P::kDefault, false}},          {"default", {P::kDefault, false}},
      {"gpt2", {P::kGpt2, false}},         {"gpt-2", {P::kGpt2, false}},
      {"mpt", {P::kGpt2, false}},          {"olmo", {P::kGpt2, false}},
      {"jais", {P::kGpt2, false}},         {"smollm", {P::kSmollm, false}},
      {"starcoder", {P::kSmollm, false}},  {"refact", {P::kSmollm, false}},
      {"command-r", {P::kSmollm, false}},  {"codeshell", {P::kSmollm, false}},
      {"llama3", {P::kLlama3, true}},      {"llama-v3", {P::kLlama3, true}},
      {"llama-bpe", {P::kLlama3, true}},   {"dbrx", {P::kLlama3, false}},
      {"smaug-bpe", {P::kLlama3, false}},  {"qwen2", {P::kQwen2, false}},
      {"deepseek-r1-qwen", {P::kQwen2, false}},
  }};
  for (const Entry& e : kNames) {
    if (e.name == name) return e.info;
  }
  return unsupported("tokenizer: byte-level BPE pre-tokenizer '{}' is not supported (gpt2, "
                     "smollm, llama-bpe, qwen2, default and their aliases)", name);
}

namespace {

constexpr uint32_t kReplacement = 0xFFFD;

// Code points of `text`; an invalid or truncated sequence gives U+FFFD for its first byte and
// decoding resumes at the next byte (as llama.cpp's unicode_cpts_from_utf8 does).
std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    const int len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3
                  : (b & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len > 0 && i + static_cast<size_t>(len) <= n;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (int k = 1; ok && k < len; ++k) {
      ok = (s[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (!ok) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// One piece being split: code points [begin, end) of the text. Anything outside reads as
// "end of text" (kEnd), as a regex applied to the piece alone would see it.
class Piece {
 public:
  static constexpr uint32_t kEnd = 0xFFFFFFFF;
  Piece(const std::vector<uint32_t>& cps, size_t begin, size_t end, std::vector<size_t>& cuts)
      : cps_(cps), begin_(begin), end_(end), cuts_(cuts), last_(begin) {}
  size_t begin() const { return begin_; }
  size_t end() const { return end_; }
  uint32_t at(size_t i) const { return i >= begin_ && i < end_ ? cps_[i] : kEnd; }
  bool in(size_t i) const { return i >= begin_ && i < end_; }
  CharClass cls(size_t i) const { return in(i) ? char_class(cps_[i]) : CharClass::kUnassigned; }
  bool letter(size_t i) const { return cls(i) == CharClass::kLetter; }
  bool number(size_t i) const { return cls(i) == CharClass::kNumber; }
  bool space(size_t i) const { return in(i) && is_unicode_space(cps_[i]); }
  // [^\s\p{L}\p{N}] over an assigned character.
  bool other(size_t i) const {
    const CharClass c = cls(i);
    return c != CharClass::kUnassigned && c != CharClass::kLetter && c != CharClass::kNumber &&
           !is_unicode_space(cps_[i]);
  }
  // Ends the current word at i (empty words are dropped).
  void cut(size_t i) {
    if (i > last_) cuts_.push_back(i);
    last_ = std::max(last_, i);
  }

 private:
  const std::vector<uint32_t>& cps_;
  size_t begin_, end_;
  std::vector<size_t>& cuts_;
  size_t last_;
};

// 's 't 're 've 'm 'll 'd at p (ASCII case folding when fold): the length matched, or 0.
size_t contraction(const Piece& w, size_t p, bool fold) {
  if (w.at(p) != '\'' || !w.in(p + 1)) return 0;
  auto low = [&](size_t i) {
    const uint32_t c = w.at(i);
    return fold && c >= 'A' && c <= 'Z' ? c + 32 : c;
  };
  const uint32_t a = low(p + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (!w.in(p + 2)) return 0;
  const uint32_t b = low(p + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S) then \s+ at p over n whitespace characters: where the match ends.
size_t trailing_space(const Piece& w, size_t p, size_t n) {
  // More than one space before a non-space: leave the last for the next word (" word").
  if (n > 1 && w.in(p + n)) return p + n - 1;
  return p + n;
}

void split_gpt2(Piece& w) {
  for (size_t p = w.begin(); p < w.end();) {
    if (size_t n = contraction(w, p, false)) {
      w.cut(p += n);
      continue;
    }
    const size_t q = w.at(p) == ' ' ? p + 1 : p;  // the optional leading space
    if (w.letter(q) || w.number(q) || w.other(q)) {
      const CharClass c = w.cls(q);
      p = q;
      if (c == CharClass::kLetter) {
        while (w.letter(p)) ++p;
      } else if (c == CharClass::kNumber) {
        while (w.number(p)) ++p;
      } else {
        while (w.other(p)) ++p;
      }
      w.cut(p);
      continue;
    }
    size_t n = 0;
    while (w.space(p + n)) ++n;
    w.cut(p = n > 0 ? trailing_space(w, p, n) : p + 1);
  }
}

void split_llama3(Piece& w, size_t max_digits) {
  for (size_t p = w.begin(); p < w.end();) {
    const uint32_t c = w.at(p);
    if (size_t n = contraction(w, p, true)) {
      w.cut(p += n);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c != '\r' && c != '\n' && !w.number(p) && (w.letter(p) || w.letter(p + 1))) {
      ++p;
      while (w.letter(p)) ++p;
      w.cut(p);
      continue;
    }
    // \p{N}{1,max_digits}
    if (w.number(p)) {
      const size_t start = p;
      while (w.number(p) && p - start < max_digits) ++p;
      w.cut(p);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    const size_t q = c == ' ' ? p + 1 : p;
    if (w.other(q) && w.cls(p) != CharClass::kUnassigned) {
      p = q;
      while (w.other(p)) ++p;
      while (w.at(p) == '\r' || w.at(p) == '\n') ++p;
      w.cut(p);
      continue;
    }
    // \s*[\r\n]+ (up to the last line break of the whitespace run), \s+(?!\S), \s+
    size_t n = 0, after_break = 0;
    for (; w.space(p + n); ++n) {
      if (w.at(p + n) == '\r' || w.at(p + n) == '\n') after_break = p + n + 1;
    }
    if (after_break > 0) {
      p = after_break;
    } else {
      p = n > 0 ? trailing_space(w, p, n) : p + 1;
    }
    w.cut(p);
  }
}

// A stage that isolates runs of characters satisfying `pred`: runs (of at most `max_run`) and
// the text between them become words.
template <typename Pred>
void split_runs(Piece& w, size_t max_run, Pred pred) {
  for (size_t p = w.begin(); p < w.end();) {
    const size_t start = p;
    if (pred(w.at(p))) {
      while (p < w.end() && pred(w.at(p)) && p - start < max_run) ++p;
    } else {
      while (p < w.end() && !pred(w.at(p))) ++p;
    }
    w.cut(p);
  }
}

// [0-9][0-9][0-9]: leftmost groups of exactly three ASCII digits; the rest stays as it is.
void split_digits3(Piece& w) {
  auto digit = [&](size_t i) { return w.at(i) >= '0' && w.at(i) <= '9'; };
  for (size_t p = w.begin(); p < w.end();) {
    if (digit(p) && digit(p + 1) && digit(p + 2)) {
      w.cut(p);
      w.cut(p += 3);
    } else {
      ++p;
    }
  }
  w.cut(w.end());
}

enum class Stage { kEachNumber, kNumberRuns, kPunctRuns, kDigits3, kGpt2, kLlama3, kQwen2 };

std::span<const Stage> stages(BpePre pre) {
  using S = Stage;
  static constexpr S kDefault[] = {S::kPunctRuns, S::kGpt2, S::kNumberRuns, S::kDigits3};
  static constexpr S kGpt2[] = {S::kGpt2};
  static constexpr S kSmollm[] = {S::kEachNumber, S::kGpt2};
  static constexpr S kLlama3[] = {S::kLlama3};
  static constexpr S kQwen2[] = {S::kQwen2};
  switch (pre) {
    case BpePre::kGpt2: return kGpt2;
    case BpePre::kSmollm: return kSmollm;
    case BpePre::kLlama3: return kLlama3;
    case BpePre::kQwen2: return kQwen2;
    case BpePre::kDefault: break;
  }
  return kDefault;
}

void run_stage(Stage s, Piece& w) {
  constexpr size_t kAny = ~size_t{0};
  auto number = [](uint32_t c) { return c != Piece::kEnd && char_class(c) == CharClass::kNumber; };
  auto punct = [](uint32_t c) {
    if (c == Piece::kEnd) return false;
    if (c < 0x80 && std::string_view("$+<=>^~|").find(static_cast<char>(c)) != std::string_view::npos) {
      return true;
    }
    return char_class(c) == CharClass::kPunct && !is_unicode_space(c);
  };
  switch (s) {
    case Stage::kEachNumber: return split_runs(w, 1, number);
    case Stage::kNumberRuns: return split_runs(w, kAny, number);
    case Stage::kPunctRuns: return split_runs(w, kAny, punct);
    case Stage::kDigits3: return split_digits3(w);
    case Stage::kGpt2: return split_gpt2(w);
    case Stage::kLlama3: return split_llama3(w, 3);
    case Stage::kQwen2: return split_llama3(w, 1);
  }
}

}  // namespace

std::vector<std::string> bpe_pre_split(BpePre pre, std::string_view text) {
  const std::vector<uint32_t> cps = decode_utf8(text);
  // Word boundaries as end offsets in code points; the whole text is one word at first.
  std::vector<size_t> ends = {cps.size()};
  if (cps.empty()) ends.clear();
  for (Stage s : stages(pre)) {
    std::vector<size_t> next;
    next.reserve(ends.size() * 2);
    size_t begin = 0;
    for (size_t end : ends) {
      Piece w(cps, begin, end, next);
      run_stage(s, w);
      w.cut(end);  // whatever a stage left unclaimed at the end stays one word
      begin = end;
    }
    ends = std::move(next);
  }
  std::vector<std::string> words;
  words.reserve(ends.size());
  size_t begin = 0;
  for (size_t end : ends) {
    std::string word;
    for (size_t i = begin; i < end; ++i) append_utf8(word, cps[i]);
    words.push_back(std::move(word));
    begin = end;
  }
  return words;
}

}  // namespace bitsmith::infer::detail
