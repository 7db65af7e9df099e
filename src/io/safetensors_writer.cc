// safetensors writer: plain F32/F16/BF16 arrays, fp8 and nvfp4 in compressed-tensors' layouts
// (what vLLM loads), any other scheme in bitsmith's layout (st_layout.h); then config.json with
// its quantization_config, and the tokenizer files.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/formats/convert.h"
#include "bitsmith/io/safetensors.h"
#include "bitsmith/io/tokenizer_files.h"
#include "ct_layout.h"
#include "st_layout.h"
#include "writers.h"

namespace bitsmith::io::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

enum class Part : uint8_t {
  kData, kScales, kZeros, kTensorScale, kGlobalScale,
  kPackedInt,    // pack-quantized weight_packed (ct_layout::pack_rows)
  kPackedZeros,  // pack-quantized weight_zero_point (ct_layout::pack_zeros)
  kShape,        // pack-quantized weight_shape, int64 [rows, cols]
  kConstant,     // a float32 known before quantizing (Piece::value): static activation scales
};

struct Piece {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t size = 0;
  Part part = Part::kData;
  float value = 0;  // kConstant
};

bool is_plain(const quant::Scheme& s) {
  const std::string& n = s.name();
  return n == "f32" || n == "fp16" || n == "bf16";
}

// Weights written in bitsmith's own layout: no compressed-tensors format holds the scheme, the
// method's zero points are fractional (HQQ) where pack-quantized stores integers, or the weight
// is the embedding (compressed-tensors quantizes Linear modules; an embedding in its layout
// would load as random weights).
bool is_private(const TensorPlan& p, const WriteOptions& opt) {
  const quant::Scheme& s = *p.scheme;
  if (is_plain(s)) return false;
  if (p.name == "token_embd.weight") return true;
  const ct_layout::Format f = ct_layout::format_of(s);
  if (f == ct_layout::Format::kNone) return true;
  return f == ct_layout::Format::kPackInt && !s.traits().symmetric && opt.fractional_zeros;
}

std::vector<Piece> pieces_of(const TensorPlan& p, const std::string& hf, const WriteOptions& opt) {
  using ct_layout::Format;
  const quant::Scheme& s = *p.scheme;
  const int64_t r = p.shape.rows(), c = p.shape.cols();
  const std::string n = s.name();
  std::vector<int64_t> dims(p.shape.dims().begin(), p.shape.dims().end());
  if (n == "f32") return {{hf, "F32", dims, s.data_bytes(r, c), Part::kData}};
  if (n == "fp16") return {{hf, "F16", dims, s.data_bytes(r, c), Part::kData}};
  if (n == "bf16") return {{hf, "BF16", dims, s.data_bytes(r, c), Part::kData}};
  const std::string base = hf.ends_with(".weight") ? hf.substr(0, hf.size() - 7) : hf;
  const int64_t g32 = (c + 31) / 32;
  switch (is_private(p, opt) ? Format::kNone : ct_layout::format_of(s)) {
    case Format::kNvfp4:
      return {{base + ".weight_packed", "U8", {r, c / 2}, s.data_bytes(r, c), Part::kData},
              {base + ".weight_scale", "F8_E4M3", {r, c / 16}, s.scale_bytes(r, c), Part::kScales},
              {base + ".weight_global_scale", "F32", {1}, 4, Part::kGlobalScale}};
    case Format::kMxfp4:
    case Format::kMxfp6:
      // E2M1 nibbles (low = even element) / E2M3 codes four to three bytes, as bitsmith packs
      // rows; e8m0 exponents per 32.
      return {{base + ".weight_packed", "U8", {r, static_cast<int64_t>(s.data_bytes(r, c) / static_cast<uint64_t>(r ? r : 1))},
               s.data_bytes(r, c), Part::kData},
              {base + ".weight_scale", "U8", {r, g32}, s.scale_bytes(r, c), Part::kScales}};
    case Format::kMxfp8:
      return {{base + ".weight", "F8_E4M3", {r, c}, s.data_bytes(r, c), Part::kData},
              {base + ".weight_scale", "U8", {r, g32}, s.scale_bytes(r, c), Part::kScales}};
    case Format::kFloat8: {
      Piece w{base + ".weight", "F8_E4M3", {r, c}, s.data_bytes(r, c), Part::kData};
      if (n == "fp8_e4m3") return {w, {base + ".weight_scale", "F32", {1}, 4, Part::kTensorScale}};
      if (n == "fp8_e4m3_channel") return {w, {base + ".weight_scale", "F32", {r, 1}, s.scale_bytes(r, c), Part::kScales}};
      return {w, {base + ".weight_scale", "F32", {(r + 127) / 128, (c + 127) / 128}, s.scale_bytes(r, c), Part::kScales}};
    }
    case Format::kPackInt: {
      const ct_layout::IntParams ip = ct_layout::int_params(s);
      const int64_t groups = ip.group ? c / ip.group : 1, words = ct_layout::packed_words(c, ip.bits);
      std::vector<Piece> out = {
          {base + ".weight_packed", "I32", {r, words}, static_cast<uint64_t>(r * words * 4), Part::kPackedInt},
          {base + ".weight_scale", s.traits().scale_format == "float32" ? "F32" : "F16", {r, groups}, s.scale_bytes(r, c), Part::kScales},
          {base + ".weight_shape", "I64", {2}, 16, Part::kShape}};
      if (!ip.symmetric) {
        const int64_t zw = ct_layout::packed_words(r, ip.bits);
        out.push_back({base + ".weight_zero_point", "I32", {zw, groups}, static_cast<uint64_t>(zw * groups * 4), Part::kPackedZeros});
      }
      return out;
    }
    case Format::kNone: break;
  }
  std::vector<Piece> out;
  const uint64_t db = s.data_bytes(r, c);
  out.push_back({base + ".qdata", "U8", {r, r ? static_cast<int64_t>(db / static_cast<uint64_t>(r)) : 0}, db, Part::kData});
  if (s.scale_bytes(r, c)) out.push_back({base + ".qscales", "U8", {static_cast<int64_t>(s.scale_bytes(r, c))}, s.scale_bytes(r, c), Part::kScales});
  if (s.zero_bytes(r, c)) out.push_back({base + ".qzeros", "U8", {static_cast<int64_t>(s.zero_bytes(r, c))}, s.zero_bytes(r, c), Part::kZeros});
  return out;
}

// Whether the tensor is written with activation quantization (in a compressed-tensors layout).
bool with_activations(const TensorPlan& p, const WriteOptions& opt) {
  return !is_private(p, opt) && !is_plain(*p.scheme) && quantizes_activations(p.name, *p.scheme, opt.activations);
}

// The static activation scale stored beside a weight, in compressed-tensors' convention:
// W8A8 fp8 input_scale = amax / 448 (calculate_qparams: max / (q_range / 2)), a zero scale
// replaced by float32's eps as calculate_qparams does; W4A4 nvfp4 input_global_scale =
// 448 * 6 / amax (generate_gparam: x * global_scale lands in fp8 x fp4 range), a non-finite
// result replaced by 1 as generate_gparam does.
Result<Piece> input_scale_piece(const TensorPlan& p, const std::string& base, const WriteOptions& opt) {
  if (opt.input_amax == nullptr) return internal_error("tensor '{}': static activation scales without input ranges", p.name);
  auto it = opt.input_amax->find(p.name);
  if (it == opt.input_amax->end() || !std::isfinite(it->second)) {
    return internal_error("tensor '{}': no calibrated input range for its static activation scale", p.name);
  }
  const float amax = std::fabs(it->second);
  if (p.scheme->name() == "nvfp4") {
    const float g = 448.0f * 6.0f / amax;  // 2688 / amax
    return Piece{base + ".input_global_scale", "F32", {1}, 4, Part::kConstant, std::isfinite(g) ? g : 1.0f};
  }
  const float s = amax / 448.0f;
  return Piece{base + ".input_scale", "F32", {1}, 4, Part::kConstant, s > 0 ? s : 0x1p-23f};
}

// compressed-tensors quantization_config: one config group per scheme, targeting the exact
// module names, with that group's format; the top-level format is the groups' one, or
// "mixed-precision" when they differ (what compressed-tensors' infer_model_format writes).
// Linear modules left unquantized go to "ignore". Empty when nothing is in a compressed-tensors
// layout.
json quantization_config(const std::vector<TensorPlan>& plans, const WriteOptions& opt) {
  // (scheme, with activations) -> modules: a scheme's linears with quantized inputs and those
  // without (the output head) are two groups.
  std::map<std::pair<std::string, bool>, std::vector<std::string>> groups;
  std::map<std::string, const quant::Scheme*> schemes;
  std::vector<std::string> ignore;
  for (const auto& p : plans) {
    const std::string hf = hf_from_canonical(p.name);
    if (!hf.ends_with(".weight") || p.shape.rank() != 2 || tensor_category(p.name) == TensorCategory::kEmbedding) continue;
    const std::string module = hf.substr(0, hf.size() - 7);
    if (is_plain(*p.scheme)) ignore.push_back(module);
    else if (!is_private(p, opt)) {
      groups[{p.scheme->name(), with_activations(p, opt)}].push_back(module);
      schemes[p.scheme->name()] = p.scheme;
    }
  }
  if (groups.empty()) return nullptr;
  json cg = json::object();
  std::string format;
  int k = 0;
  for (const auto& [key, modules] : groups) {
    const quant::Scheme& scheme = *schemes[key.first];
    const std::string fmt = ct_layout::format_name(ct_layout::format_of(scheme));
    format = format.empty() || format == fmt ? fmt : "mixed-precision";
    cg[fmt::format("group_{}", k++)] = {{"targets", modules}, {"weights", ct_layout::weights_args(scheme)},
                                        {"input_activations", key.second ? ct_layout::input_args(scheme, opt.activations) : json(nullptr)},
                                        {"output_activations", nullptr}, {"format", fmt}};
  }
  return {{"quant_method", "compressed-tensors"}, {"format", format}, {"quantization_status", "compressed"},
          {"config_groups", cg}, {"ignore", ignore}, {"kv_cache_scheme", nullptr}, {"global_compression_ratio", nullptr}};
}

// Equal as numbers (a zero point -0 reads back as +0).
bool same_f16_values(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return false;
  std::vector<uint16_t> ca(a.size() / 2), cb(b.size() / 2);
  std::memcpy(ca.data(), a.data(), ca.size() * 2);
  std::memcpy(cb.data(), b.data(), cb.size() * 2);
  std::vector<float> fa(ca.size()), fb(cb.size());
  formats::f16_to_f32(ca, fa);
  formats::f16_to_f32(cb, fb);
  return fa == fb;
}

Status write_piece(AtomicFile& f, const Piece& pc, const quant::QuantizedTensor& q, const TensorPlan& plan) {
  const std::string& tensor = plan.name;
  const std::vector<uint8_t>* src = nullptr;
  std::vector<uint8_t> converted;
  float scalar = 0;
  const int64_t rows = plan.shape.rows(), cols = plan.shape.cols();
  switch (pc.part) {
    case Part::kData: src = &q.data; break;
    case Part::kScales: src = &q.scales; break;
    case Part::kZeros: src = &q.zeros; break;
    case Part::kTensorScale: scalar = q.tensor_scale; break;
    // compressed-tensors stores the reciprocal: dequantized = q * weight_scale / global_scale. An
    // all-zero tensor has scale 0; any finite global scale then decodes to zeros, so write 1.
    case Part::kGlobalScale: scalar = q.tensor_scale > 0 ? 1.0f / q.tensor_scale : 1.0f; break;
    case Part::kPackedInt:
      if (q.data.size() != plan.scheme->data_bytes(rows, cols)) break;
      converted = ct_layout::pack_rows(q.data.data(), rows, cols, ct_layout::int_params(*plan.scheme));
      src = &converted;
      break;
    case Part::kPackedZeros: {
      const ct_layout::IntParams ip = ct_layout::int_params(*plan.scheme);
      const int64_t groups = ip.group ? cols / ip.group : 1;
      if (q.zeros.size() != static_cast<uint64_t>(rows * groups * 2)) {
        return internal_error("tensor '{}' produced {} zero-point bytes, expected {}", tensor, q.zeros.size(), rows * groups * 2);
      }
      converted = ct_layout::pack_zeros(q.zeros.data(), rows, groups, ip.bits);
      // pack-quantized holds integer zero points only; a method with fractional ones (HQQ) must
      // say so (WriteOptions::fractional_zeros) and gets bitsmith's layout instead.
      if (!same_f16_values(ct_layout::unpack_zeros(converted.data(), rows, groups, ip.bits), q.zeros)) {
        return internal_error("tensor '{}': zero points are not integers in [0, {}], which pack-quantized cannot hold",
                              tensor, (1 << ip.bits) - 1);
      }
      src = &converted;
      break;
    }
    case Part::kShape: {
      const int64_t shape[2] = {rows, cols};
      return f.write(shape, sizeof(shape));
    }
    case Part::kConstant: return f.write(&pc.value, 4);
  }
  if (!src) {
    if (pc.part == Part::kPackedInt) {
      return internal_error("tensor '{}' produced {} bytes, expected {}", tensor, q.data.size(), plan.scheme->data_bytes(rows, cols));
    }
    return f.write(&scalar, 4);
  }
  if (src->size() != pc.size) {
    return internal_error("tensor '{}' produced {} bytes for '{}', expected {}", tensor, src->size(), pc.name, pc.size);
  }
  return f.write(src->data(), src->size());
}

std::string torch_dtype_of(const std::vector<TensorPlan>& plans) {
  for (const auto& p : plans) {
    if (p.name == kTokenEmbdWeight) {
      const std::string& n = p.scheme->name();
      return n == "fp16" ? "float16" : n == "f32" ? "float32" : "bfloat16";
    }
  }
  return "bfloat16";
}

}  // namespace

Status write_safetensors(const Model& model, const std::vector<TensorPlan>& plans, const std::string& out,
                         const ProduceFn& produce, std::string* model_file, std::vector<std::string>* extra_files,
                         uint64_t* bytes_written, const WriteOptions& opt) {
  const bool with_tokenizer = !model.vocabulary().empty();
  const OutputLayout layout = output_layout(out, OutputFormat::kSafetensors, with_tokenizer);
  ordered_json header = ordered_json::object();
  std::map<std::string, st_layout::Entry> own, ct;
  std::vector<std::vector<Piece>> all;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const auto& p : plans) {
    const std::string hf = hf_from_canonical(p.name);
    all.push_back(pieces_of(p, hf, opt));
    if (opt.activations == Activations::kStatic && with_activations(p, opt)) {
      BITSMITH_ASSIGN_OR_RETURN(Piece in, input_scale_piece(p, hf.substr(0, hf.size() - 7), opt));
      all.back().push_back(std::move(in));
    }
    if (is_private(p, opt)) {
      own[hf] = {p.scheme->name(), p.shape.rows(), p.shape.cols()};
    } else if (!is_plain(*p.scheme)) {
      ct[hf] = {p.scheme->name(), p.shape.rows(), p.shape.cols()};
    }
    for (const auto& pc : all.back()) {
      if (!names.insert(pc.name).second) return invalid_argument("{}: two tensors would both be named '{}'", out, pc.name);
      header[pc.name] = {{"dtype", pc.dtype}, {"shape", pc.shape}, {"data_offsets", {offset, offset + pc.size}}};
      offset += pc.size;
    }
  }
  ordered_json meta = {{"format", "pt"}, {"producer", "bitsmith"}};
  // Tensor scales of bitsmith-layout schemes are stored as a 1-element F32 tensor instead, so the
  // header never depends on quantization results.
  for (size_t i = 0; i < plans.size(); ++i) {
    const std::string hf = hf_from_canonical(plans[i].name);
    if (!own.count(hf)) continue;
    const std::string base = hf.ends_with(".weight") ? hf.substr(0, hf.size() - 7) : hf;
    Piece ts{base + ".qtensor_scale", "F32", {1}, 4, Part::kTensorScale};
    header[ts.name] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {offset, offset + 4}}};
    offset += 4;
    all[i].push_back(ts);
  }
  meta[st_layout::kMetadataKey] = st_layout::metadata_json(own);
  if (own.empty()) meta.erase(st_layout::kMetadataKey);
  if (!ct.empty()) meta[st_layout::kCompressedKey] = st_layout::metadata_json(ct);
  header["__metadata__"] = meta;
  // Pieces are written tensor by tensor, but the qtensor_scale entries were appended last in the
  // header: recompute offsets in write order so the data is contiguous in the order written.
  offset = 0;
  for (const auto& pieces : all) {
    for (const auto& pc : pieces) {
      header[pc.name]["data_offsets"] = {offset, offset + pc.size};
      offset += pc.size;
    }
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-aligned, as Hugging Face writes it

  // Every file is written complete into a staging directory, then the set moves into place as
  // one: a failure anywhere (a tokenizer that cannot be serialised, a full disk, a bad tensor)
  // leaves the output directory as it was.
  BITSMITH_ASSIGN_OR_RETURN(OutputSet set, OutputSet::create(layout.dir));
  json qc = quantization_config(plans, opt);
  std::string extra;
  if (!own.empty()) {
    // Some weight is in bitsmith's layout, which no other loader reads. transformers skips an
    // unknown quant_method with a warning and then loads the model with those weights missing
    // (random), exit 0; an unknown model_type makes it (and vLLM, and anything built on
    // AutoConfig) refuse the folder. parse_hf_config reads the real one back.
    extra = json{{"model_type", kPrivateModelType},
                 {"bitsmith_model_type", model.hyperparameters().architecture == "qwen2" ? "qwen2" : "llama"},
                 {"quantization_config", {{"quant_method", "bitsmith"}, {"format", "bitsmith-packed"}}}}.dump();
  } else if (!qc.is_null()) {
    extra = json{{"quantization_config", qc}}.dump();
  }
  BITSMITH_RETURN_IF_ERROR(write_file_atomic(set.stage("config.json"), hf_config_json(model.hyperparameters(), model.vocabulary(),
                                                                                     torch_dtype_of(plans), extra)));
  if (with_tokenizer) {
    const std::string staged = set.stage("tokenizer.json");
    set.stage("tokenizer_config.json");
    BITSMITH_RETURN_IF_ERROR(write_hf_tokenizer(model.vocabulary(), fs::path(staged).parent_path().string()));
  }
  if (layout.model_file() != "model.safetensors") {
    // A folder loads by model.safetensors or this index (transformers, vLLM, bitsmith itself).
    ordered_json index = {{"metadata", {{"total_size", offset}}}, {"weight_map", ordered_json::object()}};
    for (const auto& pieces : all) {
      for (const auto& pc : pieces) index["weight_map"][pc.name] = layout.model_file();
    }
    BITSMITH_RETURN_IF_ERROR(write_file_atomic(set.stage(kSafetensorsIndex), index.dump(2) + "\n"));
  }
  BITSMITH_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(set.stage(layout.model_file())));
  const uint64_t n = text.size();
  BITSMITH_RETURN_IF_ERROR(f.write(&n, 8));
  BITSMITH_RETURN_IF_ERROR(f.write(text));
  for (size_t i = 0; i < plans.size(); ++i) {
    BITSMITH_ASSIGN_OR_RETURN(quant::QuantizedTensor q, produce(i));
    for (const auto& pc : all[i]) BITSMITH_RETURN_IF_ERROR(write_piece(f, pc, q, plans[i]));
  }
  *bytes_written = f.size();
  BITSMITH_RETURN_IF_ERROR(f.commit());
  BITSMITH_RETURN_IF_ERROR(set.commit());
  *model_file = set.final_path(layout.model_file());
  for (const auto& name : layout.names) {
    if (name != layout.model_file()) extra_files->push_back(set.final_path(name));
  }
  return Status::Ok();
}

}  // namespace bitsmith::io::detail
