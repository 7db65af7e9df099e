// Whole-checkpoint quantization and conversion, streamed tensor by tensor from the memory map:
// plan (which scheme for which tensor: recipe, rules, fallbacks), then write GGUF or safetensors
// atomically. The per-tensor method is pluggable (RTN by default; GPTQ/AWQ provide their own).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::io {

enum class OutputFormat : uint8_t { kGguf, kSafetensors };
// From --format, or else from the output path (".gguf" -> GGUF, anything else -> safetensors).
Result<OutputFormat> output_format_for(const std::string& path, const std::string& format_flag);

// The scheme chosen for one tensor.
struct TensorPlan {
  std::string name;          // canonical
  Shape shape;
  const quant::Scheme* scheme = nullptr;
  std::string requested;     // what the recipe/rule asked for, when a fallback replaced it
  std::string reason;        // why it has this scheme ("1-D", "norm", "rule ...", "fallback: ...")
};

// Quantizes one weight (already float32, rows x cols) with the planned scheme. RTN is
// scheme.quantize; GPTQ/AWQ/imatrix methods supply their own.
using TensorMethod = std::function<Result<quant::QuantizedTensor>(
    const TensorPlan& plan, const float* weights, const quant::QuantizeOptions& options)>;

struct QuantizeProgress {
  size_t index = 0, count = 0;  // tensors done, total
  std::string name;             // the tensor just finished
  uint64_t input_bytes_done = 0, input_bytes_total = 0;
  double seconds = 0;
};

struct QuantizeConfig {
  // A scheme name (q4_0, nvfp4, bf16, ...) or a recipe: q4_k_m, q5_k_m (llama.cpp's mixes).
  std::string scheme;
  // 'REGEX=SCHEME' overrides, tried in order on the canonical name (std::regex_search); the first
  // match wins over the recipe (not over 1-D/norm tensors, which stay F32).
  std::vector<std::pair<std::string, std::string>> rules;
  OutputFormat format = OutputFormat::kGguf;
  TensorMethod method;  // empty = RTN
  quant::QuantizeOptions options;
  std::function<void(const QuantizeProgress&)> progress;  // after each tensor
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

// The per-tensor plan without writing anything (what `quantize --dry-run` would print).
Result<std::vector<TensorPlan>> plan_quantization(const Model& model, const QuantizeConfig& config);

// Plans, then writes `out` (GGUF file, or safetensors file / directory with config.json and the
// tokenizer files beside it). Atomic: on any error nothing is left at `out`.
Result<QuantizeReport> quantize_model(const Model& model, const std::string& out, const QuantizeConfig& config);

// The GGUF type id of a scheme when it can be stored in GGUF (f32/fp16/bf16 and ggml blocks).
int gguf_type_of(const quant::Scheme& s);

}  // namespace bitsmith::io
