// Opening model files: one entry point for the three formats bitsmith reads, and FileModel, the
// core::Model they all produce (tensors located in memory-mapped files, loaded on demand).
//
// Vocabulary convention: whatever file a tokenizer comes from, io hands it over in GGUF's
// (SentencePiece's) spelling, so one tokenizer implementation serves every format. For a llama2.c
// tokenizer that means the conversion of REFERENCE.md 3: spaces inside tokens become U+2581,
// ids 0/1/2 become <unk>/<s>/</s> (unknown/control), <0xXX> tokens are byte tokens, scores kept.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/mapped_file.h"
#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::io {

enum class FileFormat : uint8_t { kGguf, kSafetensors, kLlama2c };
std::string_view file_format_name(FileFormat f);

// Detects the format from the file's first bytes ("GGUF", a safetensors JSON header) or, for a
// directory, from model.safetensors[.index.json] inside it; anything else is tried as llama2.c.
Result<FileFormat> detect_format(const std::string& path);

// Opens a GGUF file, a safetensors file / directory / index.json, or a llama2.c checkpoint.
// tokenizer_path: llama2.c only; empty = tokenizer.bin or tok*.bin beside the checkpoint (none
// found: the model has an empty vocabulary).
Result<std::unique_ptr<Model>> open_model(const std::string& path,
                                           const std::string& tokenizer_path = "");

// A model file, or a Hugging Face config.json (a path ending in .json, not .index.json): its
// hyperparameters only, which is all `advise` needs to size a model it has no weights of.
struct ModelOrConfig {
  std::unique_ptr<Model> model;                        // set for a model file
  std::optional<LlamaHyperparameters> hyperparameters;  // set for a config.json
};
Result<ModelOrConfig> open_model_or_config(const std::string& path);

// Where one tensor's bytes live. Plain arrays have a dtype; quantized ones a scheme plus up to
// three byte ranges (data, scales, zero points), each possibly in a different shard.
struct ByteRange {
  std::shared_ptr<MappedFile> file;
  uint64_t offset = 0;
  uint64_t size = 0;
  std::span<const uint8_t> bytes() const { return {file->data() + offset, size}; }
};
struct TensorSource {
  Shape shape;
  std::optional<DType> dtype;              // plain array
  const quant::Scheme* scheme = nullptr;   // quantized
  // Neither dtype nor scheme: a type bitsmith can list but not decode (e.g. a GGUF IQ2_XXS);
  // load_f32 then fails naming it.
  std::string storage_name;
  ByteRange data, scales, zeros;
  float tensor_scale = 1.0f;
  // The quantized view (scheme set): rows x cols of the [.., cols] shape.
  quant::QuantizedView quantized_view() const;
};

// The Model every reader builds.
class FileModel : public Model {
 public:
  FileModel(std::string path, FileFormat format) : path_(std::move(path)), format_(format) {}

  const std::string& path() const override { return path_; }
  std::string_view file_format() const override { return file_format_name(format_); }
  FileFormat format() const { return format_; }
  const LlamaHyperparameters& hyperparameters() const override { return hp_; }
  const Vocabulary& vocabulary() const override { return vocab_; }
  const std::vector<ModelTensorInfo>& tensors() const override { return infos_; }
  bool has_tensor(const std::string& name) const override { return index_.count(name) != 0; }
  // Plain F32 arrays come back zero-copy (a view that keeps the map alive); everything else is
  // decoded or dequantized into an owned tensor.
  Result<Tensor> load_f32(const std::string& name) const override;

  const TensorSource* source(const std::string& name) const;
  // Drops the tensor's pages from memory (streaming over files larger than RAM).
  void release(const std::string& name) const;

  LlamaHyperparameters& mutable_hyperparameters() { return hp_; }
  Vocabulary& mutable_vocabulary() { return vocab_; }
  // Adds a tensor; a duplicate name is corrupt data (the message names the file).
  Status add_tensor(const std::string& name, TensorSource src);
  // File-format metadata shown by `inspect` (GGUF key/values, safetensors __metadata__).
  std::map<std::string, std::string>& mutable_metadata() { return metadata_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::vector<std::string> source_files() const override { return source_files_; }
  void add_source_file(const std::string& path);

  // Static activation ranges a W8A8/W4A4 safetensors checkpoint holds (quantize --activations
  // static, or llm-compressor's): per canonical linear weight name, the activation scheme and
  // the input's calibrated amax (fp8 input_scale x 448; nvfp4 448 x 6 / input_global_scale).
  struct StaticInput {
    const quant::Scheme* scheme = nullptr;
    float amax = 0;
  };
  const std::map<std::string, StaticInput>& static_inputs() const { return static_inputs_; }
  std::map<std::string, StaticInput>& mutable_static_inputs() { return static_inputs_; }

 private:
  std::string path_;
  FileFormat format_;
  LlamaHyperparameters hp_;
  Vocabulary vocab_;
  std::vector<ModelTensorInfo> infos_;
  std::vector<TensorSource> sources_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> source_files_;
  std::map<std::string, StaticInput> static_inputs_;
};

// Totals over a model's tensors: parameters (weights only; RoPE tables are never tensors), bytes
// in the file (scales included) and the average bits per weight.
struct ModelTotals {
  uint64_t parameters = 0;
  uint64_t bytes = 0;
  double bits_per_weight = 0;
};
ModelTotals model_totals(const Model& m);

// Decodes n elements of a plain dtype to float32 (F64/F32/F16/BF16/F8_*/ints/bool).
void decode_to_f32(DType dtype, const uint8_t* src, uint64_t n, float* out);

}  // namespace bitsmith::io
