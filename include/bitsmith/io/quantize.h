// Whole-checkpoint quantization and conversion, streamed tensor by tensor from the memory map,
// written as GGUF or safetensors atomically. io takes a finished per-tensor plan (which scheme
// for which tensor is plan's decision: plan::Recipe::resolve) and only executes it. The
// per-tensor method is pluggable (RTN by default; GPTQ/AWQ provide their own).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/quant/tensor_plan.h"

namespace bitsmith::io {

using OutputFormat = quant::OutputFormat;
// From --format, or else from the output path: ".gguf" -> GGUF; ".safetensors", a path with no
// extension or an existing directory -> safetensors; any other extension is an error (it would
// otherwise silently become a directory).
Result<OutputFormat> output_format_for(const std::string& path, const std::string& format_flag);

// The files an output path stands for, in the order they are committed (the model file last).
// GGUF: the file. safetensors: a directory (OUT, or the parent of OUT.safetensors) holding the
// model file, config.json and, when the model has a tokenizer, tokenizer.json and
// tokenizer_config.json, and for a model file not named model.safetensors the
// model.safetensors.index.json that names it: the folder layout Hugging Face and vLLM load.
inline constexpr const char* kSafetensorsIndex = "model.safetensors.index.json";
struct OutputLayout {
  std::string dir;
  std::vector<std::string> names;  // plain file names inside dir
  std::string model_file() const { return names.empty() ? "" : names.back(); }
};
OutputLayout output_layout(const std::string& out, OutputFormat format, bool with_tokenizer);

// Refuses (kInvalidArgument, before any work) an output that would replace one of the run's
// inputs: the model's own files (same file by device and inode, so links count too), the
// `other_inputs` (calibration text, imatrix), or the config.json/tokenizer files of another model
// whose weights sit in the output directory. quantize_model checks this itself; callers that do
// long work first (calibrated methods) call it before starting.
Status check_output_spares_inputs(const Model& model, const std::string& out, OutputFormat format,
                                  const std::vector<std::string>& other_inputs = {});

using TensorPlan = quant::TensorPlan;

// Quantizes one weight (already float32, rows x cols) with the planned scheme. RTN is
// scheme.quantize; GPTQ/AWQ/imatrix methods supply their own.
using TensorMethod = std::function<Result<quant::QuantizedTensor>(
    const TensorPlan& plan, const float* weights, const quant::QuantizeOptions& options)>;

// Activation quantization a safetensors output declares for serving engines (compressed-tensors'
// input_activations, what vLLM's W8A8/W4A4 kernels run): kNone = weight-only (activations stay in
// the model's dtype); kDynamic = scales computed per token at run time (fp8); kStatic = a
// calibrated per-tensor range stored beside each weight (fp8 `input_scale` = amax / 448; nvfp4
// `input_global_scale` = 448 * 6 / amax, its block scales still computed at run time).
enum class Activations : uint8_t { kNone, kDynamic, kStatic };
Result<Activations> parse_activations(std::string_view name);  // "none", "dynamic", "static"
std::string_view activations_name(Activations a);
// Whether a tensor of this name and scheme gets `mode`'s activation quantization: the linears of
// the decoder blocks (never the embedding or the output head, which W8A8/W4A4 recipes keep in
// high precision) in a scheme whose compressed-tensors format vLLM runs with it: static:
// fp8_e4m3 and fp8_e4m3_channel (per-tensor input_scale), nvfp4 (input_global_scale); dynamic:
// fp8_e4m3 and fp8_e4m3_channel (per token), fp8_e4m3_block128 (per group of 128).
bool quantizes_activations(const std::string& name, const quant::Scheme& scheme, Activations mode);
// kInvalidArgument, before any work, unless `mode` applies as asked: a GGUF output, a quantized
// block linear whose scheme cannot carry it (the message names it and the schemes that can), or
// no quantized linear at all. Linears kept in f32/fp16/bf16 keep float inputs too.
Status check_activations(const std::vector<quant::TensorPlan>& plans, OutputFormat format, Activations mode);

struct QuantizeProgress {
  size_t index = 0, count = 0;  // tensors done, total
  std::string name;             // the tensor just finished
  uint64_t input_bytes_done = 0, input_bytes_total = 0;
  double seconds = 0;
};

struct QuantizeConfig {
  OutputFormat format = OutputFormat::kGguf;
  TensorMethod method;  // empty = RTN
  // The method may store fractional zero points (HQQ): safetensors outputs then keep asymmetric
  // integer schemes in bitsmith's layout (compressed-tensors' pack-quantized holds integer ones).
  bool fractional_zero_points = false;
  // fused_group_amax of the model being written, when the caller computed it already (for a
  // calibrated method); null: quantize_model computes it (one more pass over those tensors).
  const std::map<std::string, float>* shared_amax = nullptr;
  quant::QuantizeOptions options;
  std::function<void(const QuantizeProgress&)> progress;  // after each tensor
  Activations activations = Activations::kNone;
  // kStatic: per canonical weight name, the max |x| of its input over the calibration text
  // (algo::calibrate_input_amax); every tensor that quantizes_activations needs an entry.
  const std::map<std::string, float>* input_amax = nullptr;
};

struct TensorReport {
  TensorPlan plan;
  uint64_t input_bytes = 0, output_bytes = 0;
};

struct QuantizeReport {
  std::string output;                    // the model file written
  std::vector<std::string> extra_files;  // config.json, tokenizer files
  std::vector<TensorReport> tensors;
  uint64_t input_bytes = 0, output_bytes = 0, parameters = 0;
  double bits_per_weight = 0;  // of the output's tensors
  size_t fallbacks = 0;
  double seconds = 0;
};

// Writes `out` (GGUF file, or safetensors file / directory with config.json and the tokenizer
// files beside it) with each tensor in its planned scheme; `plans` lists every tensor of the
// model once, in the order to write. Atomic: on any error nothing is left at `out`.
Result<QuantizeReport> quantize_model(const Model& model, const std::string& out, const std::vector<TensorPlan>& plans,
                                      const QuantizeConfig& config);

// For each nvfp4 tensor in a group a serving engine fuses (q/k/v -> qkv_proj, gate/up ->
// gate_up_proj), the group's amax, to be passed as QuantizeOptions::shared_amax so the group
// shares one global scale. One pass over those tensors, one at a time. quantize_model applies it
// to safetensors outputs.
Result<std::map<std::string, float>> fused_group_amax(const Model& model, const std::vector<TensorPlan>& plans);

}  // namespace bitsmith::io
