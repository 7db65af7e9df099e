// Sensitivity measurement for the planner (plan/sensitivity.h holds the data): for every planned
// tensor and each of its options, the exact cost (KL divergence of the model with only that
// tensor quantized, against the model as stored, on calibration text) and a one-pass proxy (the
// layer's output error under the calibration inputs).
//
// How it runs, one decoder layer at a time: a LayerRunner keeps every segment's hidden states
// at the current layer's input (of the unquantized model); for a tensor of layer l, the
// quantized-then-dequantized weights stand in for it (OverlayModel) and only layers l..L-1 and
// the head run again from the kept states, so one option costs (L - l) layers, not a whole
// forward. The embedding and the output head run the whole model. Reference log-probabilities
// are computed once (tokens x vocab floats, bounded by max_reference_bytes). After each layer the
// caller's checkpoint saves the measurements, so a killed run resumes at the layer it was in.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bitsmith/algo/gptq.h"
#include "bitsmith/algo/methods.h"
#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/plan/sensitivity.h"

namespace bitsmith::algo {

struct SensitivityOptions {
  Method method = Method::kRtn;  // rtn, imatrix (importance from the calibration inputs), gptq
  GptqOptions gptq;
  std::string costs = "exact";   // exact, hybrid or proxy (plan::MeasureConfig::costs)
  // Held out (held_out_segments().fit): when given, the method's statistics (GPTQ's Hessians,
  // imatrix importance) come from these segments and the costs (KL divergence, and the proxy's
  // Hessian) from the scored `segments` only, so a method that fits its calibration tokens
  // (GPTQ on a few hundred) is not credited for the fit. Empty: both from `segments`.
  std::vector<std::vector<int32_t>> fit_segments;
  uint64_t max_reference_bytes = uint64_t{2} << 30;
  // Float32 bytes of decoder layers the measuring engine may keep resident between options.
  uint64_t resident_bytes = uint64_t{4} << 30;
  // Called after every layer (and after the head tensors) with the measurements so far.
  std::function<Status(const plan::Measurements&)> checkpoint;
  // Tensors measured so far, of all.
  std::function<void(const std::string& tensor, int64_t done, int64_t total)> progress;
};

// The method names measure_sensitivity takes (AWQ rescales whole layers and their norms
// together, so one tensor's cost cannot be isolated: plan with gptq or imatrix, write with awq).
Status check_sensitivity_method(Method m);

// Fills every tensor of `m` that is not measured yet. `segments`: calibration_segments().
// Errors: a method that cannot be measured, reference log-probabilities over the bound (the
// message says how many tokens fit), non-finite activations.
Status measure_sensitivity(const Model& model, const std::vector<std::vector<int32_t>>& segments,
                           const SensitivityOptions& opt, plan::Measurements* m);

}  // namespace bitsmith::algo
