#include "bitsmith/io/synth.h"

#include <cmath>
#include <map>

#include "bitsmith/core/hashing.h"
#include "bitsmith/core/thread_pool.h"

namespace bitsmith::io {
namespace {

// splitmix64 (core/hashing.h: mix64): a fixed, well-mixed stream per (seed, tensor, row), so
// tensors do not depend on the order they are asked for or on how rows are split over threads.
uint64_t hash_name(const std::string& s) { return fnv1a(s); }

class SyntheticModel : public Model {
 public:
  explicit SyntheticModel(const SynthConfig& c) : c_(c), path_(fmt::format("synthetic(seed {})", c.seed)) {
    hp_.architecture = "llama";
    hp_.dim = c.dim;
    hp_.hidden_dim = c.hidden_dim;
    hp_.n_layers = c.n_layers;
    hp_.n_heads = c.n_heads;
    hp_.n_kv_heads = c.n_kv_heads;
    hp_.head_dim = c.dim / c.n_heads;
    hp_.vocab_size = c.vocab_size;
    hp_.context_length = c.context_length;
    hp_.rope_style = RopeStyle::kInterleaved;
    hp_.tied_embeddings = c.tied_embeddings;
    vocab_ = synthetic_vocabulary(c.vocab_size);
    const int64_t kv = hp_.head_dim * c.n_kv_heads;
    add("token_embd.weight", {c.vocab_size, c.dim});
    for (int64_t l = 0; l < c.n_layers; ++l) {
      auto n = [&](const char* t) { return fmt::format("blk.{}.{}.weight", l, t); };
      add(n("attn_norm"), {c.dim});
      add(n("attn_q"), {c.dim, c.dim});
      add(n("attn_k"), {kv, c.dim});
      add(n("attn_v"), {kv, c.dim});
      add(n("attn_output"), {c.dim, c.dim});
      add(n("ffn_norm"), {c.dim});
      add(n("ffn_gate"), {c.hidden_dim, c.dim});
      add(n("ffn_down"), {c.dim, c.hidden_dim});
      add(n("ffn_up"), {c.hidden_dim, c.dim});
    }
    add("output_norm.weight", {c.dim});
    if (!c.tied_embeddings) add("output.weight", {c.vocab_size, c.dim});
  }
  const std::string& path() const override { return path_; }
  std::string_view file_format() const override { return "synthetic"; }
  const LlamaHyperparameters& hyperparameters() const override { return hp_; }
  const Vocabulary& vocabulary() const override { return vocab_; }
  const std::vector<ModelTensorInfo>& tensors() const override { return infos_; }
  bool has_tensor(const std::string& name) const override { return index_.count(name) != 0; }

  Result<Tensor> load_f32(const std::string& name) const override {
    auto it = index_.find(name);
    if (it == index_.end()) return not_found("{}: no tensor '{}'", path_, name);
    const Shape& shape = infos_[it->second].shape;
    Tensor t(DType::kF32, shape);
    float* out = t.mutable_as<float>().data();
    const bool norm = shape.rank() == 1;
    const uint64_t base = mix64(c_.seed ^ hash_name(name));
    const int64_t rows = shape.rows(), cols = shape.cols();
    // Uniform on [-a, a] has standard deviation a / sqrt(3).
    const float a = c_.weight_std * std::sqrt(3.0f);
    ThreadPool::global().parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        uint64_t s = mix64(base + static_cast<uint64_t>(r));
        for (int64_t j = 0; j < cols; ++j) {
          s = mix64(s);
          // top 24 bits -> [0, 1): exactly representable in float
          const float u = static_cast<float>(s >> 40) * (1.0f / 16777216.0f);
          out[r * cols + j] = (norm ? 1.0f : 0.0f) + a * (2.0f * u - 1.0f);
        }
      }
    });
    return t;
  }

 private:
  void add(const std::string& name, Shape s) {
    index_[name] = infos_.size();
    infos_.push_back({name, s, "F32", static_cast<uint64_t>(s.numel()) * 4});
  }
  SynthConfig c_;
  std::string path_;
  LlamaHyperparameters hp_;
  Vocabulary vocab_;
  std::vector<ModelTensorInfo> infos_;
  std::map<std::string, size_t> index_;
};

uint64_t param_count(const SynthConfig& c) {
  const int64_t kv = c.dim / c.n_heads * c.n_kv_heads;
  const uint64_t layer = static_cast<uint64_t>(2 * c.dim + 2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.hidden_dim * c.dim);
  const uint64_t emb = static_cast<uint64_t>(c.vocab_size * c.dim) * (c.tied_embeddings ? 1 : 2);
  return emb + static_cast<uint64_t>(c.dim) + layer * static_cast<uint64_t>(c.n_layers);
}

}  // namespace

Vocabulary synthetic_vocabulary(int64_t n) {
  Vocabulary v;
  v.model = "llama";
  auto push = [&](std::string t, TokenType type) {
    if (static_cast<int64_t>(v.tokens.size()) >= n) return;
    v.scores.push_back(type == TokenType::kNormal ? -static_cast<float>(v.tokens.size()) : 0.0f);
    v.tokens.push_back(std::move(t));
    v.types.push_back(type);
  };
  push("<unk>", TokenType::kUnknown);
  push("<s>", TokenType::kControl);
  push("</s>", TokenType::kControl);
  for (int b = 0; b < 256; ++b) push(fmt::format("<0x{:02X}>", b), TokenType::kByte);
  const std::string space = "\xE2\x96\x81";
  push(space, TokenType::kNormal);
  // Strings over a-z of growing length, each also with the space prefix: unique by construction.
  std::vector<std::string> level = {""};
  while (static_cast<int64_t>(v.tokens.size()) < n) {
    std::vector<std::string> next;
    for (const auto& s : level) {
      for (char c = 'a'; c <= 'z'; ++c) next.push_back(s + c);
    }
    for (const auto& s : next) {
      push(space + s, TokenType::kNormal);
      push(s, TokenType::kNormal);
    }
    level = std::move(next);
  }
  return v;
}

SynthConfig synth_config_for_bytes(SynthConfig c, uint64_t target_bytes) {
  c.n_layers = 0;
  const uint64_t base = param_count(c) * 4;
  c.n_layers = 1;
  const uint64_t per_layer = param_count(c) * 4 - base;
  c.n_layers = target_bytes > base ? std::max<int64_t>(1, static_cast<int64_t>((target_bytes - base) / per_layer)) : 1;
  return c;
}

Result<std::unique_ptr<Model>> make_synthetic_model(const SynthConfig& c) {
  if (c.dim <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0 ||
      (c.dim / c.n_heads) % 2 != 0 || c.hidden_dim <= 0 || c.n_layers < 0 || c.vocab_size < 260 || c.context_length <= 0) {
    return invalid_argument("synthetic model: need dim divisible by heads (even head size), heads divisible by kv heads, "
                            "positive hidden/context, vocab >= 260 (3 specials + 256 bytes + 1)");
  }
  return std::unique_ptr<Model>(new SyntheticModel(c));
}

Result<QuantizeReport> write_synthetic_model(const SynthConfig& c, const std::string& out, OutputFormat format,
                                             const Planner& planner) {
  BITSMITH_ASSIGN_OR_RETURN(auto m, make_synthetic_model(c));
  QuantizeConfig q;
  q.format = format;
  BITSMITH_ASSIGN_OR_RETURN(std::vector<TensorPlan> plans, planner(*m));
  return quantize_model(*m, out, plans, q);
}

}  // namespace bitsmith::io
