// measure_for_plan and advise_measured (plan_measure.h).
#include "bitsmith/algo/plan_measure.h"

#include <fmt/format.h>

#include <filesystem>
#include <utility>

#include "bitsmith/algo/calibration.h"
#include "bitsmith/algo/sensitivity.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::algo {
namespace {

// The format the options must be storable in (MeasureRequest::format), with every candidate
// checked against it.
Result<std::string> format_for(const Model& model, const MeasureRequest& r, const std::vector<std::string>& candidates) {
  std::string format = r.format;
  if (format.empty()) {
    format = r.candidates.empty() && model.file_format() == "safetensors" ? "safetensors" : "gguf";
    for (const auto& c : candidates) {
      auto s = quant::find_scheme(c);
      if (s.ok() && quant::gguf_type_of(**s) < 0) format = "safetensors";
    }
  }
  if (format != "gguf" && format != "safetensors") return invalid_argument("--format {}: gguf or safetensors", format);
  for (const auto& c : candidates) {
    BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* s, quant::find_scheme(c));
    if (format == "gguf" && quant::gguf_type_of(*s) < 0) {
      return invalid_argument("candidate {} has no GGUF type: plan for safetensors (--format safetensors or -o X.safetensors)", c);
    }
  }
  return format;
}

// The configuration the measurements record; the model's fingerprint as plan_measurements fills it.
Result<plan::MeasureConfig> config_for(const Model& model, const MeasureRequest& r) {
  if (r.calib.empty()) return invalid_argument("measuring needs --calib FILE (calibration text)");
  if (r.samples <= 0 || r.seqlen <= 0) return invalid_argument("--calib-samples and --calib-seqlen must be positive");
  BITSMITH_RETURN_IF_ERROR(plan::check_costs_mode(r.costs).with_context("--costs"));
  BITSMITH_ASSIGN_OR_RETURN(Method method, parse_method(r.method));
  BITSMITH_RETURN_IF_ERROR(check_sensitivity_method(method));
  if (r.fit_samples < 0) return invalid_argument("--fit-samples must be >= 0");
  if (r.fit_samples > 0 && method == Method::kRtn) {
    return invalid_argument("--fit-samples holds the method's statistics apart from the scored tokens; rtn uses none "
                            "(--method imatrix or gptq)");
  }
  if ((r.act_order || r.weighted_params || r.refit_params) && method != Method::kGptq) {
    return invalid_argument("--act-order, --weighted-params and --refit-params are GPTQ options (--method gptq)");
  }
  if (model.vocabulary().empty()) {
    return invalid_argument("{} has no tokenizer: the calibration text cannot be tokenized (llama2.c: --tokenizer FILE)",
                            model.path());
  }
  const int64_t ctx = model.hyperparameters().context_length;
  if (ctx > 0 && r.seqlen > ctx) return invalid_argument("--calib-seqlen {} exceeds the model's context of {}", r.seqlen, ctx);
  plan::MeasureConfig c;
  c.model = r.model_path.empty() ? model.path() : r.model_path;
  c.candidates = r.candidates;
  if (c.candidates.empty()) {
    const bool st = !r.format.empty() ? r.format == "safetensors" : model.file_format() == "safetensors";
    c.candidates = default_plan_candidates(st ? quant::OutputFormat::kSafetensors : quant::OutputFormat::kGguf);
  }
  BITSMITH_ASSIGN_OR_RETURN(c.format, format_for(model, r, c.candidates));
  c.method = std::string(method_name(method));
  if (r.act_order) c.method_options.push_back("act-order");
  if (r.weighted_params) c.method_options.push_back("weighted-params");
  if (r.refit_params) c.method_options.push_back("refit-params");
  c.calib = r.calib;
  c.samples = r.samples;
  c.seqlen = r.seqlen;
  c.seed = r.seed;
  c.fit_samples = r.fit_samples;
  c.costs = r.costs;
  for (const auto& t : model.tensors()) {
    c.model_params += static_cast<uint64_t>(t.shape.numel());
    ++c.model_tensors;
  }
  return c;
}

// The cache when it holds this configuration (the model may be named by another path), else
// fresh, unmeasured measurements.
Result<plan::Measurements> start_from(const Model& model, const MeasureRequest& r, const plan::MeasureConfig& want) {
  if (r.cache.empty() || !std::filesystem::exists(r.cache)) return plan::plan_measurements(model, want);
  BITSMITH_ASSIGN_OR_RETURN(plan::Measurements have, plan::Measurements::load(r.cache));
  plan::MeasureConfig a = have.config, b = want;
  a.model = b.model = "";
  if (!(a == b)) {
    return invalid_argument("{} holds measurements of another configuration (method {}, candidates {}, costs {}, "
                            "calibration {} x {} of {}, {} fit segments); give another --measurements file",
                            r.cache, have.config.method, fmt::join(have.config.candidates, ","), have.config.costs,
                            have.config.samples, have.config.seqlen, have.config.calib, have.config.fit_samples);
  }
  return have;
}

}  // namespace

std::vector<std::string> default_plan_candidates(quant::OutputFormat format) {
  if (format == quant::OutputFormat::kSafetensors) return {"int4_g128", "mxfp4", "nvfp4", "int8", "fp8_e4m3"};
  return {"q2_k", "q3_k", "q4_0", "q4_1", "iq4_nl", "q4_k", "q5_0", "q5_1", "q5_k", "q6_k", "q8_0"};
}

Result<plan::Measurements> measure_for_plan(const Model& model, const MeasureRequest& r) {
  BITSMITH_ASSIGN_OR_RETURN(plan::MeasureConfig want, config_for(model, r));
  BITSMITH_ASSIGN_OR_RETURN(plan::Measurements m, start_from(model, r, want));
  BITSMITH_RETURN_IF_ERROR(plan::check_not_requantized(model, m, r.allow_requantize));
  if (m.complete()) return m;
  const CalibrationOptions calib{r.calib, r.samples, r.seqlen, r.seed};
  SensitivityOptions so;
  std::vector<std::vector<int32_t>> segments;
  if (r.fit_samples > 0) {
    BITSMITH_ASSIGN_OR_RETURN(HeldOutSegments split, held_out_segments(model, calib, r.fit_samples));
    segments = std::move(split.scored);
    so.fit_segments = std::move(split.fit);
  } else {
    BITSMITH_ASSIGN_OR_RETURN(segments, calibration_segments(model, calib));
  }
  BITSMITH_ASSIGN_OR_RETURN(so.method, parse_method(r.method));
  so.costs = r.costs;
  so.gptq.act_order = r.act_order;
  so.gptq.weighted_params = r.weighted_params;
  so.gptq.refit_params = r.refit_params;
  so.progress = r.progress;
  if (!r.cache.empty()) so.checkpoint = [&r](const plan::Measurements& part) { return part.save(r.cache); };
  BITSMITH_RETURN_IF_ERROR(measure_sensitivity(model, segments, so, &m));
  if (!r.cache.empty()) BITSMITH_RETURN_IF_ERROR(m.save(r.cache));
  return m;
}

Result<plan::Advice> advise_measured(plan::AdviseOptions options, const MeasureRequest& request) {
  if (options.model == nullptr) {
    return invalid_argument("--calib measures a MODEL file: give one (not --params or a config.json)");
  }
  if (options.measurements != nullptr) return invalid_argument("give --calib (measure now) or measurements of a finished run, not both");
  if (!options.task.empty() && options.task != "inference") {
    return invalid_argument("--calib plans an inference mix: --task inference");
  }
  // The options checked first (device, task, schemes; cheap), so a mistake costs no measuring.
  BITSMITH_RETURN_IF_ERROR(plan::advise_with(options).status());
  MeasureRequest r = request;
  if (r.model_path.empty()) r.model_path = options.source;
  BITSMITH_ASSIGN_OR_RETURN(plan::Measurements m, measure_for_plan(*options.model, r));
  options.measurements = &m;
  options.measurements_path = r.cache;
  return plan::advise_with(options);
}

}  // namespace bitsmith::algo
