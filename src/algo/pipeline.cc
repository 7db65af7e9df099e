// prepare_method: the per-method preparation (methods.h). GPTQ runs layer by layer, each layer
// calibrated on the outputs of the layers already quantized before it: a LayerRunner keeps the
// calibration hidden states between layers and runs one layer at a time (an OverlayModel stands
// in the current layer's dequantized weights), so memory holds the hidden states, one layer's
// Hessians and floats, and the packed results.
#include <algorithm>
#include <chrono>
#include <set>
#include <fmt/format.h>

#include "awq.h"
#include "qat.h"
#include "bitsmith/algo/methods.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/quant/group_quantizer.h"

namespace bitsmith::algo {

Result<Method> parse_method(std::string_view name) {
  if (name == "rtn") return Method::kRtn;
  if (name == "gptq") return Method::kGptq;
  if (name == "awq") return Method::kAwq;
  if (name == "imatrix") return Method::kImatrix;
  if (name == "hqq") return Method::kHqq;
  if (name == "qat") return Method::kQat;
  return invalid_argument("unknown method '{}' (rtn, gptq, awq, imatrix, hqq, qat)", name);
}

std::string_view method_name(Method m) {
  switch (m) {
    case Method::kRtn: return "rtn";
    case Method::kGptq: return "gptq";
    case Method::kAwq: return "awq";
    case Method::kImatrix: return "imatrix";
    case Method::kHqq: return "hqq";
    case Method::kQat: return "qat";
  }
  return "rtn";
}

bool method_needs_calibration(Method m) { return m == Method::kGptq || m == Method::kAwq || m == Method::kQat; }

namespace {

class Prepared final : public PreparedModel {
 public:
  Prepared(const Model& m, Method method) : base_(m), method_(method) {}
  const Model& model() const override { return overlay_ ? *overlay_ : base_; }
  std::vector<std::string> notes() const override { return notes_; }

  Result<quant::QuantizedTensor> quantize(const std::string& name, const quant::Scheme& scheme,
                                          const float* w, int64_t rows, int64_t cols,
                                          const quant::QuantizeOptions& opt) override {
    auto it = done_.find(name);
    if (it != done_.end() && it->second.scheme == &scheme) {
      quant::QuantizedTensor q = std::move(it->second);
      done_.erase(it);
      auto matched = match_rows(std::move(q), name, w, rows, cols);
      if (matched.ok() || matched.status().code() != StatusCode::kUnsupported) return matched;
      if (rescaled_.count(name) != 0) return matched.status().with_context(fmt::format("awq: {}", name));
      notes_.push_back(fmt::format("{}: {}; used RTN", name, matched.status().message()));
      return scheme.quantize(w, rows, cols, opt);
    }
    // AWQ's packed linears are the only copy of the rescaled weights (the model hands over the
    // original ones): quantizing those instead would silently break the folded norms.
    if (rescaled_.count(name) != 0) {
      return internal_error("awq: {} was rescaled and packed as {}, asked again or as {}", name,
                            it != done_.end() ? it->second.scheme->name() : "(already written)",
                            scheme.name());
    }
    if (method_ == Method::kHqq) {
      auto q = hqq_quantize(scheme, w, rows, cols, hqq_);
      if (q.ok() || q.status().code() != StatusCode::kUnsupported) return q;
      notes_.push_back(fmt::format("{}: {}; used RTN", name, q.status().message()));
    } else if (auto im = imatrix_.values.find(name);
               im != imatrix_.values.end() && static_cast<int64_t>(im->second.size()) == cols) {
      // The imatrix method's entries; GPTQ's one entry is a tied head's (gptq_head).
      quant::QuantizeOptions o = opt;
      o.importance = im->second.data();
      return scheme.quantize(w, rows, cols, o);
    } else if (method_ == Method::kImatrix) {
      notes_.push_back(fmt::format("{}: no imatrix entry of {} values; used RTN", name, cols));
    } else if (method_ != Method::kRtn && method_ != Method::kAwq && method_ != Method::kQat && input_key(name) != "") {
      notes_.push_back(fmt::format("{}: {} did not cover it; used RTN", name, method_name(method_)));
    }
    return scheme.quantize(w, rows, cols, opt);
  }

  // The writer may hand the weights over with their rows reordered (rotary convention of the
  // output format); the precomputed result follows the same order, row by row.
  Result<quant::QuantizedTensor> match_rows(quant::QuantizedTensor q, const std::string& name,
                                            const float* w, int64_t rows, int64_t cols) const {
    BITSMITH_ASSIGN_OR_RETURN(Tensor orig, base_.load_f32(name));
    const float* o = orig.as<float>().data();
    if (q.rows != rows || q.cols != cols || orig.shape().numel() != rows * cols) {
      return internal_error("{}: shape changed between calibration and writing", name);
    }
    if (std::equal(o, o + rows * cols, w)) return q;
    std::map<std::vector<float>, int64_t> where;
    for (int64_t r = 0; r < rows; ++r) where.emplace(std::vector<float>(o + r * cols, o + (r + 1) * cols), r);
    const auto gran = q.scheme->traits().granularity;
    const bool per_row = gran != quant::Granularity::kBlock2D && q.data.size() % rows == 0 &&
                         q.scales.size() % rows == 0 && q.zeros.size() % rows == 0;
    // Equal rows (kept once in `where`) quantize to equal bytes: rows are independent.
    if (!per_row) {
      return unsupported("rows reordered by the writer cannot be matched to the calibrated result");
    }
    quant::QuantizedTensor out = q;
    const size_t db = q.data.size() / rows, sb = q.scales.size() / rows, zb = q.zeros.size() / rows;
    for (int64_t r = 0; r < rows; ++r) {
      auto f = where.find(std::vector<float>(w + r * cols, w + (r + 1) * cols));
      if (f == where.end()) return unsupported("row {} of the weights handed over is not a row of the model", r);
      const auto src = static_cast<size_t>(f->second), dst = static_cast<size_t>(r);
      std::copy_n(q.data.begin() + src * db, db, out.data.begin() + dst * db);
      std::copy_n(q.scales.begin() + src * sb, sb, out.scales.begin() + dst * sb);
      std::copy_n(q.zeros.begin() + src * zb, zb, out.zeros.begin() + dst * zb);
    }
    return out;
  }

  const Model& base_;
  Method method_;
  std::unique_ptr<OverlayModel> overlay_;
  std::map<std::string, quant::QuantizedTensor> done_;
  std::set<std::string> rescaled_;  // AWQ: packed in done_ from weights the model no longer has
  std::vector<std::string> notes_;
  ImatrixData imatrix_;  // imatrix: every linear's entry; GPTQ: a tied head's only
  HqqOptions hqq_;
};

Result<Tensor> dequantized(const quant::QuantizedTensor& q) {
  Tensor t(DType::kF32, {q.rows, q.cols});
  BITSMITH_RETURN_IF_ERROR(q.scheme->dequantize(q.view(), t.mutable_as<float>().data()));
  return t;
}

// GPTQ of one matrix under its input's Hessian; the packed result waits in p->done_ for the
// writer, and the notes say what GPTQ changed on the way (damping, static groups, dead columns).
Result<quant::QuantizedTensor> gptq_matrix(const std::string& name, const quant::Scheme& scheme, const Tensor& w,
                                           const std::vector<double>& hessian, GptqOptions go, const MethodOptions& opt,
                                           Prepared* p) {
  if (auto a = opt.shared_amax.find(name); a != opt.shared_amax.end()) go.shared_amax = a->second;
  GptqReport rep;
  auto q = gptq_quantize(scheme, w.as<float>().data(), w.shape().rows(), w.shape().cols(), hessian.data(), go, &rep);
  if (!q.ok()) return q.status().with_context(name);
  if (rep.damp_raises > 0) {
    p->notes_.push_back(fmt::format("{}: Cholesky failed at damp {}, raised to {}", name, go.damp, rep.damp));
  }
  if (rep.forced_static_groups) {
    p->notes_.push_back(fmt::format("{}: act-order on grouped {}: static groups", name, scheme.name()));
  }
  if (rep.dead_columns > 0) p->notes_.push_back(fmt::format("{}: {} dead input columns zeroed", name, rep.dead_columns));
  if (go.refit_params && rep.refit_error_before > 0) {
    p->notes_.push_back(fmt::format("{}: block parameters refit in {} of {} rows, layer-output error x{:.3f}", name,
                                    rep.refit_rows, w.shape().rows(), rep.refit_error_after / rep.refit_error_before));
  }
  return q;
}

// The output head, after the decoder layers: its input is the final-normed output of the
// quantized layers. An untied output.weight is one more linear for GPTQ. A tied token_embd is
// also the embedding, whose lookup rows GPTQ's error feedback would spoil for the head's sake,
// so it gets the importance-weighted rounding (the head input's mean x^2, as an imatrix entry).
Status gptq_head(const Model& model, const SchemeFor& scheme_for, const MethodOptions& opt, LayerRunner& runner,
                 Prepared* p) {
  const std::string head = head_weight_name(model);
  const quant::Scheme* scheme = scheme_for(head);
  if (scheme == nullptr || scheme->traits().granularity == quant::Granularity::kElement || !model.has_tensor(head)) {
    return Status::Ok();
  }
  const bool tied = head == kTokenEmbdWeight;
  CollectOptions co;
  co.hessian = !tied;
  BITSMITH_ASSIGN_OR_RETURN(auto stats, runner.collect_head(co));
  auto st = stats.find(kHeadInputKey);
  if (st == stats.end()) return internal_error("gptq: the output head's input was never seen");
  if (tied || !quant::has_group_quantizer(*scheme)) {
    p->imatrix_.values[head] = st->second.mean_sq();
    return Status::Ok();
  }
  BITSMITH_ASSIGN_OR_RETURN(Tensor w, model.load_f32(head));
  BITSMITH_ASSIGN_OR_RETURN(auto q, gptq_matrix(head, *scheme, w, st->second.hessian, opt.gptq, opt, p));
  p->done_[head] = std::move(q);
  return Status::Ok();
}

Status run_gptq(const Model& model, const SchemeFor& scheme_for, const MethodOptions& opt,
                const std::vector<std::vector<int32_t>>& segs, Prepared* p) {
  OverlayModel ov(model);
  BITSMITH_ASSIGN_OR_RETURN(auto runner, LayerRunner::create(ov, segs));
  const int64_t L = model.hyperparameters().n_layers;
  for (int64_t l = 0; l < L; ++l) {
    CollectOptions co;
    co.hessian = true;
    BITSMITH_ASSIGN_OR_RETURN(auto stats, runner->collect(co));
    for (const std::string& name : layer_linears(l)) {
      const quant::Scheme* scheme = scheme_for(name);
      if (scheme == nullptr || scheme->traits().granularity == quant::Granularity::kElement) continue;
      if (!model.has_tensor(name)) return not_found("gptq: {} is missing from {}", name, model.path());
      if (!quant::has_group_quantizer(*scheme)) {
        p->notes_.push_back(fmt::format("{}: scheme {} has no grid for GPTQ; used RTN", name, scheme->name()));
        continue;
      }
      auto st = stats.find(input_key(name));
      if (st == stats.end()) return not_found("gptq: no calibration input reached {}", name);
      BITSMITH_ASSIGN_OR_RETURN(Tensor w, model.load_f32(name));
      BITSMITH_ASSIGN_OR_RETURN(auto q, gptq_matrix(name, *scheme, w, st->second.hessian, opt.gptq, opt, p));
      BITSMITH_ASSIGN_OR_RETURN(Tensor deq, dequantized(q));
      ov.replace(name, std::move(deq));
      p->done_[name] = std::move(q);
    }
    stats.clear();
    // The next layer's inputs (after the last, the head's) are this layer's outputs with its
    // quantized weights; then the dequantized copies are no longer needed (memory: one layer's
    // floats at a time).
    BITSMITH_RETURN_IF_ERROR(runner->advance());
    for (const std::string& name : layer_linears(l)) ov.restore(name);
  }
  return gptq_head(model, scheme_for, opt, *runner, p);
}

}  // namespace

Result<std::unique_ptr<PreparedModel>> prepare_method(const Model& model, const SchemeFor& scheme_for,
                                                      const MethodOptions& opt) {
  auto p = std::make_unique<Prepared>(model, opt.method);
  p->hqq_ = opt.hqq;
  const bool need_text = method_needs_calibration(opt.method) ||
                         (opt.method == Method::kImatrix && opt.imatrix_path.empty());
  std::vector<std::vector<int32_t>> segs;
  if (need_text) {
    if (opt.calib.text_path.empty()) {
      return invalid_argument("method {} needs calibration text (--calib FILE{})", method_name(opt.method),
                              opt.method == Method::kImatrix ? " or --imatrix FILE" : "");
    }
    BITSMITH_ASSIGN_OR_RETURN(segs, calibration_segments(model, opt.calib));
  }
  switch (opt.method) {
    case Method::kRtn:
    case Method::kHqq: break;
    case Method::kImatrix:
      if (!opt.imatrix_path.empty()) {
        BITSMITH_ASSIGN_OR_RETURN(p->imatrix_, read_imatrix(opt.imatrix_path));
      } else {
        BITSMITH_ASSIGN_OR_RETURN(p->imatrix_, collect_imatrix(model, segs, static_cast<int32_t>(opt.calib.seqlen),
                                                               opt.calib.text_path));
      }
      break;
    case Method::kGptq: BITSMITH_RETURN_IF_ERROR(run_gptq(model, scheme_for, opt, segs, p.get())); break;
    case Method::kAwq: {
      p->overlay_ = std::make_unique<OverlayModel>(model);
      BITSMITH_RETURN_IF_ERROR(run_awq(model, scheme_for, opt.awq, segs, p->overlay_.get(), &p->done_, &p->notes_));
      for (const auto& [name, q] : p->done_) p->rescaled_.insert(name);
      break;
    }
    case Method::kQat:
      // The trained weights stand in for the model's; each is then written with its scheme's RTN.
      p->overlay_ = std::make_unique<OverlayModel>(model);
      BITSMITH_RETURN_IF_ERROR(run_qat(model, scheme_for, opt, segs, p->overlay_.get(), &p->notes_));
      break;
  }
  return std::unique_ptr<PreparedModel>(std::move(p));
}

}  // namespace bitsmith::algo
