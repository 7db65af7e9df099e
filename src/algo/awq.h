// AWQ over a model (awq.cc), used by prepare_method.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bitsmith/algo/methods.h"

namespace bitsmith::algo {

// Searches and folds AWQ's per-channel scales and clips the weights, layer by layer, writing
// the rescaled norms into `ov` (an overlay of `model`: then the model to write). The rescaled
// linears are packed with their scheme's RTN into `packed` as each layer finishes; with
// packed == null (or where packing fails) they stay in `ov` in float.
Status run_awq(const Model& model, const SchemeFor& scheme_for, const AwqOptions& opt,
               const std::vector<std::vector<int32_t>>& segs, OverlayModel* ov,
               std::map<std::string, quant::QuantizedTensor>* packed,
               std::vector<std::string>* notes);

}  // namespace bitsmith::algo
