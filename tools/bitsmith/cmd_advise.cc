// bitsmith advise (--params N | MODEL | config.json) (--device NAME | --memory SIZE) [--task ...]
// [--priority ...]: which precision to run or train a model in on a device, with the memory
// itemised, roofline speed bounds and the reasoning. The advisor is plan's (plan/advise.h); this
// file reads the model's hyperparameters through io, parses options and prints.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "bitsmith/algo/plan_measure.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/safetensors.h"
#include "bitsmith/plan/advise.h"
#include "bitsmith/plan/advise_request.h"
#include "bitsmith/plan/allocate.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/report/documents.h"
#include "command.h"
#include "json_out.h"
#include "progress.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct AdviseArgs {
  plan::AdviseOptions options;  // the flags map one to one onto the library's options
  algo::MeasureRequest measure;  // --calib and its options: measure the MODEL now (algo::advise_measured)
  std::string tokenizer;
  bool json = false, list_devices = false, measure_flags_given = false;
};

// Two decimals, or three significant digits below 0.1 GB (small models are not all "0.00").
std::string gb(double bytes) {
  const double v = bytes / 1e9;
  return std::abs(v) >= 0.1 || v == 0 ? fmt::format("{:.2f}", v) : fmt::format("{:.3g}", v);
}
std::string rate(double v, const char* fmt_spec = "{:.1f}") { return v > 0 ? fmt::vformat(fmt_spec, fmt::make_format_args(v)) : "-"; }

int list_devices(bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : plan::device_profiles()) out.push_back(plan::device_record(d));
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
  if (a.planned) {
    std::printf("\nPlanned mix, per tensor kind (%s costs by %s over %lld calibration tokens, %s):\n", a.planned->costs.c_str(),
                a.planned->method.c_str(), static_cast<long long>(a.planned->calib_tokens), a.planned->measured.c_str());
    Table kinds({"tensor kind", "scheme: layers", "bits/w", "cost at smallest", "cost as chosen"});
    for (const auto& k : a.planned->by_kind) {
      kinds.add({k.kind, plan::format_kind_schemes(k), fmt::format("{:.3f}", k.bits_per_weight),
                 fmt::format("{:.3g}", k.smallest_cost), fmt::format("{:.3g}", k.cost)});
    }
    std::fputs(kinds.render().c_str(), stdout);
    const plan::Allocation& al = a.planned->allocation;
    std::printf("planned %llu bytes = %.4f bits per weight (budget %llu bytes); summed cost %.6g (lower bound %.6g)\n",
                static_cast<unsigned long long>(al.bytes), al.bits_per_weight, static_cast<unsigned long long>(al.budget_bytes),
                al.cost, al.lower_bound);
  }
  std::printf("\nNotes:\n");
  for (const auto& n : a.notes) std::printf("  - %s\n", n.c_str());
}

int run_advise(const AdviseArgs& a) {
  plan::AdviseOptions ao = a.options;
  if (a.list_devices) {
    if (!ao.source.empty() || !ao.params.empty()) throw UsageError("--list-devices lists the device table only; drop the model");
    return list_devices(a.json);
  }
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "bitsmith advise: %s\n", st.to_string().c_str());
    return kExitFailed;
  };
  const bool measuring = !a.measure.calib.empty();
  if (!ao.measurements_path.empty() && (ao.source.empty() || ao.source.ends_with(".json"))) {
    throw UsageError("--measurements plans a mix for a MODEL file (the one `bitsmith plan` measured)");
  }
  if (measuring && (ao.source.empty() || ao.source.ends_with(".json"))) {
    throw UsageError("--calib measures a MODEL file: give one (not --params or a config.json)");
  }
  if (!measuring && (!a.measure.candidates.empty() || a.measure_flags_given)) {
    throw UsageError("--candidates, --method, --costs, --calib-samples, --calib-seqlen, --fit-samples and --seed say how --calib "
                     "measures: give --calib FILE");
  }
  if (!ao.source.empty() && !ao.params.empty()) throw UsageError("give --params or a MODEL, not both");
  // The files are read here (plan reads no models): a config.json's hyperparameters, or the model.
  io::ModelOrConfig read;
  if (!ao.source.empty()) {
    if (!a.tokenizer.empty() && ao.source.ends_with(".json")) throw UsageError("--tokenizer is for a llama2.c MODEL file");
    Result<io::ModelOrConfig> r = io::ModelOrConfig{};
    if (a.tokenizer.empty()) {
      r = io::open_model_or_config(ao.source);
    } else if (auto m = io::open_model(ao.source, a.tokenizer); m.ok()) {
      r->model = std::move(*m);
    } else {
      r = m.status();
    }
    if (!r.ok()) return fail(r.status());
    read = std::move(*r);
    ao.model = read.model.get();
    ao.hyperparameters = read.hyperparameters;
  }
  std::optional<plan::Measurements> measurements;
  if (!ao.measurements_path.empty() && !measuring) {
    auto m = plan::Measurements::load(ao.measurements_path);
    if (!m.ok()) return fail(m.status());
    measurements = std::move(*m);
    ao.measurements = &*measurements;
  }
  algo::MeasureRequest mr = a.measure;
  if (measuring) {
    mr.cache = ao.measurements_path;  // with --calib: where the measurements are kept (resumed when they match)
    ao.measurements_path.clear();
    if (!a.json) mr.progress = measure_progress();
  }
  auto advice = measuring ? algo::advise_measured(ao, mr) : plan::advise_with(ao);
  if (!advice.ok()) {
    if (advice.status().code() == StatusCode::kInvalidArgument) throw UsageError(advice.status().message());
    return fail(advice.status());
  }
  if (a.json) {
    print_json(plan::to_json(*advice));
  } else {
    print_text_advice(*advice, plan::advice_subject(ao, *advice));
  }
  return kExitOk;
}

std::function<int()> setup_advise(CLI::App& app) {
  auto a = std::make_shared<AdviseArgs>();
  plan::AdviseOptions& o = a->options;
  auto* sub = app.add_subcommand("advise", "Which precision fits a model on a device: memory itemised, speed bounds, a recommendation");
  sub->add_option("model", o.source, "A model file (GGUF, safetensors, llama2.c) or a Hugging Face config.json");
  sub->add_option("--params", o.params, "Parameter count instead of a model (70B, 8e9, 135M): a Llama-like shape is assumed");
  sub->add_option("--device", o.device, "Device profile (" + plan::known_device_names() + ") or NAME=SIZE");
  sub->add_option("--memory", o.memory, "Memory capacity (128GB, 24GiB): a custom device, or overrides --device's");
  sub->add_option("--bandwidth", o.bandwidth, "Memory bandwidth (273GB/s, 3.35TB/s) for decode bounds");
  sub->add_option("--task", o.task, "inference (default), training, lora, qlora");
  sub->add_option("--priority", o.priority, "quality, balanced (default), memory");
  sub->add_option("--context", o.context, "Tokens per sequence (default 4096, or the model's context if shorter)")
      ->check(at_least(1));
  sub->add_option("--batch", o.batch, "Sequences at once (default 1)")->check(at_least(1));
  sub->add_option("--kv-cache", o.kv_cache, "KV cache type: fp16 (default), fp8, q8_0 (8.5 bits)");
  sub->add_option("--lora-rank", o.lora_rank, "Adapter rank for lora/qlora (default 16)")->check(at_least(1));
  sub->add_option("--schemes", o.schemes, "Comma-separated schemes to compare (recipes too with a MODEL file; nf4)")
      ->delimiter(',');
  sub->add_option("--measurements", o.measurements_path,
                  "With a MODEL: its `bitsmith plan` measurements, the mix planned for the device is the recommendation "
                  "(with --calib: where the measurements are kept and resumed)");
  algo::MeasureRequest& m = a->measure;
  m.costs = "hybrid";
  sub->add_option("--calib", m.calib, "With a MODEL: measure each tensor's sensitivity on this text (as `bitsmith plan` does) "
                  "and recommend the mix planned for the device");
  sub->add_option("--candidates", m.candidates, "--calib: schemes each tensor may take (default: the GGUF types q2_k .. q8_0, "
                  "or safetensors' 4- and 8-bit schemes for a safetensors model)")->delimiter(',');
  auto flag = [a](CLI::Option* opt) { opt->each([a](const std::string&) { a->measure_flags_given = true; }); };
  flag(sub->add_option("--method", m.method, "--calib: how options are quantized when measured: rtn (default), imatrix or gptq"));
  flag(sub->add_option("--costs", m.costs, "--calib: hybrid (default), exact or proxy (bitsmith plan --costs)"));
  flag(sub->add_option("--calib-samples", m.samples, "--calib: calibration segments (default 8)"));
  flag(sub->add_option("--calib-seqlen", m.seqlen, "--calib: tokens per segment (default 256; at most the model's context)"));
  flag(sub->add_option("--seed", m.seed, "--calib: seed of the segment offsets (default 0)"));
  flag(sub->add_option("--fit-samples", m.fit_samples,
                       "--calib: the method's statistics from this many further segments, apart from the scored ones "
                       "(bitsmith plan --fit-samples)"));
  sub->add_option("--tokenizer", a->tokenizer, "llama2.c tokenizer.bin");
  sub->add_flag("--list-devices", a->list_devices, "Print the device table and exit");
  sub->add_flag("--json", a->json, "One JSON document on stdout");
  return [a] { return run_advise(*a); };
}

}  // namespace
BITSMITH_COMMAND("advise", setup_advise);
}  // namespace bitsmith::cli
