#include "bitsmith/eval/model_eval.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/eval/text.h"
#include "bitsmith/infer/tokenizer.h"
#include "bitsmith/io/model_file.h"

namespace bitsmith::eval {

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

Status use_static_activations(const Model& model, infer::EngineOptions* o) {
  const auto* fm = dynamic_cast<const io::FileModel*>(&model);
  if (fm == nullptr || fm->static_inputs().empty()) {
    return invalid_argument("--static-activations: {} holds no static activation scales (input_scale, "
                            "input_global_scale; quantize --activations static writes them)", model.path());
  }
  o->static_activation = [fm](int layer, std::string_view linear) {
    auto it = fm->static_inputs().find(tensor_name(layer, linear));
    return it == fm->static_inputs().end() ? infer::StaticActivation{}
                                           : infer::StaticActivation{it->second.scheme, it->second.amax};
  };
  return Status::Ok();
}

namespace {

// The model with its tokenizer; a model without one cannot be scored.
Result<std::unique_ptr<Model>> open_scored(const std::string& path, const std::string& tokenizer) {
  BITSMITH_ASSIGN_OR_RETURN(auto m, io::open_model(path, tokenizer));
  if (m->vocabulary().empty()) return invalid_argument("{}: no tokenizer (give --tokenizer FILE)", path);
  return m;
}

// What every run needs from the model and the text: the chunk length and the token ids.
struct Scored {
  std::unique_ptr<Model> model;
  int64_t ctx = 0;
  std::vector<int32_t> tokens;
  int32_t bos_id = -1;
  const quant::Scheme* act = nullptr;
};

Result<Scored> open_and_tokenize(const std::string& path, const TextRun& run) {
  Scored s;
  if (!run.act_scheme.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(s.act, quant::find_scheme(run.act_scheme));
  }
  BITSMITH_ASSIGN_OR_RETURN(s.model, open_scored(path, run.tokenizer));
  const auto& hp = s.model->hyperparameters();
  s.ctx = run.ctx > 0 ? run.ctx : std::min<int64_t>(512, hp.context_length);
  if (s.ctx > hp.context_length) {
    return invalid_argument("--ctx {} exceeds the model's context of {}", s.ctx, hp.context_length);
  }
  BITSMITH_ASSIGN_OR_RETURN(std::string text, read_text(run.text));
  BITSMITH_ASSIGN_OR_RETURN(auto tok, infer::Tokenizer::create(s.model->vocabulary()));
  // BOS only where the vocabulary asks for it (tokenizer.ggml.add_bos_token), as llama.cpp does.
  const bool add_bos = s.model->vocabulary().add_bos;
  s.tokens = tok->encode(text, add_bos);
  s.bos_id = add_bos ? tok->bos_id() : -1;
  return s;
}

EvalOptions eval_options(const Scored& s, const TextRun& run, std::string_view stage, int64_t engines) {
  EvalOptions eo;
  eo.style = run.style;
  eo.ctx = s.ctx;
  eo.max_chunks = run.max_chunks;
  eo.bos_id = s.bos_id;
  if (run.progress) {
    eo.progress = [&run, stage, tokens_per_chunk = s.ctx * engines](int64_t done, int64_t total, double seconds) {
      run.progress({stage, done, total, seconds, done * tokens_per_chunk});
    };
  }
  return eo;
}

// Fake-quantized layers are kept: requantizing them for every chunk would dominate the run.
void keep_quantized_layers(infer::EngineOptions* o) { o->resident_bytes = std::numeric_limits<uint64_t>::max(); }

nlohmann::json percentiles_json(const ModelScore& s) {
  return {{"median", s.kld_median}, {"90", s.kld_p90}, {"95", s.kld_p95},
          {"99", s.kld_p99},        {"99.9", s.kld_p999}, {"max", s.kld_max}};
}

}  // namespace

std::string EvalReport::ref_label() const {
  return request.ref.empty() ? request.model + " (unquantized)" : request.ref;
}

Result<EvalReport> evaluate_model(const EvalRequest& req) {
  if (req.recipe && !req.linears_only.empty()) {
    return invalid_argument("--linears-only takes a plain --scheme, not a recipe or rules");
  }
  EvalReport rep;
  rep.request = req;
  BITSMITH_ASSIGN_OR_RETURN(Scored s, open_and_tokenize(req.model, req.run));
  rep.ctx = s.ctx;
  const Model& model = *s.model;
  if (req.recipe) {
    BITSMITH_ASSIGN_OR_RETURN(rep.notes, plan::check_rules_match(*req.recipe, req.user_rules, model));
  }
  BITSMITH_ASSIGN_OR_RETURN(rep.plan, req.recipe ? recipe_plan(model, *req.recipe) : plan_schemes(model, req.linears_only));
  if (rep.request.label.empty()) rep.request.label = req.recipe ? req.recipe->label() : req.linears_only;

  std::unique_ptr<Model> ref_model;
  if (!req.ref.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(ref_model, open_scored(req.ref, req.ref_tokenizer.empty() ? req.run.tokenizer : req.ref_tokenizer));
  }
  // The reference: --ref, else the model itself unquantized when something is fake-quantized.
  const bool quantized = rep.plan.scheme != nullptr || s.act != nullptr || req.static_activations;
  const Model* ref = ref_model ? ref_model.get() : (quantized ? &model : nullptr);
  infer::EngineOptions base = file_engine_options(model);
  base.context = s.ctx;
  std::vector<std::unique_ptr<infer::Engine>> engines;
  if (ref != nullptr) {
    infer::EngineOptions ro = ref == &model ? base : file_engine_options(*ref);
    ro.context = s.ctx;
    BITSMITH_ASSIGN_OR_RETURN(auto e, infer::Engine::create(*ref, ro));
    engines.push_back(std::move(e));
  }
  infer::EngineOptions opt = base;
  opt.act_scheme = s.act;
  if (req.static_activations) BITSMITH_RETURN_IF_ERROR(use_static_activations(model, &opt));
  if (rep.plan.scheme != nullptr) {
    opt.weight_scheme_for = rep.plan.chooser();
    keep_quantized_layers(&opt);
  }
  BITSMITH_ASSIGN_OR_RETURN(auto e, infer::Engine::create(model, opt));
  engines.push_back(std::move(e));
  std::vector<infer::Engine*> ptrs;
  for (auto& en : engines) ptrs.push_back(en.get());
  const auto n = static_cast<int64_t>(ptrs.size());
  BITSMITH_ASSIGN_OR_RETURN(rep.result, evaluate(ptrs, s.tokens, eval_options(s, req.run, req.model, n)));
  return rep;
}

nlohmann::json to_json(const EvalReport& rep) {
  const EvalRequest& rq = rep.request;
  const ModelScore& ms = rep.score();
  const EvalResult& r = rep.result;
  nlohmann::json doc = {{"model", rq.model}, {"text", rq.run.text}, {"style", style_name(rq.run.style)},
                        {"ctx", rep.ctx}, {"tokens", r.tokens}, {"chunks", r.chunks},
                        {"scored", r.scored}, {"perplexity", ms.perplexity},
                        {"ppl_uncertainty", ms.ppl_uncertainty}, {"nll", ms.nll},
                        {"tokens_per_second", r.tokens_per_second}};
  if (!rq.label.empty()) doc["scheme"] = rq.label;
  if (!rq.run.act_scheme.empty()) doc["act_scheme"] = rq.run.act_scheme;
  if (rq.static_activations) doc["static_activations"] = true;
  if (!rep.plan.kept.empty()) doc["kept_unquantized"] = rep.plan.kept;
  if (!rq.label.empty()) {
    doc["bytes"] = rep.plan.bytes;
    doc["bits_per_weight"] = rep.plan.bits_per_weight;
  }
  if (rep.has_ref()) {
    doc["ref"] = rep.ref_label();
    doc["ref_perplexity"] = r.models[0].perplexity;
    doc["kld"] = ms.kld;
    doc["kld_uncertainty"] = ms.kld_uncertainty;
    doc["kld_percentiles"] = percentiles_json(ms);
    doc["verdict"] = std::string(verdict(ms.kld, ms.top1_agreement));
    doc["top1_agreement"] = ms.top1_agreement;
    doc["ppl_ratio"] = ms.ppl_ratio;
  }
  return doc;
}

std::string CompareRow::verdict() const {
  const std::string v(eval::verdict(score.kld, score.top1_agreement));
  return applies() ? v : v + " (all tensors fell back)";
}

void mark_pareto(std::vector<CompareRow>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < rows.size() && !dominated; ++j) {
      if (i == j || !rows[j].applies()) continue;
      const bool no_worse = rows[j].plan.bytes <= rows[i].plan.bytes && rows[j].score.kld <= rows[i].score.kld;
      const bool better = rows[j].plan.bytes < rows[i].plan.bytes || rows[j].score.kld < rows[i].score.kld;
      dominated = no_worse && (better || j < i);
    }
    rows[i].pareto = !dominated && !std::isnan(rows[i].score.kld) && rows[i].applies();
  }
}

Result<CompareReport> compare_schemes(const CompareRequest& req) {
  if (req.schemes.empty() && req.recipes.empty()) {
    return invalid_argument("--schemes or --recipe needs at least one scheme");
  }
  if (req.linears_only && !req.recipes.empty()) {
    return invalid_argument("--linears-only takes plain schemes, not recipes");
  }
  // Every name is checked before the model is read: a typo fails at once, not after an hour.
  std::vector<plan::Recipe> recipes;
  for (const auto& name : req.schemes) {
    if (req.linears_only) BITSMITH_RETURN_IF_ERROR(quant::find_scheme(name).status());
    else BITSMITH_RETURN_IF_ERROR(plan::recipe_for_name_or_file(name).status());
  }
  for (const auto& name : req.recipes) {
    BITSMITH_ASSIGN_OR_RETURN(auto r, plan::find_recipe(name));
    recipes.push_back(std::move(r));
  }
  CompareReport rep;
  rep.request = req;
  BITSMITH_ASSIGN_OR_RETURN(Scored s, open_and_tokenize(req.model, req.run));
  rep.ctx = s.ctx;
  const Model& model = *s.model;
  BITSMITH_ASSIGN_OR_RETURN(rep.baseline, plan_schemes(model, ""));
  for (const auto& name : req.schemes) {
    BITSMITH_ASSIGN_OR_RETURN(auto p, plan_for_name(model, name, req.linears_only));
    rep.rows.push_back({name, std::move(p), {}, 0, false});
  }
  for (const auto& r : recipes) {
    BITSMITH_ASSIGN_OR_RETURN(auto p, recipe_plan(model, r));
    rep.rows.push_back({r.label(), std::move(p), {}, 0, false});
  }
  infer::EngineOptions base = file_engine_options(model);
  base.context = s.ctx;
  BITSMITH_ASSIGN_OR_RETURN(auto ref_engine, infer::Engine::create(model, base));
  double seconds = 0, engine_tokens = 0;
  bool first = true;
  for (CompareRow& row : rep.rows) {
    infer::EngineOptions o = base;
    o.weight_scheme_for = row.plan.chooser();
    o.act_scheme = s.act;
    keep_quantized_layers(&o);
    auto e = infer::Engine::create(model, o);
    if (!e.ok()) return e.status().with_context(row.label);
    infer::Engine* pair[] = {ref_engine.get(), e->get()};
    auto one = evaluate(pair, s.tokens, eval_options(s, req.run, row.label, 2));
    if (!one.ok()) return one.status().with_context(row.label);
    row.score = one->models[1];
    seconds += one->seconds;
    engine_tokens += one->tokens_per_second * one->seconds;
    if (first) rep.result = std::move(*one);
    else rep.result.models.push_back(row.score);  // models[0] stays the reference
    first = false;
  }
  rep.result.seconds = seconds;
  rep.result.tokens_per_second = seconds > 0 ? engine_tokens / seconds : 0;
  rep.reference = rep.result.models[0];
  for (CompareRow& row : rep.rows) row.delta_ppl = row.score.perplexity - rep.reference.perplexity;
  mark_pareto(rep.rows);
  return rep;
}

nlohmann::json to_json(const CompareReport& rep) {
  const CompareRequest& rq = rep.request;
  nlohmann::json results = nlohmann::json::array(), pareto = nlohmann::json::array();
  for (const CompareRow& r : rep.rows) {
    nlohmann::json j = {{"scheme", r.label}, {"bits_per_weight", r.plan.bits_per_weight},
                        {"bytes", r.plan.bytes}, {"perplexity", r.score.perplexity},
                        {"delta_ppl", r.delta_ppl}, {"kld", r.score.kld},
                        {"top1_agreement", r.score.top1_agreement}, {"ppl_ratio", r.score.ppl_ratio},
                        {"ppl_uncertainty", r.score.ppl_uncertainty}, {"kld_uncertainty", r.score.kld_uncertainty},
                        {"kld_percentiles", percentiles_json(r.score)}, {"verdict", r.verdict()},
                        {"ppl_verdict", std::string(ppl_verdict(r.delta_ppl))}};
    if (!r.plan.kept.empty()) {
      // The tensors the scheme could not hold: kept as stored with --linears-only, else stored
      // in the fallback scheme quantize picks (listed in "fallbacks").
      j["kept_unquantized"] = r.plan.kept;
      if (!rq.linears_only) {
        nlohmann::json fb = nlohmann::json::object();
        for (const auto& n : r.plan.kept) fb[n] = r.plan.by_tensor.at(n)->name();
        j["fallbacks"] = fb;
      }
    }
    results.push_back(j);
    if (r.pareto) pareto.push_back(r.label);
  }
  const ModelScore& bs = rep.reference;
  nlohmann::json doc = {
      {"model", rq.model}, {"text", rq.run.text}, {"style", style_name(rq.run.style)}, {"ctx", rep.ctx},
      {"tokens", rep.result.tokens}, {"chunks", rep.result.chunks}, {"scored", rep.result.scored},
      {"baseline", {{"bits_per_weight", rep.baseline.bits_per_weight}, {"bytes", rep.baseline.bytes},
                    {"perplexity", bs.perplexity}, {"ppl_uncertainty", bs.ppl_uncertainty}, {"nll", bs.nll}}},
      {"results", results}, {"pareto", pareto}, {"tokens_per_second", rep.result.tokens_per_second}};
  if (!rq.run.act_scheme.empty()) doc["act_scheme"] = rq.run.act_scheme;
  return doc;
}

}  // namespace bitsmith::eval
