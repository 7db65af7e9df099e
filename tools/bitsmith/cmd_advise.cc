// bitsmith advise (--params N | MODEL | config.json) (--device NAME | --memory SIZE) [--task ...]
// [--priority ...]: which precision to run or train a model in on a device, with the memory
// itemised, roofline speed bounds and the reasoning. The advisor is plan's (plan/advise.h); this
// file reads the model's hyperparameters through io, parses options and prints.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/safetensors.h"
#include "bitsmith/plan/advise.h"
#include "bitsmith/plan/allocate.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/report/documents.h"
#include "command.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct AdviseOptions {
  std::string model, params, device, memory, bandwidth, task = "inference", priority = "balanced";
  std::string kv_cache = "fp16", measurements;
  int64_t context = 4096, batch = 1, lora_rank = 16;
  std::vector<std::string> schemes;
  bool json = false, list_devices = false;
  CLI::Option *context_opt = nullptr, *priority_opt = nullptr, *kv_opt = nullptr, *rank_opt = nullptr;
};

template <typename T>
T or_usage(Result<T> r) {
  if (!r.ok()) throw UsageError(r.status().message());
  return std::move(*r);
}

// Two decimals, or three significant digits below 0.1 GB (small models are not all "0.00").
std::string gb(double bytes) {
  const double v = bytes / 1e9;
  return std::abs(v) >= 0.1 || v == 0 ? fmt::format("{:.2f}", v) : fmt::format("{:.3g}", v);
}
std::string rate(double v, const char* fmt_spec = "{:.1f}") { return v > 0 ? fmt::vformat(fmt_spec, fmt::make_format_args(v)) : "-"; }

plan::Device device_from(const AdviseOptions& o) {
  if (o.device.empty() && o.memory.empty()) {
    throw UsageError("give --device NAME (" + plan::known_device_names() + ") or --memory SIZE (e.g. 128GB)");
  }
  plan::Device d;
  if (!o.device.empty()) {
    d = or_usage(plan::parse_device(o.device));
    if (!o.memory.empty()) {
      if (o.device.find('=') != std::string::npos) throw UsageError("--memory repeats the size --device NAME=SIZE gives; give it once");
      d.bytes = or_usage(plan::parse_size_bytes(o.memory));
      d.description += fmt::format(" (memory {} GB from --memory)", d.bytes / 1e9);
    }
  } else {
    d = plan::custom_device("custom", or_usage(plan::parse_size_bytes(o.memory)));
  }
  if (!o.bandwidth.empty()) d.bandwidth = or_usage(plan::parse_bandwidth(o.bandwidth));
  return d;
}

// Schemes named by --schemes, or the task's defaults.
std::vector<plan::Candidate> scheme_candidates(const AdviseOptions& o, plan::Task task, bool have_model) {
  if (o.schemes.empty()) return plan::default_candidates(task);
  std::vector<plan::Candidate> out;
  for (const auto& name : o.schemes) {
    if (name == "nf4") {
      out.push_back(plan::nf4_candidate());
      continue;
    }
    auto s = quant::find_scheme(name);
    if (!s.ok() && plan::Recipe::is_named(name)) {
      if (!have_model) {
        throw UsageError(fmt::format("'{}' is a recipe: its bits per weight depend on the model's shapes; give a MODEL "
                                     "file instead of --params or config.json", name));
      }
      auto r = or_usage(plan::recipe_for_scheme_name(name));
      plan::Candidate c = plan::candidate_for_scheme(**quant::find_scheme(r.base));
      c.label = name;
      out.push_back(std::move(c));
      continue;
    }
    if (!s.ok()) throw UsageError(s.status().message());
    out.push_back(plan::candidate_for_scheme(**s));
  }
  return out;
}

// With a model file, each scheme's or recipe's bits per weight are the written file's (head
// rule, mixes, fallbacks, F32 norms): plan_memory_for_model resolves them as quantize would.
Status exact_bits_on_model(const Model& model, std::vector<plan::Candidate>* candidates) {
  std::vector<plan::Recipe> recipes;
  std::vector<size_t> index;
  for (size_t i = 0; i < candidates->size(); ++i) {
    auto r = plan::recipe_for_scheme_name((*candidates)[i].label);
    if (!r.ok()) continue;  // nf4, "bf16 + AdamW": nominal bits
    recipes.push_back(std::move(*r));
    index.push_back(i);
  }
  BITSMITH_ASSIGN_OR_RETURN(auto mem, plan::plan_memory_for_model(model, recipes, {}));
  for (size_t k = 0; k < index.size(); ++k) (*candidates)[index[k]].bits_per_weight = mem.rows[k].bits_per_weight;
  return Status::Ok();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int list_devices(bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : plan::device_profiles()) out.push_back(report::device_json(d));
    print_json({{"devices", out}});
    return kExitOk;
  }
  Table t({"device", "memory GB", "bandwidth GB/s", "fp16 TFLOP/s", "fp8", "int8 TOP/s", "fp4", "description"});
  for (const auto& d : plan::device_profiles()) {
    auto tf = [&d](plan::ComputeFormat f) { return d.native(f) ? fmt::format("{:g}", d.peak(f) / 1e12) : "-"; };
    t.add({d.name, fmt::format("{:g}", d.bytes / 1e9), fmt::format("{:g}", d.bandwidth / 1e9), tf(plan::ComputeFormat::kFp16),
           tf(plan::ComputeFormat::kFp8), tf(plan::ComputeFormat::kInt8), tf(plan::ComputeFormat::kFp4), d.description});
  }
  std::fputs(t.render().c_str(), stdout);
  std::printf("Dense peaks (datasheet sparse figures halved); '-' = no such units. Sources: src/plan/devices.cc.\n");
  return kExitOk;
}

void print_text_advice(const plan::Advice& a, const std::string& what) {
  const auto& r = a.request;
  const bool inference = r.task == plan::Task::kInference;
  std::printf("%s on %s (%s GB, %s GB/s): %s, priority %s, context %lld, batch %lld%s\n\n", what.c_str(),
              r.device.name.c_str(), gb(r.device.bytes).c_str(), rate(r.device.bandwidth / 1e9, "{:g}").c_str(),
              std::string(plan::task_name(r.task)).c_str(), std::string(plan::priority_name(r.priority)).c_str(),
              static_cast<long long>(r.context), static_cast<long long>(r.batch),
              inference ? fmt::format(", KV cache {}", plan::kv_cache_name(r.kv_cache)).c_str() : "");
  std::vector<std::string> header = {"", "scheme", "bits/w", inference ? "weights GB" : "weights/base GB",
                                     inference ? "KV GB" : "activations GB", "total GB", "fits", "headroom GB"};
  if (inference) {
    header.insert(header.end(), {"decode tok/s", "prefill tok/s"});
  } else {
    header.insert(header.end(), {"train tok/s", "checkpointing"});
  }
  header.insert(header.end(), {"path", "quality"});
  Table t(header);
  for (size_t i = 0; i < a.alternatives.size(); ++i) {
    const auto& alt = a.alternatives[i];
    std::vector<std::string> row = {static_cast<int>(i) == a.recommended ? "*" : "", alt.candidate.label,
                                    fmt::format("{:.4g}", alt.candidate.bits_per_weight), gb(alt.weight_bytes),
                                    gb(inference ? alt.kv_cache_bytes : alt.activation_bytes), gb(alt.total_bytes),
                                    alt.fits ? "yes" : "no", gb(alt.headroom_bytes)};
    if (inference) {
      row.insert(row.end(), {rate(alt.decode_tokens_per_s), rate(alt.prefill_tokens_per_s, "{:.0f}")});
    } else {
      row.insert(row.end(), {rate(alt.prefill_tokens_per_s, "{:.0f}"), alt.checkpointing ? "yes" : "no"});
    }
    row.insert(row.end(), {alt.path_note, alt.candidate.quality_note});
    t.add(row);
  }
  std::fputs(t.render().c_str(), stdout);
  std::printf("GB = 1e9 bytes; speeds are roofline upper bounds ('-': no figure for this device).\n\n");
  if (a.recommended >= 0) {
    const auto& rec = a.alternatives[static_cast<size_t>(a.recommended)];
    std::printf("Recommendation: %s\n%s\n\nMemory of %s, itemised:\n", rec.candidate.label.c_str(), a.reasoning.c_str(),
                rec.candidate.label.c_str());
    Table items({"item", "GB", "how"});
    for (const auto& it : rec.items) items.add({it.counted ? it.label : it.label + " (not counted)", gb(it.bytes), it.formula});
    std::fputs(items.render().c_str(), stdout);
  } else {
    std::printf("Recommendation: none\n%s\n", a.reasoning.c_str());
  }
  std::printf("\nNotes:\n");
  for (const auto& n : a.notes) std::printf("  - %s\n", n.c_str());
}

int run_advise(const AdviseOptions& o) {
  if (o.list_devices) {
    if (!o.model.empty() || !o.params.empty()) throw UsageError("--list-devices lists the device table only; drop the model");
    return list_devices(o.json);
  }
  if (!o.measurements.empty() && (o.model.empty() || o.model.ends_with(".json"))) {
    throw UsageError("--measurements plans a mix for a MODEL file (the one `bitsmith plan` measured)");
  }
  if (o.model.empty() == o.params.empty()) {
    throw UsageError(o.model.empty() ? "give --params N (e.g. 70B) or a MODEL file or config.json"
                                     : "give --params or a MODEL, not both");
  }
  plan::AdviceRequest req;
  req.task = or_usage(plan::parse_task(o.task));
  const bool adapters = req.task == plan::Task::kLora || req.task == plan::Task::kQlora;
  if (o.kv_opt->count() && req.task != plan::Task::kInference) throw UsageError("--kv-cache applies to --task inference only");
  if (o.rank_opt->count() && !adapters) throw UsageError("--lora-rank applies to --task lora or qlora only");
  if (req.task == plan::Task::kTraining && (o.priority_opt->count() || !o.schemes.empty())) {
    throw UsageError("full training has one configuration (bf16 + AdamW): --priority and --schemes do not apply");
  }
  req.priority = or_usage(plan::parse_priority(o.priority));
  req.kv_cache = or_usage(plan::parse_kv_cache(o.kv_cache));
  req.batch = o.batch;
  req.lora_rank = o.lora_rank;
  req.device = device_from(o);

  std::string what;
  std::unique_ptr<Model> model;
  const bool config_json = o.model.ends_with(".json") && !o.model.ends_with(".index.json");
  if (!o.params.empty()) {
    req.shape = or_usage(plan::shape_for_params(or_usage(plan::parse_param_count(o.params))));
    what = fmt::format("{} parameters", o.params);
  } else if (config_json) {
    auto hp = io::parse_hf_config(read_text(o.model), o.model);
    auto shape = hp.ok() ? plan::shape_from_hyperparameters(*hp, 0, "from " + o.model + " (parameters counted from the shape)")
                         : Result<plan::ModelShape>(hp.status());
    if (!shape.ok()) {
      std::fprintf(stderr, "bitsmith advise: %s\n", shape.status().to_string().c_str());
      return kExitFailed;
    }
    req.shape = std::move(*shape);
    what = fmt::format("{} ({:.4g} parameters)", o.model, req.shape.params);
  } else {
    auto m = io::open_model(o.model, "");
    if (!m.ok()) {
      std::fprintf(stderr, "bitsmith advise: %s\n", m.status().to_string().c_str());
      return kExitFailed;
    }
    model = std::move(*m);
    const double params = static_cast<double>(io::model_totals(*model).parameters);
    auto shape = plan::shape_from_hyperparameters(model->hyperparameters(), params, "from " + o.model);
    if (!shape.ok()) {
      std::fprintf(stderr, "bitsmith advise: %s\n", shape.status().to_string().c_str());
      return kExitFailed;
    }
    req.shape = std::move(*shape);
    what = fmt::format("{} ({:.4g} parameters)", o.model, params);
  }
  // Default context: 4096, or the model's trained context when that is shorter.
  req.context = o.context;
  if (!o.context_opt->count() && req.shape.context_length > 0) req.context = std::min(o.context, req.shape.context_length);

  req.candidates = scheme_candidates(o, req.task, model != nullptr);
  if (model && req.task != plan::Task::kTraining) {
    if (Status st = exact_bits_on_model(*model, &req.candidates); !st.ok()) {
      std::fprintf(stderr, "bitsmith advise: %s\n", st.to_string().c_str());
      return kExitFailed;
    }
  }
  std::string planned_note;
  if (!o.measurements.empty()) {
    if (req.task != plan::Task::kInference) throw UsageError("--measurements plans an inference mix: --task inference");
    auto m = plan::Measurements::load(o.measurements);
    if (!m.ok()) {
      std::fprintf(stderr, "bitsmith advise: %s\n", m.status().to_string().c_str());
      return kExitFailed;
    }
    const auto totals = io::model_totals(*model);
    if (m->config.model_params != totals.parameters) {
      throw UsageError(fmt::format("{} was measured on another model ({} parameters; {} has {})", o.measurements,
                                   m->config.model_params, o.model, totals.parameters));
    }
    // The planned mix: the allocation under what the device leaves for weights.
    auto budget = plan::weight_budget_on_device(req.device, req.shape, req.context, req.batch, req.kv_cache);
    auto alloc = budget.ok() ? plan::allocate(*m, *budget, m->config.costs == "proxy" ? plan::CostKind::kProxy
                                                                                         : plan::CostKind::kKld)
                             : Result<plan::Allocation>(budget.status());
    if (alloc.ok()) {
      plan::Candidate c;
      c.label = "planned mix";
      c.bits_per_weight = alloc->bits_per_weight;
      c.precision_bits = std::round(alloc->bits_per_weight);
      c.weight_only = true;
      c.gguf = m->config.format == "gguf";
      c.quality_note = fmt::format("measured: summed KLD {:.4g} on the calibration text", alloc->cost);
      req.candidates.insert(req.candidates.begin(), c);
      planned_note = fmt::format("planned mix from {}: `bitsmith plan {} --measurements {} --device {} --context {}` writes it",
                                 o.measurements, o.model, o.measurements, req.device.name, req.context);
    } else {
      planned_note = fmt::format("no planned mix: {}", alloc.status().message());
    }
  }
  auto advice = plan::advise(std::move(req));
  if (advice.ok() && !planned_note.empty()) advice->notes.push_back(planned_note);
  if (!advice.ok()) throw UsageError(advice.status().message());
  if (o.json) {
    print_json(report::advice_document(*advice));
  } else {
    print_text_advice(*advice, what);
  }
  return kExitOk;
}

std::function<int()> setup_advise(CLI::App& app) {
  auto o = std::make_shared<AdviseOptions>();
  auto* sub = app.add_subcommand("advise", "Which precision fits a model on a device: memory itemised, speed bounds, a recommendation");
  sub->add_option("model", o->model, "A model file (GGUF, safetensors, llama2.c) or a Hugging Face config.json");
  sub->add_option("--params", o->params, "Parameter count instead of a model (70B, 8e9, 135M): a Llama-like shape is assumed");
  sub->add_option("--device", o->device, "Device profile (" + plan::known_device_names() + ") or NAME=SIZE");
  sub->add_option("--memory", o->memory, "Memory capacity (128GB, 24GiB): a custom device, or overrides --device's");
  sub->add_option("--bandwidth", o->bandwidth, "Memory bandwidth (273GB/s, 3.35TB/s) for decode bounds");
  sub->add_option("--task", o->task, "inference (default), training, lora, qlora");
  o->priority_opt = sub->add_option("--priority", o->priority, "quality, balanced (default), memory");
  o->context_opt = sub->add_option("--context", o->context, "Tokens per sequence (default 4096, or the model's context if shorter)")
                       ->check(at_least(1));
  sub->add_option("--batch", o->batch, "Sequences at once (default 1)")->check(at_least(1));
  o->kv_opt = sub->add_option("--kv-cache", o->kv_cache, "KV cache type: fp16 (default), fp8, q8_0 (8.5 bits)");
  o->rank_opt = sub->add_option("--lora-rank", o->lora_rank, "Adapter rank for lora/qlora (default 16)")->check(at_least(1));
  sub->add_option("--schemes", o->schemes, "Comma-separated schemes to compare (recipes too with a MODEL file; nf4)")
      ->delimiter(',');
  sub->add_option("--measurements", o->measurements,
                  "With a MODEL: its `bitsmith plan` measurements; the mix planned for the device joins the alternatives");
  sub->add_flag("--list-devices", o->list_devices, "Print the device table and exit");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  return [o] { return run_advise(*o); };
}

}  // namespace
BITSMITH_COMMAND("advise", setup_advise);
}  // namespace bitsmith::cli
