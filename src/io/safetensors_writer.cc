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
#include "bitsmith/io/safetensors.h"
#include "bitsmith/io/tokenizer_files.h"
#include "st_layout.h"
#include "writers.h"

namespace bitsmith::io::detail {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

enum class Part : uint8_t { kData, kScales, kZeros, kTensorScale, kGlobalScale };

struct Piece {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t size = 0;
  Part part = Part::kData;
};

// How a scheme is stored; empty compressed_format = bitsmith layout (or plain cast).
struct Layout {
  std::string compressed_format;  // "nvfp4-pack-quantized", "float-quantized", or ""
  bool plain = false;             // f32/fp16/bf16 array under the weight's own name
};

Layout layout_of(const quant::Scheme& s) {
  const std::string& n = s.name();
  if (n == "f32" || n == "fp16" || n == "bf16") return {"", true};
  if (n == "nvfp4") return {"nvfp4-pack-quantized", false};
  if (n == "fp8_e4m3" || n == "fp8_e4m3_channel" || n == "fp8_e4m3_block128") return {"float-quantized", false};
  return {"", false};
}

std::vector<Piece> pieces_of(const TensorPlan& p, const std::string& hf) {
  const quant::Scheme& s = *p.scheme;
  const int64_t r = p.shape.rows(), c = p.shape.cols();
  const std::string n = s.name();
  std::vector<int64_t> dims(p.shape.dims().begin(), p.shape.dims().end());
  if (n == "f32") return {{hf, "F32", dims, s.data_bytes(r, c), Part::kData}};
  if (n == "fp16") return {{hf, "F16", dims, s.data_bytes(r, c), Part::kData}};
  if (n == "bf16") return {{hf, "BF16", dims, s.data_bytes(r, c), Part::kData}};
  const std::string base = hf.ends_with(".weight") ? hf.substr(0, hf.size() - 7) : hf;
  if (n == "nvfp4") {
    return {{base + ".weight_packed", "U8", {r, c / 2}, s.data_bytes(r, c), Part::kData},
            {base + ".weight_scale", "F8_E4M3", {r, c / 16}, s.scale_bytes(r, c), Part::kScales},
            {base + ".weight_global_scale", "F32", {1}, 4, Part::kGlobalScale}};
  }
  if (layout_of(s).compressed_format == "float-quantized") {
    Piece w{base + ".weight", "F8_E4M3", {r, c}, s.data_bytes(r, c), Part::kData};
    if (n == "fp8_e4m3") return {w, {base + ".weight_scale", "F32", {1}, 4, Part::kTensorScale}};
    if (n == "fp8_e4m3_channel") return {w, {base + ".weight_scale", "F32", {r, 1}, s.scale_bytes(r, c), Part::kScales}};
    return {w, {base + ".weight_scale", "F32", {(r + 127) / 128, (c + 127) / 128}, s.scale_bytes(r, c), Part::kScales}};
  }
  std::vector<Piece> out;
  const uint64_t db = s.data_bytes(r, c);
  out.push_back({base + ".qdata", "U8", {r, r ? static_cast<int64_t>(db / static_cast<uint64_t>(r)) : 0}, db, Part::kData});
  if (s.scale_bytes(r, c)) out.push_back({base + ".qscales", "U8", {static_cast<int64_t>(s.scale_bytes(r, c))}, s.scale_bytes(r, c), Part::kScales});
  if (s.zero_bytes(r, c)) out.push_back({base + ".qzeros", "U8", {static_cast<int64_t>(s.zero_bytes(r, c))}, s.zero_bytes(r, c), Part::kZeros});
  return out;
}

// compressed-tensors quantization_config: one config group per scheme, targeting the exact
// module names; Linear modules left unquantized go to "ignore".
json quantization_config(const std::vector<TensorPlan>& plans, bool* any_bitsmith) {
  std::map<std::string, std::vector<std::string>> groups;  // scheme -> modules
  std::vector<std::string> ignore;
  *any_bitsmith = false;
  for (const auto& p : plans) {
    const std::string hf = hf_from_canonical(p.name);
    if (!hf.ends_with(".weight") || p.shape.rank() != 2 || tensor_category(p.name) == TensorCategory::kEmbedding) continue;
    const std::string module = hf.substr(0, hf.size() - 7);
    Layout l = layout_of(*p.scheme);
    if (l.plain) ignore.push_back(module);
    else if (l.compressed_format.empty()) *any_bitsmith = true;
    else groups[p.scheme->name()].push_back(module);
  }
  if (groups.empty()) return nullptr;
  json cg = json::object();
  std::string format;
  int k = 0;
  for (const auto& [scheme, modules] : groups) {
    json w = {{"dynamic", false}, {"symmetric", true}, {"type", "float"}, {"observer", "minmax"},
              {"actorder", nullptr}, {"observer_kwargs", json::object()}};
    std::string fmt;
    if (scheme == "nvfp4") {
      w.update({{"num_bits", 4}, {"strategy", "tensor_group"}, {"group_size", 16}, {"block_structure", nullptr}});
      fmt = "nvfp4-pack-quantized";
    } else {
      w.update({{"num_bits", 8}, {"group_size", nullptr}});
      if (scheme == "fp8_e4m3") w.update({{"strategy", "tensor"}, {"block_structure", nullptr}});
      else if (scheme == "fp8_e4m3_channel") w.update({{"strategy", "channel"}, {"block_structure", nullptr}});
      else w.update({{"strategy", "block"}, {"block_structure", {128, 128}}});
      fmt = "float-quantized";
    }
    format = format.empty() || format == fmt ? fmt : "mixed-precision";
    cg[fmt::format("group_{}", k++)] = {{"targets", modules}, {"weights", w}, {"input_activations", nullptr},
                                        {"output_activations", nullptr}, {"format", fmt}};
  }
  return {{"quant_method", "compressed-tensors"}, {"format", format}, {"quantization_status", "compressed"},
          {"config_groups", cg}, {"ignore", ignore}, {"kv_cache_scheme", nullptr}, {"global_compression_ratio", nullptr}};
}

Status write_piece(AtomicFile& f, const Piece& pc, const quant::QuantizedTensor& q, const std::string& tensor) {
  const std::vector<uint8_t>* src = nullptr;
  float scalar = 0;
  switch (pc.part) {
    case Part::kData: src = &q.data; break;
    case Part::kScales: src = &q.scales; break;
    case Part::kZeros: src = &q.zeros; break;
    case Part::kTensorScale: scalar = q.tensor_scale; break;
    // compressed-tensors stores the reciprocal: dequantized = q * weight_scale / global_scale. An
    // all-zero tensor has scale 0; any finite global scale then decodes to zeros, so write 1.
    case Part::kGlobalScale: scalar = q.tensor_scale > 0 ? 1.0f / q.tensor_scale : 1.0f; break;
  }
  if (!src) return f.write(&scalar, 4);
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
                         uint64_t* bytes_written) {
  const bool with_tokenizer = !model.vocabulary().empty();
  const OutputLayout layout = output_layout(out, OutputFormat::kSafetensors, with_tokenizer);
  ordered_json header = ordered_json::object();
  std::map<std::string, st_layout::Entry> own;
  std::vector<std::vector<Piece>> all;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const auto& p : plans) {
    const std::string hf = hf_from_canonical(p.name);
    all.push_back(pieces_of(p, hf));
    if (!layout_of(*p.scheme).plain && layout_of(*p.scheme).compressed_format.empty()) {
      own[hf] = {p.scheme->name(), p.shape.rows(), p.shape.cols()};
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
  bool any_bitsmith = false;
  json qc = quantization_config(plans, &any_bitsmith);
  std::string extra;
  if (any_bitsmith) {
    // Not loadable by Hugging Face or vLLM; the method name says whose layout it is.
    extra = json{{"quantization_config", {{"quant_method", "bitsmith"}, {"format", "bitsmith-packed"}}}}.dump();
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
  BITSMITH_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(set.stage(layout.model_file())));
  const uint64_t n = text.size();
  BITSMITH_RETURN_IF_ERROR(f.write(&n, 8));
  BITSMITH_RETURN_IF_ERROR(f.write(text));
  for (size_t i = 0; i < plans.size(); ++i) {
    BITSMITH_ASSIGN_OR_RETURN(quant::QuantizedTensor q, produce(i));
    for (const auto& pc : all[i]) BITSMITH_RETURN_IF_ERROR(write_piece(f, pc, q, plans[i].name));
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
