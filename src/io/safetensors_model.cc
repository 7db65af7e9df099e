// safetensors -> Model: a single file, a directory, or a sharded checkpoint's index.json;
// config.json and tokenizer.json beside it; Hugging Face names mapped to canonical ones;
// quantized weights in the compressed-tensors layouts (nvfp4-pack-quantized, float-quantized fp8)
// and in bitsmith's own layout (docs/model_files.md) reassembled into scheme views.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bitsmith/core/checked.h"
#include "bitsmith/io/safetensors.h"
#include "bitsmith/io/tokenizer_files.h"
#include "bitsmith/core/json_guard.h"
#include "ct_layout.h"
#include "readers.h"
#include "st_layout.h"

namespace bitsmith::io::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Result<std::string> read_text(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(auto f, MappedFile::open(path));
  return std::string(reinterpret_cast<const char*>(f->data()), f->size());
}

struct Located {
  std::shared_ptr<MappedFile> file;
  const SafetensorsEntry* entry;
  ByteRange range() const { return {file, 0, entry->end - entry->begin}; }
};

// All tensors of all shards by HF name.
struct Shards {
  std::vector<std::pair<std::shared_ptr<MappedFile>, SafetensorsFile>> files;
  std::map<std::string, Located> by_name;
  std::map<std::string, std::string> metadata;
  const Located* find(const std::string& n) const {
    auto it = by_name.find(n);
    return it == by_name.end() ? nullptr : &it->second;
  }
  ByteRange range(const Located& l) const {
    uint64_t data_offset = 0;
    for (const auto& [f, sf] : files) {
      if (f == l.file) data_offset = sf.data_offset;
    }
    return {l.file, data_offset + l.entry->begin, l.entry->end - l.entry->begin};
  }
};

Status load_shard(const std::string& path, Shards* s) {
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  BITSMITH_ASSIGN_OR_RETURN(SafetensorsFile sf, parse_safetensors(file->bytes(), path));
  s->files.emplace_back(file, std::move(sf));
  return Status::Ok();
}

Status index_shards(Shards* s) {
  for (const auto& [file, sf] : s->files) {
    for (const auto& e : sf.tensors) {
      if (s->by_name.count(e.name)) return corrupt_data("{}: tensor '{}' appears in two shards", file->path(), e.name);
      s->by_name[e.name] = {file, &e};
    }
    for (const auto& [k, v] : sf.metadata) s->metadata[k] = v;
  }
  return Status::Ok();
}

// Loads the shards named by an index.json's weight_map (each file once).
Status load_index(const std::string& index_path, Shards* s) {
  BITSMITH_ASSIGN_OR_RETURN(std::string text, read_text(index_path));
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, index_path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return corrupt_data("{}: not a JSON object", index_path);
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) return corrupt_data("{}: no 'weight_map' object", index_path);
  std::set<std::string> shard_names;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string()) return corrupt_data("{}: weight_map['{}'] is not a file name", index_path, it.key());
    const std::string f = it->get<std::string>();
    if (f.find('/') != std::string::npos || f == ".." ) return corrupt_data("{}: shard name '{}' leaves the directory", index_path, f);
    shard_names.insert(f);
  }
  const fs::path dir = fs::path(index_path).parent_path();
  for (const auto& f : shard_names) BITSMITH_RETURN_IF_ERROR(load_shard((dir / f).string(), s));
  BITSMITH_RETURN_IF_ERROR(index_shards(s));
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!s->find(it.key())) {
      return corrupt_data("{}: weight_map names '{}' in {}, which does not hold it", index_path, it.key(),
                          it->get<std::string>());
    }
  }
  return Status::Ok();
}

float read_f32_scalar(const ByteRange& r) {
  float v = 0;
  std::memcpy(&v, r.file->data() + r.offset, sizeof(v));
  return v;
}

// A quantized weight's byte ranges must be exactly what its scheme reads for its shape.
Status check_layout(const TensorSource& src, const std::string& file, const std::string& base) {
  const int64_t r = src.shape.rows(), c = src.shape.cols();
  Status fits = src.scheme->check_shape(r, c);
  if (!fits.ok()) return fits.with_context(fmt::format("{}: '{}'", file, base));
  if (src.data.size != src.scheme->data_bytes(r, c) || src.scales.size != src.scheme->scale_bytes(r, c) ||
      src.zeros.size != src.scheme->zero_bytes(r, c)) {
    return corrupt_data("{}: '{}' byte sizes (data {}, scales {}, zeros {}) do not match {} for {}", file, base,
                        src.data.size, src.scales.size, src.zeros.size, src.scheme->name(), src.shape.to_string());
  }
  return Status::Ok();
}

uint64_t bytes_of(const Located& l) { return l.entry->end - l.entry->begin; }

// The scheme bitsmith recorded for a weight it wrote in a compressed-tensors layout, or `fallback`;
// a recorded scheme that this layout cannot hold is ignored.
std::string recorded_scheme(const std::map<std::string, st_layout::Entry>& ct, const std::string& weight,
                            std::string fallback) {
  auto it = ct.find(weight);
  if (it == ct.end()) return fallback;
  auto rec = quant::find_scheme(it->second.scheme);
  auto fb = quant::find_scheme(fallback);
  if (!rec.ok() || !fb.ok() || ct_layout::format_of(**rec) != ct_layout::format_of(**fb)) return fallback;
  return it->second.scheme;
}

ByteRange owned(const std::string& name, std::vector<uint8_t> bytes) {
  const uint64_t n = bytes.size();
  return {MappedFile::from_bytes(name, std::move(bytes)), 0, n};
}

// compressed-tensors pack-quantized (ct_layout.h): int32 weight_packed, weight_scale (fp16 per
// group, or float32 per row for int8), int64 weight_shape, int32 weight_zero_point when
// asymmetric; converted back to the int scheme's bytes.
Status read_pack_quantized(const Shards& s, const std::string& file, const std::string& hf_base, const Located& packed,
                           const std::map<std::string, st_layout::Entry>& ct, std::set<std::string>* used, TensorSource* src) {
  auto mark = [&](const std::string& n) { used->insert(n); return s.find(n); };
  const Located* scale = mark(hf_base + ".weight_scale");
  const Located* shape = mark(hf_base + ".weight_shape");
  const Located* zp = mark(hf_base + ".weight_zero_point");
  if (!scale || !shape || shape->entry->dtype != DType::kI64 || bytes_of(*shape) != 16 || packed.entry->shape.size() != 2 ||
      scale->entry->shape.size() != 2 || (scale->entry->dtype != DType::kF16 && scale->entry->dtype != DType::kF32) ||
      (zp && (zp->entry->dtype != DType::kI32 || zp->entry->shape.size() != 2))) {
    return unsupported("{}: '{}' is not a pack-quantized weight bitsmith reads (int32 weight_packed, fp16 or float32 "
                       "weight_scale [rows, groups], int64 weight_shape, int32 weight_zero_point)", file, hf_base);
  }
  int64_t dims[2];
  std::memcpy(dims, s.range(*shape).bytes().data(), 16);
  const int64_t r = dims[0], c = dims[1], groups = scale->entry->shape[1], words = packed.entry->shape[1];
  if (r <= 0 || c <= 0 || c / 32 > words ||  // at least one bit per element (and no overflow below) packed.entry->shape[0] != r || scale->entry->shape[0] != r || groups <= 0 || c % groups != 0 ||
      bytes_of(packed) != static_cast<uint64_t>(r * words * 4)) {
    return corrupt_data("{}: '{}' pack-quantized shapes do not agree (weight_shape [{}, {}])", file, hf_base, r, c);
  }
  const bool f32_rows = scale->entry->dtype == DType::kF32;
  // The integer width: recorded by bitsmith, else the one whose packed row is `words` int32s.
  int bits = 0;
  for (int b = 1; b <= 8; ++b) bits = ct_layout::packed_words(c, b) == words && (bits == 0 || c >= 32) ? b : bits;
  const std::string group = groups == 1 ? "row" : std::to_string(c / groups);
  std::string name = f32_rows ? "int8" : fmt::format("int{}_g{}{}", bits, group, zp ? "" : "_sym");
  name = recorded_scheme(ct, hf_base + ".weight", name);
  BITSMITH_ASSIGN_OR_RETURN(src->scheme, quant::find_scheme(name));
  if (ct_layout::format_of(*src->scheme) != ct_layout::Format::kPackInt || src->scheme->traits().symmetric != !zp ||
      ct_layout::packed_words(c, ct_layout::int_params(*src->scheme).bits) != words) {
    return corrupt_data("{}: '{}' pack-quantized tensors do not hold scheme {}", file, hf_base, name);
  }
  const ct_layout::IntParams ip = ct_layout::int_params(*src->scheme);
  BITSMITH_ASSIGN_OR_RETURN(src->shape, Shape::from(std::vector<int64_t>{r, c}));
  src->data = owned(file, ct_layout::unpack_rows(s.range(packed).bytes().data(), r, c, ip));
  src->scales = s.range(*scale);
  if (zp) {
    if (zp->entry->shape[0] != ct_layout::packed_words(r, ip.bits) || zp->entry->shape[1] != groups) {
      return corrupt_data("{}: '{}.weight_zero_point' shape does not match [{}, {}]", file, hf_base,
                          ct_layout::packed_words(r, ip.bits), groups);
    }
    src->zeros = owned(file, ct_layout::unpack_zeros(s.range(*zp).bytes().data(), r, groups, ip.bits));
  }
  return Status::Ok();
}

// Adds one weight, recognising the quantized layouts by their companion tensors.
Status add_weight(const Shards& s, const std::string& hf_base, FileModel* m, std::set<std::string>* used,
                  const std::map<std::string, st_layout::Entry>& bitsmith_schemes,
                  const std::map<std::string, st_layout::Entry>& ct_schemes) {
  const std::string weight = hf_base + ".weight";
  auto canonical = canonical_from_hf(weight);
  if (!canonical) return Status::Ok();
  TensorSource src;
  auto mark = [&](const std::string& n) { used->insert(n); return s.find(n); };
  const std::string& file = m->path();
  const Located* packed = s.find(hf_base + ".weight_packed");
  if (packed && packed->entry->dtype == DType::kI32) {
    mark(hf_base + ".weight_packed");
    BITSMITH_RETURN_IF_ERROR(read_pack_quantized(s, file, hf_base, *packed, ct_schemes, used, &src));
    BITSMITH_RETURN_IF_ERROR(check_layout(src, file, hf_base));
  } else if (const Located* mx_scale = s.find(hf_base + ".weight_scale");
             packed && !s.find(hf_base + ".weight_global_scale") && mx_scale && mx_scale->entry->dtype == DType::kU8) {
    // mxfp4-pack-quantized (E2M1 nibbles) / mxfp6-pack-quantized (E2M3, four codes in three
    // bytes): U8 weight_packed [out, in/2 or 3*in/4], e8m0 exponents U8 weight_scale [out, in/32].
    const Located* scale = mark(hf_base + ".weight_scale");
    mark(hf_base + ".weight_packed");
    if (!scale || packed->entry->dtype != DType::kU8 || packed->entry->shape.size() != 2 || scale->entry->dtype != DType::kU8 ||
        scale->entry->shape.size() != 2) {
      return corrupt_data("{}: '{}' is not a complete MX pack-quantized weight (U8 weight_packed, U8 weight_scale)", file, hf_base);
    }
    const int64_t r = packed->entry->shape[0], pc = packed->entry->shape[1], c = scale->entry->shape[1] * 32;
    const char* guess = pc * 2 == c ? "mxfp4" : pc * 4 == c * 3 ? "mxfp6_e2m3" : nullptr;
    if (!guess) return corrupt_data("{}: '{}' weight_packed [{}, {}] is neither fp4 nor fp6 for {} columns", file, hf_base, r, pc, c);
    BITSMITH_ASSIGN_OR_RETURN(src.scheme, quant::find_scheme(recorded_scheme(ct_schemes, weight, guess)));
    BITSMITH_ASSIGN_OR_RETURN(src.shape, Shape::from(std::vector<int64_t>{r, c}));
    src.data = s.range(*packed);
    src.scales = s.range(*scale);
    BITSMITH_RETURN_IF_ERROR(check_layout(src, file, hf_base));
  } else if (packed) {
    // compressed-tensors nvfp4-pack-quantized: codes [out, in/2] u8, e4m3 block scales [out, in/16]
    // and the reciprocal global scale: effective block scale = weight_scale / weight_global_scale.
    const Located* scale = mark(hf_base + ".weight_scale");
    const Located* global = mark(hf_base + ".weight_global_scale");
    mark(hf_base + ".weight_packed");
    if (!scale || !global || packed->entry->shape.size() != 2 || packed->entry->dtype != DType::kU8 ||
        global->entry->dtype != DType::kF32 || global->entry->end - global->entry->begin != 4 ||
        scale->entry->dtype != DType::kF8E4M3) {
      return corrupt_data("{}: '{}' is not a complete nvfp4-pack-quantized weight (u8 weight_packed, F8_E4M3 "
                          "weight_scale, F32 weight_global_scale)", file, hf_base);
    }
    BITSMITH_ASSIGN_OR_RETURN(src.scheme, quant::find_scheme("nvfp4"));
    // Two fp4 codes per byte; checked, as a zero-row tensor may claim any column count.
    const auto cols = checked_mul(static_cast<uint64_t>(packed->entry->shape[1]), 2);
    if (!cols || *cols > static_cast<uint64_t>(INT64_MAX)) {
      return corrupt_data("{}: '{}.weight_packed' has {} columns, which overflows", file, hf_base, packed->entry->shape[1]);
    }
    BITSMITH_ASSIGN_OR_RETURN(src.shape, Shape::from(std::vector<int64_t>{packed->entry->shape[0], static_cast<int64_t>(*cols)}));
    src.data = s.range(*packed);
    src.scales = s.range(*scale);
    src.tensor_scale = 1.0f / read_f32_scalar(s.range(*global));
    BITSMITH_RETURN_IF_ERROR(check_layout(src, file, hf_base));
  } else if (auto it = bitsmith_schemes.find(weight); it != bitsmith_schemes.end()) {
    const st_layout::Entry& e = it->second;
    const Located* data = mark(hf_base + ".qdata");
    if (!data) return corrupt_data("{}: '{}' is listed in {} but '{}.qdata' is missing", file, weight, st_layout::kMetadataKey, hf_base);
    BITSMITH_ASSIGN_OR_RETURN(src.scheme, quant::find_scheme(e.scheme));
    // The scheme's byte counts multiply rows by cols: keep the product far from 64 bits (2^48
    // elements is 256 T, beyond any file) before they are asked for.
    const auto numel = checked_mul(static_cast<uint64_t>(e.rows), static_cast<uint64_t>(e.cols));
    if (!numel || *numel > (uint64_t{1} << 48)) {
      return corrupt_data("{}: {} entry '{}' shape [{}, {}] is too large", file, st_layout::kMetadataKey, weight, e.rows, e.cols);
    }
    BITSMITH_ASSIGN_OR_RETURN(src.shape, Shape::from(std::vector<int64_t>{e.rows, e.cols}));
    src.data = s.range(*data);
    if (const Located* sc = mark(hf_base + ".qscales")) src.scales = s.range(*sc);
    if (const Located* z = mark(hf_base + ".qzeros")) src.zeros = s.range(*z);
    if (const Located* ts = mark(hf_base + ".qtensor_scale")) {
      if (ts->entry->dtype != DType::kF32 || ts->entry->end - ts->entry->begin != 4) {
        return corrupt_data("{}: '{}.qtensor_scale' must be one F32", file, hf_base);
      }
      src.tensor_scale = read_f32_scalar(s.range(*ts));
    }
    BITSMITH_RETURN_IF_ERROR(check_layout(src, file, hf_base));
  } else {
    const Located* w = mark(weight);
    if (!w) return Status::Ok();
    BITSMITH_ASSIGN_OR_RETURN(src.shape, Shape::from(w->entry->shape));
    src.data = s.range(*w);
    const Located* scale = s.find(hf_base + ".weight_scale");
    if (w->entry->dtype == DType::kF8E4M3 && scale && scale->entry->dtype == DType::kU8) {
      // mxfp8-quantized: F8_E4M3 weight, e8m0 exponents U8 weight_scale [out, in/32].
      mark(hf_base + ".weight_scale");
      BITSMITH_ASSIGN_OR_RETURN(src.scheme, quant::find_scheme(recorded_scheme(ct_schemes, weight, "mxfp8_e4m3")));
      src.scales = s.range(*scale);
      BITSMITH_RETURN_IF_ERROR(check_layout(src, file, hf_base));
    } else if (w->entry->dtype == DType::kF8E4M3 && scale) {
      // compressed-tensors float-quantized: F8_E4M3 weight, F32 weight_scale [1] (tensor), [out, 1]
      // (channel) or [ceil(out/128), ceil(in/128)] (block).
      mark(hf_base + ".weight_scale");
      const auto& sh = scale->entry->shape;
      const uint64_t n = (scale->entry->end - scale->entry->begin) / 4;
      if (scale->entry->dtype != DType::kF32) return unsupported("{}: '{}.weight_scale' must be F32", file, hf_base);
      // A [rows, 1] scale is per channel, [ceil(rows/128), ceil(cols/128)] per tile (both can be
      // [2, 1]: bitsmith records which).
      const char* guess = n == 1 && sh.size() <= 1 ? "fp8_e4m3"
                          : (sh.size() == 2 && sh[0] == src.shape[0] && sh[1] == 1) ? "fp8_e4m3_channel"
                                                                                     : "fp8_e4m3_block128";
      BITSMITH_ASSIGN_OR_RETURN(src.scheme, quant::find_scheme(recorded_scheme(ct_schemes, weight, guess)));
      if (src.scheme->traits().granularity == quant::Granularity::kTensor) src.tensor_scale = read_f32_scalar(s.range(*scale));
      else src.scales = s.range(*scale);
      BITSMITH_RETURN_IF_ERROR(check_layout(src, file, hf_base));
    } else {
      src.dtype = w->entry->dtype;
    }
  }
  return m->add_tensor(*canonical, std::move(src));
}

// A static activation scale (compressed-tensors): fp8 W8A8 `<module>.input_scale` = amax / 448,
// nvfp4 W4A4 `<module>.input_global_scale` = 448 * 6 / amax; one float (shape [1] or [], any
// float dtype: llm-compressor saves them in the model's dtype). Modules bitsmith does not map
// to a canonical linear are skipped, as before.
Status add_static_input(const Shards& s, const std::string& name, const Located& loc, FileModel* m, const std::string& file) {
  const bool global = name.ends_with(".input_global_scale");
  const std::string module = name.substr(0, name.size() - std::strlen(global ? ".input_global_scale" : ".input_scale"));
  auto canonical = canonical_from_hf(module + ".weight");
  if (!canonical) return Status::Ok();
  const SafetensorsEntry& e = *loc.entry;
  const bool is_float = e.dtype == DType::kF32 || e.dtype == DType::kF16 || e.dtype == DType::kBF16;
  // parse_safetensors checked that the shape's elements fill the byte range: one element's bytes.
  if (!is_float || e.end - e.begin != dtype_size(e.dtype)) {
    return corrupt_data("{}: '{}' must be one float (F32, F16 or BF16)", file, name);
  }
  float v = 0;
  decode_to_f32(e.dtype, s.range(loc).bytes().data(), 1, &v);
  if (!std::isfinite(v) || v <= 0) return corrupt_data("{}: '{}' is {}, not a positive finite scale", file, name, v);
  BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* scheme, quant::find_scheme(global ? "nvfp4" : "fp8_e4m3"));
  m->mutable_static_inputs()[*canonical] = {scheme, global ? 448.0f * 6.0f / v : v * 448.0f};
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<FileModel>> read_safetensors_model(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  Shards s;
  fs::path dir = p.parent_path();
  if (fs::is_directory(p, ec)) {
    dir = p;
    if (fs::exists(p / "model.safetensors.index.json", ec)) {
      BITSMITH_RETURN_IF_ERROR(load_index((p / "model.safetensors.index.json").string(), &s));
    } else {
      BITSMITH_RETURN_IF_ERROR(load_shard((p / "model.safetensors").string(), &s));
      BITSMITH_RETURN_IF_ERROR(index_shards(&s));
    }
  } else if (path.ends_with(".json")) {
    BITSMITH_RETURN_IF_ERROR(load_index(path, &s));
  } else {
    BITSMITH_RETURN_IF_ERROR(load_shard(path, &s));
    BITSMITH_RETURN_IF_ERROR(index_shards(&s));
  }
  if (dir.empty()) dir = ".";
  auto m = std::make_unique<FileModel>(path, FileFormat::kSafetensors);
  for (const auto& [k, v] : s.metadata) m->mutable_metadata()[k] = v;

  std::map<std::string, st_layout::Entry> bitsmith_schemes, ct_schemes;
  BITSMITH_RETURN_IF_ERROR(st_layout::parse_metadata(s.metadata, path, &bitsmith_schemes));
  BITSMITH_RETURN_IF_ERROR(st_layout::parse_metadata(s.metadata, path, &ct_schemes, st_layout::kCompressedKey));
  std::set<std::string> used;
  // Every weight once, by its base name; companion tensors are consumed by their weight.
  std::set<std::string> bases;
  for (const auto& [name, loc] : s.by_name) {
    for (const char* suffix : {".weight_packed", ".weight", ".qdata"}) {
      if (name.ends_with(suffix)) {
        bases.insert(name.substr(0, name.size() - std::strlen(suffix)));
        break;
      }
    }
  }
  for (const auto& b : bases) BITSMITH_RETURN_IF_ERROR(add_weight(s, b, m.get(), &used, bitsmith_schemes, ct_schemes));
  for (const auto& [name, loc] : s.by_name) {
    if (used.count(name) || name.ends_with("rotary_emb.inv_freq")) continue;
    if (name.ends_with(".input_global_scale") || name.ends_with(".input_scale")) {
      BITSMITH_RETURN_IF_ERROR(add_static_input(s, name, loc, m.get(), path));
      continue;
    }
    auto canonical = canonical_from_hf(name);
    if (!canonical || m->has_tensor(*canonical)) continue;
    TensorSource src;
    BITSMITH_ASSIGN_OR_RETURN(src.shape, Shape::from(loc.entry->shape));
    src.dtype = loc.entry->dtype;
    src.data = s.range(loc);
    BITSMITH_RETURN_IF_ERROR(m->add_tensor(*canonical, std::move(src)));
  }

  LlamaHyperparameters& hp = m->mutable_hyperparameters();
  const fs::path config = dir / "config.json";
  if (fs::exists(config, ec)) {
    BITSMITH_ASSIGN_OR_RETURN(std::string text, read_text(config.string()));
    BITSMITH_ASSIGN_OR_RETURN(hp, parse_hf_config(text, config.string()));
  } else {
    // No config.json: what the shapes tell; head counts stay unknown (0).
    hp.rope_style = RopeStyle::kHalfSplit;
    if (const TensorSource* e = m->source("token_embd.weight")) { hp.vocab_size = e->shape[0]; hp.dim = e->shape.cols(); }
    if (const TensorSource* g = m->source("blk.0.ffn_gate.weight")) hp.hidden_dim = g->shape[0];
    while (m->has_tensor(fmt::format("blk.{}.attn_norm.weight", hp.n_layers))) ++hp.n_layers;
  }
  if (!m->has_tensor("output.weight")) hp.tied_embeddings = true;
  if (hp.vocab_size == 0) if (const TensorSource* e = m->source("token_embd.weight")) hp.vocab_size = e->shape[0];
  const fs::path tok = dir / "tokenizer.json";
  if (fs::exists(tok, ec)) {
    BITSMITH_ASSIGN_OR_RETURN(m->mutable_vocabulary(), read_hf_tokenizer(tok.string()));
  }
  BITSMITH_RETURN_IF_ERROR(check_hyperparameters(*m));
  return m;
}

}  // namespace bitsmith::io::detail
