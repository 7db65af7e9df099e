#include "bitsmith/infer/engine.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "bitsmith/core/checked.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/formats/convert.h"
#include "kernels.h"

namespace bitsmith::infer {

namespace {

// "attn_q.weight" of layer 3 -> blk.3.attn_q.weight (core's one formatter of tensor names).
std::string blk(int64_t layer, std::string_view what) { return tensor_name(layer, what, ""); }

// One layer's weights in float32 (fake-quantized if a scheme is set).
struct LayerWeights {
  Tensor attn_norm, wq, wk, wv, wo, ffn_norm, gate, up, down;
  Tensor bq, bk, bv;  // empty without q/k/v biases
  uint64_t bytes = 0;
};

// A default-constructed Tensor is a rank-0 shape (numel 1) with no storage: "absent".
bool present(const Tensor& t) { return t.data() != nullptr; }

// The token embedding or output projection as held: float32 rows (a zero-copy map of an F32
// file, or owned), or quantized (a view over the file's stored bytes, or a matrix the engine
// quantized itself for a fake-quant run) of which only the rows needed are dequantized.
struct HeadMatrix {
  Tensor f32;                    // present(): float32 rows
  quant::QuantizedTensor owned;  // backs `view` when the engine quantized the matrix
  quant::QuantizedView view;     // view.scheme set: the quantized form
  bool quantized() const { return view.scheme != nullptr; }
  uint64_t bytes() const {
    return quantized() ? view.data.size() + view.scales.size() + view.zeros.size() : f32.nbytes();
  }
};

// Vocabulary rows dequantized at a time by one thread of the sliced output projection: 128 x
// 576 floats (SmolLM2) = 288 KiB, a tile that stays in L2 while the product reads it.
constexpr int64_t kHeadTileRows = 128;

}  // namespace

struct Engine::Impl {
  const Model* model = nullptr;
  EngineOptions opt;
  LlamaHyperparameters hp;
  int64_t ctx = 0;
  ThreadPool* pool = nullptr;
  HeadMatrix embedding, output;  // output absent (neither f32 nor view) when tied
  Tensor output_norm;
  int64_t head_rows = 0;  // rows of xn kept by forward_hidden for output_logits
  std::vector<std::shared_ptr<const LayerWeights>> cached;
  uint64_t cached_bytes = 0;
  std::vector<std::vector<float>> k_cache, v_cache;  // per layer [ctx x n_kv*hd]
  // Scratch reused across calls.
  std::vector<float> x, xn, q, k, v, att, g, u, tmp;

  Result<Tensor> load(const std::string& name, const Shape& expect, bool linear) const;
  Result<HeadMatrix> load_head(const std::string& name) const;
  const HeadMatrix& head() const {
    return output.quantized() || present(output.f32) ? output : embedding;
  }
  Status head_logits(int64_t v0, int64_t v1, float* out);
  void release_layer(int64_t l) const;
  Result<std::shared_ptr<const LayerWeights>> layer(int64_t l);
  void act_quant(float* data, int64_t rows, int64_t cols, Status* st) const;
  Status static_act_quant(float* data, int64_t rows, int64_t cols, const StaticActivation& sa) const;
  Status linear(int layer, std::string_view name, float* in, int64_t n, const Tensor& w,
                const Tensor* bias, float* out);
  Status run_layer(int64_t l, int64_t n, int64_t pos);
  void size_scratch(int64_t n);
};

namespace {
// A NaN or Inf weight makes every logit NaN: perplexity "nan" and empty generated text. Refused
// where the weight is loaded, so the error names it. Blocks of 4096 keep the scan vectorized.
Status check_finite(const Model& model, const std::string& name, const Tensor& t) {
  const auto v = t.as<float>();
  for (size_t b = 0; b < v.size(); b += 4096) {
    const size_t e = std::min(v.size(), b + 4096);
    uint32_t m = 0;
    for (size_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, &v[i], 4);
      m = std::max(m, u & 0x7FFFFFFFu);
    }
    if (m < 0x7F800000u) continue;  // below the exponent-all-ones codes: all finite
    for (size_t i = b; i < e; ++i) {
      if (!std::isfinite(v[i])) {
        return corrupt_data("{}: tensor '{}' holds a non-finite weight ({}) at element {}", model.path(), name,
                            v[i], i);
      }
    }
  }
  return Status::Ok();
}
}  // namespace

Result<Tensor> Engine::Impl::load(const std::string& name, const Shape& expect,
                                  bool linear) const {
  BITSMITH_ASSIGN_OR_RETURN(Tensor t, model->load_f32(name));
  BITSMITH_RETURN_IF_ERROR(check_finite(*model, name, t));
  if (!(t.shape() == expect)) {
    return corrupt_data("{}: tensor '{}' has shape {}, the hyperparameters say {}", model->path(),
                        name, t.shape().to_string(), expect.to_string());
  }
  const quant::Scheme* scheme = nullptr;
  if (opt.weight_scheme_for && expect.rank() == 2) {
    scheme = opt.weight_scheme_for(name);
  } else if (linear) {
    scheme = opt.weight_scheme;
  }
  if (scheme == nullptr) return t;
  const int64_t rows = expect.rows(), cols = expect.cols();
  Status shape_ok = scheme->check_shape(rows, cols);
  if (!shape_ok.ok()) {
    return shape_ok.with_context(fmt::format("{}: tensor '{}'", model->path(), name));
  }
  Tensor owned(DType::kF32, expect);
  Status st = scheme->fake_quantize(t.as<float>().data(), rows, cols,
                                               owned.mutable_as<float>().data());
  if (!st.ok()) return st.with_context(fmt::format("{}: tensor '{}'", model->path(), name));
  return owned;
}

// Quantized when weight_scheme_for asks for a scheme (quantized here, once: dequantizing rows of
// it gives the floats fake_quantize would) or when the model offers the stored form; else
// float32 through load_f32.
Result<HeadMatrix> Engine::Impl::load_head(const std::string& name) const {
  const Shape expect{hp.vocab_size, hp.dim};
  const quant::Scheme* scheme = opt.weight_scheme_for ? opt.weight_scheme_for(name) : nullptr;
  HeadMatrix h;
  if (scheme == nullptr && opt.stored_view) {
    h.view = opt.stored_view(name);
    if (h.quantized()) {
      if (h.view.rows != expect.rows() || h.view.cols != expect.cols()) {
        return corrupt_data("{}: tensor '{}' has shape [{}, {}], the hyperparameters say {}",
                            model->path(), name, h.view.rows, h.view.cols, expect.to_string());
      }
      return h;
    }
  }
  BITSMITH_ASSIGN_OR_RETURN(Tensor t, model->load_f32(name));
  BITSMITH_RETURN_IF_ERROR(check_finite(*model, name, t));
  if (!(t.shape() == expect)) {
    return corrupt_data("{}: tensor '{}' has shape {}, the hyperparameters say {}", model->path(),
                        name, t.shape().to_string(), expect.to_string());
  }
  if (scheme == nullptr) {
    h.f32 = std::move(t);
    return h;
  }
  Status shape_ok = scheme->check_shape(expect.rows(), expect.cols());
  if (!shape_ok.ok()) return shape_ok.with_context(fmt::format("{}: tensor '{}'", model->path(), name));
  quant::QuantizeOptions qo;
  qo.pool = pool;
  auto quantized = scheme->quantize(t.as<float>().data(), expect.rows(), expect.cols(), qo);
  if (!quantized.ok()) {
    return quantized.status().with_context(fmt::format("{}: tensor '{}'", model->path(), name));
  }
  h.owned = std::move(*quantized);
  h.view = h.owned.view();
  return h;
}

void Engine::Impl::release_layer(int64_t l) const {
  if (!opt.release_tensor || cached[static_cast<size_t>(l)]) return;
  for (const char* t : {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                        "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight",
                        "ffn_up.weight", "ffn_down.weight"}) {
    opt.release_tensor(blk(l, t));
  }
  if (hp.qkv_bias) {
    for (const char* t : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) opt.release_tensor(blk(l, t));
  }
}

// out[head_rows x (v1 - v0)] = xn[head_rows x dim] * head[v0..v1)^T. A float32
// head is one gemm; a quantized one is dequantized kHeadTileRows rows at a time by each thread
// into its own tile, multiplied at once (single-threaded sgemm, as gemm_nt's slices: every
// element is the same dot product in the same order, whatever the slicing).
Status Engine::Impl::head_logits(int64_t v0, int64_t v1, float* out) {
  const HeadMatrix& h = head();
  const int64_t n = head_rows, d = hp.dim;
  if (!h.quantized()) {
    detail::gemm_nt(xn.data(), h.f32.as<float>().data() + v0 * d, out, n, v1 - v0, d, *pool);
    return Status::Ok();
  }
  Status first_error;
  std::mutex mu;
  const int64_t threads = pool->num_threads();
  const int64_t grain = std::max<int64_t>(kHeadTileRows / 4, ((v1 - v0 + threads - 1) / threads + 15) / 16 * 16);
  pool->parallel_for(v1 - v0, grain, [&](int64_t j0, int64_t j1) {
    thread_local std::vector<float> tile;
    tile.resize(static_cast<size_t>(kHeadTileRows * d));
    for (int64_t j = j0; j < j1; j += kHeadTileRows) {
      const int64_t jn = std::min(kHeadTileRows, j1 - j);
      Status st = h.view.scheme->dequantize_rows(h.view, v0 + j, v0 + j + jn, tile.data());
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = st;
        return;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n),
                  static_cast<blasint>(jn), static_cast<blasint>(d), 1.0f, xn.data(),
                  static_cast<blasint>(d), tile.data(), static_cast<blasint>(d), 0.0f, out + j,
                  static_cast<blasint>(v1 - v0));
    }
  });
  return first_error;
}

Result<std::shared_ptr<const LayerWeights>> Engine::Impl::layer(int64_t l) {
  if (cached[static_cast<size_t>(l)]) return cached[static_cast<size_t>(l)];
  auto w = std::make_shared<LayerWeights>();
  const int64_t d = hp.dim, hd = hp.head_dim, qd = hp.n_heads * hd, kvd = hp.n_kv_heads * hd;
  const int64_t ff = hp.hidden_dim;
  BITSMITH_ASSIGN_OR_RETURN(w->attn_norm, load(blk(l, "attn_norm.weight"), {d}, false));
  BITSMITH_ASSIGN_OR_RETURN(w->wq, load(blk(l, "attn_q.weight"), {qd, d}, true));
  BITSMITH_ASSIGN_OR_RETURN(w->wk, load(blk(l, "attn_k.weight"), {kvd, d}, true));
  BITSMITH_ASSIGN_OR_RETURN(w->wv, load(blk(l, "attn_v.weight"), {kvd, d}, true));
  BITSMITH_ASSIGN_OR_RETURN(w->wo, load(blk(l, "attn_output.weight"), {d, qd}, true));
  BITSMITH_ASSIGN_OR_RETURN(w->ffn_norm, load(blk(l, "ffn_norm.weight"), {d}, false));
  BITSMITH_ASSIGN_OR_RETURN(w->gate, load(blk(l, "ffn_gate.weight"), {ff, d}, true));
  BITSMITH_ASSIGN_OR_RETURN(w->up, load(blk(l, "ffn_up.weight"), {ff, d}, true));
  BITSMITH_ASSIGN_OR_RETURN(w->down, load(blk(l, "ffn_down.weight"), {d, ff}, true));
  if (hp.qkv_bias) {
    BITSMITH_ASSIGN_OR_RETURN(w->bq, load(blk(l, "attn_q.bias"), {qd}, false));
    BITSMITH_ASSIGN_OR_RETURN(w->bk, load(blk(l, "attn_k.bias"), {kvd}, false));
    BITSMITH_ASSIGN_OR_RETURN(w->bv, load(blk(l, "attn_v.bias"), {kvd}, false));
  }
  for (const Tensor* t : {&w->attn_norm, &w->wq, &w->wk, &w->wv, &w->wo, &w->ffn_norm,
                          &w->gate, &w->up, &w->down, &w->bq, &w->bk, &w->bv}) {
    if (present(*t)) w->bytes += t->nbytes();
  }
  if (cached_bytes + w->bytes <= opt.resident_bytes) {
    cached[static_cast<size_t>(l)] = w;
    cached_bytes += w->bytes;
  }
  return std::shared_ptr<const LayerWeights>(std::move(w));
}

// Per token row: a dynamic scale from that row alone, as a W8A8/W4A4 kernel computes it.
void Engine::Impl::act_quant(float* data, int64_t rows, int64_t cols, Status* st) const {
  std::mutex mu;
  pool->parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Status s = opt.act_scheme->fake_quantize(data + r * cols, 1, cols, data + r * cols);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (st->ok()) *st = s.with_context(fmt::format("activation row {}", r));
      }
    }
  });
}

Status Engine::Impl::static_act_quant(float* data, int64_t rows, int64_t cols, const StaticActivation& sa) const {
  const float a = std::fabs(sa.amax);
  const int64_t count = rows * cols;
  for (int64_t i = 0; i < count; ++i) data[i] = std::clamp(data[i], -a, a);
  if (sa.scheme->traits().global_scale) {  // nvfp4: the global scale from amax (>= every |x| now)
    quant::QuantizeOptions qo;
    qo.shared_amax = a;
    qo.pool = pool;
    return sa.scheme->fake_quantize(data, rows, cols, data, qo);
  }
  if (sa.scheme->name() != "fp8_e4m3") {
    return invalid_argument("static activation scheme {} (fp8_e4m3 or nvfp4)", sa.scheme->name());
  }
  // x / s rounded to e4m3 (saturating), times s: compressed-tensors' _quantize_dequantize.
  const float s = a > 0 ? a / 448.0f : 0x1p-23f;
  std::vector<float> scaled(static_cast<size_t>(count));
  std::vector<uint8_t> codes(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) scaled[static_cast<size_t>(i)] = data[i] / s;
  formats::f32_to_e4m3(scaled, codes, {}, pool);
  formats::e4m3_to_f32(codes, scaled, pool);
  for (int64_t i = 0; i < count; ++i) data[i] = scaled[static_cast<size_t>(i)] * s;
  return Status::Ok();
}

Status Engine::Impl::linear(int layer_index, std::string_view name, float* in, int64_t n,
                            const Tensor& w, const Tensor* bias, float* out) {
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  // q/k/v and gate/up share one input: it is fake-quantized once, by the first of them.
  const bool shares_previous = name == "attn_k" || name == "attn_v" || name == "ffn_up";
  const StaticActivation sa =
      opt.static_activation && !shares_previous ? opt.static_activation(layer_index, name) : StaticActivation{};
  if (sa.scheme != nullptr) {
    Status st = static_act_quant(in, n, cols, sa);
    if (!st.ok()) return st.with_context(fmt::format("layer {} {} input", layer_index, name));
  } else if (opt.act_scheme != nullptr && !shares_previous) {
    Status st;
    act_quant(in, n, cols, &st);
    if (!st.ok()) {
      return st.with_context(fmt::format("layer {} {} input", layer_index, name));
    }
  }
  if (opt.hook) opt.hook(LinearInput{layer_index, name, in, n, cols});
  detail::gemm_nt(in, w.as<float>().data(), out, n, rows, cols, *pool);
  if (bias != nullptr && present(*bias)) {
    detail::add_bias(out, bias->as<float>().data(), n, rows);
  }
  return Status::Ok();
}

Status Engine::Impl::run_layer(int64_t l, int64_t n, int64_t pos) {
  BITSMITH_ASSIGN_OR_RETURN(auto w, layer(l));
  const int64_t d = hp.dim, hd = hp.head_dim, kvd = hp.n_kv_heads * hd;
  const int64_t ff = hp.hidden_dim;
  const int li = static_cast<int>(l);
  detail::rmsnorm(x.data(), w->attn_norm.as<float>().data(), xn.data(), n, d, hp.rms_norm_eps,
                  *pool);
  BITSMITH_RETURN_IF_ERROR(linear(li, "attn_q", xn.data(), n, w->wq, &w->bq, q.data()));
  float* kc = k_cache[static_cast<size_t>(l)].data() + pos * kvd;
  float* vc = v_cache[static_cast<size_t>(l)].data() + pos * kvd;
  // k and v land straight in the cache rows of their positions.
  BITSMITH_RETURN_IF_ERROR(linear(li, "attn_k", xn.data(), n, w->wk, &w->bk, kc));
  BITSMITH_RETURN_IF_ERROR(linear(li, "attn_v", xn.data(), n, w->wv, &w->bv, vc));
  detail::rope(q.data(), n, hp.n_heads, hd, pos, hp.rope_theta, hp.rope_style, *pool);
  detail::rope(kc, n, hp.n_kv_heads, hd, pos, hp.rope_theta, hp.rope_style, *pool);
  detail::attention(q.data(), k_cache[static_cast<size_t>(l)].data(),
                    v_cache[static_cast<size_t>(l)].data(), att.data(), n, pos, hp.n_heads,
                    hp.n_kv_heads, hd, *pool);
  BITSMITH_RETURN_IF_ERROR(linear(li, "attn_output", att.data(), n, w->wo, nullptr, tmp.data()));
  for (int64_t i = 0; i < n * d; ++i) x[static_cast<size_t>(i)] += tmp[static_cast<size_t>(i)];

  detail::rmsnorm(x.data(), w->ffn_norm.as<float>().data(), xn.data(), n, d, hp.rms_norm_eps,
                  *pool);
  BITSMITH_RETURN_IF_ERROR(linear(li, "ffn_gate", xn.data(), n, w->gate, nullptr, g.data()));
  BITSMITH_RETURN_IF_ERROR(linear(li, "ffn_up", xn.data(), n, w->up, nullptr, u.data()));
  detail::silu_mul(g.data(), u.data(), n * ff, *pool);
  BITSMITH_RETURN_IF_ERROR(linear(li, "ffn_down", g.data(), n, w->down, nullptr, tmp.data()));
  for (int64_t i = 0; i < n * d; ++i) x[static_cast<size_t>(i)] += tmp[static_cast<size_t>(i)];
  release_layer(l);
  return Status::Ok();
}

namespace {

Status check_hparams(const Model& model, const LlamaHyperparameters& hp) {
  auto bad = [&](std::string_view what) {
    return invalid_argument("{}: unsupported hyperparameters ({}): dim {} hidden {} layers {} "
                            "heads {} kv_heads {} head_dim {} vocab {}",
                            model.path(), what, hp.dim, hp.hidden_dim, hp.n_layers, hp.n_heads,
                            hp.n_kv_heads, hp.head_dim, hp.vocab_size);
  };
  if (hp.dim <= 0 || hp.hidden_dim <= 0 || hp.n_layers <= 0 || hp.n_heads <= 0 ||
      hp.n_kv_heads <= 0 || hp.head_dim <= 0 || hp.vocab_size <= 0) {
    return bad("a size is not positive");
  }
  if (hp.n_heads % hp.n_kv_heads != 0) return bad("heads not a multiple of kv_heads");
  if (hp.head_dim % 2 != 0) return bad("odd head_dim");
  if (!(hp.rms_norm_eps >= 0) || !(hp.rope_theta > 0)) return bad("rms eps or rope theta");
  // Every activation buffer is a product of these; keep them far from overflow.
  const int64_t kMax = int64_t{1} << 24;
  for (int64_t v : {hp.dim, hp.hidden_dim, hp.n_heads * hp.head_dim, hp.vocab_size}) {
    if (v > kMax) return bad("a size is too large");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const Model& model, EngineOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->model = &model;
  impl->hp = model.hyperparameters();
  impl->opt = std::move(options);
  impl->pool = impl->opt.pool != nullptr ? impl->opt.pool : &ThreadPool::global();
  const auto& hp = impl->hp;
  BITSMITH_RETURN_IF_ERROR(check_hparams(model, hp));
  impl->ctx = impl->opt.context > 0 ? impl->opt.context : hp.context_length;
  if (impl->ctx <= 0 || impl->ctx > (int64_t{1} << 22)) {
    return invalid_argument("{}: context {} out of range", model.path(), impl->ctx);
  }
  BITSMITH_ASSIGN_OR_RETURN(impl->embedding, impl->load_head("token_embd.weight"));
  BITSMITH_ASSIGN_OR_RETURN(impl->output_norm, impl->load("output_norm.weight", {hp.dim}, false));
  if (model.has_tensor("output.weight")) {
    BITSMITH_ASSIGN_OR_RETURN(impl->output, impl->load_head("output.weight"));
  }
  // The KV cache is sized by n_layers and the k/v width: both are checked against the tensors the
  // file really holds (names and shapes, nothing loaded) before it is allocated, so a small file
  // whose header claims 2^20 layers or a huge head_dim is refused here, by name.
  {
    std::map<std::string_view, const Shape*> shapes;
    for (const auto& t : model.tensors()) shapes[t.name] = &t.shape;
    const Shape kv_shape{hp.n_kv_heads * hp.head_dim, hp.dim};
    for (int64_t l = 0; l < hp.n_layers; ++l) {
      for (const char* t : {"attn_k.weight", "attn_v.weight"}) {
        const std::string name = fmt::format("blk.{}.{}", l, t);
        auto it = shapes.find(name);
        if (it == shapes.end()) {
          return corrupt_data("{}: no tensor '{}' for layer {} of {}", model.path(), name, l, hp.n_layers);
        }
        if (!(*it->second == kv_shape)) {
          return corrupt_data("{}: tensor '{}' has shape {}, the hyperparameters say {}", model.path(), name,
                              it->second->to_string(), kv_shape.to_string());
        }
      }
    }
  }
  impl->cached.resize(static_cast<size_t>(hp.n_layers));
  const auto kv = checked_mul(static_cast<uint64_t>(impl->ctx),
                              static_cast<uint64_t>(hp.n_kv_heads * hp.head_dim));
  if (!kv || *kv > (uint64_t{1} << 34)) {
    return invalid_argument("{}: KV cache for context {} too large", model.path(), impl->ctx);
  }
  impl->k_cache.assign(static_cast<size_t>(hp.n_layers), std::vector<float>(*kv));
  impl->v_cache.assign(static_cast<size_t>(hp.n_layers), std::vector<float>(*kv));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

const LlamaHyperparameters& Engine::hparams() const { return impl_->hp; }
int64_t Engine::context() const { return impl_->ctx; }
int64_t Engine::vocab_size() const { return impl_->hp.vocab_size; }

uint64_t Engine::weight_bytes_held() const {
  const HeadMatrix& out = impl_->output;
  return impl_->embedding.bytes() + impl_->output_norm.nbytes() +
         (out.quantized() || present(out.f32) ? out.bytes() : 0) + impl_->cached_bytes;
}

uint64_t Engine::kv_cache_bytes() const {
  return 2 * impl_->k_cache.size() *
         (impl_->k_cache.empty() ? 0 : impl_->k_cache[0].size() * sizeof(float));
}

void Engine::Impl::size_scratch(int64_t n) {
  const int64_t d = hp.dim, qd = hp.n_heads * hp.head_dim;
  auto size = [](int64_t a, int64_t b) { return static_cast<size_t>(a * b); };
  x.resize(size(n, d));
  xn.resize(size(n, std::max(d, qd)));
  q.resize(size(n, qd));
  att.resize(size(n, qd));
  g.resize(size(n, hp.hidden_dim));
  u.resize(size(n, hp.hidden_dim));
  tmp.resize(size(n, d));
}

Status Engine::embed(std::span<const int32_t> tokens, float* x) const {
  const Impl& m = *impl_;
  const int64_t d = m.hp.dim;
  const HeadMatrix& h = m.embedding;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const int32_t id = tokens[t];
    if (id < 0 || id >= m.hp.vocab_size) {
      return invalid_argument("forward: token {} at index {} outside the vocabulary of {}", id,
                              t, m.hp.vocab_size);
    }
    float* row = x + static_cast<int64_t>(t) * d;
    if (h.quantized()) {
      Status st = h.view.scheme->dequantize_rows(h.view, id, id + 1, row);
      if (!st.ok()) return st.with_context(fmt::format("{}: token_embd.weight row {}", m.model->path(), id));
    } else {
      std::memcpy(row, h.f32.as<float>().data() + static_cast<int64_t>(id) * d, sizeof(float) * d);
    }
  }
  return Status::Ok();
}

Status Engine::forward_layer(int64_t layer, float* x, int64_t tokens, int64_t pos) {
  Impl& m = *impl_;
  if (layer < 0 || layer >= m.hp.n_layers) {
    return invalid_argument("forward_layer: layer {} outside 0..{}", layer, m.hp.n_layers - 1);
  }
  if (tokens <= 0 || pos < 0 || pos + tokens > m.ctx) {
    return invalid_argument("forward_layer: positions {}..{} outside the context of {}", pos,
                            pos + tokens - 1, m.ctx);
  }
  m.size_scratch(tokens);
  const size_t bytes = sizeof(float) * static_cast<size_t>(tokens * m.hp.dim);
  std::memcpy(m.x.data(), x, bytes);
  Status st = m.run_layer(layer, tokens, pos);
  if (!st.ok()) return st.with_context(fmt::format("layer {}", layer));
  std::memcpy(x, m.x.data(), bytes);
  return Status::Ok();
}

void Engine::drop_cached_layers() {
  for (auto& c : impl_->cached) c.reset();
  impl_->cached_bytes = 0;
}

void Engine::drop_cached_layer(int64_t layer) {
  if (layer < 0 || layer >= static_cast<int64_t>(impl_->cached.size())) return;
  auto& c = impl_->cached[static_cast<size_t>(layer)];
  if (c) impl_->cached_bytes -= c->bytes;
  c.reset();
}

Status Engine::head_from_hidden(const float* x, int64_t rows) {
  Impl& m = *impl_;
  m.head_rows = 0;
  if (rows <= 0 || rows > m.ctx) {
    return invalid_argument("head_from_hidden: {} rows outside 1..{}", rows, m.ctx);
  }
  const int64_t d = m.hp.dim;
  m.size_scratch(rows);
  detail::rmsnorm(x, m.output_norm.as<float>().data(), m.xn.data(), rows, d, m.hp.rms_norm_eps, *m.pool);
  m.head_rows = rows;
  if (m.opt.hook) m.opt.hook(LinearInput{-1, "output", m.xn.data(), rows, d});
  return Status::Ok();
}

Status Engine::forward_hidden(std::span<const int32_t> tokens, int64_t pos, int64_t logits_from) {
  Impl& m = *impl_;
  const auto& hp = m.hp;
  const int64_t n = static_cast<int64_t>(tokens.size());
  m.head_rows = 0;
  if (n == 0) return invalid_argument("forward: no tokens");
  if (pos < 0 || pos + n > m.ctx) {
    return invalid_argument("forward: positions {}..{} outside the context of {}", pos,
                            pos + n - 1, m.ctx);
  }
  if (logits_from < 0 || logits_from > n) {
    return invalid_argument("forward: logits_from {} outside 0..{}", logits_from, n);
  }
  const int64_t d = hp.dim;
  m.size_scratch(n);
  BITSMITH_RETURN_IF_ERROR(embed(tokens, m.x.data()));
  for (int64_t l = 0; l < hp.n_layers; ++l) {
    Status st = m.run_layer(l, n, pos);
    if (!st.ok()) return st.with_context(fmt::format("layer {}", l));
  }
  const int64_t rows = n - logits_from;
  if (rows == 0) return Status::Ok();
  detail::rmsnorm(m.x.data() + logits_from * d, m.output_norm.as<float>().data(), m.xn.data(),
                  rows, d, hp.rms_norm_eps, *m.pool);
  m.head_rows = rows;
  if (m.opt.hook) m.opt.hook(LinearInput{-1, "output", m.xn.data(), rows, d});
  return Status::Ok();
}

int64_t Engine::hidden_rows() const { return impl_->head_rows; }

Status Engine::output_logits(int64_t v0, int64_t v1, float* out) {
  if (v0 < 0 || v1 > impl_->hp.vocab_size || v0 >= v1) {
    return invalid_argument("output_logits: vocabulary range {}..{} outside 0..{}", v0, v1,
                            impl_->hp.vocab_size);
  }
  if (impl_->head_rows == 0) return invalid_argument("output_logits: no hidden states (forward_hidden first)");
  return impl_->head_logits(v0, v1, out);
}

Status Engine::forward(std::span<const int32_t> tokens, int64_t pos, int64_t logits_from,
                       std::vector<float>* logits) {
  Impl& m = *impl_;
  const int64_t n = static_cast<int64_t>(tokens.size());
  // Without logits the hook must not see the output's input (as before): run no head at all.
  const int64_t from = logits == nullptr && n > 0 ? n : logits_from;
  if (logits == nullptr && (logits_from < 0 || logits_from > n)) {
    return invalid_argument("forward: logits_from {} outside 0..{}", logits_from, n);
  }
  BITSMITH_RETURN_IF_ERROR(forward_hidden(tokens, pos, from));
  if (logits == nullptr || m.head_rows == 0) return Status::Ok();
  const int64_t vocab = m.hp.vocab_size;
  logits->resize(static_cast<size_t>(m.head_rows * vocab));
  return m.head_logits(0, vocab, logits->data());
}

}  // namespace bitsmith::infer
