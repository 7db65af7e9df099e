// quantize_model: execute a finished per-tensor plan (plan::Recipe::resolve decides the schemes)
// by streaming: load one tensor (zero-copy for F32 sources), reorder q/k rows when the rotary
// convention changes, quantize, hand it to the writer, release the source pages.
#include <chrono>
#include <cmath>
#include <map>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/io/safetensors.h"
#include "writers.h"

namespace bitsmith::io {
namespace {

bool needs_rope_permute(const TensorName& n, const LlamaHyperparameters& hp, OutputFormat f) {
  if (!n.is_weight() || (n.category != TensorCategory::kAttnQ && n.category != TensorCategory::kAttnK)) return false;
  if (f == OutputFormat::kGguf) return hp.rope_style == RopeStyle::kHalfSplit && hp.architecture == "llama";
  return hp.rope_style == RopeStyle::kInterleaved;
}

}  // namespace

// The plan must name every tensor of the model once, each in a scheme the format can hold and
// that fits its shape: the planner guarantees it; a hand-made plan gets a clear error here.
static Status check_plan(const Model& model, const std::vector<TensorPlan>& plans, OutputFormat format) {
  std::map<std::string, const ModelTensorInfo*> tensors;
  for (const auto& t : model.tensors()) tensors[t.name] = &t;
  std::map<std::string, int> seen;
  for (const auto& p : plans) {
    auto it = tensors.find(p.name);
    if (it == tensors.end()) return invalid_argument("{}: the plan names tensor '{}', which the model lacks", model.path(), p.name);
    if (seen[p.name]++ > 0) return invalid_argument("{}: the plan names tensor '{}' twice", model.path(), p.name);
    if (p.scheme == nullptr) return invalid_argument("{}: the plan gives tensor '{}' no scheme", model.path(), p.name);
    if (format == OutputFormat::kGguf && quant::gguf_type_of(*p.scheme) < 0) {
      return invalid_argument("scheme {} (tensor '{}') has no GGUF type; write safetensors or pick a GGUF scheme",
                              p.scheme->name(), p.name);
    }
    const Shape& shape = it->second->shape;
    BITSMITH_RETURN_IF_ERROR(p.scheme->check_shape(shape.rows(), shape.cols()).with_context(
        fmt::format("{}: tensor '{}' in {}", model.path(), p.name, p.scheme->name())));
  }
  if (seen.size() != tensors.size()) {
    for (const auto& [name, t] : tensors) {
      if (!seen.count(name)) return invalid_argument("{}: the plan leaves out tensor '{}'", model.path(), name);
    }
  }
  return Status();
}

Result<QuantizeReport> quantize_model(const Model& model, const std::string& out, const std::vector<TensorPlan>& plans,
                                      const QuantizeConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  BITSMITH_RETURN_IF_ERROR(check_output_spares_inputs(model, out, config.format));
  BITSMITH_RETURN_IF_ERROR(check_plan(model, plans, config.format));
  BITSMITH_RETURN_IF_ERROR(check_activations(plans, config.format, config.activations));
  if (config.activations == Activations::kStatic) {
    for (const auto& p : plans) {
      if (!quantizes_activations(p.name, *p.scheme, config.activations)) continue;
      const bool known = config.input_amax != nullptr && config.input_amax->count(p.name) != 0 &&
                         std::isfinite(config.input_amax->at(p.name));
      if (!known) {
        return invalid_argument("{}: static activation scales need the calibrated input range of '{}' (none given)",
                                model.path(), p.name);
      }
    }
  }
  const auto* file_model = dynamic_cast<const FileModel*>(&model);
  const LlamaHyperparameters& hp = model.hyperparameters();
  QuantizeReport report;
  std::map<std::string, uint64_t> in_bytes;
  for (const auto& t : model.tensors()) {
    in_bytes[t.name] = t.bytes;
    report.input_bytes += t.bytes;
  }
  std::map<std::string, float> computed_amax;
  if (config.format == OutputFormat::kSafetensors && config.shared_amax == nullptr) {
    BITSMITH_ASSIGN_OR_RETURN(computed_amax, fused_group_amax(model, plans));
  }
  const std::map<std::string, float>& shared_amax = config.shared_amax ? *config.shared_amax : computed_amax;
  uint64_t done_bytes = 0;
  auto produce = [&](size_t i) -> Result<quant::QuantizedTensor> {
    const TensorPlan& p = plans[i];
    quant::QuantizeOptions options = config.options;
    if (auto it = shared_amax.find(p.name); it != shared_amax.end()) options.shared_amax = it->second;
    BITSMITH_ASSIGN_OR_RETURN(Tensor w, model.load_f32(p.name));
    const float* x = w.as<float>().data();
    Tensor permuted;
    const TensorName tn = parse_tensor_name(p.name);
    if (needs_rope_permute(tn, hp, config.format)) {
      const int64_t heads = tn.category == TensorCategory::kAttnQ ? hp.n_heads : hp.n_kv_heads;
      if (heads <= 0 || hp.head_dim % 2 != 0 || p.shape.rows() != heads * hp.head_dim) {
        return invalid_argument("{}: cannot reorder rotary rows of '{}' {} for {} heads of {}", model.path(), p.name,
                                p.shape.to_string(), heads, hp.head_dim);
      }
      permuted = Tensor(DType::kF32, p.shape);
      permute_rope_rows(x, permuted.mutable_as<float>().data(), heads, hp.head_dim, p.shape.cols(),
                        config.format == OutputFormat::kGguf);
      x = permuted.as<float>().data();
    }
    Result<quant::QuantizedTensor> q = config.method && p.scheme->traits().granularity != quant::Granularity::kElement
                                           ? config.method(p, x, options)
                                           : p.scheme->quantize(x, p.shape.rows(), p.shape.cols(), options);
    if (!q.ok()) return q.status().with_context(fmt::format("{}: tensor '{}' ({})", model.path(), p.name, p.scheme->name()));
    if (file_model) file_model->release(p.name);
    TensorReport r{p, in_bytes[p.name], q->total_bytes() + (q->tensor_scale != 1.0f ? 4u : 0u)};
    report.tensors.push_back(r);
    done_bytes += r.input_bytes;
    if (config.progress) {
      config.progress({i + 1, plans.size(), p.name, done_bytes, report.input_bytes,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    }
    return q;
  };
  if (config.format == OutputFormat::kGguf) {
    report.output = out;
    BITSMITH_RETURN_IF_ERROR(detail::write_gguf(model, plans, out, produce, &report.output_bytes));
  } else {
    BITSMITH_RETURN_IF_ERROR(detail::write_safetensors(model, plans, out, produce, &report.output, &report.extra_files,
                                                       &report.output_bytes,
                                                       {config.fractional_zero_points, config.activations, config.input_amax}));
  }
  uint64_t tensor_bytes = 0;
  for (const auto& t : report.tensors) {
    report.parameters += static_cast<uint64_t>(t.plan.shape.numel());
    tensor_bytes += t.output_bytes;
    if (!t.plan.requested.empty()) ++report.fallbacks;
  }
  report.bits_per_weight = report.parameters ? 8.0 * static_cast<double>(tensor_bytes) / static_cast<double>(report.parameters) : 0;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace bitsmith::io
