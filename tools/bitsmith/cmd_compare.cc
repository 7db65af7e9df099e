// bitsmith compare MODEL --text FILE --schemes S1,S2,... [--recipe R1,R2]: the quality suite. The unquantized
// model and one fake-quantized copy per scheme run in lockstep, chunk by chunk; each row gets
// bits per weight, bytes, perplexity and its change, KL divergence, top-1 agreement and the
// verdict of the seed thresholds, and the Pareto front (least KL divergence for the bytes).
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "bitsmith/eval/evaluator.h"
#include "bitsmith/eval/fake_quant.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/infer/tokenizer.h"
#include "command.h"
#include "json_out.h"
#include "recipe_flags.h"
#include "table.h"

namespace bitsmith::cli {

// Defined in cmd_eval.cc (they need io; the eval library does not depend on it).
infer::EngineOptions file_engine_options(const Model& model);
void check_scheme_name(const std::string& name);
Result<eval::SchemePlan> quantize_plan(const Model& model, const std::string& scheme, bool linears_only);
Result<eval::SchemePlan> recipe_plan(const Model& model, const plan::Recipe& recipe);

namespace {

using eval::SchemePlan;

struct CompareArgs {
  std::string model, tokenizer, text, style = "llamacpp", act_scheme;
  std::vector<std::string> schemes, recipes;
  int64_t ctx = 0, max_chunks = 0;
  int threads = 0;
  bool json = false, linears_only = false;
};

struct Row {
  std::string scheme;
  SchemePlan plan;
  eval::ModelScore score;
  double delta_ppl = 0;
  bool pareto = false;
};

// A scheme none of whose tensors fit (q4_k on a 64-wide model) is measured as the file quantize
// would write (every tensor in its fallback), so it gets a verdict, marked as such; it stays off
// the Pareto front, where it would only repeat the fallback schemes' own points.
bool applies(const Row& r) { return r.plan.applied > 0; }
std::string verdict(const Row& r) {
  const std::string v(eval::verdict(r.score.kld, r.score.top1_agreement));
  return applies(r) ? v : v + " (all tensors fell back)";
}

// Rows no other row beats on both bytes and KL divergence (ties on both keep the first).
void mark_pareto(std::vector<Row>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < rows.size() && !dominated; ++j) {
      if (i == j) continue;
      if (!applies(rows[j])) continue;
      const bool no_worse = rows[j].plan.bytes <= rows[i].plan.bytes &&
                            rows[j].score.kld <= rows[i].score.kld;
      const bool better = rows[j].plan.bytes < rows[i].plan.bytes ||
                          rows[j].score.kld < rows[i].score.kld;
      dominated = no_worse && (better || j < i);
    }
    rows[i].pareto = !dominated && !std::isnan(rows[i].score.kld) && applies(rows[i]);
  }
}

int run_compare(const CompareArgs& a) {
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "bitsmith compare: %s\n", st.to_string().c_str());
    return kExitFailed;
  };
  auto style = eval::parse_style(a.style);
  if (!style.ok()) throw UsageError(style.status().message());
  if (a.schemes.empty() && a.recipes.empty()) throw UsageError("--schemes or --recipe needs at least one scheme");
  if (a.linears_only && !a.recipes.empty()) throw UsageError("--linears-only takes plain schemes, not recipes");
  const quant::Scheme* act = nullptr;
  if (!a.act_scheme.empty()) {
    auto s = quant::find_scheme(a.act_scheme);
    if (!s.ok()) throw UsageError(s.status().message());
    act = *s;
  }
  for (const auto& s : a.schemes) check_scheme_name(s);
  // --recipe names/files are rows too; a name in --schemes that is not a scheme is a recipe.
  std::vector<plan::Recipe> recipes;
  for (const auto& r : a.recipes) recipes.push_back(recipe_from_flags("", r, {}));
  if (a.threads > 0) ThreadPool::set_global_threads(a.threads);
  auto model = io::open_model(a.model, a.tokenizer);
  if (!model.ok()) return fail(model.status());
  if ((*model)->vocabulary().empty()) {
    return fail(invalid_argument("{}: no tokenizer (give --tokenizer FILE)", a.model));
  }
  const auto& hp = (*model)->hyperparameters();
  const int64_t ctx = a.ctx > 0 ? a.ctx : std::min<int64_t>(512, hp.context_length);
  if (ctx > hp.context_length) {
    throw UsageError(fmt::format("--ctx {} exceeds the model's context of {}", ctx, hp.context_length));
  }
  auto text = eval::read_text(a.text);
  if (!text.ok()) return fail(text.status());
  auto tok = infer::Tokenizer::create((*model)->vocabulary());
  if (!tok.ok()) return fail(tok.status());
  // BOS only where the vocabulary asks for it (tokenizer.ggml.add_bos_token), as llama.cpp does.
  const bool add_bos = (*model)->vocabulary().add_bos;
  const auto tokens = (*tok)->encode(*text, add_bos);

  auto base_plan = quantize_plan(**model, "", false);
  if (!base_plan.ok()) return fail(base_plan.status());
  std::vector<Row> rows;
  for (const auto& s : a.schemes) {
    auto p = quantize_plan(**model, s, a.linears_only);
    if (!p.ok()) return fail(p.status());
    rows.push_back({s, std::move(*p), {}, 0, false});
  }
  for (const auto& r : recipes) {
    auto p = recipe_plan(**model, r);
    if (!p.ok()) return fail(p.status());
    rows.push_back({r.label(), std::move(*p), {}, 0, false});
  }
  // One scheme at a time beside the reference: memory is the reference plus one scheme's
  // fake-quantized layers whatever the number of schemes (all of them in lockstep held every
  // scheme's layers at once: 4.3 GB for 8 schemes on SmolLM2), for one more reference pass each.
  infer::EngineOptions base = file_engine_options(**model);
  base.context = ctx;
  auto ref_engine = infer::Engine::create(**model, base);
  if (!ref_engine.ok()) return fail(ref_engine.status());
  eval::EvalOptions eo;
  eo.style = *style;
  eo.ctx = ctx;
  eo.max_chunks = a.max_chunks;
  eo.bos_id = add_bos ? (*tok)->bos_id() : -1;
  eo.progress = eval::terminal_progress(ctx * 2);
  std::optional<eval::EvalResult> res;
  double seconds = 0, engine_tokens = 0;
  for (Row& r : rows) {
    infer::EngineOptions o = base;
    o.weight_scheme_for = r.plan.chooser();
    o.act_scheme = act;
    // The scheme's fake-quantized layers stay resident: requantizing per chunk would dominate.
    o.resident_bytes = std::numeric_limits<uint64_t>::max();
    auto e = infer::Engine::create(**model, o);
    if (!e.ok()) return fail(e.status().with_context(r.scheme));
    infer::Engine* pair[] = {ref_engine->get(), e->get()};
    auto one = eval::evaluate(pair, tokens, eo);
    if (!one.ok()) return fail(one.status().with_context(r.scheme));
    r.score = one->models[1];
    seconds += one->seconds;
    engine_tokens += one->tokens_per_second * one->seconds;
    if (!res) res = std::move(*one);
    else res->models.push_back(r.score);  // models[0] stays the reference
  }
  if (!res) return fail(invalid_argument("compare: nothing to compare (give --schemes or --recipe)"));
  res->seconds = seconds;
  res->tokens_per_second = seconds > 0 ? engine_tokens / seconds : 0;
  const eval::ModelScore& bs = res->models[0];
  for (Row& r : rows) r.delta_ppl = r.score.perplexity - bs.perplexity;
  mark_pareto(rows);

  if (a.json) {
    nlohmann::json results = nlohmann::json::array(), pareto = nlohmann::json::array();
    for (const Row& r : rows) {
      nlohmann::json j = {{"scheme", r.scheme}, {"bits_per_weight", json_number(r.plan.bits_per_weight)},
                          {"bytes", r.plan.bytes}, {"perplexity", json_number(r.score.perplexity)},
                          {"delta_ppl", json_number(r.delta_ppl)}, {"kld", json_number(r.score.kld)},
                          {"top1_agreement", json_number(r.score.top1_agreement)},
                          {"ppl_ratio", json_number(r.score.ppl_ratio)},
                          {"ppl_uncertainty", json_number(r.score.ppl_uncertainty)},
                          {"kld_uncertainty", json_number(r.score.kld_uncertainty)},
                          {"kld_percentiles", {{"median", json_number(r.score.kld_median)},
                                               {"90", json_number(r.score.kld_p90)},
                                               {"95", json_number(r.score.kld_p95)},
                                               {"99", json_number(r.score.kld_p99)},
                                               {"99.9", json_number(r.score.kld_p999)},
                                               {"max", json_number(r.score.kld_max)}}},
                          {"verdict", verdict(r)},
                          {"ppl_verdict", std::string(eval::ppl_verdict(r.delta_ppl))}};
      if (!r.plan.kept.empty()) {
        // The tensors the scheme could not hold: kept as stored with --linears-only, else
        // stored in the fallback scheme quantize picks (listed in "fallbacks").
        j["kept_unquantized"] = r.plan.kept;
        if (!a.linears_only) {
          nlohmann::json fb = nlohmann::json::object();
          for (const auto& n : r.plan.kept) fb[n] = r.plan.by_tensor.at(n)->name();
          j["fallbacks"] = fb;
        }
      }
      results.push_back(j);
      if (r.pareto) pareto.push_back(r.scheme);
    }
    nlohmann::json doc = {
        {"model", a.model}, {"text", a.text}, {"style", eval::style_name(*style)}, {"ctx", ctx},
        {"tokens", res->tokens}, {"chunks", res->chunks}, {"scored", res->scored},
        {"baseline", {{"bits_per_weight", json_number(base_plan->bits_per_weight)},
                      {"bytes", base_plan->bytes}, {"perplexity", json_number(bs.perplexity)},
                      {"ppl_uncertainty", json_number(bs.ppl_uncertainty)},
                      {"nll", json_number(bs.nll)}}},
        {"results", results}, {"pareto", pareto},
        {"tokens_per_second", json_number(res->tokens_per_second)}};
    if (act != nullptr) doc["act_scheme"] = a.act_scheme;
    print_json(doc);
    return kExitOk;
  }
  std::string out = fmt::format("{} on {} ({} style, ctx {}, {} chunks, {} tokens scored){}\n",
                                a.model, a.text, eval::style_name(*style), ctx, res->chunks,
                                res->scored, act ? ", activations " + a.act_scheme : "");
  Table t({"scheme", "bpw", "bytes", "perplexity", "delta", "kld", "kld median", "kld 99%", "top1", "verdict",
           "pareto"});
  t.add({"baseline", fmt::format("{:.3f}", base_plan->bits_per_weight), std::to_string(base_plan->bytes),
         fmt::format("{:.4f} ± {:.4f}", bs.perplexity, bs.ppl_uncertainty), "-", "-", "-", "-", "-", "-", ""});
  for (const Row& r : rows) {
    t.add({r.scheme + (r.plan.kept.empty() ? "" : "*"), fmt::format("{:.3f}", r.plan.bits_per_weight),
           std::to_string(r.plan.bytes), fmt::format("{:.4f} ± {:.4f}", r.score.perplexity, r.score.ppl_uncertainty),
           fmt::format("{:+.4f}", r.delta_ppl), fmt::format("{:.6f}", r.score.kld),
           fmt::format("{:.6f}", r.score.kld_median), fmt::format("{:.6f}", r.score.kld_p99),
           fmt::format("{:.2f}%", 100 * r.score.top1_agreement), verdict(r), r.pareto ? "yes" : ""});
  }
  out += t.render();
  bool any_kept = false;
  for (const Row& r : rows) any_kept = any_kept || !r.plan.kept.empty();
  if (any_kept) {
    out += a.linears_only ? "* some linears kept as stored: their shape does not fit the scheme's blocks\n"
                          : "* some tensors do not fit the scheme's blocks: stored in quantize's fallback scheme\n";
  }
  if (!a.linears_only) out += "bytes/bpw: the model as `bitsmith quantize --scheme S` (or --recipe R) writes it\n";
  out += "Pareto front (least KL divergence for the bytes):";
  for (const Row& r : rows) {
    if (r.pareto) out += " " + r.scheme;
  }
  out += fmt::format("\n{:.1f} s, {:.0f} tokens/s\n", res->seconds, res->tokens_per_second);
  std::fwrite(out.data(), 1, out.size(), stdout);
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
