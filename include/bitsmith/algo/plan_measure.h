// The planner's measurements as one library call, for `bitsmith plan --calib`, `bitsmith advise
// MODEL --calib` and Python's advise(calib=...): the request checked against the model (the
// candidates in the output format, the calibration length within the model's context, a
// tokenizer), resumed from or saved to the cache file, measured by measure_sensitivity
// (sensitivity.h); and the advice with the mix planned from them (plan::advise_with).
// plan holds the measurements and allocates; this is where they are filled (plan never
// depends on algo).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/plan/advise_request.h"
#include "bitsmith/plan/sensitivity.h"
#include "bitsmith/quant/tensor_plan.h"

namespace bitsmith::algo {

struct MeasureRequest {
  std::string model_path;               // recorded in the measurements' configuration
  std::string calib;                    // calibration text
  std::vector<std::string> candidates;  // empty: default_plan_candidates(format)
  // "gguf" or "safetensors": what the options must be storable in. Empty: GGUF when every
  // candidate has a GGUF type (and no candidates given: the model file's own format).
  std::string format;
  std::string method = "rtn";           // rtn, imatrix, gptq
  bool act_order = false;               // gptq
  bool weighted_params = false;         // gptq: GptqOptions::weighted_params
  bool refit_params = false;            // gptq: GptqOptions::refit_params
  std::string costs = "exact";          // exact, hybrid, proxy
  int64_t samples = 8, seqlen = 256;
  uint64_t seed = 0;
  // > 0: the method's statistics from this many further segments, held apart from the scored
  // ones (SensitivityOptions::fit_segments); needs a method that uses statistics (imatrix, gptq).
  int64_t fit_samples = 0;
  bool allow_requantize = false;        // plan on tensors the file stores quantized already
  std::string cache;                    // resumed when it holds this configuration; saved after every layer
  std::function<void(const std::string& tensor, int64_t done, int64_t total)> progress;
};

// What a plan chooses among when no candidates are given: every GGUF type llama.cpp's k-quant
// mixes and the legacy types offer (q2_k .. q8_0, iq4_nl), or safetensors' 4- and 8-bit schemes.
std::vector<std::string> default_plan_candidates(quant::OutputFormat format);

// Errors: invalid_argument for the request's faults (unknown or unstorable candidates, an
// unknown method or costs mode, --calib-seqlen beyond the model's context, a model without a
// tokenizer, a cache of another configuration or model, re-quantization not allowed); others
// for failures while measuring.
Result<plan::Measurements> measure_for_plan(const Model& model, const MeasureRequest& request);

// Measured advice: `options` (with options.model set) advised with the mix planned from
// measure_for_plan's measurements; request.cache, when given, becomes options' measurements file.
Result<plan::Advice> advise_measured(plan::AdviseOptions options, const MeasureRequest& request);

}  // namespace bitsmith::algo
