#include "bitsmith/algo/calibration.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/core/text_file.h"
#include "bitsmith/infer/engine.h"
#include "bitsmith/infer/tokenizer.h"
#include "collector.h"

namespace bitsmith::algo {

namespace {

// The calibration text as token ids, at least opt.seqlen of them; `segments` of opt.seqlen
// tokens will be drawn from it.
Result<std::vector<int32_t>> calibration_tokens(const Model& model, const CalibrationOptions& opt, int64_t segments) {
  if (opt.samples <= 0 || opt.seqlen <= 0) {
    return invalid_argument("calibration: --calib-samples {} and --calib-seqlen {} must be positive",
                            opt.samples, opt.seqlen);
  }
  if (segments > kMaxCalibrationTokens / opt.seqlen) {
    return invalid_argument("calibration: {} segments of {} tokens exceed the {} calibration tokens bitsmith keeps",
                            segments, opt.seqlen, kMaxCalibrationTokens);
  }
  // Bounded, and a FIFO nobody writes or /dev/zero is refused instead of hanging or filling memory.
  BITSMITH_ASSIGN_OR_RETURN(const std::string text,
                            read_file_bounded(opt.text_path, {.max_bytes = kMaxCalibrationBytes, .what = "calibration text"}));
  if (model.vocabulary().empty()) {
    return invalid_argument("{}: the model has no tokenizer (pass --tokenizer)", model.path());
  }
  BITSMITH_ASSIGN_OR_RETURN(auto tok, infer::Tokenizer::create(model.vocabulary()));
  std::vector<int32_t> ids = tok->encode(text, /*add_bos=*/false);
  if (static_cast<int64_t>(ids.size()) < opt.seqlen) {
    return invalid_argument("calibration text '{}' has {} tokens, fewer than --calib-seqlen {}",
                            opt.text_path, ids.size(), opt.seqlen);
  }
  return ids;
}

// opt.samples segments at uniform random offsets, as GPTQ samples them; `starts` gets the offsets.
std::vector<std::vector<int32_t>> draw_segments(const std::vector<int32_t>& ids, const CalibrationOptions& opt,
                                                std::mt19937_64& rng, std::vector<int64_t>* starts) {
  std::uniform_int_distribution<int64_t> start(0, static_cast<int64_t>(ids.size()) - opt.seqlen);
  std::vector<std::vector<int32_t>> out;
  for (int64_t s = 0; s < opt.samples; ++s) {
    const int64_t i = start(rng);
    starts->push_back(i);
    out.emplace_back(ids.begin() + i, ids.begin() + i + opt.seqlen);
  }
  return out;
}

}  // namespace

Result<std::vector<std::vector<int32_t>>> calibration_segments(const Model& model,
                                                               const CalibrationOptions& opt) {
  BITSMITH_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, calibration_tokens(model, opt, opt.samples));
  std::mt19937_64 rng(opt.seed);
  std::vector<int64_t> starts;
  return draw_segments(ids, opt, rng, &starts);
}

Result<HeldOutSegments> held_out_segments(const Model& model, const CalibrationOptions& opt, int64_t fit_samples) {
  if (fit_samples <= 0) return invalid_argument("calibration: {} fit segments: give at least 1", fit_samples);
  // (Each checked alone first, so the sum cannot overflow.)
  if (opt.seqlen > 0 && (fit_samples > kMaxCalibrationTokens || opt.samples > kMaxCalibrationTokens ||
                         opt.samples + fit_samples > kMaxCalibrationTokens / opt.seqlen)) {
    return invalid_argument("calibration: {} scored and {} fit segments of {} tokens exceed the {} calibration tokens bitsmith keeps",
                            opt.samples, fit_samples, opt.seqlen, kMaxCalibrationTokens);
  }
  BITSMITH_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, calibration_tokens(model, opt, opt.samples));
  std::mt19937_64 rng(opt.seed);
  HeldOutSegments out;
  out.scored = draw_segments(ids, opt, rng, &out.scored_offsets);
  const int64_t len = opt.seqlen, n = static_cast<int64_t>(ids.size());
  std::uniform_int_distribution<int64_t> start(0, n - len);
  std::vector<int64_t> sorted = out.scored_offsets;
  std::sort(sorted.begin(), sorted.end());
  // Rejection sampling, bounded: a text with little room left beside the scored segments is an
  // error, not a long loop.
  const int64_t max_tries = 1000 + 100 * fit_samples;
  for (int64_t tries = 0; static_cast<int64_t>(out.fit.size()) < fit_samples; ++tries) {
    if (tries == max_tries) {
      return invalid_argument(
          "calibration text '{}' has {} tokens: too few to place {} fit segments of {} apart from the {} scored ones "
          "(found {}; give a longer text or fewer segments)",
          opt.text_path, n, fit_samples, len, opt.samples, out.fit.size());
    }
    const int64_t i = start(rng);
    // The first scored segment that ends after i overlaps [i, i + len) unless it starts at or past its end.
    auto next = std::upper_bound(sorted.begin(), sorted.end(), i - len);
    if (next != sorted.end() && *next < i + len) continue;
    out.fit.emplace_back(ids.begin() + i, ids.begin() + i + len);
    out.fit_offsets.push_back(i);
  }
  return out;
}

std::vector<float> InputStats::mean_sq() const {
  std::vector<float> m(sum_sq.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = tokens ? static_cast<float>(sum_sq[i] / static_cast<double>(tokens)) : 0.0f;
  return m;
}

std::vector<float> InputStats::mean_abs() const {
  std::vector<float> m(sum_abs.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = tokens ? static_cast<float>(sum_abs[i] / static_cast<double>(tokens)) : 0.0f;
  return m;
}

std::string input_key(const std::string& w) {
  // q/k/v read the same normed input, and so do gate/up: one key per shared input.
  const TensorName n = parse_tensor_name(w);
  if (n.layer < 0 || !n.is_weight()) return "";
  switch (n.category) {
    case TensorCategory::kAttnQ:
    case TensorCategory::kAttnK:
    case TensorCategory::kAttnV: return tensor_name(n.layer, "attn_in", "");
    case TensorCategory::kAttnOutput: return tensor_name(n.layer, "attn_output", "");
    case TensorCategory::kFfnGate:
    case TensorCategory::kFfnUp: return tensor_name(n.layer, "ffn_in", "");
    case TensorCategory::kFfnDown: return tensor_name(n.layer, "ffn_down", "");
    default: return "";
  }
}

std::string head_weight_name(const Model& model) {
  return model.has_tensor(std::string(kOutputWeight)) ? std::string(kOutputWeight) : std::string(kTokenEmbdWeight);
}

std::vector<std::string> layer_linears(int64_t l) {
  std::vector<std::string> out;
  for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
    out.push_back(tensor_name(l, n));
  }
  return out;
}

namespace detail {

void StatsCollector::add(const infer::LinearInput& in) {
  // One record per shared input: q/k/v and gate/up see the same activations.
  const char* group = nullptr;
  if (in.name == "attn_q") group = "attn_in";
  else if (in.name == "attn_output") group = "attn_output";
  else if (in.name == "ffn_gate") group = "ffn_in";
  else if (in.name == "ffn_down") group = "ffn_down";
  if (in.layer < 0 && in.name == kHeadInputKey && opt_.head) group = kHeadInputKey;
  else if (group == nullptr || in.layer < 0) return;
  if (opt_.only_layer >= 0 && in.layer != opt_.only_layer) return;
  if (!error_.ok()) return;
  InputStats& st = stats_[in.layer < 0 ? std::string(group) : fmt::format("blk.{}.{}", in.layer, group)];
  const int64_t c = in.cols, n = in.tokens;
  if (st.cols == 0) {
    st.cols = c;
    st.sum_sq.assign(static_cast<size_t>(c), 0.0);
    st.sum_abs.assign(static_cast<size_t>(c), 0.0);
    if (opt_.hessian) st.hessian.assign(static_cast<size_t>(c * c), 0.0);
  }
  xd_.resize(static_cast<size_t>(n * c));
  for (int64_t i = 0; i < n * c; ++i) {
    const float v = in.data[i];
    if (!std::isfinite(v)) {
      error_ = invalid_argument("non-finite activation {} at token {} column {} of the input "
                                "of layer {} {}", v, i / c, i % c, in.layer, in.name);
      return;
    }
    xd_[static_cast<size_t>(i)] = v;
    st.max_abs = std::max(st.max_abs, std::fabs(v));
    st.sum_sq[static_cast<size_t>(i % c)] += static_cast<double>(v) * v;
    st.sum_abs[static_cast<size_t>(i % c)] += std::fabs(v);
  }
  if (opt_.hessian) {  // upper triangle of sum x x^T; mirrored and scaled by finish()
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(c), static_cast<int>(n),
                1.0, xd_.data(), static_cast<int>(c), 1.0, st.hessian.data(), static_cast<int>(c));
  }
  const int64_t keep = std::min<int64_t>(n, opt_.max_samples - static_cast<int64_t>(st.samples.size()) / c);
  if (keep > 0) {
    // An even stride over the segment, so kept tokens are not all from its start.
    const int64_t stride = std::max<int64_t>(1, n / keep);
    for (int64_t t = 0, k = 0; t < n && k < keep; t += stride, ++k) {
      st.samples.insert(st.samples.end(), in.data + t * c, in.data + (t + 1) * c);
    }
  }
  st.tokens += n;
}

std::map<std::string, InputStats> StatsCollector::finish() {
  for (auto& [key, st] : stats_) {
    if (!opt_.hessian) continue;
    const int64_t c = st.cols;
    const double scale = 2.0 / static_cast<double>(std::max<int64_t>(st.tokens, 1));
    for (int64_t i = 0; i < c; ++i) {
      for (int64_t j = i; j < c; ++j) {
        const double v = st.hessian[static_cast<size_t>(i * c + j)] * scale;
        st.hessian[static_cast<size_t>(i * c + j)] = v;
        st.hessian[static_cast<size_t>(j * c + i)] = v;
      }
    }
  }
  return std::move(stats_);
}

}  // namespace detail

Result<std::map<std::string, InputStats>> collect_inputs(
    const Model& model, const std::vector<std::vector<int32_t>>& segments,
    const CollectOptions& opt, int64_t layers) {
  OverlayModel view(model);
  if (layers > 0) view.set_layers(layers);
  detail::StatsCollector collector(opt);
  int64_t max_len = 0;
  for (const auto& s : segments) max_len = std::max<int64_t>(max_len, static_cast<int64_t>(s.size()));
  infer::EngineOptions eo;
  eo.context = max_len;
  eo.hook = [&](const infer::LinearInput& in) { collector.add(in); };
  BITSMITH_ASSIGN_OR_RETURN(auto engine, infer::Engine::create(view, std::move(eo)));
  for (size_t s = 0; s < segments.size(); ++s) {
    const auto& seg = segments[s];
    const auto n = static_cast<int64_t>(seg.size());
    // Without logits the engine runs no head; forward_hidden runs the final norm (and the hook).
    Status st = opt.head ? engine->forward_hidden(seg, 0, 0) : engine->forward(seg, 0, n, nullptr);
    if (!st.ok()) return st.with_context(fmt::format("calibration segment {}", s));
    if (!collector.error().ok()) return collector.error().with_context(fmt::format("calibration segment {}", s));
  }
  return collector.finish();
}

Result<ImatrixData> collect_imatrix(const Model& model, const std::vector<std::vector<int32_t>>& segments,
                                    int32_t chunk_size, const std::string& dataset) {
  CollectOptions co;
  co.head = true;
  BITSMITH_ASSIGN_OR_RETURN(auto stats, collect_inputs(model, segments, co));
  return imatrix_from_stats(stats, model.hyperparameters().n_layers, static_cast<int32_t>(segments.size()),
                            chunk_size, dataset, head_weight_name(model));
}

std::map<std::string, float> input_amax_from_stats(const std::map<std::string, InputStats>& stats, int64_t n_layers) {
  std::map<std::string, float> out;
  for (int64_t l = 0; l < n_layers; ++l) {
    for (const std::string& name : layer_linears(l)) {
      if (auto it = stats.find(input_key(name)); it != stats.end()) out[name] = it->second.max_abs;
    }
  }
  return out;
}

Result<std::map<std::string, float>> input_amax(const Model& model, const std::vector<std::vector<int32_t>>& segments) {
  BITSMITH_ASSIGN_OR_RETURN(auto runner, LayerRunner::create(model, segments));
  std::map<std::string, InputStats> all;
  for (int64_t l = 0; l < model.hyperparameters().n_layers; ++l) {
    BITSMITH_ASSIGN_OR_RETURN(auto stats, runner->collect_and_advance(CollectOptions{}));
    for (auto& [key, st] : stats) all[key].max_abs = st.max_abs;  // the rest is not needed
  }
  return input_amax_from_stats(all, model.hyperparameters().n_layers);
}

Result<std::map<std::string, float>> calibrate_input_amax(const Model& model, const CalibrationOptions& opt) {
  BITSMITH_ASSIGN_OR_RETURN(auto segs, calibration_segments(model, opt));
  return input_amax(model, segs);
}

uint64_t OverlayModel::replaced_bytes() const {
  uint64_t b = 0;
  for (const auto& [name, t] : replaced_) b += t->nbytes();
  return b;
}

Result<Tensor> OverlayModel::load_f32(const std::string& name) const {
  auto it = replaced_.find(name);
  if (it == replaced_.end()) return base_.load_f32(name);
  std::shared_ptr<const Tensor> keep = it->second;
  return Tensor(DType::kF32, keep->shape(), keep->data(), keep);
}

}  // namespace bitsmith::algo
