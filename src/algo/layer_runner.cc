// LayerRunner (calibration.h): one Engine over the model, its resident-layer cache holding
// the current layer while every segment passes through it, dropped whenever the layer may have
// been replaced.
#include <cstdint>
#include <limits>
#include <memory>

#include "bitsmith/algo/calibration.h"
#include "bitsmith/infer/engine.h"
#include "collector.h"

namespace bitsmith::algo {

struct LayerRunner::Impl {
  const std::vector<std::vector<int32_t>>* segments = nullptr;
  std::unique_ptr<infer::Engine> engine;
  detail::StatsCollector* collector = nullptr;  // set during collect()
  std::vector<float> scratch;
};

LayerRunner::LayerRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LayerRunner::~LayerRunner() = default;

Result<std::unique_ptr<LayerRunner>> LayerRunner::create(
    const Model& model, const std::vector<std::vector<int32_t>>& segments) {
  if (segments.empty()) return invalid_argument("calibration: no segments");
  auto impl = std::make_unique<Impl>();
  impl->segments = &segments;
  int64_t max_len = 0;
  for (const auto& s : segments) max_len = std::max<int64_t>(max_len, static_cast<int64_t>(s.size()));
  if (max_len == 0) return invalid_argument("calibration: empty segments");
  infer::EngineOptions eo;
  eo.context = max_len;
  // Keep the current layer loaded across the segments; drop_cached_layers() after each pass.
  eo.resident_bytes = std::numeric_limits<uint64_t>::max();
  Impl* raw = impl.get();
  eo.hook = [raw](const infer::LinearInput& in) {
    if (raw->collector != nullptr) raw->collector->add(in);
  };
  BITSMITH_ASSIGN_OR_RETURN(impl->engine, infer::Engine::create(model, std::move(eo)));
  std::unique_ptr<LayerRunner> r(new LayerRunner(std::move(impl)));
  const int64_t d = model.hyperparameters().dim;
  r->hidden_.resize(segments.size());
  for (size_t s = 0; s < segments.size(); ++s) {
    r->hidden_[s].resize(segments[s].size() * static_cast<size_t>(d));
    Status st = r->impl_->engine->embed(segments[s], r->hidden_[s].data());
    if (!st.ok()) return st.with_context(fmt::format("calibration segment {}", s));
  }
  return r;
}

Result<std::map<std::string, InputStats>> LayerRunner::collect(const CollectOptions& opt) {
  return run_collecting(opt, /*keep_outputs=*/false);
}

Result<std::map<std::string, InputStats>> LayerRunner::collect_and_advance(const CollectOptions& opt) {
  return run_collecting(opt, /*keep_outputs=*/true);
}

Result<std::map<std::string, InputStats>> LayerRunner::run_collecting(const CollectOptions& opt, bool keep_outputs) {
  if (layer_ >= impl_->engine->hparams().n_layers) {
    return invalid_argument("calibration: no layer {} to collect", layer_);
  }
  CollectOptions o = opt;
  o.only_layer = static_cast<int>(layer_);
  detail::StatsCollector collector(o);
  impl_->collector = &collector;
  impl_->engine->drop_cached_layers();
  Status status;
  for (size_t s = 0; s < hidden_.size() && status.ok(); ++s) {
    const bool collected = s >= opt.first_segment && s < opt.end_segment;
    if (!collected && !keep_outputs) continue;
    impl_->collector = collected ? &collector : nullptr;
    // Unless the outputs move on to the next layer, run the layer on a copy.
    float* x = hidden_[s].data();
    if (!keep_outputs) {
      impl_->scratch = hidden_[s];
      x = impl_->scratch.data();
    }
    const auto n = static_cast<int64_t>((*impl_->segments)[s].size());
    status = impl_->engine->forward_layer(layer_, x, n, 0);
    if (status.ok()) status = collector.error();
    if (!status.ok()) status = status.with_context(fmt::format("calibration segment {}", s));
  }
  impl_->collector = nullptr;
  impl_->engine->drop_cached_layers();
  if (!status.ok()) return status;
  if (keep_outputs) ++layer_;
  return collector.finish();
}

Result<std::map<std::string, InputStats>> LayerRunner::collect_head(const CollectOptions& opt) {
  if (layer_ != impl_->engine->hparams().n_layers) {
    return invalid_argument("calibration: the head's input is there after the last layer, not at layer {}", layer_);
  }
  CollectOptions o = opt;
  o.head = true;
  o.only_layer = -1;
  detail::StatsCollector collector(o);
  impl_->collector = &collector;
  Status status;
  for (size_t s = 0; s < hidden_.size() && status.ok(); ++s) {
    if (s < opt.first_segment || s >= opt.end_segment) continue;
    const auto n = static_cast<int64_t>((*impl_->segments)[s].size());
    status = impl_->engine->head_from_hidden(hidden_[s].data(), n);  // final norm; calls the hook
    if (status.ok()) status = collector.error();
    if (!status.ok()) status = status.with_context(fmt::format("calibration segment {}", s));
  }
  impl_->collector = nullptr;
  if (!status.ok()) return status;
  return collector.finish();
}

Status LayerRunner::advance() {
  if (layer_ >= impl_->engine->hparams().n_layers) {
    return invalid_argument("calibration: no layer {} to run", layer_);
  }
  impl_->engine->drop_cached_layers();
  for (size_t s = 0; s < hidden_.size(); ++s) {
    const auto n = static_cast<int64_t>((*impl_->segments)[s].size());
    Status st = impl_->engine->forward_layer(layer_, hidden_[s].data(), n, 0);
    if (!st.ok()) return st.with_context(fmt::format("calibration segment {}", s));
  }
  impl_->engine->drop_cached_layers();
  ++layer_;
  return Status::Ok();
}

}  // namespace bitsmith::algo
