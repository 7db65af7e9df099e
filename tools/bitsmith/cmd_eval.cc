// bitsmith eval MODEL --text FILE: perplexity (llama.cpp or GPTQ convention), and with --ref, a
// --scheme or an --act-scheme, KL divergence / top-1 agreement / perplexity ratio against the
// reference (the model itself, unquantized, when no --ref is given). The run is
// eval::evaluate_model; this file parses and prints.
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

struct EvalArgs {
  std::string model, tokenizer, text, style = "llamacpp", ref, ref_tokenizer, scheme, recipe, act_scheme;
  std::vector<std::string> rules;
  int64_t ctx = 0, max_chunks = 0;
  int threads = 0;
  bool json = false, linears_only = false, static_activations = false;
};

std::string render(const eval::EvalReport& rep, const EvalArgs& a) {
  const eval::EvalRequest& rq = rep.request;
  const eval::EvalResult& r = rep.result;
  const eval::ModelScore& ms = rep.score();
  std::string out = fmt::format("{} on {} ({} style, ctx {}): {} tokens, {} chunks, {} scored\n", rq.model, rq.run.text,
                                eval::style_name(rq.run.style), rep.ctx, r.tokens, r.chunks, r.scored);
  Table t({"model", "perplexity", "nll", "kld", "top1", "ppl ratio"});
  if (rep.has_ref()) {
    const auto& rs = r.models[0];
    t.add({rq.ref.empty() ? "reference (unquantized)" : "reference " + rq.ref,
           fmt::format("{:.4f} ± {:.4f}", rs.perplexity, rs.ppl_uncertainty), fmt::format("{:.6f}", rs.nll), "-", "-", "-"});
  }
  std::string label = rq.model;
  if (!rq.label.empty()) label += " w:" + rq.label;
  if (!rq.run.act_scheme.empty()) label += " a:" + rq.run.act_scheme;
  if (rq.static_activations) label += " a:static";
  const bool ref = rep.has_ref();
  t.add({label, fmt::format("{:.4f} ± {:.4f}", ms.perplexity, ms.ppl_uncertainty), fmt::format("{:.6f}", ms.nll),
         ref ? fmt::format("{:.6f}", ms.kld) : "-", ref ? fmt::format("{:.2f}%", 100 * ms.top1_agreement) : "-",
         ref ? fmt::format("{:.4f}", ms.ppl_ratio) : "-"});
  out += t.render();
  if (ref) {
    out += fmt::format("KLD {:.6f} ± {:.6f}; median {:.6f}, 90% {:.6f}, 95% {:.6f}, 99% {:.6f}, 99.9% {:.6f}, max {:.6f}; "
                       "verdict: {}\n", ms.kld, ms.kld_uncertainty, ms.kld_median, ms.kld_p90, ms.kld_p95, ms.kld_p99,
                       ms.kld_p999, ms.kld_max, eval::verdict(ms.kld, ms.top1_agreement));
  }
  const bool linears_only = !rq.linears_only.empty();
  if (!rep.plan.kept.empty()) {
    out += fmt::format("{} tensors do not fit {}: {}\n", rep.plan.kept.size(), rq.label,
                       linears_only ? "kept unquantized" : "stored in a fallback scheme, as quantize does");
  }
  if (!rq.label.empty()) {
    out += fmt::format("{}: {} bytes, {:.3f} bits per weight\n",
                       linears_only ? "block linears in " + rq.linears_only + ", the rest as stored"
                                    : "the model as quantize " + std::string(a.scheme.empty() ? "--recipe " : "--scheme ") + rq.label +
                                          " writes it",
                       rep.plan.bytes, rep.plan.bits_per_weight);
  }
  out += fmt::format("{:.1f} s, {:.0f} tokens/s\n", r.seconds, r.tokens_per_second);
  return out;
}

int run_eval(const EvalArgs& a) {
  eval::EvalRequest rq;
  rq.model = a.model;
  rq.run.text = a.text;
  rq.run.tokenizer = a.tokenizer;
  auto style = eval::parse_style(a.style);
  if (!style.ok()) throw UsageError(style.status().message());
  rq.run.style = *style;
  rq.run.ctx = a.ctx;
  rq.run.max_chunks = a.max_chunks;
  if (!a.act_scheme.empty()) {
    if (auto s = quant::find_scheme(a.act_scheme); !s.ok()) throw UsageError(s.status().message());
    rq.run.act_scheme = a.act_scheme;
  }
  rq.run.progress = terminal_progress();
  rq.ref = a.ref;
  rq.ref_tokenizer = a.ref_tokenizer;
  rq.static_activations = a.static_activations;
  // --scheme/--recipe/--rule: the same recipe quantize would take.
  if (!a.scheme.empty() || !a.recipe.empty() || !a.rules.empty()) {
    if (a.linears_only && (!a.recipe.empty() || !a.rules.empty())) {
      throw UsageError("--linears-only takes a plain --scheme, not a recipe or rules");
    }
    if (a.linears_only) {
      if (auto s = quant::find_scheme(a.scheme); !s.ok()) throw UsageError(s.status().message());
      rq.linears_only = a.scheme;
      rq.label = a.scheme;
    } else {
      rq.recipe = recipe_from_flags(a.scheme, a.recipe, a.rules);
      rq.user_rules = a.rules.size();
      rq.label = rq.recipe->label() + (a.rules.empty() ? "" : "+rules");
    }
  } else if (a.linears_only) {
    throw UsageError("--linears-only needs --scheme S");
  }
  if (a.threads > 0) ThreadPool::set_global_threads(a.threads);
  auto rep = eval::evaluate_model(rq);
  if (!rep.ok()) return fail_with("eval", rep.status());
  for (const auto& n : rep->notes) std::fprintf(stderr, "bitsmith: note: %s\n", n.c_str());
  if (a.json) {
    print_json(eval::to_json(*rep));
  } else {
    const std::string out = render(*rep, a);
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return kExitOk;
}

std::function<int()> setup_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand("eval", "Perplexity, KL divergence and top-1 agreement on a text file");
  sub->add_option("model", a->model, "Model file (GGUF, safetensors, llama2.c)")->required();
  sub->add_option("--text", a->text, "Text file to score")->required();
  sub->add_option("--tokenizer", a->tokenizer, "Tokenizer file (llama2.c checkpoints)");
  sub->add_option("--ctx", a->ctx, "Context per chunk (default min(512, model context))")->check(at_least(1));
  sub->add_option("--style", a->style, "Perplexity convention: llamacpp (default) or gptq");
  sub->add_option("--max-chunks", a->max_chunks, "Evaluate at most N chunks (0 = all)")->check(at_least(0, " (0 = all)"));
  sub->add_option("--ref", a->ref, "Reference model for KL divergence / top-1 / ppl ratio");
  sub->add_option("--ref-tokenizer", a->ref_tokenizer, "Tokenizer of the reference (default --tokenizer)");
  sub->add_option("--scheme", a->scheme, "Fake-quantize the model as `quantize --scheme S` writes it");
  sub->add_option("--recipe", a->recipe, "Fake-quantize the model as `quantize --recipe R` writes it (name or JSON file)");
  sub->add_option("--rule", a->rules, "REGEX=SCHEME override, as quantize takes it; repeatable");
  sub->add_flag("--linears-only", a->linears_only, "With --scheme: only the block linears that fit S");
  sub->add_option("--act-scheme", a->act_scheme, "Fake-quantize every linear input (per token row)");
  sub->add_flag("--static-activations", a->static_activations,
                "Quantize each linear's input with the static scales the checkpoint holds (quantize --activations static)");
  sub->add_option("--threads", a->threads, "Threads (default: all cores)");
  sub->add_flag("--json", a->json, "One JSON document on stdout");
  return [a] { return run_eval(*a); };
}

}  // namespace

BITSMITH_COMMAND("eval", setup_eval);

}  // namespace bitsmith::cli
