// AWQ over a model (awq.cc), used by prepare_method.
#pragma once

#include <string>
#include <vector>

#include "bitsmith/algo/methods.h"

namespace bitsmith::algo {

// Searches and folds AWQ's per-channel scales and clips the weights, layer by layer, writing
// the rescaled norms and linears into `ov` (which then is the model to quantize with RTN).
Status run_awq(const Model& model, const SchemeFor& scheme_for, const AwqOptions& opt,
               const std::vector<std::vector<int32_t>>& segs, OverlayModel* ov,
               std::vector<std::string>* notes);

}  // namespace bitsmith::algo
