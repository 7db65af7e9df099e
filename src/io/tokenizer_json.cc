// Hugging Face tokenizer.json (BPE models) <-> Vocabulary.
#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "bitsmith/core/mapped_file.h"
#include "bitsmith/core/atomic_file.h"
#include "bitsmith/io/tokenizer_files.h"
#include "byte_reader.h"
#include "bitsmith/core/json_guard.h"

namespace bitsmith::io {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.starts_with("<0x") && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
         std::isxdigit(static_cast<unsigned char>(t[4]));
}

int32_t find_id(const Vocabulary& v, const std::unordered_map<std::string, int32_t>& ids,
                std::initializer_list<const char*> names, int32_t def) {
  for (const char* n : names) {
    auto it = ids.find(n);
    if (it != ids.end()) return it->second;
  }
  (void)v;
  return def;
}

// tokenizer_config.json: "bos_token": "<s>" or {"content": "<s>", ...}.
std::string special_name(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return "";
}

// The length in bytes of the UTF-8 sequence starting with byte c (1 for stray bytes).
size_t utf8_len(unsigned char c) {
  return c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
}

// Merges for a SentencePiece-style vocabulary, the way Hugging Face's converter builds them:
// every split of a piece into two pieces of the vocabulary, ranked by the piece's score.
std::vector<std::string> merges_from_scores(const Vocabulary& v) {
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < v.tokens.size(); ++i) ids.emplace(v.tokens[i], static_cast<int32_t>(i));
  struct M { float score; int32_t id, left, right; std::string text; };
  std::vector<M> ms;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] != TokenType::kNormal && v.types[i] != TokenType::kUserDefined) continue;
    const std::string& t = v.tokens[i];
    for (size_t k = utf8_len(static_cast<unsigned char>(t[0])); k < t.size(); k += utf8_len(static_cast<unsigned char>(t[k]))) {
      auto l = ids.find(t.substr(0, k)), r = ids.find(t.substr(k));
      if (l != ids.end() && r != ids.end()) {
        ms.push_back({v.scores[i], static_cast<int32_t>(i), l->second, r->second, t.substr(0, k) + " " + t.substr(k)});
      }
    }
  }
  std::stable_sort(ms.begin(), ms.end(), [](const M& a, const M& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.id != b.id) return a.id < b.id;
    return std::tie(a.left, a.right) < std::tie(b.left, b.right);
  });
  std::vector<std::string> out;
  for (auto& m : ms) out.push_back(std::move(m.text));
  return out;
}

// The byte-level BPE pre-tokenizers llama.cpp names (tokenizer.ggml.pre) as Hugging Face writes
// them in tokenizer.json, so a GGUF -> safetensors -> GGUF trip keeps the splitting and the name.
// Each family is one pipeline (see infer/tokenizer_bpe_split.cc); the first name is canonical.
constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct PreFamily {
  std::vector<std::string_view> names;
  json (*make)();
};

json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}
json split(const char* regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}

const std::vector<PreFamily>& pre_families() {
  static const std::vector<PreFamily> k = {
      {{"gpt2", "gpt-2", "mpt", "olmo", "jais"}, [] { return byte_level(true); }},
      {{"smollm", "starcoder", "refact", "command-r", "codeshell"},
       [] { return json{{"type", "Sequence"}, {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}}; }},
      {{"llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe"},
       [] { return json{{"type", "Sequence"}, {"pretokenizers", {split(kLlama3Regex), byte_level(false)}}}; }},
      {{"qwen2", "deepseek-r1-qwen"},
       [] { return json{{"type", "Sequence"}, {"pretokenizers", {split(kQwen2Regex), byte_level(false)}}}; }},
      // llama.cpp's fallback pipeline for unnamed models: four splitting stages, then bytes.
      {{"default", ""}, [] {
         return json{{"type", "Sequence"},
                     {"pretokenizers", {split(R"([\p{P}\$\+<=>\^~\|]+)"), split(kGpt2Regex), split(R"(\p{N}+)"),
                                        split("[0-9][0-9][0-9]"), byte_level(false)}}};
       }},
  };
  return k;
}

// The pre-tokenizer JSON of a llama.cpp pre name; an unknown name is an error (its splitting
// cannot be written down, and a silent default would tokenise differently).
Result<json> pre_tokenizer_json(const std::string& pre) {
  for (const auto& f : pre_families()) {
    if (std::find(f.names.begin(), f.names.end(), pre) != f.names.end()) return f.make();
  }
  return unsupported("byte-level BPE pre-tokenizer '{}' has no Hugging Face equivalent here", pre);
}

// The canonical llama.cpp name of a tokenizer.json pre-tokenizer, or "" when none matches.
std::string pre_name_of(const json& pre) {
  for (const auto& f : pre_families()) {
    if (f.make() == pre) return std::string(f.names.front());
  }
  // The same pipelines as other writers spell them (extra keys such as "trim_offsets" differ).
  auto is = [](const json& j, const char* type) { return j.is_object() && j.value("type", "") == type; };
  if (is(pre, "ByteLevel") && pre.value("use_regex", true)) return "gpt2";
  if (is(pre, "Sequence") && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
    const json& s = pre["pretokenizers"];
    if (s.size() == 2 && is(s[0], "Digits") && s[0].value("individual_digits", false) && is(s[1], "ByteLevel")) return "smollm";
    if (s.size() == 2 && is(s[0], "Split") && s[0].contains("pattern") && s[0]["pattern"].is_object()) {
      const std::string re = s[0]["pattern"].value("Regex", "");
      if (re == kLlama3Regex) return "llama-bpe";
      if (re == kQwen2Regex) return "qwen2";
    }
  }
  return "";
}

}  // namespace

Result<Vocabulary> parse_hf_tokenizer(std::string_view text, std::string_view name) {
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, name));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return corrupt_data("{}: not a JSON object", name);
  auto model = j.find("model");
  if (model == j.end() || !model->is_object()) return corrupt_data("{}: no 'model' object", name);
  if (!model->contains("type") || (*model)["type"] != "BPE") {
    return unsupported("{}: tokenizer model type {} (only BPE is supported)", name,
                       model->contains("type") ? (*model)["type"].dump() : "missing");
  }
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object()) return corrupt_data("{}: model.vocab is not an object", name);
  std::vector<std::pair<int64_t, std::string>> entries;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it->is_number_integer()) return corrupt_data("{}: vocab['{}'] is not an integer id", name, it.key());
    entries.emplace_back(it->get<int64_t>(), it.key());
  }
  std::vector<std::pair<int64_t, bool>> added;  // id, special
  if (auto at = j.find("added_tokens"); at != j.end() && at->is_array()) {
    for (const auto& a : *at) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string()) {
        return corrupt_data("{}: malformed added_tokens entry {}", name, a.dump());
      }
      entries.emplace_back(a["id"].get<int64_t>(), a["content"].get<std::string>());
      added.emplace_back(a["id"].get<int64_t>(), a.value("special", false));
    }
  }
  int64_t n = 0;
  for (const auto& [id, t] : entries) {
    // Ids index a dense table; anything past the entry count cannot be dense.
    if (id < 0 || id >= static_cast<int64_t>(entries.size()) + 1) return corrupt_data("{}: token '{}' has id {} out of range", name, t, id);
    n = std::max(n, id + 1);
  }
  Vocabulary v;
  v.tokens.assign(static_cast<size_t>(n), "");
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (const auto& [id, t] : entries) {
    if (seen[static_cast<size_t>(id)] && v.tokens[static_cast<size_t>(id)] != t) {
      return corrupt_data("{}: id {} is given to both '{}' and '{}'", name, id, v.tokens[static_cast<size_t>(id)], t);
    }
    seen[static_cast<size_t>(id)] = true;
    v.tokens[static_cast<size_t>(id)] = t;
  }
  v.types.assign(static_cast<size_t>(n), TokenType::kNormal);
  v.scores.assign(static_cast<size_t>(n), 0.0f);
  for (size_t i = 0; i < v.tokens.size(); ++i) if (!seen[i]) v.types[i] = TokenType::kUnused;
  for (const auto& [id, special] : added) v.types[static_cast<size_t>(id)] = special ? TokenType::kControl : TokenType::kUserDefined;

  if (auto mg = model->find("merges"); mg != model->end() && mg->is_array()) {
    for (const auto& m : *mg) {
      if (m.is_string()) v.merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else return corrupt_data("{}: malformed merge {}", name, m.dump());
    }
  }
  const bool byte_fallback = model->value("byte_fallback", false);
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < v.tokens.size(); ++i) ids.emplace(v.tokens[i], static_cast<int32_t>(i));
  if (byte_fallback) {
    // SentencePiece style: scores from merge ranks; <0xXX> pieces are byte tokens.
    v.model = "llama";
    std::vector<bool> scored(v.tokens.size(), false);
    for (size_t r = 0; r < v.merges.size(); ++r) {
      const std::string& m = v.merges[r];
      auto sp = m.find(' ');
      if (sp == std::string::npos) continue;
      auto it = ids.find(m.substr(0, sp) + m.substr(sp + 1));
      if (it != ids.end() && !scored[static_cast<size_t>(it->second)]) {
        v.scores[static_cast<size_t>(it->second)] = -static_cast<float>(r);
        scored[static_cast<size_t>(it->second)] = true;
      }
    }
    for (size_t i = 0; i < v.tokens.size(); ++i) if (is_byte_token(v.tokens[i])) v.types[i] = TokenType::kByte;
    v.merges.clear();  // llama vocabularies carry scores, not merges
    v.unk_id = find_id(v, ids, {"<unk>"}, 0);
    v.bos_id = find_id(v, ids, {"<s>", "<|begin_of_text|>"}, 1);
    v.eos_id = find_id(v, ids, {"</s>", "<|end_of_text|>"}, 2);
    if (static_cast<size_t>(v.unk_id) < v.types.size()) v.types[static_cast<size_t>(v.unk_id)] = TokenType::kUnknown;
    v.add_bos = true;
    // Hugging Face spells SentencePiece's dummy prefix as a Prepend normalizer (or a Metaspace
    // pre-tokenizer with prepend_scheme); without either, no space is added.
    const std::string dump = j.value("normalizer", json()).dump() + j.value("pre_tokenizer", json()).dump();
    v.add_space_prefix = dump.find("\"Prepend\"") != std::string::npos ||
                                 (dump.find("Metaspace") != std::string::npos && dump.find("\"never\"") == std::string::npos)
                             ? 1 : 0;
  } else {
    v.model = "gpt2";
    // From the pre-tokenizer itself; the special tokens are only a guess for unknown pipelines.
    if (auto pt = j.find("pre_tokenizer"); pt != j.end()) v.pre = pre_name_of(*pt);
    if (v.pre.empty()) v.pre = ids.count("<|begin_of_text|>") ? "llama-bpe" : ids.count("<|im_start|>") ? "qwen2" : "default";
    // Byte-level BPE adds a leading space only through ByteLevel's add_prefix_space.
    const std::string pt = j.value("pre_tokenizer", json()).dump();
    v.add_space_prefix = pt.find("\"add_prefix_space\":true") != std::string::npos ? 1 : 0;
    v.bos_id = find_id(v, ids, {"<|begin_of_text|>", "<|endoftext|>", "<s>"}, 0);
    v.eos_id = find_id(v, ids, {"<|end_of_text|>", "<|endoftext|>", "</s>"}, 0);
    v.unk_id = find_id(v, ids, {"<unk>", "<|endoftext|>"}, 0);
    v.add_bos = ids.count("<|begin_of_text|>") != 0;
  }
  return v;
}

Result<Vocabulary> read_hf_tokenizer(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(auto f, MappedFile::open(path));
  BITSMITH_ASSIGN_OR_RETURN(Vocabulary v, parse_hf_tokenizer({reinterpret_cast<const char*>(f->data()), f->size()}, path));
  const fs::path cfg_path = fs::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (fs::exists(cfg_path, ec)) {
    BITSMITH_ASSIGN_OR_RETURN(auto cf, MappedFile::open(cfg_path.string()));
    BITSMITH_RETURN_IF_ERROR(check_json_depth({reinterpret_cast<const char*>(cf->data()), cf->size()}, cfg_path.string()));
    json cfg = json::parse(cf->bytes().begin(), cf->bytes().end(), nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) return corrupt_data("{}: not a JSON object", cfg_path.string());
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      if (v.tokens[i] == special_name(cfg, "bos_token")) v.bos_id = static_cast<int32_t>(i);
      if (v.tokens[i] == special_name(cfg, "eos_token")) v.eos_id = static_cast<int32_t>(i);
    }
    if (auto it = cfg.find("add_bos_token"); it != cfg.end() && it->is_boolean()) v.add_bos = it->get<bool>();
    if (auto it = cfg.find("add_eos_token"); it != cfg.end() && it->is_boolean()) v.add_eos = it->get<bool>();
    if (auto it = cfg.find("chat_template"); it != cfg.end() && it->is_string()) v.chat_template = it->get<std::string>();
    const std::string pad = special_name(cfg, "pad_token");
    for (size_t i = 0; i < v.tokens.size() && !pad.empty(); ++i) {
      if (v.tokens[i] == pad) v.pad_id = static_cast<int32_t>(i);
    }
  }
  return v;
}

Status write_hf_tokenizer(const Vocabulary& v, const std::string& dir) {
  const bool llama = v.model == "llama";
  json vocab = json::object();
  json added = json::array();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    vocab[v.tokens[i]] = i;
    const TokenType t = v.types.empty() ? TokenType::kNormal : v.types[i];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      added.push_back({{"id", i}, {"content", v.tokens[i]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", t != TokenType::kUserDefined}});
    }
  }
  const std::string space = "\xE2\x96\x81";  // U+2581
  json model = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", llama ? json(v.tokens.at(static_cast<size_t>(v.unk_id))) : json(nullptr)},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                {"fuse_unk", llama}, {"byte_fallback", llama}, {"vocab", vocab},
                {"merges", llama ? merges_from_scores(v) : v.merges}};
  json tok = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added}, {"model", model}};
  const std::string bos = v.tokens.at(static_cast<size_t>(v.bos_id));
  if (llama) {
    // SentencePiece behaviour: a leading space (unless the model has none), spaces as U+2581,
    // bytes for unknown characters.
    json normalizers = json::array();
    if (v.add_space_prefix != 0) normalizers.push_back({{"type", "Prepend"}, {"prepend", space}});
    normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", space}});
    tok["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
    tok["pre_tokenizer"] = nullptr;
    tok["decoder"] = {{"type", "Sequence"}, {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", space}}}, {"content", " "}},
                      {{"type", "ByteFallback"}}, {{"type", "Fuse"}}, {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  } else {
    tok["normalizer"] = nullptr;
    BITSMITH_ASSIGN_OR_RETURN(tok["pre_tokenizer"], pre_tokenizer_json(v.pre));
    tok["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  }
  if (v.add_bos) {
    json bos_tok = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
    json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
    json seq_b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
    tok["post_processor"] = {{"type", "TemplateProcessing"}, {"single", {bos_tok, seq_a}}, {"pair", {bos_tok, seq_a, bos_tok, seq_b}},
                             {"special_tokens", {{bos, {{"id", bos}, {"ids", {v.bos_id}}, {"tokens", {bos}}}}}}};
  } else {
    tok["post_processor"] = nullptr;
  }
  json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"bos_token", bos},
              {"eos_token", v.tokens.at(static_cast<size_t>(v.eos_id))}, {"add_bos_token", v.add_bos},
              {"add_eos_token", false}, {"clean_up_tokenization_spaces", false}};
  if (llama) cfg["unk_token"] = v.tokens.at(static_cast<size_t>(v.unk_id));
  if (v.add_eos) cfg["add_eos_token"] = true;
  if (v.pad_id >= 0 && static_cast<size_t>(v.pad_id) < v.tokens.size()) cfg["pad_token"] = v.tokens[static_cast<size_t>(v.pad_id)];
  if (!v.chat_template.empty()) cfg["chat_template"] = v.chat_template;
  // Tokens of a llama2.c vocabulary are not all valid UTF-8 on their own; replace keeps dump()
  // from throwing (the byte tokens carry those bytes anyway).
  BITSMITH_RETURN_IF_ERROR(write_file_atomic((fs::path(dir) / "tokenizer.json").string(),
                                             tok.dump(2, ' ', false, json::error_handler_t::replace) + "\n"));
  return write_file_atomic((fs::path(dir) / "tokenizer_config.json").string(), cfg.dump(2) + "\n");
}

}  // namespace bitsmith::io
