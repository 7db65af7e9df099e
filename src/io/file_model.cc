// FileModel (tensors located in mapped files, decoded on demand), plain-dtype decoding, and the
// format dispatch of open_model.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "bitsmith/core/checked.h"
#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/convert.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/safetensors.h"
#include "byte_reader.h"
#include "readers.h"

namespace bitsmith::io {

std::string_view file_format_name(FileFormat f) {
  switch (f) {
    case FileFormat::kGguf: return "gguf";
    case FileFormat::kSafetensors: return "safetensors";
    case FileFormat::kLlama2c: return "llama2c";
  }
  return "unknown";
}

quant::QuantizedView TensorSource::quantized_view() const {
  quant::QuantizedView v;
  v.scheme = scheme;
  v.cols = shape.cols();
  v.rows = shape.rows();
  if (data.file) v.data = data.bytes();
  if (scales.file) v.scales = scales.bytes();
  if (zeros.file) v.zeros = zeros.bytes();
  v.tensor_scale = tensor_scale;
  return v;
}

Status FileModel::add_tensor(const std::string& name, TensorSource src) {
  if (index_.count(name)) return corrupt_data("{}: duplicate tensor '{}'", path_, name);
  ModelTensorInfo info;
  info.name = name;
  info.shape = src.shape;
  info.storage = src.scheme ? src.scheme->name() : src.dtype ? std::string(dtype_name(*src.dtype)) : src.storage_name;
  info.bytes = src.data.size + src.scales.size + src.zeros.size;
  index_[name] = infos_.size();
  infos_.push_back(std::move(info));
  sources_.push_back(std::move(src));
  return Status::Ok();
}

const TensorSource* FileModel::source(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &sources_[it->second];
}

void FileModel::release(const std::string& name) const {
  const TensorSource* s = source(name);
  if (!s) return;
  for (const ByteRange* r : {&s->data, &s->scales, &s->zeros}) {
    if (r->file) r->file->release(r->offset, r->size);
  }
}

Result<Tensor> FileModel::load_f32(const std::string& name) const {
  const TensorSource* s = source(name);
  if (!s) return not_found("{}: no tensor '{}'", path_, name);
  const uint8_t* p = s->data.file->data() + s->data.offset;
  if (s->dtype == DType::kF32 && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
    return Tensor(DType::kF32, s->shape, p, s->data.file);
  }
  Tensor out(DType::kF32, s->shape);
  float* dst = out.mutable_as<float>().data();
  if (!s->dtype && !s->scheme) {
    return unsupported("{}: tensor '{}' is stored as {}, which bitsmith cannot decode", path_, name, s->storage_name);
  }
  if (s->dtype) {
    decode_to_f32(*s->dtype, p, static_cast<uint64_t>(s->shape.numel()), dst);
    return out;
  }
  Status st = s->scheme->dequantize(s->quantized_view(), dst);
  if (!st.ok()) return st.with_context(fmt::format("{}: tensor '{}'", path_, name));
  return out;
}

ModelTotals model_totals(const Model& m) {
  ModelTotals t;
  for (const auto& info : m.tensors()) {
    t.parameters += static_cast<uint64_t>(info.shape.numel());
    t.bytes += info.bytes;
  }
  t.bits_per_weight = t.parameters ? 8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.parameters) : 0.0;
  return t;
}

namespace {
template <typename T>
void cast_loop(const uint8_t* src, uint64_t n, float* out) {
  for (uint64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}
// The formats module's array conversions want aligned 16-bit codes; file data may sit at any
// offset (safetensors headers have any length), so unaligned input is copied first.
void half_to_f32(const uint8_t* src, uint64_t n, float* out, bool bf16) {
  std::vector<uint16_t> copy;
  const uint16_t* codes = reinterpret_cast<const uint16_t*>(src);
  if (reinterpret_cast<uintptr_t>(src) % alignof(uint16_t) != 0) {
    copy.resize(n);
    std::memcpy(copy.data(), src, n * 2);
    codes = copy.data();
  }
  std::span<const uint16_t> in(codes, n);
  std::span<float> o(out, n);
  if (bf16) formats::bf16_to_f32(in, o);
  else formats::f16_to_f32(in, o);
}
}  // namespace

void decode_to_f32(DType dtype, const uint8_t* src, uint64_t n, float* out) {
  if (n == 0) return;  // an empty tensor may have no buffer at all (memcpy from null is UB)
  switch (dtype) {
    case DType::kF32: std::memcpy(out, src, n * 4); return;
    case DType::kF64: cast_loop<double>(src, n, out); return;
    case DType::kF16: half_to_f32(src, n, out, false); return;
    case DType::kBF16: half_to_f32(src, n, out, true); return;
    case DType::kF8E4M3: formats::e4m3_to_f32({src, n}, {out, n}); return;
    case DType::kF8E5M2: formats::e5m2_to_f32({src, n}, {out, n}); return;
    case DType::kF8E8M0:
      for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<float>(formats::decode(formats::kFloat8E8M0FNU, src[i]));
      return;
    case DType::kI64: cast_loop<int64_t>(src, n, out); return;
    case DType::kI32: cast_loop<int32_t>(src, n, out); return;
    case DType::kI16: cast_loop<int16_t>(src, n, out); return;
    case DType::kI8: cast_loop<int8_t>(src, n, out); return;
    case DType::kU8: cast_loop<uint8_t>(src, n, out); return;
    case DType::kBool:
      for (uint64_t i = 0; i < n; ++i) out[i] = src[i] ? 1.0f : 0.0f;
      return;
  }
}

namespace detail {
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    int len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (i + static_cast<size_t>(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      unsigned cc = p[i + static_cast<size_t>(k)];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<size_t>(len);
  }
  return true;
}
}  // namespace detail

namespace detail {
Status check_hyperparameters(const FileModel& m) {
  const LlamaHyperparameters& hp = m.hyperparameters();
  uint64_t max_numel = 0;
  for (const auto& t : m.tensors()) max_numel = std::max(max_numel, static_cast<uint64_t>(t.shape.numel()));
  constexpr int64_t kMax = UINT32_MAX;  // what GGUF stores them in; products of two stay below 2^64
  const std::pair<const char*, int64_t> fields[] = {
      {"dim", hp.dim}, {"hidden_dim", hp.hidden_dim}, {"n_layers", hp.n_layers}, {"n_heads", hp.n_heads},
      {"n_kv_heads", hp.n_kv_heads}, {"head_dim", hp.head_dim}, {"vocab_size", hp.vocab_size},
      {"context_length", hp.context_length}};
  for (const auto& [name, v] : fields) {
    if (v < 0 || v > kMax) return corrupt_data("{}: hyperparameter {} = {} is outside 0..{}", m.path(), name, v, kMax);
  }
  if (static_cast<uint64_t>(hp.n_layers) > m.tensors().size()) {
    return corrupt_data("{}: hyperparameter n_layers = {} but the file holds only {} tensors", m.path(), hp.n_layers,
                        m.tensors().size());
  }
  if (m.tensors().empty()) return Status::Ok();
  // Every one of these is a dimension of some weight the model must hold (token_embd is
  // [vocab, dim], ffn_gate [hidden, dim], attn_q [heads * head_dim, dim]).
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const std::pair<const char*, uint64_t> widths[] = {
      {"dim", u(hp.dim)}, {"hidden_dim", u(hp.hidden_dim)}, {"vocab_size", u(hp.vocab_size)},
      {"n_heads * head_dim", u(hp.n_heads) * u(hp.head_dim)}, {"n_kv_heads * head_dim", u(hp.n_kv_heads) * u(hp.head_dim)}};
  for (const auto& [name, v] : widths) {
    if (v > max_numel) {
      return corrupt_data("{}: hyperparameter {} = {} exceeds the element count of the largest tensor ({})", m.path(),
                          name, v, max_numel);
    }
  }
  return Status::Ok();
}
}  // namespace detail

Result<FileFormat> detect_format(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const char* f : {"model.safetensors.index.json", "model.safetensors"}) {
      if (std::filesystem::exists(std::filesystem::path(path) / f, ec)) return FileFormat::kSafetensors;
    }
    return not_found("{}: directory has no model.safetensors or model.safetensors.index.json", path);
  }
  if (path.size() >= 5 && path.ends_with(".json")) return FileFormat::kSafetensors;
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  auto b = file->bytes();
  if (b.size() >= 4 && std::memcmp(b.data(), "GGUF", 4) == 0) return FileFormat::kGguf;
  // safetensors: u64 header length, then JSON starting with '{'.
  if (b.size() >= 9 && b[8] == '{') return FileFormat::kSafetensors;
  if (path.ends_with(".safetensors")) return FileFormat::kSafetensors;
  if (path.ends_with(".gguf")) return FileFormat::kGguf;
  // No magic: llama2.c only if its header is plausible, so a text file is not read as
  // "dim 1025509898" and refused for a reason that makes no sense to its owner.
  if (std::string why = detail::llama2c_header_problem(b); !why.empty()) {
    return corrupt_data("{}: not a model file (GGUF, safetensors or llama2.c): no GGUF magic, no safetensors "
                        "header, and {}", path, why);
  }
  return FileFormat::kLlama2c;
}

void FileModel::add_source_file(const std::string& path) {
  if (std::find(source_files_.begin(), source_files_.end(), path) == source_files_.end()) source_files_.push_back(path);
}

namespace {
// The files a reader read: every mapped file holding tensor bytes, the tokenizer of a llama2.c
// checkpoint, and the companions of a safetensors model (which a safetensors output beside it
// would otherwise replace).
void record_source_files(FileModel& m, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) m.add_source_file(path);
  for (const auto& t : m.tensors()) {
    const TensorSource* s = m.source(t.name);
    for (const ByteRange* r : {&s->data, &s->scales, &s->zeros}) {
      if (r->file) m.add_source_file(r->file->path());
    }
  }
  if (auto it = m.metadata().find("tokenizer.file"); it != m.metadata().end()) m.add_source_file(it->second);
  if (m.format() == FileFormat::kSafetensors) {
    const fs::path dir = fs::is_directory(path, ec) ? fs::path(path) : fs::path(path).parent_path();
    for (const char* n : {"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
                          "special_tokens_map.json", "model.safetensors.index.json"}) {
      const fs::path f = (dir.empty() ? fs::path(".") : dir) / n;
      if (fs::is_regular_file(f, ec)) m.add_source_file(f.string());
    }
  }
}
}  // namespace

Result<std::unique_ptr<Model>> open_model(const std::string& path,
                                          const std::string& tokenizer_path) {
  BITSMITH_ASSIGN_OR_RETURN(FileFormat f, detect_format(path));
  std::unique_ptr<FileModel> m;
  switch (f) {
    case FileFormat::kLlama2c: {
      BITSMITH_ASSIGN_OR_RETURN(m, detail::read_llama2c(path, tokenizer_path));
      break;
    }
    case FileFormat::kGguf: {
      BITSMITH_ASSIGN_OR_RETURN(m, detail::read_gguf_model(path));
      break;
    }
    case FileFormat::kSafetensors: {
      BITSMITH_ASSIGN_OR_RETURN(m, detail::read_safetensors_model(path));
      break;
    }
  }
  record_source_files(*m, path);
  return std::unique_ptr<Model>(std::move(m));
}

Result<ModelOrConfig> open_model_or_config(const std::string& path) {
  ModelOrConfig out;
  if (path.ends_with(".json") && !path.ends_with(".index.json")) {
    BITSMITH_ASSIGN_OR_RETURN(out.hyperparameters, load_hf_config(path));
  } else {
    BITSMITH_ASSIGN_OR_RETURN(out.model, open_model(path, ""));
  }
  return out;
}

}  // namespace bitsmith::io
