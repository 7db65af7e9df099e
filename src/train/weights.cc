#include "bitsmith/train/weights.h"

#include <cmath>
#include <cstring>

#include "bitsmith/core/tensor_names.h"
#include "bitsmith/core/hashing.h"

namespace bitsmith::train {

namespace {

constexpr const char* kSlotKinds[kLayerSlots] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                                                 "ffn_gate",  "ffn_up", "ffn_down", "attn_q", "attn_k", "attn_v"};

int64_t slots_per_layer(const LlamaHyperparameters& hp) { return hp.qkv_bias ? 12 : 9; }

// Every tensor's name and shape, in the flat order Weights keeps.
std::vector<std::pair<std::string, Shape>> layout(const LlamaHyperparameters& hp) {
  const int64_t d = hp.dim, qd = hp.n_heads * hp.head_dim, kvd = hp.n_kv_heads * hp.head_dim, ff = hp.hidden_dim;
  std::vector<std::pair<std::string, Shape>> out;
  out.emplace_back(std::string(kTokenEmbdWeight), Shape{hp.vocab_size, d});
  out.emplace_back(std::string(kOutputNormWeight), Shape{d});
  if (!hp.tied_embeddings) out.emplace_back(std::string(kOutputWeight), Shape{hp.vocab_size, d});
  const Shape shapes[kLayerSlots] = {{d}, {qd, d}, {kvd, d}, {kvd, d}, {d, qd}, {d}, {ff, d}, {ff, d}, {d, ff},
                                     {qd}, {kvd}, {kvd}};
  for (int64_t l = 0; l < hp.n_layers; ++l) {
    for (int s = 0; s < slots_per_layer(hp); ++s) {
      out.emplace_back(tensor_name(l, kSlotKinds[s], s >= 9 ? "bias" : "weight"), shapes[s]);
    }
  }
  return out;
}

// Normal samples by Box-Muller over splitmix64: the same numbers on every platform (the standard
// library's normal_distribution is implementation-defined). A stream per tensor from (seed, name),
// so a tensor's values do not depend on the order tensors are drawn in.
void fill_normal(float* out, int64_t n, float stddev, uint64_t state) {
  constexpr double kTwoPi = 6.283185307179586;
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(splitmix64(state) >> 11) + 1.0) * 0x1p-53;  // (0, 1]
    const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(stddev * r * std::cos(kTwoPi * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(stddev * r * std::sin(kTwoPi * u2));
  }
}

}  // namespace

Status check_trainable(const LlamaHyperparameters& hp, const std::string& what) {
  if (hp.dim <= 0 || hp.hidden_dim <= 0 || hp.n_layers <= 0 || hp.n_heads <= 0 || hp.n_kv_heads <= 0 ||
      hp.head_dim <= 0 || hp.vocab_size <= 0) {
    return invalid_argument("{}: every size must be positive (dim {}, ffn {}, layers {}, heads {}, kv heads {}, "
                            "head_dim {}, vocab {})",
                            what, hp.dim, hp.hidden_dim, hp.n_layers, hp.n_heads, hp.n_kv_heads, hp.head_dim,
                            hp.vocab_size);
  }
  if (hp.n_heads % hp.n_kv_heads != 0) {
    return invalid_argument("{}: {} heads are not a multiple of {} kv heads", what, hp.n_heads, hp.n_kv_heads);
  }
  if (hp.head_dim % 2 != 0) return invalid_argument("{}: head_dim {} is odd (RoPE rotates pairs)", what, hp.head_dim);
  const int64_t kMax = int64_t{1} << 24;
  for (int64_t v : {hp.dim, hp.hidden_dim, hp.n_heads * hp.head_dim, hp.vocab_size, hp.n_layers}) {
    if (v > kMax) return invalid_argument("{}: a size ({}) is too large to train", what, v);
  }
  return Status::Ok();
}

int64_t Weights::slot_index(int64_t layer, LayerSlot s) const {
  const int si = static_cast<int>(s);
  if (si >= slots_per_layer(hp_)) return -1;
  return (hp_.tied_embeddings ? 2 : 3) + layer * slots_per_layer(hp_) + si;
}

Result<Weights> Weights::zeros(const LlamaHyperparameters& hp) {
  BITSMITH_RETURN_IF_ERROR(check_trainable(hp, "model"));
  Weights w;
  w.hp_ = hp;
  for (auto& [name, shape] : layout(hp)) w.params_.push_back(Param{name, Tensor(DType::kF32, shape)});
  return w;
}

Weights Weights::zeros_like() const {
  Weights w;
  w.hp_ = hp_;
  for (const auto& p : params_) w.params_.push_back(Param{p.name, Tensor(DType::kF32, p.value.shape())});
  return w;
}

Result<Weights> Weights::load(const Model& model) {
  BITSMITH_RETURN_IF_ERROR(check_trainable(model.hyperparameters(), model.path()));
  BITSMITH_ASSIGN_OR_RETURN(Weights w, zeros(model.hyperparameters()));
  for (auto& p : w.params_) {
    if (!model.has_tensor(p.name)) {
      return corrupt_data("{}: no tensor '{}' (the hyperparameters call for it)", model.path(), p.name);
    }
    BITSMITH_ASSIGN_OR_RETURN(Tensor t, model.load_f32(p.name));
    if (!(t.shape() == p.value.shape())) {
      return corrupt_data("{}: tensor '{}' has shape {}, the hyperparameters say {}", model.path(), p.name,
                          t.shape().to_string(), p.value.shape().to_string());
    }
    const auto src = t.as<float>();
    for (size_t i = 0; i < src.size(); ++i) {
      if (!std::isfinite(src[i])) {
        return corrupt_data("{}: tensor '{}' holds a non-finite value ({}) at element {}", model.path(), p.name,
                            src[i], i);
      }
    }
    std::memcpy(p.data(), src.data(), src.size() * sizeof(float));
  }
  return w;
}

Result<Weights> Weights::random(const LlamaHyperparameters& hp, uint64_t seed) {
  BITSMITH_ASSIGN_OR_RETURN(Weights w, zeros(hp));
  const float residual_std = 0.02f / std::sqrt(2.0f * static_cast<float>(hp.n_layers));
  for (auto& p : w.params_) {
    const TensorName tn = parse_tensor_name(p.name);
    if (tn.category == TensorCategory::kNorm) {
      for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] = 1.0f;
    } else if (tn.suffix == "weight") {
      const bool residual = tn.category == TensorCategory::kAttnOutput || tn.category == TensorCategory::kFfnDown;
      fill_normal(p.data(), p.numel(), residual ? residual_std : 0.02f, seed ^ fnv1a(p.name));
    }
  }
  return w;
}

int64_t Weights::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.numel();
  return n;
}

const Param* Weights::find(const std::string& name) const {
  for (const auto& p : params_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

WeightsModel::WeightsModel(const Weights& w, const Vocabulary& vocab, std::string path)
    : w_(w), vocab_(vocab), path_(std::move(path)) {
  for (const auto& p : w.params()) {
    infos_.push_back(ModelTensorInfo{p.name, p.value.shape(), "F32", static_cast<uint64_t>(p.value.nbytes())});
  }
}

Result<Tensor> WeightsModel::load_f32(const std::string& name) const {
  const Param* p = w_.find(name);
  if (p == nullptr) return not_found("{}: no tensor '{}'", path_, name);
  Tensor t(DType::kF32, p->value.shape());
  std::memcpy(t.mutable_as<float>().data(), p->data(), p->value.nbytes());
  return t;
}

}  // namespace bitsmith::train
