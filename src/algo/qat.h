// Quantization-aware fine-tuning over a model (qat.cc), used by prepare_method.
#pragma once

#include <string>
#include <vector>

#include "bitsmith/algo/methods.h"

namespace bitsmith::algo {

// Fine-tunes `model` on the calibration segments with every tensor that scheme_for names
// fake-quantized to its scheme (train's straight-through QAT; opt.qat.distill: the loss is the KL
// divergence to the float model's logits), then puts every trained tensor into `ov` (an overlay
// of `model`: then the model to write, each tensor quantized with its scheme's RTN, which is
// what the training's forward ran). A note reports the steps, the loss and the time. Errors: the
// model cannot be trained (train::check_trainable), a non-finite loss or gradient (the step and
// tensor named, kOutOfRange).
Status run_qat(const Model& model, const SchemeFor& scheme_for, const MethodOptions& opt,
               const std::vector<std::vector<int32_t>>& segs, OverlayModel* ov, std::vector<std::string>* notes);

}  // namespace bitsmith::algo
