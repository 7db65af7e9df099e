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

#include "bitsmith/algo/quantize_file.h"
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

}  // namespace

int run_quantize(const QuantizeCliOptions& o) {
  algo::QuantizeRequest rq = o.request;
  rq.recipe = o.planned ? *o.planned : recipe_from_flags(rq.scheme, o.recipe, o.rules);
  rq.user_rules = o.planned ? 0 : o.rules.size();
  if (!o.json && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && !rq.dry_run) rq.progress = draw_progress;
  if (o.threads < 0) throw UsageError("--threads must be >= 0");
  if (!o.save_recipe.empty()) {
    Status st = rq.recipe.save(o.save_recipe);
    if (!st.ok()) {
      std::fprintf(stderr, "bitsmith quantize: %s\n", st.to_string().c_str());
      return kExitFailed;
    }
  }
  if (o.threads > 0) ThreadPool::set_global_threads(o.threads);
  auto model = io::open_model(rq.in, o.tokenizer);
  if (!model.ok()) {
    std::fprintf(stderr, "bitsmith quantize: %s\n", model.status().to_string().c_str());
    return kExitFailed;
  }
  // What the request asks for, checked against the model before any work: an invalid request
  // (an unknown scheme, an option that would do nothing, an output that would replace an input)
  // is bad usage; a plan the model's files cannot give is a failed run.
  auto job = algo::QuantizeJob::plan(**model, rq);
  if (!job.ok()) {
    if (job.status().code() == StatusCode::kInvalidArgument) throw UsageError(job.status().message());
    std::fprintf(stderr, "bitsmith quantize: %s\n", job.status().to_string().c_str());
    return kExitFailed;
  }
  auto done = job->run();
  if (!done.ok()) {
    std::fprintf(stderr, "bitsmith quantize: %s\n", done.status().to_string().c_str());
    return kExitFailed;
  }
  const algo::QuantizeFileReport& fr = *done;
  for (const auto& n : fr.rule_notes) std::fprintf(stderr, "bitsmith: note: %s\n", n.c_str());
  if (o.json) {
    print_json(algo::to_json(fr));
    return kExitOk;
  }
  const io::QuantizeReport& rep = fr.report;
  Table t({"tensor", "shape", "scheme", "note"});
  for (const auto& tr : rep.tensors) t.add({tr.plan.name, tr.plan.shape.to_string(), tr.plan.scheme->name(), tr.plan.reason});
  std::string out = t.render();
  const char* format = fr.format == io::OutputFormat::kGguf ? "gguf" : "safetensors";
  if (!rq.dry_run) {
    out += fmt::format("wrote {} ({})\n", rep.output, format);
    for (const auto& f : rep.extra_files) out += fmt::format("wrote {}\n", f);
    out += fmt::format("input {} -> output {} ({:.3f} bits per weight over {} parameters), {} fallback(s), {:.2f} s, {:.3f} GB/s of input\n",
                       human_bytes(static_cast<double>(rep.input_bytes)), human_bytes(static_cast<double>(rep.output_bytes)),
                       rep.bits_per_weight, rep.parameters, rep.fallbacks, rep.seconds,
                       rep.seconds > 0 ? static_cast<double>(rep.input_bytes) / rep.seconds / 1e9 : 0.0);
  }
  if (fr.activations != io::Activations::kNone) {
    size_t n = 0;
    for (const auto& tr : rep.tensors) n += io::quantizes_activations(tr.plan.name, *tr.plan.scheme, fr.activations);
    out += fmt::format("activations: {} on {} linear(s){}\n", rq.activations, n,
                       fr.activations == io::Activations::kStatic
                           ? fmt::format(", input ranges from {} ({} x {} tokens)", rq.calib, rq.calib_samples, rq.calib_seqlen)
                           : "");
  }
  for (const auto& n : fr.method_notes) out += fmt::format("{}: {}\n", rq.method, n);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

namespace {

std::function<int()> setup_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeCliOptions>();
  auto* sub = app.add_subcommand("quantize", "Quantize or convert a whole checkpoint (round to nearest) into GGUF or safetensors");
  sub->add_option("input", o->request.in, "GGUF, safetensors (file, directory, index.json) or llama2.c checkpoint")->required();
  sub->add_option("output", o->request.out, "output: FILE.gguf, FILE.safetensors, or a directory for safetensors")->required();
  sub->add_option("--scheme", o->request.scheme, "one scheme for every matrix (see `bitsmith schemes`); f32/fp16/bf16 convert");
  sub->add_option("--recipe", o->recipe, "llama.cpp mix (q2_k, q3_k_s/m/l, q4_k_s/m, q5_k_s/m, q6_k) or a recipe JSON file");
  sub->add_option("--rule", o->rules, "REGEX=SCHEME for tensors whose canonical name matches (first match wins, over the recipe); repeatable");
  sub->add_option("--save-recipe", o->save_recipe, "also write the recipe (with the --rule overrides) as JSON to FILE");
  sub->add_option("--threads", o->threads, "worker threads (0 = all cores)");
  sub->add_option("--format", o->request.format, "gguf or safetensors (default: from the output's extension)");
  sub->add_option("--tokenizer", o->tokenizer, "llama2.c tokenizer.bin (default: tokenizer.bin or tok*.bin beside the input)");
  sub->add_option("--method", o->request.method, "rtn (default), gptq, awq, imatrix, hqq or qat");
  sub->add_option("--calib", o->request.calib, "calibration text for gptq/awq/qat (and imatrix without --imatrix) and --activations static");
  sub->add_option("--activations", o->request.activations,
                  "none (default: weight-only), dynamic (fp8: per-token scales at run time) or static (fp8 input_scale, "
                  "nvfp4 input_global_scale from the inputs' max |x| over --calib), for safetensors outputs");
  sub->add_option("--calib-samples", o->request.calib_samples, "calibration segments (default 128)");
  sub->add_option("--calib-seqlen", o->request.calib_seqlen, "tokens per segment (default 512)");
  sub->add_option("--seed", o->request.seed, "seed of the segment offsets (default 0)");
  sub->add_option("--imatrix", o->request.imatrix, "llama.cpp imatrix .dat file for --method imatrix");
  sub->add_flag("--act-order", o->request.gptq.act_order, "gptq: columns by descending Hessian diagonal");
  sub->add_flag("--static-groups", o->request.gptq.static_groups, "gptq: group parameters from the original weights");
  sub->add_flag("--weighted-params", o->request.gptq.weighted_params,
                "gptq: group parameters by the scheme's importance-weighted search, weighted by the Hessian's diagonal");
  sub->add_flag("--refit-params", o->request.gptq.refit_params,
                "gptq: after the last column, refit each row's block scales (and mins) to the chosen codes by least "
                "squares under the Hessian (GGUF q4_0..q8_0, iq4_nl)");
  sub->add_option("--damp", o->request.gptq.damp, "gptq: dampening as a fraction of mean(diag H) (default 0.01)");
  sub->add_option("--steps", o->request.qat.steps, "qat: optimizer steps (default 100)")->check(at_least(1));
  sub->add_option("--lr", o->request.qat.lr, "qat: peak learning rate (default 3e-4; warm-up, cosine to lr/10)")->check(CLI::PositiveNumber);
  sub->add_option("--batch", o->request.qat.batch, "qat: calibration segments per step (default 4)")->check(at_least(1));
  sub->add_flag("--distill", o->request.qat.distill,
                "qat: the loss is the KL divergence to the unquantized model's logits (default: cross-entropy on --calib)");
  sub->add_flag("--dry-run", o->request.dry_run, "print the per-tensor plan, write nothing");
  sub->add_flag("--allow-requantize", o->request.allow_requantize,
                "quantize tensors that are stored quantized already (errors compound; as llama-quantize's flag)");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  return [o] { return run_quantize(*o); };
}

}  // namespace
BITSMITH_COMMAND("quantize", setup_quantize);
}  // namespace bitsmith::cli
