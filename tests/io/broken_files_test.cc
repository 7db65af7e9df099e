// The hostile-input corpus: every broken file is built here byte by byte, opened through the
// public entry point, and must give one error that names the file and the problem (and never
// crash: the sanitizer build runs this too).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/tokenizer_files.h"

namespace bitsmith::io {
namespace {

namespace fs = std::filesystem;

// Little-endian byte builder for hand-made files.
struct Bytes {
  std::string b;
  Bytes& raw(std::string_view s) { b.append(s); return *this; }
  template <typename T>
  Bytes& put(T v) { b.append(reinterpret_cast<const char*>(&v), sizeof(T)); return *this; }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& i32(int32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& f32(float v) { return put(v); }
  Bytes& str(std::string_view s) { u64(s.size()); return raw(s); }
  Bytes& pad(size_t a) { b.append((a - b.size() % a) % a, '\0'); return *this; }
};

// GGUF key/value helpers.
void kv_u32(Bytes& g, std::string_view k, uint32_t v) { g.str(k).u32(4).u32(v); }
void kv_str(Bytes& g, std::string_view k, std::string_view v) { g.str(k).u32(8).str(v); }
void kv_u64(Bytes& g, std::string_view k, uint64_t v) { g.str(k).u32(10).u64(v); }
void kv_i64(Bytes& g, std::string_view k, int64_t v) { g.str(k).u32(11).put(v); }

// `depth` nested JSON objects {"a":{"a":...}} around a 1: what a stack-overflow attack sends.
std::string nested_json(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s.append(static_cast<size_t>(depth), '}');
  return s;
}

// The llama keys a model needs, as n key/values.
constexpr uint64_t kLlamaKeys = 6;
void llama_keys(Bytes& g) {
  kv_str(g, "general.architecture", "llama");
  kv_u32(g, "llama.embedding_length", 32);
  kv_u32(g, "llama.feed_forward_length", 64);
  kv_u32(g, "llama.block_count", 0);
  kv_u32(g, "llama.attention.head_count", 4);
  kv_u32(g, "llama.context_length", 16);
}

// A GGUF with the llama keys, `extra_kv` more key/values and the given tensor infos + data.
std::string gguf(uint64_t n_tensors, uint64_t extra_kv, const std::function<void(Bytes&)>& kvs,
                 const std::function<void(Bytes&)>& infos, size_t data_bytes) {
  Bytes g;
  g.raw("GGUF").u32(3).u64(n_tensors).u64(kLlamaKeys + extra_kv);
  llama_keys(g);
  if (kvs) kvs(g);
  if (infos) infos(g);
  g.pad(32);
  g.b.append(data_bytes, '\0');
  return g.b;
}

void info(Bytes& g, std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
  g.str(name).u32(static_cast<uint32_t>(ne.size()));
  for (auto d : ne) g.u64(d);
  g.u32(type).u64(offset);
}

std::string valid_gguf() {
  return gguf(1, 0, nullptr, [](Bytes& g) { info(g, "token_embd.weight", {32, 8}, 0, 0); }, 32 * 8 * 4);
}

std::string safetensors(std::string_view header, size_t data_bytes) {
  Bytes s;
  s.u64(header.size()).raw(header);
  s.b.append(data_bytes, '\0');
  return s.b;
}

std::string llama2c(std::array<int32_t, 7> h, int64_t floats) {
  Bytes b;
  for (int32_t v : h) b.i32(v);
  b.b.append(static_cast<size_t>(floats) * 4, '\0');
  return b.b;
}

// dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 4 (shared), seq 2: the float count.
constexpr std::array<int32_t, 7> kTiny = {8, 16, 1, 2, 2, 4, 2};
constexpr int64_t kTinyFloats = 4 * 8 + 8 + 4 * 64 + 8 + 3 * 16 * 8 + 8 + 2 * 2 * 2;

struct Case {
  std::string name;   // file name (and test label)
  std::string bytes;
  std::string expect;  // a substring of the error message
  std::map<std::string, std::string> beside = {};  // extra files in the same directory
  std::string open = "";  // what to open, relative to the case dir (default: name)
};

std::vector<Case> corpus() {
  std::vector<Case> c;
  const std::string g = valid_gguf();
  // --- GGUF: truncated at every section ---
  c.push_back({"empty.gguf", "", "magic"});
  c.push_back({"trunc_magic.gguf", g.substr(0, 3), "truncated at offset 0 reading magic"});
  c.push_back({"trunc_version.gguf", g.substr(0, 6), "reading version"});
  c.push_back({"trunc_counts.gguf", g.substr(0, 12), "reading tensor count"});
  c.push_back({"trunc_kv_count.gguf", g.substr(0, 20), "reading metadata count"});
  c.push_back({"trunc_key.gguf", Bytes().raw("GGUF").u32(3).u64(0).u64(1).u64(20).raw("abcdefghij").b,
               "metadata key 0 at offset 24 has length 20 past the end"});
  c.push_back({"trunc_value.gguf", Bytes().raw("GGUF").u32(3).u64(0).u64(1).str("k").u32(4).raw("xy").b,
               "truncated at offset 37 reading value of 'k'"});
  c.push_back({"trunc_infos.gguf", g.substr(0, g.size() - 1024 - 20), "reading dim 1 of 'token_embd.weight'"});
  c.push_back({"trunc_data.gguf", g.substr(0, g.size() - 1), "past the end of the data section"});
  // --- GGUF: bad fields ---
  c.push_back({"bad_magic.gguf", "GGUX" + g.substr(4), "bad magic"});
  {
    std::string v1 = g;
    v1[4] = 1;
    c.push_back({"version1.gguf", v1, "GGUF version 1"});
  }
  c.push_back({"huge_tensor_count.gguf", Bytes().raw("GGUF").u32(3).u64(1ull << 60).u64(0).b, "tensor count"});
  c.push_back({"huge_kv_count.gguf", Bytes().raw("GGUF").u32(3).u64(0).u64(1ull << 62).b, "metadata count"});
  c.push_back({"huge_key_length.gguf", Bytes().raw("GGUF").u32(3).u64(0).u64(1).u64(1ull << 50).raw("abcdefgh").b,
               "length 1125899906842624 past the end"});
  c.push_back({"invalid_utf8_key.gguf", gguf(0, 1, [](Bytes& b) { kv_u32(b, "bad\xC3\x28key", 1); }, nullptr, 0),
               "not valid UTF-8"});
  c.push_back({"duplicate_key.gguf", gguf(0, 1, [](Bytes& b) { kv_u32(b, "llama.block_count", 1); }, nullptr, 0),
               "duplicate metadata key 'llama.block_count'"});
  c.push_back({"unknown_value_type.gguf", gguf(0, 1, [](Bytes& b) { b.str("x").u32(99).u32(0); }, nullptr, 0),
               "unknown value type 99"});
  c.push_back({"huge_array.gguf", gguf(0, 1, [](Bytes& b) { b.str("x").u32(9).u32(4).u64(1ull << 61); }, nullptr, 0),
               "cannot fit"});
  c.push_back({"deep_arrays.gguf", gguf(0, 1, [](Bytes& b) {
                 b.str("x").u32(9);
                 for (int i = 0; i < 6; ++i) b.u32(9).u64(1);
                 b.u32(4).u64(1).u32(0);
               }, nullptr, 0), "nests arrays deeper"});
  c.push_back({"bad_bool.gguf", gguf(0, 1, [](Bytes& b) { b.str("x").u32(7).put<uint8_t>(2); }, nullptr, 0), "bool value 2"});
  c.push_back({"bad_alignment.gguf", gguf(0, 1, [](Bytes& b) { kv_u32(b, "general.alignment", 24); }, nullptr, 0),
               "general.alignment must be a u32 power of two"});
  c.push_back({"zero_dims.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {}, 0, 0); }, 0), "has 0 dims"});
  c.push_back({"five_dims.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {1, 1, 1, 1, 1}, 0, 0); }, 0), "has 5 dims"});
  c.push_back({"dims_overflow.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {1ull << 32, 1ull << 32}, 0, 0); }, 0),
               "dims overflow"});
  c.push_back({"bytes_overflow.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {1ull << 31, 1ull << 31}, 0, 0); }, 0),
               "byte size overflows"});
  c.push_back({"unknown_type.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {4}, 200, 0); }, 64), "unknown ggml type 200"});
  c.push_back({"bad_block_row.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {33, 2}, 2, 0); }, 64),
               "row length 33 is not a multiple of Q4_0's block size 32"});
  c.push_back({"unaligned_offset.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {4}, 0, 4); }, 64),
               "not a multiple of the alignment"});
  c.push_back({"offset_past_end.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {4}, 0, 1ull << 40); }, 64),
               "past the end of the data section"});
  c.push_back({"offset_wraps.gguf", gguf(1, 0, nullptr, [](Bytes& b) { info(b, "t", {8}, 0, ~0ull - 31); }, 64),
               "past the end of the data section"});
  c.push_back({"overlapping.gguf", gguf(2, 0, nullptr, [](Bytes& b) {
                 info(b, "a", {16}, 0, 0);
                 info(b, "b", {16}, 0, 32);
               }, 128), "overlap"});
  c.push_back({"duplicate_tensor.gguf", gguf(2, 0, nullptr, [](Bytes& b) {
                 info(b, "a", {8}, 0, 0);
                 info(b, "a", {8}, 0, 32);
               }, 64), "duplicate tensor name 'a'"});
  {
    Bytes b;
    b.raw("GGUF").u32(3).u64(0).u64(1);
    kv_u32(b, "llama.block_count", 1);
    c.push_back({"no_architecture.gguf", b.b, "general.architecture"});
  }
  c.push_back({"hparam_wrong_type.gguf", [] {
                 Bytes b;
                 b.raw("GGUF").u32(3).u64(0).u64(2);
                 kv_str(b, "general.architecture", "llama");
                 kv_str(b, "llama.embedding_length", "big");
                 return b.b;
               }(), "'llama.embedding_length' should be an integer"});
  c.push_back({"tokens_not_strings.gguf", gguf(0, 1, [](Bytes& b) { b.str("tokenizer.ggml.tokens").u32(9).u32(4).u64(1).u32(5); },
                                               nullptr, 0), "tokenizer.ggml.tokens must be an array of strings"});
  c.push_back({"scores_count.gguf", gguf(0, 2, [](Bytes& b) {
                 b.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(2).str("a").str("b");
                 b.str("tokenizer.ggml.scores").u32(9).u32(6).u64(1).f32(0);
               }, nullptr, 0), "tokenizer.ggml.scores must be 2 f32 values"});
  c.push_back({"bos_out_of_range.gguf", gguf(0, 2, [](Bytes& b) {
                 b.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(2).str("a").str("b");
                 kv_u32(b, "tokenizer.ggml.bos_token_id", 7);
               }, nullptr, 0), "tokenizer.ggml.bos_token_id = 7 is outside the vocabulary of 2"});

  // --- safetensors ---
  const std::string ok_hdr = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  c.push_back({"short.safetensors", std::string("\x05\0\0", 3), "reading header length"});
  c.push_back({"huge_header.safetensors", Bytes().u64(1ull << 40).raw("{}").b, "exceeds"});
  c.push_back({"header_past_end.safetensors", Bytes().u64(100).raw("{}").b, "past the end of the file"});
  c.push_back({"malformed.safetensors", safetensors(R"({"a":{"dtype":"F32",)", 0), "not valid JSON"});
  c.push_back({"not_object.safetensors", safetensors("[1,2,3]", 0), "not an object"});
  c.push_back({"dup_name.safetensors", safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                                    R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
               "duplicate tensor name 'a'"});
  c.push_back({"unknown_dtype.safetensors", safetensors(R"({"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", 4),
               "unknown dtype 'F12'"});
  c.push_back({"offsets_past_end.safetensors", safetensors(ok_hdr, 8), "outside the data section"});
  c.push_back({"wrong_dtype_size.safetensors", safetensors(R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}})", 16),
               "= 8 bytes but data_offsets span 16"});
  c.push_back({"overlap.safetensors", safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
               "overlap"});
  c.push_back({"shape_overflow.safetensors",
               safetensors(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4), "overflows"});
  c.push_back({"negative_dim.safetensors", safetensors(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               "bad dimension -1"});
  c.push_back({"reversed_offsets.safetensors", safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
               "outside the data section"});
  c.push_back({"invalid_utf8.safetensors", safetensors("{\"a\xC3\x28\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
               "not valid JSON"});
  c.push_back({"metadata_not_string.safetensors", safetensors(R"({"__metadata__":{"k":1}})", 0), "__metadata__ value 'k'"});
  c.push_back({"missing_field.safetensors", safetensors(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "data_offsets"});
  c.push_back({"index_missing_shard", "", "cannot open",
               {{"model.safetensors.index.json", R"({"weight_map":{"a":"model-00001.safetensors"}})"}}, "model.safetensors.index.json"});
  c.push_back({"index_malformed", "", "no 'weight_map' object", {{"model.safetensors.index.json", R"({"weights":{}})"}},
               "model.safetensors.index.json"});
  c.push_back({"index_escape", "", "leaves the directory", {{"model.safetensors.index.json", R"({"weight_map":{"a":"../x.safetensors"}})"}},
               "model.safetensors.index.json"});
  c.push_back({"config_malformed", "", "config.json: not a JSON object",
               {{"model.safetensors", safetensors(ok_hdr, 16)}, {"config.json", "{hidden_size: 3"}}, "."});
  c.push_back({"config_heads", "", "inconsistent hidden_size 64, num_attention_heads 5",
               {{"model.safetensors", safetensors(ok_hdr, 16)},
                {"config.json", R"({"hidden_size":64,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":5})"}}, "."});
  c.push_back({"nvfp4_incomplete.safetensors",
               safetensors(R"({"w.weight_packed":{"dtype":"U8","shape":[2,8],"data_offsets":[0,16]}})", 16),
               "not a complete nvfp4-pack-quantized weight"});
  c.push_back({"nvfp4_short_scales.safetensors",
               safetensors(R"({"w.weight_packed":{"dtype":"U8","shape":[2,16],"data_offsets":[0,32]},)"
                           R"("w.weight_scale":{"dtype":"F8_E4M3","shape":[2,1],"data_offsets":[32,34]},)"
                           R"("w.weight_global_scale":{"dtype":"F32","shape":[1],"data_offsets":[34,38]}})", 38),
               "do not match nvfp4 for [2, 32]"});
  c.push_back({"tokenizer_json_bad", "", "tokenizer model type \"WordPiece\"",
               {{"model.safetensors", safetensors(ok_hdr, 16)}, {"tokenizer.json", R"({"model":{"type":"WordPiece","vocab":{}}})"}}, "."});

  // --- JSON nesting: refused before nlohmann::json recurses (dump, destructors) ---
  c.push_back({"deep_header.safetensors", safetensors(nested_json(200000), 0), "JSON nests deeper than 64 levels at offset 328"});
  c.push_back({"deep_array_header.safetensors", safetensors(std::string(200000, '['), 0), "JSON nests deeper than 64 levels at offset 72"});
  c.push_back({"deep_value.safetensors",
               safetensors(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16],"x":)" + nested_json(100) + "}}", 16),
               "JSON nests deeper than 64"});
  c.push_back({"deep_config", "", "config.json: JSON nests deeper than 64 levels at offset 320",
               {{"model.safetensors", safetensors(ok_hdr, 16)}, {"config.json", nested_json(100000)}}, "."});
  c.push_back({"deep_tokenizer", "", "tokenizer.json: JSON nests deeper than 64 levels",
               {{"model.safetensors", safetensors(ok_hdr, 16)}, {"tokenizer.json", std::string(100000, '[')}}, "."});
  c.push_back({"deep_tokenizer_config", "", "tokenizer_config.json: JSON nests deeper than 64 levels",
               {{"model.safetensors", safetensors(ok_hdr, 16)},
                {"tokenizer.json", R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})"},
                {"tokenizer_config.json", nested_json(1000)}}, "."});
  c.push_back({"deep_index", "", "model.safetensors.index.json: JSON nests deeper than 64",
               {{"model.safetensors.index.json", nested_json(100000)}}, "model.safetensors.index.json"});
  {
    // The bitsmith.quantization metadata value is JSON inside a JSON string.
    std::string inner = nested_json(100);
    std::string escaped;
    for (char ch : inner) escaped += ch == '"' ? std::string("\\\"") : std::string(1, ch);
    c.push_back({"deep_metadata.safetensors",
                 safetensors(R"({"__metadata__":{"bitsmith.quantization":")" + escaped + "\"}}", 0),
                 "__metadata__ 'bitsmith.quantization': JSON nests deeper than 64"});
  }

  // --- size products that used to overflow (UBSan) ---
  c.push_back({"nvfp4_cols_overflow.safetensors",
               safetensors(R"({"w.weight_packed":{"dtype":"U8","shape":[0,6917529027641081856],"data_offsets":[0,0]},)"
                           R"("w.weight_scale":{"dtype":"F8_E4M3","shape":[0],"data_offsets":[0,0]},)"
                           R"("w.weight_global_scale":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
               "'w.weight_packed' has 6917529027641081856 columns, which overflows"});
  c.push_back({"layout_shape_huge.safetensors",
               safetensors(R"({"__metadata__":{"bitsmith.quantization":"{\"w.weight\":{\"scheme\":\"q4_0\",\"shape\":[4611686018427387904,4611686018427387904]}}"},)"
                           R"("w.qdata":{"dtype":"U8","shape":[18],"data_offsets":[0,18]}})", 18),
               "shape [4611686018427387904, 4611686018427387904] is too large"});

  // --- hyperparameters bounded by what the file holds, before anything is sized by them ---
  {
    // block_count as the only count key (no duplicate): 2^40 layers in a 1 KB file.
    auto hp_gguf = [](uint64_t layers, uint64_t vocab, int64_t ctx) {
      Bytes b;
      b.raw("GGUF").u32(3).u64(1).u64(7);
      kv_str(b, "general.architecture", "llama");
      kv_u32(b, "llama.embedding_length", 32);
      kv_u32(b, "llama.feed_forward_length", 64);
      kv_u64(b, "llama.block_count", layers);
      kv_u32(b, "llama.attention.head_count", 4);
      kv_i64(b, "llama.context_length", ctx);
      kv_u64(b, "llama.vocab_size", vocab);
      info(b, "token_embd.weight", {32, 8}, 0, 0);
      b.pad(32);
      b.b.append(32 * 8 * 4, '\0');
      return b.b;
    };
    c.push_back({"layers_2e40.gguf", hp_gguf(1ull << 40, 8, 16), "n_layers = 1099511627776 is outside 0..4294967295"});
    c.push_back({"layers_more_than_tensors.gguf", hp_gguf(1000, 8, 16), "n_layers = 1000 but the file holds only 1 tensors"});
    c.push_back({"vocab_huge.gguf", hp_gguf(1, 1u << 30, 16), "vocab_size = 1073741824 exceeds the element count of the largest tensor (256)"});
    c.push_back({"context_negative.gguf", hp_gguf(1, 8, -5), "context_length = -5 is outside"});
    c.push_back({"context_huge.gguf", hp_gguf(1, 8, int64_t{1} << 40), "context_length = 1099511627776 is outside"});
  }
  c.push_back({"config_layers_huge", "", "n_layers = 1099511627776 is outside",
               {{"model.safetensors", safetensors(ok_hdr, 16)},
                {"config.json", R"({"hidden_size":4,"intermediate_size":4,"num_hidden_layers":1099511627776,"num_attention_heads":2})"}}, "."});
  c.push_back({"config_hidden_huge", "", "hidden_dim = 100000000 exceeds the element count of the largest tensor (4)",
               {{"model.safetensors", safetensors(ok_hdr, 16)},
                {"config.json", R"({"hidden_size":4,"intermediate_size":100000000,"num_hidden_layers":1,"num_attention_heads":2})"}}, "."});

  // --- not a model at all ---
  c.push_back({"text.txt", "Once upon a time there was a text file that was given as a model.\n",
               "not a model file (GGUF, safetensors or llama2.c)"});
  c.push_back({"tiny.txt", "hi\n", "not a model file (GGUF, safetensors or llama2.c)"});

  // --- llama2.c ---
  c.push_back({"short.bin", llama2c(kTiny, 0).substr(0, 10), "10 bytes are too few for a llama2.c header"});
  c.push_back({"negative_dim.bin", llama2c({-8, 16, 1, 2, 2, 4, 2}, kTinyFloats), "header field dim = -8 is outside 1..16777216"});
  c.push_back({"heads_mismatch.bin", llama2c({8, 16, 1, 3, 3, 4, 2}, kTinyFloats), "not a model file (GGUF, safetensors or llama2.c): no GGUF magic, no safetensors header, and llama2.c header dim 8 is not a multiple of n_heads 3"});
  c.push_back({"truncated_weights.bin", llama2c(kTiny, kTinyFloats - 1), "truncated: tensor"});
  c.push_back({"trailing.bin", llama2c(kTiny, kTinyFloats + 3), "12 trailing bytes"});
  // Fields past 2^24 are not a llama2.c header; large plausible ones fail as truncation, at once.
  c.push_back({"huge_dims.bin", llama2c({1 << 30, 1 << 30, 1 << 30, 2, 2, 1 << 30, 2}, 0), "dim = 1073741824 is outside 1..16777216"});
  c.push_back({"big_dims.bin", llama2c({1 << 24, 1 << 24, 1 << 24, 2, 2, 1 << 24, 2}, 0), "truncated: tensor 'token_embd.weight'"});
  // 2^24 layers of dim 2 in a small file: refused at the first missing layer, nothing sized by the count.
  c.push_back({"many_layers.bin", llama2c({2, 2, 1 << 24, 1, 1, 4, 2}, 64), "truncated: tensor 'blk."});
  {
    Bytes tok;
    tok.i32(8).f32(0).i32(-5);
    tok.b.append(32, '\0');  // room for 4 tokens, so the count bound passes and the length fails
    c.push_back({"negtok.bin", llama2c(kTiny, kTinyFloats), "has negative length -5", {{"tokenizer.bin", tok.b}}});
    Bytes t2;
    t2.i32(8);
    for (int i = 0; i < 4; ++i) t2.f32(0).i32(1).raw("x");
    c.push_back({"tok_short.bin", llama2c(kTiny, kTinyFloats), "reading token 3",
                 {{"tokenizer.bin", t2.b.substr(0, t2.b.size() - 3)}}});
  }
  return c;
}

class BrokenFiles : public ::testing::Test {
 protected:
  fs::path root = fs::temp_directory_path() / ("bitsmith_broken_" + std::to_string(::getpid()));
  void TearDown() override { fs::remove_all(root); }
};

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(BrokenFiles, EachGivesOneClearErrorNamingTheFile) {
  const auto cases = corpus();
  EXPECT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    const fs::path dir = root / c.name;
    fs::create_directories(dir);
    if (!c.bytes.empty() || c.beside.empty()) write(dir / c.name, c.bytes);
    for (const auto& [n, b] : c.beside) write(dir / n, b);
    const fs::path target = c.open.empty() ? dir / c.name : c.open == "." ? dir : dir / c.open;
    auto m = open_model(target.string());
    ASSERT_FALSE(m.ok()) << c.name << " opened without error";
    const std::string& msg = m.status().message();
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    // Named: the file that is broken, or the directory/index it was opened through.
    EXPECT_NE(msg.find(dir.string()), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name << ": one line";
  }
  std::printf("broken-file corpus: %zu files\n", cases.size());
}

TEST_F(BrokenFiles, ValidBaselinesOpen) {
  // The builders make valid files when nothing is broken, so each case fails for its own reason.
  fs::create_directories(root);
  write(root / "ok.gguf", valid_gguf());
  auto g = open_model((root / "ok.gguf").string());
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_TRUE((*g)->load_f32("token_embd.weight").ok());
  write(root / "ok.safetensors", safetensors(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16));
  EXPECT_TRUE(open_model((root / "ok.safetensors").string()).ok());
  write(root / "ok.bin", llama2c(kTiny, kTinyFloats));
  auto l = open_model((root / "ok.bin").string());
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  EXPECT_EQ((*l)->tensors().size(), 2u + 9u);
}

TEST_F(BrokenFiles, ZeroSizeTensorsSitAnywhereWithinBounds) {
  // What the safetensors library writes for an empty tensor: its offsets equal its neighbour's.
  fs::create_directories(root);
  write(root / "empty.safetensors",
        safetensors(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                    R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                    R"("f":{"dtype":"F16","shape":[4,0],"data_offsets":[8,8]},)"
                    R"("g":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]}})", 16));
  auto m = open_model((root / "empty.safetensors").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->tensors().size(), 4u);
  EXPECT_TRUE((*m)->load_f32("e").ok());
  // Still refused: an empty tensor past the end, and two non-empty ones overlapping.
  write(root / "past.safetensors", safetensors(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[20,20]}})", 16));
  EXPECT_FALSE(open_model((root / "past.safetensors").string()).ok());
}

TEST_F(BrokenFiles, ManySmallEntriesParse) {
  // 50,000 entries: the duplicate-name check was a linear search per key (quadratic: about a
  // minute); now a hash set. No time is asserted; the figure is in the commit message.
  constexpr int kEntries = 50000;
  std::string h = "{";
  for (int i = 0; i < kEntries; ++i) {
    h += fmt::format(R"({}"t{}":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}})", i ? "," : "", i, 4 * i,
                     4 * i + 4);
  }
  h += "}";
  fs::create_directories(root);
  write(root / "many.safetensors", safetensors(h, 4 * kEntries));
  auto m = open_model((root / "many.safetensors").string());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->tensors().size(), static_cast<size_t>(kEntries));
}

TEST_F(BrokenFiles, NonRegularFilesAreRefusedNotWaitedOn) {
  fs::create_directories(root);
  // A FIFO with no writer: opening it for reading used to block forever.
  const fs::path fifo = root / "model.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = open_model(fifo.string());
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("is a FIFO (named pipe)"), std::string::npos) << f.status().message();
  EXPECT_NE(f.status().message().find(fifo.string()), std::string::npos);
  // A character device: /dev/zero would be read (mapped) without end.
  auto z = open_model("/dev/zero");
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.status().message().find("/dev/zero: is a character device"), std::string::npos) << z.status().message();
  auto t = read_llama2c_tokenizer(fifo.string(), 4);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("FIFO"), std::string::npos);
}

}  // namespace
}  // namespace bitsmith::io
