// prepare_write (methods.h): a calibrated method plugged into io::quantize_model's per-tensor hook.
#include <map>

#include "bitsmith/algo/calibration.h"
#include "bitsmith/algo/methods.h"

namespace bitsmith::algo {

Result<std::unique_ptr<MethodWrite>> prepare_write(const Model& model, const std::vector<quant::TensorPlan>& plans,
                                                   MethodOptions opt, io::QuantizeConfig& cfg) {
  auto w = std::make_unique<MethodWrite>();
  // Static activation ranges come last, from the model as written.
  auto finish = [&]() -> Result<std::unique_ptr<MethodWrite>> {
    if (cfg.activations == io::Activations::kStatic) {
      BITSMITH_ASSIGN_OR_RETURN(w->input_amax, calibrate_input_amax(w->model(model), opt.calib));
      cfg.input_amax = &w->input_amax;
    }
    return std::move(w);
  };
  if (opt.method == Method::kRtn) return finish();
  std::map<std::string, const quant::Scheme*> planned;
  for (const auto& p : plans) planned[p.name] = p.scheme;
  if (cfg.format == io::OutputFormat::kSafetensors) {
    BITSMITH_ASSIGN_OR_RETURN(w->shared_amax, io::fused_group_amax(model, plans));
    opt.shared_amax = w->shared_amax;
    // The same weights are written unless AWQ rescales or QAT trains them (their amax differs:
    // io computes the groups' amax from the weights it writes).
    if (opt.method != Method::kAwq && opt.method != Method::kQat) cfg.shared_amax = &w->shared_amax;
  }
  const SchemeFor scheme_for = [&planned](const std::string& n) -> const quant::Scheme* {
    auto it = planned.find(n);
    return it == planned.end() ? nullptr : it->second;
  };
  BITSMITH_ASSIGN_OR_RETURN(w->prepared, prepare_method(model, scheme_for, opt));
  PreparedModel* prepared = w->prepared.get();
  cfg.method = [prepared](const io::TensorPlan& p, const float* x, const quant::QuantizeOptions& qo) {
    if (p.method == "rtn") return p.scheme->quantize(x, p.shape.rows(), p.shape.cols(), qo);
    return prepared->quantize(p.name, *p.scheme, x, p.shape.rows(), p.shape.cols(), qo);
  };
  cfg.fractional_zero_points = opt.method == Method::kHqq;
  return finish();
}

}  // namespace bitsmith::algo
