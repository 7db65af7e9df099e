// measure_sensitivity (sensitivity.h).
#include "bitsmith/algo/sensitivity.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "bitsmith/algo/calibration.h"
#include "collector.h"
#include "bitsmith/core/checked.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/infer/engine.h"
#include "bitsmith/quant/group_quantizer.h"

namespace bitsmith::algo {
namespace {

using plan::CandidateCost;
using plan::Measurements;
using plan::TensorCosts;

// Running mean and standard error of per-token KL divergences.
struct KldSum {
  double sum = 0, sum2 = 0;
  int64_t n = 0;
  void add(double k) { sum += k; sum2 += k * k; ++n; }
  double mean() const { return n ? sum / static_cast<double>(n) : 0; }
  double se() const {
    if (n < 2) return 0;
    const double m = mean(), var = std::max(0.0, sum2 / static_cast<double>(n) - m * m);
    return std::sqrt(var / static_cast<double>(n - 1));
  }
};

void log_softmax(float* row, int64_t v) {
  float mx = row[0];
  for (int64_t i = 1; i < v; ++i) mx = std::max(mx, row[i]);
  double s = 0;
  for (int64_t i = 0; i < v; ++i) s += std::exp(static_cast<double>(row[i] - mx));
  const float lse = mx + static_cast<float>(std::log(s));
  for (int64_t i = 0; i < v; ++i) row[i] -= lse;
}

// KL(P_ref || P) of each row of `logits` against the reference log-probabilities.
void add_kld(std::vector<float>& logits, const std::vector<float>& ref_logp, int64_t rows, int64_t v, KldSum* acc) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = logits.data() + r * v;
    const float* ref = ref_logp.data() + r * v;
    log_softmax(row, v);
    double kl = 0;
    for (int64_t i = 0; i < v; ++i) kl += std::exp(static_cast<double>(ref[i])) * static_cast<double>(ref[i] - row[i]);
    acc->add(kl);
  }
}

struct Context {
  const Model& model;
  const std::vector<std::vector<int32_t>>& segments;
  const SensitivityOptions& opt;
  Measurements& m;
  OverlayModel overlay;
  // The LayerRunner's segments: the scored ones first (their indices are the same in both), then
  // the held-out fit segments, if any.
  std::vector<std::vector<int32_t>> runner_segments;
  std::unique_ptr<infer::Engine> engine;  // over the overlay: the measuring engine
  int64_t max_len = 0, vocab = 0, dim = 0, layers = 0;
  std::vector<std::vector<float>> ref_logp;  // per segment, rows x vocab
  // The output head's input over the reference pass, as collect_inputs gathers it
  // (CollectOptions::head): sum x^2 per column (the writer's imatrix entry) and H = 2/n sum x x^T.
  InputStats head;
  InputStats head_fit;                       // the same over the fit segments (held out), else a copy
  std::map<int32_t, int64_t> token_count;    // calibration tokens by id (embedding proxy)
  std::unique_ptr<detail::StatsCollector> head_collector;  // during reference() only
  int64_t done = 0, total = 0;
  std::vector<float> x, logits;

  Context(const Model& mo, const std::vector<std::vector<int32_t>>& s, const SensitivityOptions& o, Measurements& me)
      : model(mo), segments(s), opt(o), m(me), overlay(mo) {}

  bool held_out() const { return !opt.fit_segments.empty(); }
  // Collecting over the scored segments only, or the fit ones (the same when nothing is held out).
  CollectOptions over(bool fit) const {
    CollectOptions co;
    co.hessian = true;
    if (held_out()) {
      co.first_segment = fit ? segments.size() : 0;
      co.end_segment = fit ? runner_segments.size() : segments.size();
    }
    return co;
  }

  Result<std::unique_ptr<infer::Engine>> make_engine() {
    infer::EngineOptions eo;
    eo.context = max_len;
    eo.resident_bytes = opt.resident_bytes;
    eo.hook = [this](const infer::LinearInput& in) {
      if (head_collector && in.layer == -1) head_collector->add(in);
    };
    return infer::Engine::create(overlay, std::move(eo));
  }

  // Runs layers [from, L) and the head on `hidden` (rows x dim); logits to `logits`.
  Status run_from(infer::Engine& e, int64_t from, int64_t rows) {
    for (int64_t l = from; l < layers; ++l) BITSMITH_RETURN_IF_ERROR(e.forward_layer(l, x.data(), rows, 0));
    BITSMITH_RETURN_IF_ERROR(e.head_from_hidden(x.data(), rows));
    logits.resize(static_cast<size_t>(rows * vocab));
    return e.output_logits(0, vocab, logits.data());
  }

  // The head's input statistics over `segs`, from a whole-model pass each (no logits).
  Result<InputStats> head_input(const std::vector<std::vector<int32_t>>& segs) {
    CollectOptions co;
    co.hessian = true;
    co.head = true;
    head_collector = std::make_unique<detail::StatsCollector>(co);
    for (size_t s = 0; s < segs.size(); ++s) {
      const auto rows = static_cast<int64_t>(segs[s].size());
      x.resize(static_cast<size_t>(rows * dim));
      Status st = engine->embed(segs[s], x.data());
      for (int64_t l = 0; l < layers && st.ok(); ++l) st = engine->forward_layer(l, x.data(), rows, 0);
      if (st.ok()) st = engine->head_from_hidden(x.data(), rows);
      if (!st.ok()) return st.with_context(fmt::format("fit segment {}", s));
    }
    return finish_head();
  }

  Result<InputStats> finish_head() {
    BITSMITH_RETURN_IF_ERROR(head_collector->error());
    auto stats = head_collector->finish();
    head_collector.reset();
    auto it = stats.find(kHeadInputKey);
    if (it == stats.end()) return internal_error("plan: the output head's input was never seen");
    return std::move(it->second);
  }

  Status reference() {
    CollectOptions co;
    co.hessian = true;
    co.head = true;
    head_collector = std::make_unique<detail::StatsCollector>(co);
    for (size_t s = 0; s < segments.size(); ++s) {
      const auto rows = static_cast<int64_t>(segments[s].size());
      x.resize(static_cast<size_t>(rows * dim));
      BITSMITH_RETURN_IF_ERROR(engine->embed(segments[s], x.data()));
      BITSMITH_RETURN_IF_ERROR(run_from(*engine, 0, rows).with_context(fmt::format("calibration segment {}", s)));
      for (int64_t r = 0; r < rows; ++r) log_softmax(logits.data() + r * vocab, vocab);
      for (float v : logits) {
        if (!std::isfinite(v)) return invalid_argument("{}: non-finite logits on calibration segment {}", model.path(), s);
      }
      if (exact()) ref_logp.push_back(logits);
      for (int32_t t : segments[s]) ++token_count[t];
    }
    BITSMITH_ASSIGN_OR_RETURN(head, finish_head());
    if (held_out()) {
      BITSMITH_ASSIGN_OR_RETURN(head_fit, head_input(opt.fit_segments));
    } else {
      head_fit = head;
    }
    return Status::Ok();
  }

  // The exact cost of the overlay as it stands, running from `layer` on the kept states (or the
  // whole model from the embedding when states is null).
  Result<KldSum> kld(infer::Engine& e, int64_t layer, const LayerRunner* states) {
    KldSum acc;
    for (size_t s = 0; s < segments.size(); ++s) {
      const auto rows = static_cast<int64_t>(segments[s].size());
      if (states != nullptr) {
        x = states->hidden(s);
      } else {
        x.resize(static_cast<size_t>(rows * dim));
        BITSMITH_RETURN_IF_ERROR(e.embed(segments[s], x.data()));
      }
      BITSMITH_RETURN_IF_ERROR(run_from(e, layer, rows).with_context(fmt::format("calibration segment {}", s)));
      add_kld(logits, ref_logp[s], rows, vocab, &acc);
    }
    return acc;
  }

  bool exact() const { return opt.costs != "proxy"; }  // any KLD run at all
  // Whether option `o` (ascending bytes) runs the model: every one (exact), the smallest (hybrid),
  // every one of the embedding and head in hybrid too (`whole`): a tied matrix's proxy adds the
  // lookup error to the head's Hessian error, two unlike units, so ratios of it mislead (measured
  // on SmolLM2: q5_1 estimated at a third of its KLD), and there are only one or two of them.
  bool runs_kld(size_t o, bool whole = false) const {
    return opt.costs == "exact" || (opt.costs == "hybrid" && (o == 0 || whole));
  }

  // Hybrid: the options not run get the measured option's KLD scaled by their proxy ratio.
  void finish(TensorCosts& t, bool whole = false) {
    if (opt.costs == "hybrid" && !whole) {
      const CandidateCost& anchor = t.options.front();
      for (size_t o = 1; o < t.options.size(); ++o) {
        CandidateCost& est = t.options[o];
        const double ratio = anchor.proxy > 0 ? est.proxy / anchor.proxy : 0.0;
        est.kld = anchor.kld * ratio;
        est.kld_se = anchor.kld_se * ratio;
        est.kld_estimated = true;
      }
    }
    t.measured = true;
    ++done;
    if (opt.progress) opt.progress(t.name, done, total);
  }
};

// 1/2 sum_r dW_r H dW_r^T = mean over the calibration tokens of ||dW x||^2.
double hessian_error(const std::vector<float>& dw, int64_t rows, int64_t cols, const std::vector<double>& h) {
  std::vector<float> hf(h.begin(), h.end()), prod(static_cast<size_t>(rows * cols));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols),
              static_cast<int>(cols), 1.0f, dw.data(), static_cast<int>(cols), hf.data(), static_cast<int>(cols), 0.0f,
              prod.data(), static_cast<int>(cols));
  double s = 0;
  for (size_t i = 0; i < prod.size(); ++i) s += static_cast<double>(prod[i]) * dw[i];
  return 0.5 * s;
}

// The option's stored weights, dequantized, as the method would write them.
Result<Tensor> quantized_weights(const quant::Scheme& s, const Tensor& w, const InputStats* st,
                                 const SensitivityOptions& opt) {
  const int64_t rows = w.shape().rows(), cols = w.shape().cols();
  const float* wp = w.as<float>().data();
  quant::QuantizeOptions qo;
  std::vector<float> importance;
  Result<quant::QuantizedTensor> q = unsupported("");
  const bool grid = s.traits().granularity != quant::Granularity::kElement && quant::has_group_quantizer(s);
  if (opt.method == Method::kGptq && st != nullptr && grid) {
    GptqReport rep;
    q = gptq_quantize(s, wp, rows, cols, st->hessian.data(), opt.gptq, &rep);
  } else {
    if (opt.method == Method::kImatrix && st != nullptr) {
      importance = st->mean_sq();
      qo.importance = importance.data();
    }
    q = s.quantize(wp, rows, cols, qo);
  }
  if (!q.ok()) return q.status();
  Tensor out(DType::kF32, {rows, cols});
  BITSMITH_RETURN_IF_ERROR(s.dequantize(q->view(), out.mutable_as<float>().data()));
  return out;
}

std::vector<float> difference(const Tensor& a, const Tensor& b) {
  const auto x = a.as<float>(), y = b.as<float>();
  std::vector<float> d(x.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = x[i] - y[i];
  return d;
}

// The embedding and the output head: each option runs the whole model on a fresh engine (the
// engine holds both resident from its creation).
Status measure_heads(Context& c) {
  const bool tied = !c.model.has_tensor(std::string(kOutputWeight));
  for (TensorCosts& t : c.m.tensors) {
    const TensorCategory cat = tensor_category(t.name);
    if (t.measured || (cat != TensorCategory::kEmbedding && cat != TensorCategory::kOutput)) continue;
    BITSMITH_ASSIGN_OR_RETURN(Tensor w, c.model.load_f32(t.name));
    const bool embeds = cat == TensorCategory::kEmbedding, heads = cat == TensorCategory::kOutput || tied;
    // As the writer does: imatrix weighs the head by its input's mean x^2 (imatrix_from_stats
    // with the head), and a tied embedding's lookup rows get the same rounding; GPTQ runs on an
    // untied output.weight under its input's Hessian and weighs a tied token_embd as imatrix
    // does (algo's gptq_head: error feedback for the head would spoil the lookup rows).
    const bool by_input = c.opt.method == Method::kImatrix || c.opt.method == Method::kGptq;
    const InputStats* st = heads && by_input ? &c.head_fit : nullptr;
    SensitivityOptions how = c.opt;
    if (tied && how.method == Method::kGptq) how.method = Method::kImatrix;
    for (size_t oi = 0; oi < t.options.size(); ++oi) {
      CandidateCost& o = t.options[oi];
      BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* s, quant::find_scheme(o.scheme));
      auto qr = quantized_weights(*s, w, st, how);
      if (!qr.ok()) return qr.status().with_context(fmt::format("{} as {}", t.name, o.scheme));
      Tensor q = std::move(*qr);
      const std::vector<float> dw = difference(w, q);
      double proxy = 0;
      if (embeds) {
        double sum = 0;
        for (const auto& [id, n] : c.token_count) {
          double e = 0;
          for (int64_t j = 0; j < t.cols; ++j) e += static_cast<double>(dw[id * t.cols + j]) * dw[id * t.cols + j];
          sum += e * static_cast<double>(n);
        }
        proxy += sum / static_cast<double>(std::max<int64_t>(c.m.calib_tokens, 1));
      }
      if (heads) proxy += hessian_error(dw, t.rows, t.cols, c.head.hessian);
      o.proxy = proxy;
      if (c.runs_kld(oi, /*whole=*/true)) {
        c.overlay.replace(t.name, std::move(q));
        auto engine = c.make_engine();
        Result<KldSum> k = engine.ok() ? c.kld(**engine, 0, nullptr) : Result<KldSum>(engine.status());
        c.overlay.restore(t.name);
        if (!k.ok()) return k.status().with_context(fmt::format("{} as {}", t.name, o.scheme));
        o.kld = k->mean();
        o.kld_se = k->se();
      }
    }
    c.finish(t, /*whole=*/true);
  }
  return c.opt.checkpoint ? c.opt.checkpoint(c.m) : Status::Ok();
}

Status measure_layer(Context& c, LayerRunner& runner, int64_t l, std::map<std::string, TensorCosts*>& by_name) {
  // The method fits the fit segments' statistics; the proxy weighs by the scored segments' inputs.
  BITSMITH_ASSIGN_OR_RETURN(auto stats, runner.collect(c.over(/*fit=*/false)));
  std::map<std::string, InputStats> fit_stats;
  if (c.held_out()) {
    BITSMITH_ASSIGN_OR_RETURN(fit_stats, runner.collect(c.over(/*fit=*/true)));
  }
  const auto& method_stats = c.held_out() ? fit_stats : stats;
  for (const std::string& name : layer_linears(l)) {
    auto it = by_name.find(name);
    if (it == by_name.end() || it->second->measured) continue;
    TensorCosts& t = *it->second;
    auto st = stats.find(input_key(name));
    auto fit = method_stats.find(input_key(name));
    if (st == stats.end() || fit == method_stats.end()) return not_found("plan: no calibration input reached {}", name);
    BITSMITH_ASSIGN_OR_RETURN(Tensor w, c.model.load_f32(name));
    for (size_t oi = 0; oi < t.options.size(); ++oi) {
      CandidateCost& o = t.options[oi];
      BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* s, quant::find_scheme(o.scheme));
      auto qr = quantized_weights(*s, w, &fit->second, c.opt);
      if (!qr.ok()) return qr.status().with_context(fmt::format("{} as {}", name, o.scheme));
      Tensor q = std::move(*qr);
      o.proxy = hessian_error(difference(w, q), t.rows, t.cols, st->second.hessian);
      if (c.runs_kld(oi)) {
        c.overlay.replace(name, std::move(q));
        c.engine->drop_cached_layer(l);
        Result<KldSum> k = c.kld(*c.engine, l, &runner);
        c.overlay.restore(name);
        c.engine->drop_cached_layer(l);
        if (!k.ok()) return k.status().with_context(fmt::format("{} as {}", name, o.scheme));
        o.kld = k->mean();
        o.kld_se = k->se();
      }
    }
    c.finish(t);
  }
  return Status::Ok();
}

}  // namespace

Status check_sensitivity_method(Method m) {
  if (m == Method::kRtn || m == Method::kImatrix || m == Method::kGptq) return Status::Ok();
  return invalid_argument(
      "plan: method {} cannot be measured one tensor at a time ({}); measure with rtn, imatrix or gptq",
      method_name(m),
      m == Method::kAwq ? "AWQ rescales a layer's linears and norms together" : "HQQ is for affine integer grids only");
}

Status measure_sensitivity(const Model& model, const std::vector<std::vector<int32_t>>& segments,
                           const SensitivityOptions& opt, plan::Measurements* m) {
  BITSMITH_RETURN_IF_ERROR(check_sensitivity_method(opt.method));
  if (segments.empty()) return invalid_argument("plan: no calibration segments");
  Context c(model, segments, opt, *m);
  const LlamaHyperparameters& hp = model.hyperparameters();
  c.vocab = hp.vocab_size;
  c.dim = hp.dim;
  c.layers = hp.n_layers;
  int64_t tokens = 0;
  for (const auto& s : segments) {
    c.max_len = std::max<int64_t>(c.max_len, static_cast<int64_t>(s.size()));
    tokens += static_cast<int64_t>(s.size());
  }
  for (const auto& s : opt.fit_segments) c.max_len = std::max<int64_t>(c.max_len, static_cast<int64_t>(s.size()));
  m->calib_tokens = tokens;
  const auto ref_elems = checked_mul(static_cast<uint64_t>(tokens), static_cast<uint64_t>(c.vocab));
  const auto ref_bytes = ref_elems ? checked_mul(*ref_elems, 4) : std::nullopt;
  BITSMITH_RETURN_IF_ERROR(plan::check_costs_mode(opt.costs));
  if (c.exact() && (!ref_bytes || *ref_bytes > opt.max_reference_bytes)) {
    return invalid_argument(
        "plan: the reference log-probabilities of {} calibration tokens x {} vocabulary entries exceed {} bytes; "
        "use at most {} tokens (fewer --calib-samples or a shorter --calib-seqlen)",
        tokens, c.vocab, opt.max_reference_bytes, opt.max_reference_bytes / 4 / static_cast<uint64_t>(c.vocab));
  }
  c.total = static_cast<int64_t>(m->tensors.size());
  for (const auto& t : m->tensors) c.done += t.measured ? 1 : 0;
  if (m->complete()) return Status::Ok();
  BITSMITH_ASSIGN_OR_RETURN(c.engine, c.make_engine());
  BITSMITH_RETURN_IF_ERROR(c.reference());
  BITSMITH_RETURN_IF_ERROR(measure_heads(c));

  std::map<std::string, TensorCosts*> by_name;
  int64_t last = -1;  // the last layer with something left to measure
  for (auto& t : m->tensors) {
    by_name[t.name] = &t;
    if (!t.measured) last = std::max(last, tensor_layer(t.name));
  }
  if (last < 0) return Status::Ok();
  if (c.held_out()) {
    c.runner_segments = segments;
    c.runner_segments.insert(c.runner_segments.end(), opt.fit_segments.begin(), opt.fit_segments.end());
  }
  BITSMITH_ASSIGN_OR_RETURN(auto runner, LayerRunner::create(model, c.held_out() ? c.runner_segments : segments));
  for (int64_t l = 0; l <= last; ++l) {
    bool pending = false;
    for (const auto& name : layer_linears(l)) {
      auto it = by_name.find(name);
      pending = pending || (it != by_name.end() && !it->second->measured);
    }
    if (pending) {
      BITSMITH_RETURN_IF_ERROR(measure_layer(c, *runner, l, by_name).with_context(fmt::format("layer {}", l)));
      if (opt.checkpoint) BITSMITH_RETURN_IF_ERROR(opt.checkpoint(*m));
    }
    if (l < last) BITSMITH_RETURN_IF_ERROR(runner->advance());
  }
  return Status::Ok();
}

}  // namespace bitsmith::algo
