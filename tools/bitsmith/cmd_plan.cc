// bitsmith plan MODEL --calib FILE --candidates S1,S2,... [--target-bpw B | --target-bytes N]:
// measures every matrix's cost under each candidate (algo::measure_sensitivity, cached and
// resumable in --measurements FILE), picks one candidate per tensor under the budget
// (plan::allocate), and writes the recipe (--recipe-out) and the quantized model (-o).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "bitsmith/algo/plan_measure.h"
#include "bitsmith/algo/sensitivity.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/plan/allocate.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/model_shape.h"
#include "command.h"
#include "json_out.h"
#include "progress.h"
#include "quantize_run.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct PlanOptions {
  std::vector<std::string> candidates;  // --candidates a,b,c (CLI11 splits at the commas)
  std::string model, calib, method, write_method, imatrix, measurements, recipe_out, out, format, cost, tokenizer;
  int64_t calib_samples = 8, calib_seqlen = 256, fit_samples = 0;
  uint64_t seed = 0;
  double target_bpw = 0;
  std::string target_bytes, device, kv_cache = "fp16";
  int64_t context = 0, batch = 1;
  std::string costs = "exact";
  bool json = false, allow_requantize = false, act_order = false, weighted_params = false, refit_params = false;
  int threads = 0;
};

int failed(const Status& st) {
  std::fprintf(stderr, "bitsmith plan: %s\n", st.to_string().c_str());
  return kExitFailed;
}

bool is_model_output(const std::string& out) { return !out.empty() && !out.ends_with(".json"); }

std::string fmt_cost(double c) { return std::isfinite(c) ? fmt::format("{:.3g}", c) : "-"; }

void print_measurements(const plan::Measurements& m, const plan::ProxyAgreement& agree) {
  std::vector<std::string> header = {"tensor"};
  for (const auto& c : m.config.candidates) header.push_back(c);
  Table t(header);
  for (const auto& tc : m.tensors) {
    std::vector<std::string> row = {tc.name};
    for (const auto& c : m.config.candidates) {
      std::string cell = "-";
      for (const auto& o : tc.options) {
        if (o.requested != c) continue;
        cell = m.config.costs != "proxy" ? fmt_cost(o.kld) : fmt_cost(o.proxy);
        if (o.kld_estimated) cell += "~";
        if (o.scheme != o.requested) cell += fmt::format(" ({})", o.scheme);
      }
      row.push_back(cell);
    }
    t.add(row);
  }
  std::string out = t.render();
  out += fmt::format("costs: {} per tensor option over {} calibration tokens ({}, method {}{})\n",
                     m.config.costs == "exact"    ? "mean KL divergence (nats/token) with only that tensor quantized"
                     : m.config.costs == "hybrid" ? "mean KL divergence (nats/token) with only that tensor quantized; ~ = "
                                                    "estimated from the tensor's smallest option by the proxy ratio"
                                                  : "proxy: mean ||dW x||^2 under the calibration inputs",
                     m.calib_tokens, m.config.calib,
                     m.config.method_options.empty() ? m.config.method
                                                     : fmt::format("{} {}", m.config.method, fmt::join(m.config.method_options, " ")),
                     m.config.fit_samples > 0 ? fmt::format(", its statistics from {} held-out segments", m.config.fit_samples) : "");
  if (agree.pairs > 0) {
    out += fmt::format("proxy vs exact: Spearman rank correlation {:.3f} over {} tensor options\n", agree.spearman, agree.pairs);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void print_allocation(const plan::Measurements& m, const plan::Allocation& a, plan::CostKind kind) {
  // Which kinds got which schemes (fewest bits first), and the measured costs that say why.
  Table t({"tensor kind", "scheme: layers", "bits/w", "cost at smallest", "cost as chosen"});
  for (const auto& k : plan::choices_by_kind(m, a, kind)) {
    t.add({k.kind, plan::format_kind_schemes(k), fmt::format("{:.3f}", k.bits_per_weight), fmt_cost(k.smallest_cost),
           fmt_cost(k.cost)});
  }
  std::string out = t.render();
  out += fmt::format("planned {} bytes = {:.4f} bits per weight (budget {} bytes); summed {} cost {:.6g} "
                     "(lower bound at this budget {:.6g})\n",
                     a.bytes, a.bits_per_weight, a.budget_bytes, cost_kind_name(kind), a.cost, a.lower_bound);
  std::fwrite(out.data(), 1, out.size(), stdout);
}

// The measuring half of the options, as algo::measure_for_plan takes them.
algo::MeasureRequest measure_request(const PlanOptions& o, const std::string& format, const std::string& cache) {
  algo::MeasureRequest r;
  r.model_path = o.model;
  r.calib = o.calib;
  r.candidates = o.candidates;
  r.format = format;
  r.method = o.method.empty() ? "rtn" : o.method;
  r.act_order = o.act_order;
  r.weighted_params = o.weighted_params;
  r.refit_params = o.refit_params;
  r.costs = o.costs;
  r.samples = o.calib_samples;
  r.seqlen = o.calib_seqlen;
  r.seed = o.seed;
  r.fit_samples = o.fit_samples;
  r.allow_requantize = o.allow_requantize;
  r.cache = cache;
  if (!o.json) r.progress = measure_progress();
  return r;
}

int run_plan(const PlanOptions& o) {
  if (o.threads < 0) throw UsageError("--threads must be >= 0");
  if (o.threads > 0) ThreadPool::set_global_threads(o.threads);
  // --candidates measures (with --calib); --calib alone, beside --measurements of a finished run, is
  // the calibration text the planned file is written with (GPTQ/AWQ/imatrix).
  const bool measuring = !o.candidates.empty();
  if (measuring && o.calib.empty()) throw UsageError("measuring needs both --calib FILE and --candidates S1,S2,...");
  if (!measuring && !o.calib.empty() && o.measurements.empty()) {
    throw UsageError("give --candidates S1,S2,... with --calib to measure (or --measurements FILE of a finished run)");
  }
  if (!measuring && !o.calib.empty() && !is_model_output(o.out)) {
    throw UsageError("--calib without --candidates is the calibration -o writes with: give -o OUT.gguf|OUT.safetensors");
  }
  if ((o.target_bpw != 0) + !o.target_bytes.empty() + !o.device.empty() > 1) {
    throw UsageError("give one budget: --target-bpw, --target-bytes or --device, not several");
  }
  if (o.device.empty() && (o.context != 0 || o.batch != 1 || o.kv_cache != "fp16")) {
    throw UsageError("--context, --batch and --kv-cache size the KV cache of a --device budget: give --device");
  }
  if (o.target_bpw < 0 || (o.target_bpw != 0 && !std::isfinite(o.target_bpw))) throw UsageError("--target-bpw must be positive");
  const bool budgeted = o.target_bpw > 0 || !o.target_bytes.empty() || !o.device.empty();
  if (is_model_output(o.out) && !budgeted) throw UsageError(fmt::format("-o {}: writing a model needs a budget (--target-bpw, --target-bytes or --device)", o.out));
  if (!o.recipe_out.empty() && !budgeted) throw UsageError("--recipe-out needs a budget (--target-bpw, --target-bytes or --device)");
  if (!o.cost.empty() && !budgeted) throw UsageError("--cost chooses what the allocation minimises: give a budget too");
  if (o.calib_samples <= 0 || o.calib_seqlen <= 0) throw UsageError("--calib-samples and --calib-seqlen must be positive");
  if (o.fit_samples < 0) throw UsageError("--fit-samples must be >= 0");
  if (o.fit_samples > 0 && !measuring) throw UsageError("--fit-samples is how costs are measured: give --calib and --candidates");
  if (o.fit_samples > 0 && (o.method.empty() || o.method == "rtn")) {
    throw UsageError("--fit-samples holds the method's statistics apart from the scored tokens; rtn uses none (--method imatrix or gptq)");
  }
  if (Status st = plan::check_costs_mode(o.costs); !st.ok()) throw UsageError("--costs: " + st.message());
  if (!o.method.empty() && !measuring) throw UsageError("--method is how options are measured: give --calib and --candidates (--write-method chooses how the file is written)");
  auto method = algo::parse_method(o.method.empty() ? "rtn" : o.method);
  if (!method.ok()) throw UsageError(method.status().message());
  if (Status st = algo::check_sensitivity_method(*method); !st.ok()) throw UsageError(st.message());
  if (!o.write_method.empty()) {
    if (!is_model_output(o.out)) throw UsageError("--write-method needs -o OUT.gguf|OUT.safetensors");
    if (auto wm = algo::parse_method(o.write_method); !wm.ok()) throw UsageError(wm.status().message());
  }
  // (With the measured method, quantize itself refuses --imatrix unless that method is imatrix.)
  if (!o.imatrix.empty() && (!is_model_output(o.out) || (!o.write_method.empty() && o.write_method != "imatrix"))) {
    throw UsageError("--imatrix is what -o writes with --write-method imatrix");
  }
  if ((o.act_order || o.weighted_params || o.refit_params) && *method != algo::Method::kGptq && o.write_method != "gptq") {
    throw UsageError("--act-order, --weighted-params and --refit-params are GPTQ options (--method gptq or --write-method gptq)");
  }

  auto model = io::open_model(o.model, o.tokenizer);
  if (!model.ok()) return failed(model.status());
  const Model& mdl = **model;
  // The format the options must be storable in: the model output's, else --format (else
  // measure_for_plan's choice: GGUF when every candidate has a GGUF type).
  std::string format = o.format;
  if (is_model_output(o.out)) {
    auto f = io::output_format_for(o.out, o.format);
    if (!f.ok()) throw UsageError(f.status().message());
    format = *f == quant::OutputFormat::kGguf ? "gguf" : "safetensors";
  }
  const int64_t ctx = mdl.hyperparameters().context_length;
  const std::string cache = !o.measurements.empty() ? o.measurements : (o.out.ends_with(".json") ? o.out : "");
  if (!measuring && (cache.empty() || !std::filesystem::exists(cache))) {
    throw UsageError("give --calib FILE and --candidates S1,S2,... to measure (or --measurements FILE of a finished run)");
  }
  auto meas = measuring ? algo::measure_for_plan(mdl, measure_request(o, format, cache)) : plan::Measurements::load(cache);
  if (!meas.ok()) {
    if (meas.status().code() == StatusCode::kInvalidArgument) throw UsageError(meas.status().message());
    return failed(meas.status());
  }
  plan::Measurements& m = *meas;
  if (!measuring) {
    uint64_t params = 0, tensors = 0;
    for (const auto& t : mdl.tensors()) {
      params += static_cast<uint64_t>(t.shape.numel());
      ++tensors;
    }
    if (m.config.model_params != params || m.config.model_tensors != tensors) {
      throw UsageError(fmt::format("{} was measured on another model ({} parameters in {} tensors; this one has {} in {})",
                                   cache, m.config.model_params, m.config.model_tensors, params, tensors));
    }
    if (Status st = plan::check_not_requantized(mdl, m, o.allow_requantize); !st.ok()) throw UsageError(st.message());
  }
  const plan::ProxyAgreement agree = plan::proxy_agreement(m);
  if (!budgeted) {
    if (o.json) {
      print_json({{"measurements", nlohmann::json::parse(m.to_json())}, {"proxy_spearman", json_number(agree.spearman)},
                  {"proxy_pairs", agree.pairs}});
    } else {
      print_measurements(m, agree);
      if (!cache.empty()) std::printf("wrote %s\n", cache.c_str());
    }
    return kExitOk;
  }
  plan::CostKind kind = m.config.costs != "proxy" ? plan::CostKind::kKld : plan::CostKind::kProxy;
  if (!o.cost.empty()) {
    auto k = plan::parse_cost_kind(o.cost);
    if (!k.ok()) throw UsageError(k.status().message());
    if (*k == plan::CostKind::kKld && m.config.costs == "proxy") throw UsageError("--cost kld: these measurements have the proxy only (measured with --costs proxy)");
    kind = *k;
  }
  uint64_t budget = 0;
  std::string budget_note;
  if (!o.device.empty()) {
    auto dev = plan::parse_device(o.device);
    if (!dev.ok()) throw UsageError(dev.status().message());
    auto kv = plan::parse_kv_cache(o.kv_cache);
    if (!kv.ok()) throw UsageError(kv.status().message());
    if (o.context < 0 || o.batch <= 0) throw UsageError("--context must be >= 0 and --batch positive");
    const int64_t context = o.context > 0 ? o.context : ctx;
    if (context <= 0) throw UsageError("the model does not say its context length: give --context");
    auto shape = plan::shape_from_hyperparameters(mdl.hyperparameters(), static_cast<double>(m.total_params()), mdl.path());
    if (!shape.ok()) return failed(shape.status());
    auto b = plan::weight_budget_on_device(*dev, *shape, context, o.batch, *kv);
    if (!b.ok()) throw UsageError(b.status().message());
    budget = *b;
    budget_note = fmt::format("budget: {} ({:.2f} GB) less runtime, KV cache for {} tokens x {} ({}) and workspace\n",
                              dev->name, dev->bytes / 1e9, context, o.batch, o.kv_cache);
  } else if (o.target_bpw > 0) {
    budget = plan::bytes_for_bits_per_weight(m, o.target_bpw);
  } else {
    // A plain integer is bytes here (parse_size_bytes reads a bare number as GB, as vendors quote
    // memory); anything with a unit goes through it.
    const bool digits = !o.target_bytes.empty() &&
                        o.target_bytes.find_first_not_of("0123456789") == std::string::npos && o.target_bytes.size() < 20;
    auto b = digits ? Result<double>(std::stod(o.target_bytes)) : plan::parse_size_bytes(o.target_bytes);
    if (!b.ok() || *b <= 0) throw UsageError(fmt::format("--target-bytes {}: not a size", o.target_bytes));
    budget = static_cast<uint64_t>(*b);
  }
  auto alloc = plan::allocate(m, budget, kind);
  if (!alloc.ok()) {
    if (alloc.status().code() == StatusCode::kInvalidArgument) throw UsageError(alloc.status().message());
    return failed(alloc.status());
  }
  const std::string stem = std::filesystem::path(o.model).stem().string();
  const plan::Recipe recipe = plan::recipe_from_allocation(
      m, *alloc, fmt::format("{}-planned-{:.3f}bpw-{}", stem, alloc->bits_per_weight, cost_kind_name(kind)));
  if (!o.recipe_out.empty()) {
    if (Status st = recipe.save(o.recipe_out); !st.ok()) return failed(st);
  }
  if (o.json && !is_model_output(o.out)) {
    print_json({{"allocation", plan::allocation_json(m, *alloc, kind)}, {"recipe", nlohmann::json::parse(recipe.to_json())},
                {"proxy_spearman", json_number(agree.spearman)}});
    return kExitOk;
  }
  if (!o.json) {
    std::fputs(budget_note.c_str(), stdout);
    print_allocation(m, *alloc, kind);
    if (!o.recipe_out.empty()) std::printf("wrote %s\n", o.recipe_out.c_str());
  }
  if (!is_model_output(o.out)) return kExitOk;
  QuantizeCliOptions q;
  algo::QuantizeRequest& r = q.request;
  r.in = o.model;
  r.out = o.out;
  r.format = format;
  q.tokenizer = o.tokenizer;
  q.planned = recipe;
  q.json = o.json;
  // Written as measured unless --write-method says otherwise (measure imatrix, write gptq).
  r.method = o.write_method.empty() ? m.config.method : o.write_method;
  r.imatrix = o.imatrix;
  r.calib = r.method == "rtn" || r.method == "hqq" || !o.imatrix.empty() ? "" : (o.calib.empty() ? m.config.calib : o.calib);
  // Writing calibrates as `bitsmith quantize` does by default (128 segments of 512 tokens, or the
  // model's context): measuring needs far fewer tokens than GPTQ's Hessians want.
  const algo::QuantizeRequest defaults;
  r.calib_samples = defaults.calib_samples;
  r.calib_seqlen = ctx > 0 ? std::min<int64_t>(defaults.calib_seqlen, ctx) : defaults.calib_seqlen;
  r.seed = o.seed;
  r.allow_requantize = o.allow_requantize;
  r.gptq.act_order = o.act_order && r.method == "gptq";
  r.gptq.weighted_params = o.weighted_params && r.method == "gptq";
  r.gptq.refit_params = o.refit_params && r.method == "gptq";
  return run_quantize(q);
}

std::function<int()> setup_plan(CLI::App& app) {
  auto o = std::make_shared<PlanOptions>();
  auto* sub = app.add_subcommand("plan", "Measure each tensor's sensitivity and plan mixed precision under a byte budget");
  sub->add_option("model", o->model, "GGUF, safetensors or llama2.c checkpoint")->required();
  sub->add_option("--calib", o->calib, "calibration text the costs are measured on");
  sub->add_option("--candidates", o->candidates, "schemes each tensor may take, comma-separated (e.g. q3_k,q4_k,q5_k,q6_k,q8_0)")
      ->delimiter(',');
  sub->add_option("--method", o->method, "how each option is quantized when measured: rtn (default), imatrix or gptq");
  sub->add_option("--imatrix", o->imatrix, "--write-method imatrix: an imatrix file (llama.cpp's GGUF or .dat) instead of collecting one");
  sub->add_option("--write-method", o->write_method, "how -o writes the planned file (default: as measured): rtn, gptq, awq, imatrix, hqq");
  sub->add_flag("--act-order", o->act_order, "gptq: columns by descending Hessian diagonal (measuring and writing)");
  sub->add_flag("--weighted-params", o->weighted_params,
                "gptq: group parameters by the scheme's importance-weighted search (measuring and writing)");
  sub->add_flag("--refit-params", o->refit_params,
                "gptq: block scales (and mins) refit to the chosen codes under the Hessian (measuring and writing)");
  sub->add_option("--calib-samples", o->calib_samples, "calibration segments (default 8)");
  sub->add_option("--calib-seqlen", o->calib_seqlen, "tokens per segment (default 256)");
  sub->add_option("--seed", o->seed, "seed of the segment offsets (default 0)");
  sub->add_option("--fit-samples", o->fit_samples,
                  "held-out costs: the method's statistics (GPTQ's Hessians, imatrix importance) from this many further "
                  "segments, apart from the --calib-samples ones the costs are measured on (default 0: the same segments)");
  sub->add_option("--costs", o->costs, "exact (default: the KL divergence of every option), hybrid (of each tensor's smallest "
                  "option, the others scaled by the proxy) or proxy (one pass, no KL divergence)");
  sub->add_option("--measurements", o->measurements, "measurements cache: resumed when it matches, written after every layer");
  sub->add_option("--target-bpw", o->target_bpw, "budget in bits per weight over every parameter");
  sub->add_option("--target-bytes", o->target_bytes, "budget: bytes (a plain integer) or a size with a unit (\"60MB\", \"1.5GiB\")");
  sub->add_option("--device", o->device, "budget: what fits this device (bitsmith advise --list-devices) beside the KV cache");
  sub->add_option("--context", o->context, "--device: tokens of KV cache per sequence (default: the model's context)");
  sub->add_option("--batch", o->batch, "--device: sequences served at once (default 1)");
  sub->add_option("--kv-cache", o->kv_cache, "--device: KV cache type fp16 (default), fp8 or q8_0");
  sub->add_option("--cost", o->cost, "what the allocation minimises: kld (default when measured) or proxy");
  sub->add_option("--recipe-out", o->recipe_out, "write the planned recipe (JSON) here");
  sub->add_option("-o,--output", o->out, "MEASURE.json (measurements) or OUT.gguf / OUT.safetensors (the planned model)");
  sub->add_option("--format", o->format, "gguf or safetensors: what the candidates must be storable in");
  sub->add_option("--tokenizer", o->tokenizer, "llama2.c tokenizer.bin");
  sub->add_option("--threads", o->threads, "worker threads (0 = all cores)");
  sub->add_flag("--allow-requantize", o->allow_requantize, "plan on tensors stored quantized already");
  sub->add_flag("--json", o->json, "one JSON document on stdout");
  return [o] { return run_plan(*o); };
}

}  // namespace
BITSMITH_COMMAND("plan", setup_plan);
}  // namespace bitsmith::cli
