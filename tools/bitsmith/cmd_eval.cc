// bitsmith eval MODEL --text FILE: perplexity (llama.cpp or GPTQ convention), and with --ref, a
// --scheme or an --act-scheme, KL divergence / top-1 agreement / perplexity ratio against the
// reference (the model itself, unquantized, when no --ref is given).
#include <fmt/format.h>

#include <cstdio>
#include <limits>
#include <optional>

#include "bitsmith/eval/evaluator.h"
#include "bitsmith/eval/fake_quant.h"
#include "bitsmith/infer/tokenizer.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/plan/recipe.h"
#include "command.h"
#include "json_out.h"
#include "recipe_flags.h"
#include "table.h"

namespace bitsmith::cli {

// Shared with cmd_compare.cc (declared there): the pieces of eval/compare that need io.

// A FileModel's quantized embedding/output are read as stored (a view over the memory map), and
// each layer's file pages are dropped once the layer has run (not all of a model's pages resident).
infer::EngineOptions file_engine_options(const Model& model) {
  infer::EngineOptions o;
  const auto* fm = dynamic_cast<const io::FileModel*>(&model);
  if (fm == nullptr) return o;
  o.stored_view = [fm](const std::string& name) {
    const io::TensorSource* s = fm->source(name);
    return s != nullptr && s->scheme != nullptr ? s->quantized_view() : quant::QuantizedView{};
  };
  o.release_tensor = [fm](const std::string& name) { fm->release(name); };
  return o;
}

// --static-activations: the checkpoint's own static input scales (FileModel::static_inputs) for
// each block linear's input. A model that holds none is a usage error: the flag would do nothing.
void use_static_activations(const Model& model, infer::EngineOptions* o) {
  const auto* fm = dynamic_cast<const io::FileModel*>(&model);
  if (fm == nullptr || fm->static_inputs().empty()) {
    throw UsageError(fmt::format("--static-activations: {} holds no static activation scales (input_scale, "
                                 "input_global_scale; quantize --activations static writes them)", model.path()));
  }
  o->static_activation = [fm](int layer, std::string_view linear) {
    auto it = fm->static_inputs().find(tensor_name(layer, linear));
    return it == fm->static_inputs().end() ? infer::StaticActivation{} : infer::StaticActivation{it->second.scheme, it->second.amax};
  };
}

// A usage error unless `name` is a scheme, a named recipe or a recipe file.
void check_scheme_name(const std::string& name) { (void)recipe_from_name(name); }

// The model exactly as `bitsmith quantize` writes it with `recipe` (plan::Recipe::resolve: the
// same per-tensor plan, fallbacks included), as GGUF when the recipe's base is a GGUF type,
// else safetensors.
Result<eval::SchemePlan> recipe_plan(const Model& model, const plan::Recipe& recipe) {
  BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* requested, quant::find_scheme(recipe.base));
  BITSMITH_ASSIGN_OR_RETURN(auto plans, recipe.resolve(model, recipe.preferred_format()));
  const bool mix = !recipe.llama_ftype.empty() || !recipe.rules.empty();
  return eval::plan_from_tensor_plans(model, requested, plans, mix);
}

// `scheme` as a name (scheme, named recipe or recipe file); linears_only: only the block linears
// that fit the scheme (eval::plan_schemes). Empty scheme: the model as stored.
Result<eval::SchemePlan> quantize_plan(const Model& model, const std::string& scheme, bool linears_only) {
  if (scheme.empty() || linears_only) return eval::plan_schemes(model, scheme);
  return recipe_plan(model, recipe_from_name(scheme));
}

namespace {

using eval::plan_schemes;
using eval::read_text;

// The model with its tokenizer; a model without one cannot be scored.
Result<std::unique_ptr<Model>> open(const std::string& path, const std::string& tokenizer) {
  auto m = io::open_model(path, tokenizer);
  if (!m.ok()) return m.status();
  if ((*m)->vocabulary().empty()) {
    return invalid_argument("{}: no tokenizer (give --tokenizer FILE)", path);
  }
  return m;
}

struct EvalArgs {
  std::string model, tokenizer, text, style = "llamacpp", ref, ref_tokenizer, scheme, recipe, act_scheme;
  std::vector<std::string> rules;
  int64_t ctx = 0, max_chunks = 0;
  int threads = 0;
  bool json = false, linears_only = false, static_activations = false;
};

int fail(const Status& st) {
  std::fprintf(stderr, "bitsmith eval: %s\n", st.to_string().c_str());
  return kExitFailed;
}

int run_eval(const EvalArgs& a) {
  auto style = eval::parse_style(a.style);
  if (!style.ok()) throw UsageError(style.status().message());
  const quant::Scheme* act = nullptr;
  if (!a.act_scheme.empty()) {
    auto s = quant::find_scheme(a.act_scheme);
    if (!s.ok()) throw UsageError(s.status().message());
    act = *s;
  }
  // --scheme/--recipe/--rule: the same recipe quantize would take.
  std::optional<plan::Recipe> recipe;
  if (!a.scheme.empty() || !a.recipe.empty() || !a.rules.empty()) {
    if (a.linears_only && (!a.recipe.empty() || !a.rules.empty())) {
      throw UsageError("--linears-only takes a plain --scheme, not a recipe or rules");
    }
    if (!a.linears_only) recipe = recipe_from_flags(a.scheme, a.recipe, a.rules);
    else if (auto s = quant::find_scheme(a.scheme); !s.ok()) throw UsageError(s.status().message());
  }
  const std::string wlabel = recipe ? recipe->label() + (a.rules.empty() ? "" : "+rules") : a.scheme;
  if (a.threads > 0) ThreadPool::set_global_threads(a.threads);
  auto model = open(a.model, a.tokenizer);
  if (!model.ok()) return fail(model.status());
  const auto& hp = (*model)->hyperparameters();
  const int64_t ctx = a.ctx > 0 ? a.ctx : std::min<int64_t>(512, hp.context_length);
  if (ctx > hp.context_length) {
    throw UsageError(fmt::format("--ctx {} exceeds the model's context of {}", ctx, hp.context_length));
  }
  auto text = read_text(a.text);
  if (!text.ok()) return fail(text.status());
  auto tok = infer::Tokenizer::create((*model)->vocabulary());
  if (!tok.ok()) return fail(tok.status());
  // BOS only where the vocabulary asks for it (tokenizer.ggml.add_bos_token), as llama.cpp does.
  const bool add_bos = (*model)->vocabulary().add_bos;
  const auto tokens = (*tok)->encode(*text, add_bos);

  if (recipe) check_user_rules(*recipe, a.rules.size(), **model);
  auto plan = recipe ? recipe_plan(**model, *recipe) : eval::plan_schemes(**model, a.scheme);
  if (!plan.ok()) return fail(plan.status());
  // The reference: --ref, else the model itself unquantized when something is fake-quantized.
  std::unique_ptr<Model> ref_model;
  const bool compare_self = a.ref.empty() && (!wlabel.empty() || act != nullptr || a.static_activations);
  std::vector<std::unique_ptr<infer::Engine>> engines;
  infer::EngineOptions base = file_engine_options(**model);
  base.context = ctx;
  if (!a.ref.empty()) {
    auto r = open(a.ref, a.ref_tokenizer.empty() ? a.tokenizer : a.ref_tokenizer);
    if (!r.ok()) return fail(r.status());
    ref_model = std::move(*r);
  }
  const Model* ref = ref_model ? ref_model.get() : (compare_self ? model->get() : nullptr);
  if (ref != nullptr) {
    infer::EngineOptions ro = ref == model->get() ? base : file_engine_options(*ref);
    ro.context = ctx;
    auto e = infer::Engine::create(*ref, ro);
    if (!e.ok()) return fail(e.status());
    engines.push_back(std::move(*e));
  }
  infer::EngineOptions opt = base;
  opt.act_scheme = act;
  if (a.static_activations) use_static_activations(**model, &opt);
  if (plan->scheme != nullptr) {
    opt.weight_scheme_for = plan->chooser();
    // Fake-quantized layers are kept: requantizing them for every chunk would dominate the run.
    opt.resident_bytes = std::numeric_limits<uint64_t>::max();
  }
  auto e = infer::Engine::create(**model, opt);
  if (!e.ok()) return fail(e.status());
  engines.push_back(std::move(*e));

  std::vector<infer::Engine*> ptrs;
  for (auto& en : engines) ptrs.push_back(en.get());
  eval::EvalOptions eo;
  eo.style = *style;
  eo.ctx = ctx;
  eo.max_chunks = a.max_chunks;
  eo.bos_id = add_bos ? (*tok)->bos_id() : -1;
  eo.progress = eval::terminal_progress(ctx * static_cast<int64_t>(ptrs.size()));
  auto r = eval::evaluate(ptrs, tokens, eo);
  if (!r.ok()) return fail(r.status());
  const eval::ModelScore& ms = r->models.back();
  const bool has_ref = ptrs.size() > 1;
  if (a.json) {
    nlohmann::json doc = {{"model", a.model}, {"text", a.text}, {"style", eval::style_name(*style)},
                          {"ctx", ctx}, {"tokens", r->tokens}, {"chunks", r->chunks},
                          {"scored", r->scored}, {"perplexity", json_number(ms.perplexity)},
                          {"ppl_uncertainty", json_number(ms.ppl_uncertainty)},
                          {"nll", json_number(ms.nll)},
                          {"tokens_per_second", json_number(r->tokens_per_second)}};
    if (!wlabel.empty()) doc["scheme"] = wlabel;
    if (act != nullptr) doc["act_scheme"] = a.act_scheme;
    if (a.static_activations) doc["static_activations"] = true;
    if (!plan->kept.empty()) doc["kept_unquantized"] = plan->kept;
    if (!wlabel.empty()) {
      doc["bytes"] = plan->bytes;
      doc["bits_per_weight"] = json_number(plan->bits_per_weight);
    }
    if (has_ref) {
      doc["ref"] = a.ref.empty() ? a.model + " (unquantized)" : a.ref;
      doc["ref_perplexity"] = json_number(r->models[0].perplexity);
      doc["kld"] = json_number(ms.kld);
      doc["kld_uncertainty"] = json_number(ms.kld_uncertainty);
      doc["kld_percentiles"] = {{"median", json_number(ms.kld_median)}, {"90", json_number(ms.kld_p90)},
                                {"95", json_number(ms.kld_p95)}, {"99", json_number(ms.kld_p99)},
                                {"99.9", json_number(ms.kld_p999)}, {"max", json_number(ms.kld_max)}};
      doc["verdict"] = std::string(eval::verdict(ms.kld, ms.top1_agreement));
      doc["top1_agreement"] = json_number(ms.top1_agreement);
      doc["ppl_ratio"] = json_number(ms.ppl_ratio);
    }
    print_json(doc);
    return kExitOk;
  }
  std::string out = fmt::format("{} on {} ({} style, ctx {}): {} tokens, {} chunks, {} scored\n",
                                a.model, a.text, eval::style_name(*style), ctx, r->tokens,
                                r->chunks, r->scored);
  Table t({"model", "perplexity", "nll", "kld", "top1", "ppl ratio"});
  if (has_ref) {
    const auto& rs = r->models[0];
    t.add({a.ref.empty() ? "reference (unquantized)" : "reference " + a.ref,
           fmt::format("{:.4f} ± {:.4f}", rs.perplexity, rs.ppl_uncertainty), fmt::format("{:.6f}", rs.nll), "-", "-", "-"});
  }
  std::string label = a.model;
  if (!wlabel.empty()) label += " w:" + wlabel;
  if (act != nullptr) label += " a:" + a.act_scheme;
  if (a.static_activations) label += " a:static";
  t.add({label, fmt::format("{:.4f} ± {:.4f}", ms.perplexity, ms.ppl_uncertainty), fmt::format("{:.6f}", ms.nll),
         has_ref ? fmt::format("{:.6f}", ms.kld) : "-",
         has_ref ? fmt::format("{:.2f}%", 100 * ms.top1_agreement) : "-",
         has_ref ? fmt::format("{:.4f}", ms.ppl_ratio) : "-"});
  out += t.render();
  if (has_ref) {
    out += fmt::format("KLD {:.6f} ± {:.6f}; median {:.6f}, 90% {:.6f}, 95% {:.6f}, 99% {:.6f}, 99.9% {:.6f}, max {:.6f}; "
                       "verdict: {}\n", ms.kld, ms.kld_uncertainty, ms.kld_median, ms.kld_p90, ms.kld_p95, ms.kld_p99,
                       ms.kld_p999, ms.kld_max, eval::verdict(ms.kld, ms.top1_agreement));
  }
  if (!plan->kept.empty()) {
    out += fmt::format("{} tensors do not fit {}: {}\n", plan->kept.size(), wlabel,
                       a.linears_only ? "kept unquantized" : "stored in a fallback scheme, as quantize does");
  }
  if (!wlabel.empty()) {
    out += fmt::format("{}: {} bytes, {:.3f} bits per weight\n",
                       a.linears_only ? "block linears in " + a.scheme + ", the rest as stored"
                                      : "the model as quantize " + std::string(a.scheme.empty() ? "--recipe " : "--scheme ") +
                                            wlabel + " writes it",
                       plan->bytes, plan->bits_per_weight);
  }
  out += fmt::format("{:.1f} s, {:.0f} tokens/s\n", r->seconds, r->tokens_per_second);
  std::fwrite(out.data(), 1, out.size(), stdout);
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
