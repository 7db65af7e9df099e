// `bitsmith quantize IN OUT` as a library call, for the CLI (quantize, and plan -o OUT) and
// Python's bitsmith.quantize_model(): every check of the request against the model first (so
// GPTQ never runs for minutes and then fails), then the calibrated method and the write.
// Two steps: QuantizeJob::plan checks and resolves (nothing is written; a failure there with an
// invalid-argument status is the request's fault), QuantizeJob::run writes (or, dry_run, only
// reports the plan). The report's JSON is the one document the CLI prints and Python returns.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitsmith/algo/methods.h"
#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::algo {

struct QuantizeRequest {
  std::string in, out;
  std::string format;          // gguf | safetensors; empty: from the output's extension
  plan::Recipe recipe;         // what each tensor becomes (plan::Recipe::resolve decides)
  size_t user_rules = 0;       // the recipe's first rules came from the user: each must match
  std::string scheme;          // the --scheme given, for the report ("scheme"); empty: recipe.base
  std::string method = "rtn";  // rtn, gptq, awq, imatrix, hqq, qat
  std::string calib, imatrix;  // calibration text; llama.cpp imatrix file (method imatrix)
  int64_t calib_samples = 128, calib_seqlen = 512;
  uint64_t seed = 0;
  GptqOptions gptq;
  QatOptions qat;              // --steps, --lr, --batch, --distill (method qat only)
  std::string activations = "none";  // none | dynamic | static (safetensors FP8/NVFP4)
  bool allow_requantize = false;
  bool dry_run = false;        // plan and report; write nothing, run no method
  std::function<void(const io::QuantizeProgress&)> progress;
};

struct QuantizeFileReport {
  QuantizeRequest request;
  io::OutputFormat format = io::OutputFormat::kGguf;
  io::Activations activations = io::Activations::kNone;
  io::QuantizeReport report;            // dry run: the tensors' plans only
  std::vector<std::string> method_notes;
  std::vector<std::string> rule_notes;  // recipe-file rules that matched nothing
  std::map<std::string, float> input_amax;  // static activations: each linear's input max |x|
};

class QuantizeJob {
 public:
  // Every check that needs no calibration run: options that would do nothing, the output
  // against every input, the plan (resolve), rules that match nothing, activations the format
  // cannot hold, requantizing stored-quantized tensors, HQQ without an affine grid, a
  // calibration segment longer than the context. `model` must outlive the job.
  static Result<QuantizeJob> plan(const Model& model, const QuantizeRequest& request);
  const std::vector<quant::TensorPlan>& plans() const { return plans_; }
  // Runs the method (GPTQ/AWQ/imatrix calibration happen here) and writes the output atomically;
  // dry_run: the report of the plan, nothing run or written.
  Result<QuantizeFileReport> run() const;

 private:
  const Model* model_ = nullptr;
  QuantizeRequest request_;
  io::QuantizeConfig config_;
  MethodOptions method_;
  std::vector<quant::TensorPlan> plans_;
  std::vector<std::string> rule_notes_;
};

// `bitsmith quantize --json`'s document.
nlohmann::json to_json(const QuantizeFileReport& report);

}  // namespace bitsmith::algo
