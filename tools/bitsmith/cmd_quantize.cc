// bitsmith quantize IN OUT --scheme S | --recipe R: quantization or conversion of a whole
// checkpoint into GGUF or safetensors. plan::Recipe::resolve decides each tensor's scheme; the
// pipeline (io::quantize_model) writes that plan.
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

#include "bitsmith/algo/methods.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/plan/recipe.h"
#include "command.h"
#include "json_out.h"
#include "quantize_run.h"
#include "recipe_flags.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) { b /= 1000; ++u; }
  return fmt::format("{:.{}f} {}", b, u == 0 ? 0 : 2, units[u]);
}

// One line redrawn in place: bar, tensor, bytes/s, ETA, cut to the terminal's width so that a
// narrow terminal never wraps it (a wrapped line cannot be redrawn with \r). Only on a terminal.
void draw_progress(const io::QuantizeProgress& p) {
  const double frac = p.input_bytes_total ? static_cast<double>(p.input_bytes_done) / static_cast<double>(p.input_bytes_total) : 1.0;
  const double rate = p.seconds > 0 ? static_cast<double>(p.input_bytes_done) / p.seconds : 0;
  const double eta = rate > 0 ? static_cast<double>(p.input_bytes_total - p.input_bytes_done) / rate : 0;
  struct winsize ws {};
  const size_t cols = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  const int width = cols >= 100 ? 30 : cols >= 60 ? 10 : 0, filled = static_cast<int>(frac * width);
  std::string line = width > 0 ? fmt::format("[{}{}] ", std::string(static_cast<size_t>(filled), '#'),
                                              std::string(static_cast<size_t>(width - filled), '.'))
                               : std::string();
  line += fmt::format("{:3d}% {}/{} {} {}/s ETA {:.0f}s", static_cast<int>(frac * 100), p.index, p.count, p.name,
                      human_bytes(rate), eta);
  if (line.size() > cols - 1) line.resize(cols - 1);
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  if (p.index == p.count) std::fputc('\n', stderr);
}

std::string storage_of(const Model& m, const std::string& name) {
  for (const auto& t : m.tensors()) if (t.name == name) return t.storage;
  return "?";
}

}  // namespace

int run_quantize(const QuantizeCliOptions& o) {
  io::QuantizeConfig cfg;
  auto fmt_r = io::output_format_for(o.out, o.format);
  if (!fmt_r.ok()) throw UsageError(fmt_r.status().message());
  cfg.format = *fmt_r;
  const plan::Recipe recipe = o.planned ? *o.planned : recipe_from_flags(o.scheme, o.recipe, o.rules);
  // Per-tensor methods: a rule may ask for rtn on some tensors of a calibrated run; other
  // mixtures of calibrated methods are not supported (one calibration pass per run).
  for (const auto& r : recipe.rules) {
    if (!r.method.empty() && r.method != "rtn" && r.method != o.method) {
      throw UsageError(fmt::format("recipe rule for {}: method {} differs from --method {} (only rtn may differ)",
                                   r.scheme, r.method, o.method));
    }
  }
  if (!o.save_recipe.empty()) {
    Status st = recipe.save(o.save_recipe);
    if (!st.ok()) {
      std::fprintf(stderr, "bitsmith quantize: %s\n", st.to_string().c_str());
      return kExitFailed;
    }
  }
  auto activations = io::parse_activations(o.activations);
  if (!activations.ok()) throw UsageError(fmt::format("--activations: {}", activations.status().message()));
  cfg.activations = *activations;
  const bool static_acts = *activations == io::Activations::kStatic;
  if (static_acts && o.calib.empty()) {
    throw UsageError("--activations static needs --calib FILE: the input ranges are measured on that text");
  }
  // Options that would do nothing are errors, not silent no-ops.
  if (!o.imatrix.empty() && o.method != "imatrix") {
    throw UsageError(fmt::format("--imatrix is used by --method imatrix only (not --method {})", o.method));
  }
  if (!o.calib.empty() && !static_acts && (o.method == "rtn" || o.method == "hqq" || (o.method == "imatrix" && !o.imatrix.empty()))) {
    throw UsageError(fmt::format("--calib does nothing with --method {}{}", o.method,
                                 o.method == "imatrix" ? " and --imatrix" : ""));
  }
  if ((o.act_order || o.static_groups || o.damp != 0.01) && o.method != "gptq") {
    throw UsageError("--act-order, --static-groups and --damp are GPTQ options (--method gptq)");
  }
  if (o.calib_samples <= 0 || o.calib_seqlen <= 0) throw UsageError("--calib-samples and --calib-seqlen must be positive");
  if (o.threads < 0) throw UsageError("--threads must be >= 0");
  if (o.threads > 0) ThreadPool::set_global_threads(o.threads);
  auto model = io::open_model(o.in, o.tokenizer);
  if (!model.ok()) {
    std::fprintf(stderr, "bitsmith quantize: %s\n", model.status().to_string().c_str());
    return kExitFailed;
  }
  // Before any work (GPTQ may run for minutes): the output must not replace an input.
  if (Status st = io::check_output_spares_inputs(**model, o.out, cfg.format, {o.calib, o.imatrix}); !st.ok()) {
    throw UsageError(st.message());
  }
  auto plans = recipe.resolve(**model, cfg.format);
  if (!plans.ok()) {
    // An unknown scheme or a bad rule is the user's spelling, not a failed run.
    if (plans.status().code() == StatusCode::kInvalidArgument) throw UsageError(plans.status().message());
    std::fprintf(stderr, "bitsmith quantize: %s\n", plans.status().to_string().c_str());
    return kExitFailed;
  }
  check_user_rules(recipe, o.rules.size(), **model);
  if (Status st = io::check_activations(*plans, cfg.format, cfg.activations); !st.ok()) throw UsageError(st.message());
  if (auto again = plan::Recipe::requantized(**model, *plans); !again.empty() && !o.allow_requantize) {
    throw UsageError(fmt::format("{}: {} tensor(s) are stored quantized already (e.g. '{}' as {}); quantizing them again "
                                 "compounds the error: convert from the original weights, or give --allow-requantize",
                                 o.in, again.size(), again.front(), storage_of(**model, again.front())));
  }
  if (o.method == "hqq" && std::none_of(plans->begin(), plans->end(), [](const io::TensorPlan& p) {
        return p.scheme && algo::hqq_supports(*p.scheme);
      })) {
    throw UsageError("--method hqq: no planned scheme is an affine integer grid (int<b>_g<g> with zero points); "
                     "HQQ would quietly be RTN");
  }
  if (o.calib_seqlen > (*model)->hyperparameters().context_length && (*model)->hyperparameters().context_length > 0 &&
      (static_acts || (o.method != "rtn" && o.method != "hqq"))) {
    throw UsageError(fmt::format("--calib-seqlen {} exceeds the model's context of {}", o.calib_seqlen,
                                 (*model)->hyperparameters().context_length));
  }
  if (!o.json && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && !o.dry_run) cfg.progress = draw_progress;
  // A calibrated method prepares first (GPTQ/AWQ run here), then plugs into the pipeline's
  // per-tensor hook; AWQ also replaces the model (its scales are folded into the weights).
  auto method = algo::parse_method(o.method);
  if (!method.ok()) throw UsageError(method.status().message());
  algo::MethodOptions mo;
  mo.method = *method;
  mo.calib = {o.calib, o.calib_samples, o.calib_seqlen, o.seed};
  mo.gptq.act_order = o.act_order;
  mo.gptq.static_groups = o.static_groups;
  mo.gptq.damp = o.damp;
  mo.imatrix_path = o.imatrix;
  std::unique_ptr<algo::MethodWrite> write;
  io::QuantizeReport rep;
  if (o.dry_run) {
    for (const auto& p : *plans) rep.tensors.push_back({p, 0, 0});
  } else {
    auto w = algo::prepare_write(**model, *plans, mo, cfg);
    if (!w.ok()) {
      if (w.status().code() == StatusCode::kInvalidArgument && o.calib.empty()) throw UsageError(w.status().message());
      std::fprintf(stderr, "bitsmith quantize: %s\n", w.status().to_string().c_str());
      return kExitFailed;
    }
    write = std::move(*w);
    auto r = io::quantize_model(write->model(**model), o.out, *plans, cfg);
    if (!r.ok()) {
      std::fprintf(stderr, "bitsmith quantize: %s\n", r.status().to_string().c_str());
      return kExitFailed;
    }
    rep = std::move(*r);
  }
  const std::vector<std::string> notes = write ? write->notes() : std::vector<std::string>{};
  const std::map<std::string, float> no_ranges;
  const std::map<std::string, float>& input_amax = write ? write->input_amax : no_ranges;
  if (o.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : rep.tensors) {
      nlohmann::json j = {{"name", t.plan.name}, {"shape", t.plan.shape.dims()}, {"scheme", t.plan.scheme->name()},
                          {"input_bytes", t.input_bytes}, {"output_bytes", t.output_bytes}, {"reason", t.plan.reason}};
      if (!t.plan.requested.empty()) j["fallback_from"] = t.plan.requested;
      if (!t.plan.method.empty()) j["method"] = t.plan.method;
      if (cfg.activations != io::Activations::kNone) {
        j["activations"] = io::quantizes_activations(t.plan.name, *t.plan.scheme, cfg.activations) ? o.activations : "none";
      }
      if (auto a = input_amax.find(t.plan.name); a != input_amax.end() && io::quantizes_activations(t.plan.name, *t.plan.scheme, cfg.activations)) {
        j["input_amax"] = json_number(a->second);
      }
      tensors.push_back(j);
    }
    print_json({{"input", o.in}, {"output", rep.output}, {"extra_files", rep.extra_files},
                {"format", cfg.format == io::OutputFormat::kGguf ? "gguf" : "safetensors"},
                {"scheme", o.scheme.empty() ? recipe.base : o.scheme}, {"recipe", recipe.label()},
                {"dry_run", o.dry_run}, {"method", o.method}, {"activations", o.activations}, {"method_notes", notes}, {"tensors", tensors}, {"input_bytes", rep.input_bytes},
                {"output_bytes", rep.output_bytes}, {"parameters", rep.parameters},
                {"bits_per_weight", json_number(rep.bits_per_weight)}, {"fallbacks", rep.fallbacks},
                {"seconds", json_number(rep.seconds)},
                {"input_gb_per_s", json_number(rep.seconds > 0 ? static_cast<double>(rep.input_bytes) / rep.seconds / 1e9 : 0.0)}});
    return kExitOk;
  }
  Table t({"tensor", "shape", "scheme", "note"});
  for (const auto& tr : rep.tensors) {
    std::string note = tr.plan.requested.empty() ? tr.plan.reason : tr.plan.reason;
    t.add({tr.plan.name, tr.plan.shape.to_string(), tr.plan.scheme->name(), note});
  }
  std::string out = t.render();
  if (!o.dry_run) {
    out += fmt::format("wrote {} ({})\n", rep.output, cfg.format == io::OutputFormat::kGguf ? "gguf" : "safetensors");
    for (const auto& f : rep.extra_files) out += fmt::format("wrote {}\n", f);
    out += fmt::format("input {} -> output {} ({:.3f} bits per weight over {} parameters), {} fallback(s), {:.2f} s, {:.3f} GB/s of input\n",
                       human_bytes(static_cast<double>(rep.input_bytes)), human_bytes(static_cast<double>(rep.output_bytes)),
                       rep.bits_per_weight, rep.parameters, rep.fallbacks, rep.seconds,
                       rep.seconds > 0 ? static_cast<double>(rep.input_bytes) / rep.seconds / 1e9 : 0.0);
  }
  if (cfg.activations != io::Activations::kNone) {
    size_t n = 0;
    for (const auto& tr : rep.tensors) n += io::quantizes_activations(tr.plan.name, *tr.plan.scheme, cfg.activations);
    out += fmt::format("activations: {} on {} linear(s){}\n", o.activations, n,
                       static_acts ? fmt::format(", input ranges from {} ({} x {} tokens)", o.calib, o.calib_samples, o.calib_seqlen) : "");
  }
  for (const auto& n : notes) out += fmt::format("{}: {}\n", o.method, n);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

namespace {

std::function<int()> setup_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeCliOptions>();
  auto* sub = app.add_subcommand("quantize", "Quantize or convert a whole checkpoint (round to nearest) into GGUF or safetensors");
  sub->add_option("input", o->in, "GGUF, safetensors (file, directory, index.json) or llama2.c checkpoint")->required();
  sub->add_option("output", o->out, "output: FILE.gguf, FILE.safetensors, or a directory for safetensors")->required();
  sub->add_option("--scheme", o->scheme, "one scheme for every matrix (see `bitsmith schemes`); f32/fp16/bf16 convert");
  sub->add_option("--recipe", o->recipe, "llama.cpp mix (q2_k, q3_k_s/m/l, q4_k_s/m, q5_k_s/m, q6_k) or a recipe JSON file");
  sub->add_option("--rule", o->rules, "REGEX=SCHEME for tensors whose canonical name matches (first match wins, over the recipe); repeatable");
  sub->add_option("--save-recipe", o->save_recipe, "also write the recipe (with the --rule overrides) as JSON to FILE");
  sub->add_option("--threads", o->threads, "worker threads (0 = all cores)");
  sub->add_option("--format", o->format, "gguf or safetensors (default: from the output's extension)");
  sub->add_option("--tokenizer", o->tokenizer, "llama2.c tokenizer.bin (default: tokenizer.bin or tok*.bin beside the input)");
  sub->add_option("--method", o->method, "rtn (default), gptq, awq, imatrix or hqq");
  sub->add_option("--calib", o->calib, "calibration text for gptq/awq (and imatrix without --imatrix) and --activations static");
  sub->add_option("--activations", o->activations,
                  "none (default: weight-only), dynamic (fp8: per-token scales at run time) or static (fp8 input_scale, "
                  "nvfp4 input_global_scale from the inputs' max |x| over --calib), for safetensors outputs");
  sub->add_option("--calib-samples", o->calib_samples, "calibration segments (default 128)");
  sub->add_option("--calib-seqlen", o->calib_seqlen, "tokens per segment (default 512)");
  sub->add_option("--seed", o->seed, "seed of the segment offsets (default 0)");
  sub->add_option("--imatrix", o->imatrix, "llama.cpp imatrix .dat file for --method imatrix");
  sub->add_flag("--act-order", o->act_order, "gptq: columns by descending Hessian diagonal");
  sub->add_flag("--static-groups", o->static_groups, "gptq: group parameters from the original weights");
  sub->add_option("--damp", o->damp, "gptq: dampening as a fraction of mean(diag H) (default 0.01)");
  sub->add_flag("--dry-run", o->dry_run, "print the per-tensor plan, write nothing");
  sub->add_flag("--allow-requantize", o->allow_requantize,
                "quantize tensors that are stored quantized already (errors compound; as llama-quantize's flag)");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  return [o] { return run_quantize(*o); };
}

}  // namespace
BITSMITH_COMMAND("quantize", setup_quantize);
}  // namespace bitsmith::cli
