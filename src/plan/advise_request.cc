#include "bitsmith/plan/advise_request.h"

#include <fmt/format.h>

#include <cmath>

#include "bitsmith/plan/allocate.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::plan {

namespace {

Result<Device> device_for(const AdviseOptions& o) {
  if (o.device.empty() && o.memory.empty()) {
    return invalid_argument("give --device NAME ({}) or --memory SIZE (e.g. 128GB)", known_device_names());
  }
  Device d;
  if (!o.device.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(d, parse_device(o.device));
    if (!o.memory.empty()) {
      if (o.device.find('=') != std::string::npos) {
        return invalid_argument("--memory repeats the size --device NAME=SIZE gives; give it once");
      }
      BITSMITH_ASSIGN_OR_RETURN(d.bytes, parse_size_bytes(o.memory));
      d.description += fmt::format(" (memory {} GB from --memory)", d.bytes / 1e9);
    }
  } else {
    BITSMITH_ASSIGN_OR_RETURN(double bytes, parse_size_bytes(o.memory));
    d = custom_device("custom", bytes);
  }
  if (!o.bandwidth.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(d.bandwidth, parse_bandwidth(o.bandwidth));
  }
  return d;
}

// Schemes named by the options, or the task's defaults.
Result<std::vector<Candidate>> candidates_for(const AdviseOptions& o, Task task) {
  if (o.schemes.empty()) return default_candidates(task);
  std::vector<Candidate> out;
  for (const auto& name : o.schemes) {
    if (name == "nf4") {
      out.push_back(nf4_candidate());
      continue;
    }
    auto s = quant::find_scheme(name);
    if (!s.ok() && Recipe::is_named(name)) {
      if (o.model == nullptr) {
        return invalid_argument("'{}' is a recipe: its bits per weight depend on the model's shapes; give a MODEL "
                                "file instead of --params or config.json", name);
      }
      BITSMITH_ASSIGN_OR_RETURN(Recipe r, recipe_for_scheme_name(name));
      BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* base, quant::find_scheme(r.base));
      Candidate c = candidate_for_scheme(*base);
      c.label = name;
      out.push_back(std::move(c));
      continue;
    }
    if (!s.ok()) return s.status();
    out.push_back(candidate_for_scheme(**s));
  }
  return out;
}

// With a model file, each scheme's or recipe's bits per weight are the written file's (head
// rule, mixes, fallbacks, F32 norms): plan_memory_for_model resolves them as quantize would.
Status exact_bits_on_model(const Model& model, std::vector<Candidate>* candidates) {
  std::vector<Recipe> recipes;
  std::vector<size_t> index;
  for (size_t i = 0; i < candidates->size(); ++i) {
    auto r = recipe_for_scheme_name((*candidates)[i].label);
    if (!r.ok()) continue;  // nf4, "bf16 + AdamW": nominal bits
    recipes.push_back(std::move(*r));
    index.push_back(i);
  }
  BITSMITH_ASSIGN_OR_RETURN(auto mem, plan_memory_for_model(model, recipes, {}));
  for (size_t k = 0; k < index.size(); ++k) (*candidates)[index[k]].bits_per_weight = mem.rows[k].bits_per_weight;
  return Status::Ok();
}

uint64_t parameter_count(const Model& model) {
  uint64_t n = 0;
  for (const auto& t : model.tensors()) n += static_cast<uint64_t>(t.shape.numel());
  return n;
}

// The planned mix from the measurements: the allocation under what the device leaves for
// weights, as one more candidate (first). No budget, or one below the smallest plan: a note
// saying why, and the single schemes only.
Result<std::optional<PlannedMix>> add_planned_mix(const AdviseOptions& o, AdviceRequest* req, std::string* note) {
  if (req->task != Task::kInference) return invalid_argument("a planned mix is for inference: --task inference");
  const Measurements& m = *o.measurements;
  const std::string from = o.measurements_path.empty() ? fmt::format("measured on {}", m.config.calib) : o.measurements_path;
  const uint64_t params = parameter_count(*o.model);
  if (m.config.model_params != params) {
    return invalid_argument("{} was measured on another model ({} parameters; {} has {})", from,
                            m.config.model_params, o.source, params);
  }
  const CostKind kind = m.config.costs == "proxy" ? CostKind::kProxy : CostKind::kKld;
  auto budget = weight_budget_on_device(req->device, req->shape, req->context, req->batch, req->kv_cache);
  auto alloc = budget.ok() ? allocate(m, *budget, kind) : Result<Allocation>(budget.status());
  if (!alloc.ok()) {
    *note = fmt::format("no planned mix: {}", alloc.status().message());
    return std::optional<PlannedMix>();
  }
  PlannedMix mix;
  mix.measured = from;
  mix.method = m.config.method;
  mix.costs = m.config.costs;
  mix.calib_tokens = m.calib_tokens;
  mix.allocation = *alloc;
  mix.by_kind = choices_by_kind(m, *alloc, kind);
  mix.allocation_doc = allocation_json(m, *alloc, kind);
  Candidate c;
  c.label = "planned mix";
  c.bits_per_weight = alloc->bits_per_weight;
  c.precision_bits = std::round(alloc->bits_per_weight);
  c.weight_only = true;
  c.gguf = m.config.format == "gguf";
  c.quality_note = fmt::format("measured: summed {} {:.4g} on the calibration text", cost_kind_name(kind), alloc->cost);
  req->candidates.insert(req->candidates.begin(), c);
  *note = o.measurements_path.empty()
              ? fmt::format("planned mix {}: give --measurements FILE to keep the measurements; `bitsmith plan {} "
                            "--measurements FILE --device {} --context {} -o OUT` then writes it",
                            from, o.source, req->device.name, req->context)
              : fmt::format("planned mix from {}: `bitsmith plan {} --measurements {} --device {} --context {} -o OUT` "
                            "writes it",
                            from, o.source, o.measurements_path, req->device.name, req->context);
  return std::optional<PlannedMix>(std::move(mix));
}

// The planned mix is the recommendation when it fits: it is the least measured loss the budget
// allows. The single-scheme choice by priority stays in the notes.
void recommend_planned_mix(PlannedMix mix, Advice* advice) {
  const Alternative& alt = advice->alternatives.front();
  const Allocation& a = mix.allocation;
  if (alt.fits) {
    std::string kinds;
    for (const auto& k : mix.by_kind) {
      kinds += fmt::format("{}{}: {}", kinds.empty() ? "" : "; ", k.kind, format_kind_schemes(k));
    }
    advice->notes.insert(advice->notes.begin(), "among single schemes: " + advice->reasoning);
    advice->reasoning = fmt::format(
        "Planned mix ({} tensors, {} costs by {}, {} calibration tokens, {}): {} bytes = {:.4f} bits per weight "
        "under the {} bytes {} leaves for weights (capacity less runtime, KV cache and workspace); summed {} {:.6g} "
        "(lower bound at this budget {:.6g}). Per kind, layers: {}.",
        a.choice.size(), mix.costs, mix.method, mix.calib_tokens, mix.measured, a.bytes, a.bits_per_weight,
        a.budget_bytes, advice->request.device.name, mix.allocation_doc.value("cost", "kld"), a.cost, a.lower_bound,
        kinds);
    advice->recommended = 0;
  }
  advice->planned = std::move(mix);
}

}  // namespace

Result<Advice> advise_with(const AdviseOptions& o) {
  const int sources = !o.params.empty() + o.hyperparameters.has_value() + (o.model != nullptr);
  if (sources == 0) return invalid_argument("give --params N (e.g. 70B) or a MODEL file or config.json");
  if (sources > 1) return invalid_argument("give --params or a MODEL, not both");
  if (o.measurements != nullptr && o.model == nullptr) {
    return invalid_argument("measurements plan a mix for a MODEL file (the one they were measured on)");
  }
  AdviceRequest req;
  BITSMITH_ASSIGN_OR_RETURN(req.task, parse_task(o.task));
  const bool adapters = req.task == Task::kLora || req.task == Task::kQlora;
  if (o.kv_cache && req.task != Task::kInference) return invalid_argument("--kv-cache applies to --task inference only");
  if (o.lora_rank && !adapters) return invalid_argument("--lora-rank applies to --task lora or qlora only");
  if (req.task == Task::kTraining && (o.priority || !o.schemes.empty())) {
    return invalid_argument("full training has one configuration (bf16 + AdamW): --priority and --schemes do not apply");
  }
  BITSMITH_ASSIGN_OR_RETURN(req.priority, parse_priority(o.priority.value_or("balanced")));
  BITSMITH_ASSIGN_OR_RETURN(req.kv_cache, parse_kv_cache(o.kv_cache.value_or("fp16")));
  if (o.batch < 1) return invalid_argument("--batch must be at least 1, not {}", o.batch);
  req.batch = o.batch;
  req.lora_rank = o.lora_rank.value_or(16);
  if (req.lora_rank < 1) return invalid_argument("--lora-rank must be at least 1, not {}", req.lora_rank);
  BITSMITH_ASSIGN_OR_RETURN(req.device, device_for(o));
  if (!o.params.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(double count, parse_param_count(o.params));
    BITSMITH_ASSIGN_OR_RETURN(req.shape, shape_for_params(count));
  } else {
    const LlamaHyperparameters& hp = o.model ? o.model->hyperparameters() : *o.hyperparameters;
    const double params = o.model ? static_cast<double>(parameter_count(*o.model)) : 0;
    auto shape = shape_from_hyperparameters(hp, params, o.model ? "from " + o.source
                                                                 : "from " + o.source + " (parameters counted from the shape)");
    // The file's hyperparameters make no model: the file's fault, not the options'.
    if (!shape.ok()) return corrupt_data("{}", shape.status().message());
    req.shape = std::move(*shape);
  }
  // Default context: 4096, or the model's trained context when that is shorter.
  req.context = o.context.value_or(4096);
  if (req.context < 1) return invalid_argument("--context must be at least 1, not {}", req.context);
  if (!o.context && req.shape.context_length > 0) req.context = std::min<int64_t>(req.context, req.shape.context_length);
  BITSMITH_ASSIGN_OR_RETURN(req.candidates, candidates_for(o, req.task));
  if (o.model != nullptr && req.task != Task::kTraining) BITSMITH_RETURN_IF_ERROR(exact_bits_on_model(*o.model, &req.candidates));
  std::string planned_note;
  std::optional<PlannedMix> planned;
  if (o.measurements != nullptr) {
    BITSMITH_ASSIGN_OR_RETURN(planned, add_planned_mix(o, &req, &planned_note));
  }
  BITSMITH_ASSIGN_OR_RETURN(Advice advice, advise(std::move(req)));
  if (planned) recommend_planned_mix(std::move(*planned), &advice);
  if (!planned_note.empty()) advice.notes.push_back(planned_note);
  return advice;
}

std::string advice_subject(const AdviseOptions& o, const Advice& advice) {
  if (!o.params.empty()) return fmt::format("{} parameters", o.params);
  return fmt::format("{} ({:.4g} parameters)", o.source, advice.request.shape.params);
}

nlohmann::json device_record(const Device& d) {
  nlohmann::json peaks = nlohmann::json::object();
  nlohmann::json native = nlohmann::json::array();
  for (size_t i = 0; i < kComputeFormatCount; ++i) {
    const auto f = static_cast<ComputeFormat>(i);
    peaks[std::string(compute_format_name(f))] = d.peak(f);
    if (d.native(f)) native.push_back(compute_format_name(f));
  }
  return {{"name", d.name}, {"description", d.description}, {"bytes", d.bytes}, {"bandwidth_bytes_per_s", d.bandwidth},
          {"runtime_overhead_bytes", d.runtime_overhead}, {"unified_memory", d.unified_memory},
          {"peak_dense_flops", peaks}, {"native_formats", native}};
}

nlohmann::json to_json(const Advice& a) {
  const AdviceRequest& r = a.request;
  const ModelShape& s = r.shape;
  nlohmann::json alts = nlohmann::json::array();
  for (const auto& alt : a.alternatives) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& it : alt.items) {
      items.push_back({{"label", it.label}, {"bytes", it.bytes}, {"counted", it.counted}, {"formula", it.formula}});
    }
    // A bound the device has no figure for is null, not 0 tokens/s.
    auto bound = [](double v) { return v > 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
    alts.push_back({{"scheme", alt.candidate.label}, {"bits_per_weight", alt.candidate.bits_per_weight},
                    {"precision_bits", alt.candidate.precision_bits}, {"weight_bytes", alt.weight_bytes},
                    {"kv_cache_bytes", alt.kv_cache_bytes}, {"activation_bytes", alt.activation_bytes},
                    {"total_bytes", alt.total_bytes}, {"fits", alt.fits}, {"headroom_bytes", alt.headroom_bytes},
                    {"checkpointing", alt.checkpointing}, {"path", exec_path_name(alt.path)},
                    {"runs_as", compute_format_name(alt.runs_as)}, {"path_note", alt.path_note},
                    {"decode_tokens_per_s_bound", bound(alt.decode_tokens_per_s)},
                    {r.task == Task::kInference ? "prefill_tokens_per_s_bound" : "train_tokens_per_s_bound",
                     bound(alt.prefill_tokens_per_s)},
                    {"quality", alt.candidate.quality_note}, {"items", items}});
  }
  nlohmann::json rec = nullptr;
  if (a.recommended >= 0) rec = a.alternatives[static_cast<size_t>(a.recommended)].candidate.label;
  nlohmann::json planned = nullptr;
  if (a.planned) {
    planned = {{"measured", a.planned->measured}, {"method", a.planned->method}, {"costs", a.planned->costs},
               {"calib_tokens", a.planned->calib_tokens}, {"allocation", a.planned->allocation_doc}};
  }
  return {{"model", {{"params", s.params}, {"layers", s.n_layers}, {"hidden", s.hidden}, {"ffn", s.ffn},
                     {"heads", s.n_heads}, {"kv_heads", s.n_kv_heads}, {"head_dim", s.head_dim}, {"vocab", s.vocab},
                     {"context_length", s.context_length}, {"source", s.source}}},
          {"device", device_record(r.device)},
          {"request", {{"task", task_name(r.task)}, {"priority", priority_name(r.priority)}, {"context", r.context},
                       {"batch", r.batch}, {"kv_cache", kv_cache_name(r.kv_cache)}, {"lora_rank", r.lora_rank}}},
          {"alternatives", alts}, {"recommendation", rec}, {"planned_mix", planned}, {"reasoning", a.reasoning}, {"notes", a.notes}};
}

}  // namespace bitsmith::plan
