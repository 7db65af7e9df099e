// bitsmith compare MODEL --text FILE --schemes S1,S2,... [--recipe R1,R2]: the quality suite. The unquantized
// model and one fake-quantized copy per scheme run in lockstep, chunk by chunk; each row gets
// bits per weight, bytes, perplexity and its change, KL divergence, top-1 agreement and the
// verdict of the seed thresholds, and the Pareto front (least KL divergence for the bytes).
// The run is eval::compare_schemes; this file parses and prints.
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/core/thread_pool.h"
#include "bitsmith/eval/model_eval.h"
#include "command.h"
#include "json_out.h"
#include "progress.h"
#include "recipe_flags.h"
#include "table.h"

namespace bitsmith::cli {

namespace {

struct CompareArgs {
  std::string model, tokenizer, text, style = "llamacpp", act_scheme;
  std::vector<std::string> schemes, recipes;
  int64_t ctx = 0, max_chunks = 0;
  int threads = 0;
  bool json = false, linears_only = false;
};

std::string render(const eval::CompareReport& rep) {
  const eval::CompareRequest& rq = rep.request;
  const eval::ModelScore& bs = rep.reference;
  std::string out = fmt::format("{} on {} ({} style, ctx {}, {} chunks, {} tokens scored){}\n", rq.model, rq.run.text,
                                eval::style_name(rq.run.style), rep.ctx, rep.result.chunks, rep.result.scored,
                                rq.run.act_scheme.empty() ? "" : ", activations " + rq.run.act_scheme);
  Table t({"scheme", "bpw", "bytes", "perplexity", "delta", "kld", "kld median", "kld 99%", "top1", "verdict",
           "pareto"});
  t.add({"baseline", fmt::format("{:.3f}", rep.baseline.bits_per_weight), std::to_string(rep.baseline.bytes),
         fmt::format("{:.4f} ± {:.4f}", bs.perplexity, bs.ppl_uncertainty), "-", "-", "-", "-", "-", "-", ""});
  bool any_kept = false;
  for (const eval::CompareRow& r : rep.rows) {
    any_kept = any_kept || !r.plan.kept.empty();
    t.add({r.label + (r.plan.kept.empty() ? "" : "*"), fmt::format("{:.3f}", r.plan.bits_per_weight),
           std::to_string(r.plan.bytes), fmt::format("{:.4f} ± {:.4f}", r.score.perplexity, r.score.ppl_uncertainty),
           fmt::format("{:+.4f}", r.delta_ppl), fmt::format("{:.6f}", r.score.kld),
           fmt::format("{:.6f}", r.score.kld_median), fmt::format("{:.6f}", r.score.kld_p99),
           fmt::format("{:.2f}%", 100 * r.score.top1_agreement), r.verdict(), r.pareto ? "yes" : ""});
  }
  out += t.render();
  if (any_kept) {
    out += rq.linears_only ? "* some linears kept as stored: their shape does not fit the scheme's blocks\n"
                           : "* some tensors do not fit the scheme's blocks: stored in quantize's fallback scheme\n";
  }
  if (!rq.linears_only) out += "bytes/bpw: the model as `bitsmith quantize --scheme S` (or --recipe R) writes it\n";
  out += "Pareto front (least KL divergence for the bytes):";
  for (const eval::CompareRow& r : rep.rows) {
    if (r.pareto) out += " " + r.label;
  }
  out += fmt::format("\n{:.1f} s, {:.0f} tokens/s\n", rep.result.seconds, rep.result.tokens_per_second);
  return out;
}

int run_compare(const CompareArgs& a) {
  eval::CompareRequest rq;
  rq.model = a.model;
  rq.run.text = a.text;
  rq.run.tokenizer = a.tokenizer;
  auto style = eval::parse_style(a.style);
  if (!style.ok()) throw UsageError(style.status().message());
  rq.run.style = *style;
  rq.run.ctx = a.ctx;
  rq.run.max_chunks = a.max_chunks;
  rq.run.progress = terminal_progress();
  if (a.schemes.empty() && a.recipes.empty()) throw UsageError("--schemes or --recipe needs at least one scheme");
  if (a.linears_only && !a.recipes.empty()) throw UsageError("--linears-only takes plain schemes, not recipes");
  if (!a.act_scheme.empty()) {
    if (auto s = quant::find_scheme(a.act_scheme); !s.ok()) throw UsageError(s.status().message());
    rq.run.act_scheme = a.act_scheme;
  }
  // Names are usage: checked here, before the model is read.
  for (const auto& s : a.schemes) (void)recipe_from_name(s);
  for (const auto& r : a.recipes) (void)recipe_from_flags("", r, {});
  rq.schemes = a.schemes;
  rq.recipes = a.recipes;
  rq.linears_only = a.linears_only;
  if (a.threads > 0) ThreadPool::set_global_threads(a.threads);
  auto rep = eval::compare_schemes(rq);
  if (!rep.ok()) return fail_with("compare", rep.status());
  if (a.json) {
    print_json(eval::to_json(*rep));
  } else {
    const std::string out = render(*rep);
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return kExitOk;
}

std::function<int()> setup_compare(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand("compare", "Quality suite: perplexity, KLD and verdict per scheme");
  sub->add_option("model", a->model, "Model file (GGUF, safetensors, llama2.c)")->required();
  sub->add_option("--text", a->text, "Text file to score")->required();
  sub->add_option("--schemes", a->schemes, "Schemes (or recipe names/files) to compare (comma separated)")
      ->delimiter(',');
  sub->add_option("--recipe", a->recipes, "Recipes to compare: llama.cpp mix names or JSON files (comma separated)")
      ->delimiter(',');
  sub->add_option("--act-scheme", a->act_scheme, "Also fake-quantize every linear input");
  sub->add_flag("--linears-only", a->linears_only,
                "Quantize only the block linears that fit each scheme (default: the model as quantize writes it)");
  sub->add_option("--tokenizer", a->tokenizer, "Tokenizer file (llama2.c checkpoints)");
  sub->add_option("--ctx", a->ctx, "Context per chunk (default min(512, model context))")->check(at_least(1));
  sub->add_option("--style", a->style, "Perplexity convention: llamacpp (default) or gptq");
  sub->add_option("--max-chunks", a->max_chunks, "Evaluate at most N chunks (0 = all)")->check(at_least(0, " (0 = all)"));
  sub->add_option("--threads", a->threads, "Threads (default: all cores)");
  sub->add_flag("--json", a->json, "One JSON document on stdout");
  return [a] { return run_compare(*a); };
}

}  // namespace

BITSMITH_COMMAND("compare", setup_compare);

}  // namespace bitsmith::cli
