// GGUF v3 writer: metadata llama.cpp needs (general.*, {arch}.*, tokenizer.ggml.*), tensor infos
// with offsets computed from the schemes' sizes, then the data streamed tensor by tensor.
#include <cstdint>
#include <utility>

#include "bitsmith/core/assert.h"
#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/checked.h"
#include "bitsmith/io/gguf.h"
#include "writers.h"

namespace bitsmith::io::detail {

// GGUF's metadata and tensor-info encoding (little-endian, u64 string lengths).
class Header {
 public:
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void str(const std::string& s) { u64(s.size()); raw(s.data(), s.size()); }
  void value(const GgufValue& v) {
    switch (v.type) {
      case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: { uint8_t b = static_cast<uint8_t>(v.u); raw(&b, 1); break; }
      case GgufType::kU16: case GgufType::kI16: { uint16_t b = static_cast<uint16_t>(v.u); raw(&b, 2); break; }
      case GgufType::kU32: case GgufType::kI32: u32(static_cast<uint32_t>(v.u)); break;
      case GgufType::kU64: case GgufType::kI64: u64(v.u); break;
      case GgufType::kF32: { float f = static_cast<float>(v.f); raw(&f, 4); break; }
      case GgufType::kF64: raw(&v.f, 8); break;
      case GgufType::kString: str(v.s); break;
      case GgufType::kArray:
        u32(static_cast<uint32_t>(v.array_type));
        u64(v.array.size());
        for (const auto& e : v.array) value(e);
        break;
    }
  }
  void kv(const std::string& key, const GgufValue& v) {
    str(key);
    u32(static_cast<uint32_t>(v.type));
    value(v);
    ++count;
  }
  std::string bytes;
  uint64_t count = 0;

 private:
  void raw(const void* p, size_t n) { bytes.append(static_cast<const char*>(p), n); }
};

// Magic, version 3, the counts, the metadata and the tensor infos, padded to the alignment: what
// precedes the data section of every GGUF file written here.
Status write_preamble(AtomicFile& f, uint64_t n_tensors, const Header& metadata, const Header& infos) {
  const uint32_t version = 3;
  BITSMITH_RETURN_IF_ERROR(f.write("GGUF", 4));
  BITSMITH_RETURN_IF_ERROR(f.write(&version, 4));
  BITSMITH_RETURN_IF_ERROR(f.write(&n_tensors, 8));
  BITSMITH_RETURN_IF_ERROR(f.write(&metadata.count, 8));
  BITSMITH_RETURN_IF_ERROR(f.write(metadata.bytes));
  BITSMITH_RETURN_IF_ERROR(f.write(infos.bytes));
  return f.pad_to(kGgufDefaultAlignment);
}

namespace {

void add_vocabulary(const Vocabulary& v, Header& h) {
  std::vector<GgufValue> tokens, scores, types, merges;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    tokens.push_back(GgufValue::str(v.tokens[i]));
    scores.push_back(GgufValue::f32(i < v.scores.size() ? v.scores[i] : 0.0f));
    types.push_back(GgufValue::i32(static_cast<int32_t>(i < v.types.size() ? v.types[i] : TokenType::kNormal)));
  }
  h.kv("tokenizer.ggml.model", GgufValue::str(v.model));
  if (!v.pre.empty()) h.kv("tokenizer.ggml.pre", GgufValue::str(v.pre));
  h.kv("tokenizer.ggml.tokens", GgufValue::arr(GgufType::kString, std::move(tokens)));
  h.kv("tokenizer.ggml.scores", GgufValue::arr(GgufType::kF32, std::move(scores)));
  h.kv("tokenizer.ggml.token_type", GgufValue::arr(GgufType::kI32, std::move(types)));
  if (!v.merges.empty()) {
    for (const auto& m : v.merges) merges.push_back(GgufValue::str(m));
    h.kv("tokenizer.ggml.merges", GgufValue::arr(GgufType::kString, std::move(merges)));
  }
  h.kv("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(v.bos_id)));
  h.kv("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(v.eos_id)));
  h.kv("tokenizer.ggml.unknown_token_id", GgufValue::u32(static_cast<uint32_t>(v.unk_id)));
  if (v.pad_id >= 0) h.kv("tokenizer.ggml.padding_token_id", GgufValue::u32(static_cast<uint32_t>(v.pad_id)));
  h.kv("tokenizer.ggml.add_bos_token", GgufValue::boolean(v.add_bos));
  if (v.add_eos) h.kv("tokenizer.ggml.add_eos_token", GgufValue::boolean(true));  // llama.cpp's default is false
  if (v.add_space_prefix >= 0) h.kv("tokenizer.ggml.add_space_prefix", GgufValue::boolean(v.add_space_prefix != 0));
  if (!v.chat_template.empty()) h.kv("tokenizer.chat_template", GgufValue::str(v.chat_template));
}

}  // namespace

Status write_gguf(const Model& model, const std::vector<TensorPlan>& plans, const std::string& out,
                  const ProduceFn& produce, uint64_t* bytes_written) {
  const LlamaHyperparameters& hp = model.hyperparameters();
  const std::string a = hp.architecture + ".";
  // llama.cpp reads these keys as u32 and nothing else; a value that does not fit is refused
  // here rather than written truncated (2^32 + 8 layers would come back as 8).
  const std::pair<const char*, int64_t> u32_keys[] = {
      {"context_length", hp.context_length}, {"embedding_length", hp.dim}, {"block_count", hp.n_layers},
      {"feed_forward_length", hp.hidden_dim}, {"attention.head_count", hp.n_heads},
      {"attention.head_count_kv", hp.n_kv_heads}, {"rope.dimension_count", hp.head_dim},
      {"vocab_size", hp.vocab_size}};
  for (const auto& [key, v] : u32_keys) {
    if (v < 0 || v > static_cast<int64_t>(UINT32_MAX)) {
      return invalid_argument("{}: hyperparameter {}{} = {} does not fit GGUF's u32", out, a, key, v);
    }
  }
  Header h;
  h.kv("general.architecture", GgufValue::str(hp.architecture));
  h.kv("general.name", GgufValue::str(hp.name.empty() ? "bitsmith" : hp.name));
  h.kv("general.quantization_version", GgufValue::u32(2));  // ggml's QK format generation
  h.kv("general.alignment", GgufValue::u32(static_cast<uint32_t>(kGgufDefaultAlignment)));
  h.kv(a + "context_length", GgufValue::u32(static_cast<uint32_t>(hp.context_length)));
  h.kv(a + "embedding_length", GgufValue::u32(static_cast<uint32_t>(hp.dim)));
  h.kv(a + "block_count", GgufValue::u32(static_cast<uint32_t>(hp.n_layers)));
  h.kv(a + "feed_forward_length", GgufValue::u32(static_cast<uint32_t>(hp.hidden_dim)));
  h.kv(a + "attention.head_count", GgufValue::u32(static_cast<uint32_t>(hp.n_heads)));
  h.kv(a + "attention.head_count_kv", GgufValue::u32(static_cast<uint32_t>(hp.n_kv_heads)));
  h.kv(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(hp.rms_norm_eps)));
  h.kv(a + "rope.freq_base", GgufValue::f32(static_cast<float>(hp.rope_theta)));
  h.kv(a + "rope.dimension_count", GgufValue::u32(static_cast<uint32_t>(hp.head_dim)));
  if (hp.n_heads > 0 && hp.head_dim != hp.dim / hp.n_heads) {
    h.kv(a + "attention.key_length", GgufValue::u32(static_cast<uint32_t>(hp.head_dim)));
    h.kv(a + "attention.value_length", GgufValue::u32(static_cast<uint32_t>(hp.head_dim)));
  }
  h.kv(a + "vocab_size", GgufValue::u32(static_cast<uint32_t>(hp.vocab_size)));
  if (!model.vocabulary().empty()) add_vocabulary(model.vocabulary(), h);

  Header infos;
  uint64_t offset = 0;
  std::vector<uint64_t> sizes;
  for (const auto& p : plans) {
    const int type = quant::gguf_type_of(*p.scheme);
    if (type < 0) return invalid_argument("{}: scheme {} of tensor '{}' cannot be stored in GGUF", out, p.scheme->name(), p.name);
    infos.str(p.name);
    infos.u32(static_cast<uint32_t>(p.shape.rank()));
    for (int d = p.shape.rank() - 1; d >= 0; --d) infos.u64(static_cast<uint64_t>(p.shape[d]));  // innermost first
    infos.u32(static_cast<uint32_t>(type));
    infos.u64(offset);
    const uint64_t size = p.scheme->data_bytes(p.shape.rows(), p.shape.cols());
    sizes.push_back(size);
    offset += (size + kGgufDefaultAlignment - 1) / kGgufDefaultAlignment * kGgufDefaultAlignment;
  }

  BITSMITH_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(out));
  BITSMITH_RETURN_IF_ERROR(write_preamble(f, plans.size(), h, infos));
  for (size_t i = 0; i < plans.size(); ++i) {
    BITSMITH_ASSIGN_OR_RETURN(quant::QuantizedTensor q, produce(i));
    // GGUF keeps ggml's block bytes (scales inside) or the plain array: `data` is all of it.
    if (q.data.size() != sizes[i] || !q.scales.empty() || !q.zeros.empty()) {
      return internal_error("{}: tensor '{}' produced {} bytes for {}, expected {}", out, plans[i].name, q.data.size(),
                            plans[i].scheme->name(), sizes[i]);
    }
    BITSMITH_RETURN_IF_ERROR(f.write(q.data.data(), q.data.size()));
    BITSMITH_RETURN_IF_ERROR(f.pad_to(kGgufDefaultAlignment));
  }
  *bytes_written = f.size();
  return f.commit();
}

}  // namespace bitsmith::io::detail

namespace bitsmith::io {

Status write_gguf_arrays(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                         const std::vector<GgufF32Array>& arrays) {
  detail::Header h;
  for (const auto& [k, v] : metadata) h.kv(k, v);
  detail::Header infos;
  uint64_t offset = 0;
  for (const auto& a : arrays) {
    auto n = checked_product(a.ne);
    if (!n || *n != a.data.size()) return invalid_argument("{}: array '{}' holds {} values for its dims", path, a.name, a.data.size());
    infos.str(a.name);
    infos.u32(static_cast<uint32_t>(a.ne.size()));
    for (int64_t d : a.ne) infos.u64(static_cast<uint64_t>(d));
    infos.u32(0);  // GGML_TYPE_F32
    infos.u64(offset);
    offset += (a.data.size() * 4 + kGgufDefaultAlignment - 1) / kGgufDefaultAlignment * kGgufDefaultAlignment;
  }
  BITSMITH_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  BITSMITH_RETURN_IF_ERROR(detail::write_preamble(f, arrays.size(), h, infos));
  for (const auto& a : arrays) {
    BITSMITH_RETURN_IF_ERROR(f.write(a.data.data(), a.data.size() * 4));
    BITSMITH_RETURN_IF_ERROR(f.pad_to(kGgufDefaultAlignment));
  }
  return f.commit();
}

}  // namespace bitsmith::io
