#include "bitsmith/algo/quantize_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bitsmith/io/model_file.h"

namespace bitsmith::algo {

namespace {

std::string storage_of(const Model& m, const std::string& name) {
  for (const auto& t : m.tensors()) {
    if (t.name == name) return t.storage;
  }
  return "?";
}

// The request's options on their own (before the model is read): options that would do
// nothing are errors, not silent no-ops.
Status check_options(const QuantizeRequest& r, io::Activations activations) {
  // Per-tensor methods: a rule may ask for rtn on some tensors of a calibrated run; other
  // mixtures of calibrated methods are not supported (one calibration pass per run).
  for (const auto& rule : r.recipe.rules) {
    if (!rule.method.empty() && rule.method != "rtn" && rule.method != r.method) {
      return invalid_argument("recipe rule for {}: method {} differs from --method {} (only rtn may differ)",
                              rule.scheme, rule.method, r.method);
    }
  }
  const bool static_acts = activations == io::Activations::kStatic;
  if (static_acts && r.calib.empty()) {
    return invalid_argument("--activations static needs --calib FILE: the input ranges are measured on that text");
  }
  if (!r.imatrix.empty() && r.method != "imatrix") {
    return invalid_argument("--imatrix is used by --method imatrix only (not --method {})", r.method);
  }
  if (!r.calib.empty() && !static_acts &&
      (r.method == "rtn" || r.method == "hqq" || (r.method == "imatrix" && !r.imatrix.empty()))) {
    return invalid_argument("--calib does nothing with --method {}{}", r.method,
                            r.method == "imatrix" ? " and --imatrix" : "");
  }
  const GptqOptions gptq_defaults;
  if ((r.gptq.act_order || r.gptq.static_groups || r.gptq.weighted_params || r.gptq.refit_params ||
       r.gptq.damp != gptq_defaults.damp) &&
      r.method != "gptq") {
    return invalid_argument("--act-order, --static-groups, --weighted-params, --refit-params and --damp are GPTQ options "
                            "(--method gptq)");
  }
  if (r.qat.given() && r.method != "qat") {
    return invalid_argument("--steps, --lr, --batch and --distill are QAT options (--method qat, not --method {})",
                            r.method);
  }
  if (r.qat.steps < 0 || r.qat.batch < 0 || r.qat.lr < 0 || !std::isfinite(r.qat.lr)) {
    return invalid_argument("qat: --steps, --batch and --lr must be positive");
  }
  if (r.method == "qat" && r.calib_seqlen < 2) {
    return invalid_argument("--method qat: --calib-seqlen {} leaves no token to predict (at least 2)", r.calib_seqlen);
  }
  if (r.calib_samples <= 0 || r.calib_seqlen <= 0) {
    return invalid_argument("--calib-samples and --calib-seqlen must be positive");
  }
  return Status::Ok();
}

}  // namespace

Result<QuantizeJob> QuantizeJob::plan(const Model& model, const QuantizeRequest& r) {
  QuantizeJob job;
  job.model_ = &model;
  job.request_ = r;
  BITSMITH_ASSIGN_OR_RETURN(job.config_.format, io::output_format_for(r.out, r.format));
  auto activations = io::parse_activations(r.activations);
  if (!activations.ok()) return invalid_argument("--activations: {}", activations.status().message());
  job.config_.activations = *activations;
  BITSMITH_RETURN_IF_ERROR(check_options(r, *activations));
  BITSMITH_ASSIGN_OR_RETURN(job.method_.method, parse_method(r.method));
  job.method_.calib = {r.calib, r.calib_samples, r.calib_seqlen, r.seed};
  job.method_.gptq = r.gptq;
  job.method_.qat = r.qat;
  job.method_.imatrix_path = r.imatrix;
  job.config_.progress = r.progress;
  // Before any work (GPTQ may run for minutes): the output must not replace an input.
  BITSMITH_RETURN_IF_ERROR(io::check_output_spares_inputs(model, r.out, job.config_.format, {r.calib, r.imatrix}));
  BITSMITH_ASSIGN_OR_RETURN(job.plans_, r.recipe.resolve(model, job.config_.format));
  BITSMITH_ASSIGN_OR_RETURN(job.rule_notes_, plan::check_rules_match(r.recipe, r.user_rules, model));
  BITSMITH_RETURN_IF_ERROR(io::check_activations(job.plans_, job.config_.format, job.config_.activations));
  if (auto again = plan::Recipe::requantized(model, job.plans_); !again.empty() && !r.allow_requantize) {
    return invalid_argument("{}: {} tensor(s) are stored quantized already (e.g. '{}' as {}); quantizing them again "
                            "compounds the error: convert from the original weights, or give --allow-requantize",
                            r.in, again.size(), again.front(), storage_of(model, again.front()));
  }
  if (job.method_.method == Method::kHqq &&
      std::none_of(job.plans_.begin(), job.plans_.end(), [](const quant::TensorPlan& p) { return p.scheme && hqq_supports(*p.scheme); })) {
    return invalid_argument("--method hqq: no planned scheme is an affine integer grid (int<b>_g<g> with zero points); "
                            "HQQ would quietly be RTN");
  }
  const int64_t context = model.hyperparameters().context_length;
  const bool calibrates = job.config_.activations == io::Activations::kStatic ||
                          (job.method_.method != Method::kRtn && job.method_.method != Method::kHqq);
  if (calibrates && context > 0 && r.calib_seqlen > context) {
    return invalid_argument("--calib-seqlen {} exceeds the model's context of {}", r.calib_seqlen, context);
  }
  const bool needs_text = method_needs_calibration(job.method_.method) ||
                          (job.method_.method == Method::kImatrix && r.imatrix.empty());
  if (needs_text && r.calib.empty()) {
    return invalid_argument("method {} needs calibration text (--calib FILE{})", r.method,
                            job.method_.method == Method::kImatrix ? " or --imatrix FILE" : "");
  }
  return job;
}

Result<QuantizeFileReport> QuantizeJob::run() const {
  QuantizeFileReport rep;
  rep.request = request_;
  rep.request.progress = nullptr;
  rep.format = config_.format;
  rep.activations = config_.activations;
  rep.rule_notes = rule_notes_;
  if (request_.dry_run) {
    for (const auto& p : plans_) rep.report.tensors.push_back({p, 0, 0});
    return rep;
  }
  io::QuantizeConfig cfg = config_;
  // A calibrated method prepares first (GPTQ/AWQ run here), then plugs into the pipeline's
  // per-tensor hook; AWQ also replaces the model (its scales are folded into the weights).
  BITSMITH_ASSIGN_OR_RETURN(auto write, prepare_write(*model_, plans_, method_, cfg));
  BITSMITH_ASSIGN_OR_RETURN(rep.report, io::quantize_model(write->model(*model_), request_.out, plans_, cfg));
  rep.method_notes = write->notes();
  rep.input_amax = write->input_amax;
  return rep;
}

nlohmann::json to_json(const QuantizeFileReport& rep) {
  const QuantizeRequest& r = rep.request;
  const io::QuantizeReport& q = rep.report;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : q.tensors) {
    nlohmann::json j = {{"name", t.plan.name}, {"shape", t.plan.shape.dims()}, {"scheme", t.plan.scheme->name()},
                        {"input_bytes", t.input_bytes}, {"output_bytes", t.output_bytes}, {"reason", t.plan.reason}};
    if (!t.plan.requested.empty()) j["fallback_from"] = t.plan.requested;
    if (!t.plan.method.empty()) j["method"] = t.plan.method;
    if (rep.activations != io::Activations::kNone) {
      const bool quantized = io::quantizes_activations(t.plan.name, *t.plan.scheme, rep.activations);
      j["activations"] = quantized ? r.activations : std::string("none");
      if (auto a = rep.input_amax.find(t.plan.name); a != rep.input_amax.end() && quantized) j["input_amax"] = a->second;
    }
    tensors.push_back(j);
  }
  return {{"input", r.in}, {"output", q.output}, {"extra_files", q.extra_files},
          {"format", rep.format == io::OutputFormat::kGguf ? "gguf" : "safetensors"},
          {"scheme", r.scheme.empty() ? r.recipe.base : r.scheme}, {"recipe", r.recipe.label()},
          {"dry_run", r.dry_run}, {"method", r.method}, {"activations", r.activations},
          {"qat", r.method != "qat" ? nlohmann::json(nullptr)
                                     : nlohmann::json{{"steps", r.qat.steps > 0 ? r.qat.steps : kQatSteps},
                                                      {"lr", r.qat.lr > 0 ? r.qat.lr : kQatLr},
                                                      {"batch", r.qat.batch > 0 ? r.qat.batch : kQatBatch},
                                                      {"distill", r.qat.distill}}},
          {"method_notes", rep.method_notes}, {"tensors", tensors}, {"input_bytes", q.input_bytes},
          {"output_bytes", q.output_bytes}, {"parameters", q.parameters}, {"bits_per_weight", q.bits_per_weight},
          {"fallbacks", q.fallbacks}, {"seconds", q.seconds},
          {"input_gb_per_s", q.seconds > 0 ? static_cast<double>(q.input_bytes) / q.seconds / 1e9 : 0.0}};
}

}  // namespace bitsmith::algo
