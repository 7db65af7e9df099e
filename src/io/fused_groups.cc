// The amax each nvfp4 projection must be quantized with so that the projections a serving engine
// fuses share one global scale (see QuantizeOptions::shared_amax).
#include <cmath>
#include <map>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"

namespace bitsmith::io {

Result<std::map<std::string, float>> fused_group_amax(const Model& model, const std::vector<TensorPlan>& plans) {
  std::map<std::string, std::vector<std::string>> members;
  for (const auto& p : plans) {
    if (!p.scheme->traits().global_scale) continue;
    if (std::string g = fused_group_of(p.name); !g.empty()) members[g].push_back(p.name);
  }
  const auto* file_model = dynamic_cast<const FileModel*>(&model);
  std::map<std::string, float> out;
  for (const auto& [group, names] : members) {
    if (names.size() < 2) continue;
    float amax = 0;
    for (const auto& n : names) {
      BITSMITH_ASSIGN_OR_RETURN(Tensor w, model.load_f32(n));
      for (float x : w.as<float>()) {
        // Non-finite weights are the quantizer's to report, with their row and column.
        if (std::isfinite(x)) amax = std::max(amax, std::fabs(x));
      }
      if (file_model) file_model->release(n);
    }
    for (const auto& n : names) out[n] = amax;
  }
  return out;
}

}  // namespace bitsmith::io
