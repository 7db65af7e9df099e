#include "bitsmith/train/backward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "bitsmith/core/tensor_names.h"
#include "grad_kernels.h"
#include "infer/kernels.h"

namespace bitsmith::train {

std::string_view operand_name(Operand op) {
  switch (op) {
    case Operand::kForwardInput: return "fwd_input";
    case Operand::kForwardWeight: return "fwd_weight";
    case Operand::kDgradGrad: return "dgrad_grad";
    case Operand::kDgradWeight: return "dgrad_weight";
    case Operand::kWgradGrad: return "wgrad_grad";
    case Operand::kWgradInput: return "wgrad_input";
  }
  return "?";
}

namespace {

using Buf = std::vector<float>;

struct Dims {
  int64_t batch, seq, rows, d, qd, kvd, ff, heads, kv, hd, vocab, layers, head_rows;
  Dims(const LlamaHyperparameters& hp, int64_t b, int64_t s, int64_t head_rows_in)
      : batch(b), seq(s), rows(b * s), d(hp.dim), qd(hp.n_heads * hp.head_dim), kvd(hp.n_kv_heads * hp.head_dim),
        ff(hp.hidden_dim), heads(hp.n_heads), kv(hp.n_kv_heads), hd(hp.head_dim), vocab(hp.vocab_size),
        layers(hp.n_layers), head_rows(std::clamp<int64_t>(head_rows_in, 1, b * s)) {}
};

// One layer's internals (what its backward reads), for all rows of the micro-batch.
struct LayerActs {
  Buf xn1, q, k, v, p, att, x2, xn2, g, u, h;
  void size(const Dims& m) {
    const auto n = static_cast<size_t>(m.rows);
    xn1.resize(n * m.d), q.resize(n * m.qd), k.resize(n * m.kvd), v.resize(n * m.kvd);
    p.resize(static_cast<size_t>(m.batch * m.heads * m.seq * m.seq)), att.resize(n * m.qd);
    x2.resize(n * m.d), xn2.resize(n * m.d), g.resize(n * m.ff), u.resize(n * m.ff), h.resize(n * m.ff);
  }
  static uint64_t floats(const Dims& m) {
    return static_cast<uint64_t>(m.rows * (4 * m.d + 2 * m.qd + 2 * m.kvd + 3 * m.ff) +
                                 m.batch * m.heads * m.seq * m.seq);
  }
};

// The backward's gradient buffers for one layer.
struct LayerGrads {
  Buf dff_a, dff_b, dff_c, dd_a, dd_b, dq, dattn, dk, dv;
  void size(const Dims& m) {
    const auto n = static_cast<size_t>(m.rows);
    dff_a.resize(n * m.ff), dff_b.resize(n * m.ff), dff_c.resize(n * m.ff), dd_a.resize(n * m.d);
    dd_b.resize(n * m.d), dq.resize(n * m.qd), dattn.resize(n * m.qd), dk.resize(n * m.kvd), dv.resize(n * m.kvd);
  }
  static uint64_t floats(const Dims& m) { return static_cast<uint64_t>(m.rows * (3 * m.ff + 2 * m.d + 2 * m.qd + 2 * m.kvd)); }
};

uint64_t head_floats(const Dims& m) { return static_cast<uint64_t>(2 * m.rows * m.d + m.head_rows * m.vocab); }

class Pass {
 public:
  Pass(const Weights& w, const Batch& b, const PassOptions& o)
      : w_(w), hp_(w.hparams()), b_(b), m_(hp_, b.batch, b.seq, o.head_rows),
        pool_(o.pool != nullptr ? *o.pool : ThreadPool::global()), prec_(o.precision) {}

  Status check(bool need_targets) const;
  Status embed(float* x) const;
  Status forward_layer(int64_t l, const float* x, float* out, LayerActs& a, bool recompute);
  Status backward_layer(int64_t l, const float* x, LayerActs& a, LayerGrads& lg, float* dx, Weights& g);
  // The final norm, logits a slice at a time, the loss; with dx: d loss / d x of the last layer's
  // output into dx and the head's gradients into g. With logits: every row's logits copied out.
  Result<double> head(const float* x, float* dx, Weights* g, std::vector<float>* logits);
  void embed_backward(const float* dx, Weights& g) const;
  int64_t scored() const {
    int64_t n = 0;
    for (int32_t t : b_.targets) n += t >= 0 ? 1 : 0;
    return n;
  }
  const Dims& dims() const { return m_; }
  uint64_t scratch_bytes() const { return 4 * (xq_.capacity() + wq_.capacity() + dyq_.capacity()); }
  // Diagnosis mode: remember the first tensor whose output holds a NaN or Inf.
  void set_locate() { locate_ = true; }
  const std::string& first_bad() const { return first_bad_; }

 private:
  Status linear_forward(const LinearId& id, const float* x, const float* w, const float* bias, int64_t n, int64_t out,
                        int64_t in, float* y, bool recompute);
  Status linear_backward(const LinearId& id, const float* x, const float* w, const float* dy, int64_t n, int64_t out,
                         int64_t in, float* dx, float beta, float* dw, float* db);
  bool low_precision(const LinearId& id) const { return prec_ != nullptr && prec_->applies(id); }
  Status cast_copy(const LinearId& id, Operand op, const float* src, int64_t rows, int64_t cols, Buf& dst,
                   bool recompute) {
    dst.assign(src, src + rows * cols);
    Status st = prec_->cast(id, op, dst.data(), rows, cols, recompute);
    return st.ok() ? st : st.with_context(fmt::format("{} {}", id.name, operand_name(op)));
  }

  const Weights& w_;
  const LlamaHyperparameters& hp_;
  const Batch& b_;
  Dims m_;
  ThreadPool& pool_;
  MatmulPrecision* prec_;
  Buf xq_, wq_, dyq_;  // the cast operands of a low-precision product
  bool locate_ = false;
  std::string first_bad_;
};

Status Pass::check(bool need_targets) const {
  if (b_.batch <= 0 || b_.seq <= 0) return invalid_argument("batch {} x seq {}: both must be positive", b_.batch, b_.seq);
  const auto n = static_cast<size_t>(b_.batch * b_.seq);
  if (b_.tokens.size() != n || (need_targets && b_.targets.size() != n)) {
    return invalid_argument("batch of {} x {} needs {} tokens and targets, got {} and {}", b_.batch, b_.seq, n,
                            b_.tokens.size(), b_.targets.size());
  }
  for (size_t i = 0; i < b_.tokens.size(); ++i) {
    if (b_.tokens[i] < 0 || b_.tokens[i] >= m_.vocab) {
      return invalid_argument("token {} at index {} is outside the vocabulary of {}", b_.tokens[i], i, m_.vocab);
    }
  }
  for (size_t i = 0; i < b_.targets.size(); ++i) {
    if (b_.targets[i] < -1 || b_.targets[i] >= m_.vocab) {
      return invalid_argument("target {} at index {} is outside the vocabulary of {}", b_.targets[i], i, m_.vocab);
    }
  }
  if (need_targets && scored() == 0) return invalid_argument("the batch scores no target");
  if (!b_.teacher_logits.empty() && b_.teacher_logits.size() != n * static_cast<size_t>(m_.vocab)) {
    return invalid_argument("teacher logits: {} values for {} rows x {} vocabulary", b_.teacher_logits.size(), n,
                            m_.vocab);
  }
  return Status::Ok();
}

Status Pass::embed(float* x) const {
  for (int64_t r = 0; r < m_.rows; ++r) {
    std::memcpy(x + r * m_.d, w_.embedding() + static_cast<int64_t>(b_.tokens[static_cast<size_t>(r)]) * m_.d,
                sizeof(float) * static_cast<size_t>(m_.d));
  }
  return Status::Ok();
}

void Pass::embed_backward(const float* dx, Weights& g) const {
  float* de = g.embedding();
  for (int64_t r = 0; r < m_.rows; ++r) {
    float* row = de + static_cast<int64_t>(b_.tokens[static_cast<size_t>(r)]) * m_.d;
    for (int64_t i = 0; i < m_.d; ++i) row[i] += dx[r * m_.d + i];
  }
}

Status Pass::linear_forward(const LinearId& id, const float* x, const float* w, const float* bias, int64_t n,
                            int64_t out, int64_t in, float* y, bool recompute) {
  if (low_precision(id)) {
    BITSMITH_RETURN_IF_ERROR(cast_copy(id, Operand::kForwardInput, x, n, in, xq_, recompute));
    BITSMITH_RETURN_IF_ERROR(cast_copy(id, Operand::kForwardWeight, w, out, in, wq_, recompute));
    x = xq_.data(), w = wq_.data();
  }
  infer::detail::gemm_nt(x, w, y, n, out, in, pool_);
  if (bias != nullptr) infer::detail::add_bias(y, bias, n, out);
  return Status::Ok();
}

Status Pass::linear_backward(const LinearId& id, const float* x, const float* w, const float* dy, int64_t n,
                             int64_t out, int64_t in, float* dx, float beta, float* dw, float* db) {
  if (db != nullptr) detail::colsum_acc(dy, db, n, out);
  if (!low_precision(id)) {
    if (dx != nullptr) detail::gemm_nn(dy, w, dx, n, out, in, beta, pool_);
    detail::gemm_tn_acc(dy, x, dw, n, out, in, pool_);
    return Status::Ok();
  }
  if (dx != nullptr) {
    BITSMITH_RETURN_IF_ERROR(cast_copy(id, Operand::kDgradGrad, dy, n, out, dyq_, false));
    BITSMITH_RETURN_IF_ERROR(cast_copy(id, Operand::kDgradWeight, w, out, in, wq_, false));
    detail::gemm_nn(dyq_.data(), wq_.data(), dx, n, out, in, beta, pool_);
  }
  BITSMITH_RETURN_IF_ERROR(cast_copy(id, Operand::kWgradGrad, dy, n, out, dyq_, false));
  BITSMITH_RETURN_IF_ERROR(cast_copy(id, Operand::kWgradInput, x, n, in, xq_, false));
  detail::gemm_tn_acc(dyq_.data(), xq_.data(), dw, n, out, in, pool_);
  return Status::Ok();
}

// The canonical weight names of a layer's linears, for LinearId and error messages.
struct LayerNames {
  std::string q, k, v, o, gate, up, down;
  explicit LayerNames(int64_t l)
      : q(tensor_name(l, "attn_q")), k(tensor_name(l, "attn_k")), v(tensor_name(l, "attn_v")),
        o(tensor_name(l, "attn_output")), gate(tensor_name(l, "ffn_gate")), up(tensor_name(l, "ffn_up")),
        down(tensor_name(l, "ffn_down")) {}
};

bool all_finite(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

Status Pass::forward_layer(int64_t l, const float* x, float* out, LayerActs& a, bool recompute) {
  using LS = LayerSlot;
  const Dims& m = m_;
  const LayerNames nm(l);
  const bool bias = hp_.qkv_bias;
  a.size(m);
  infer::detail::rmsnorm(x, w_.layer(l, LS::kAttnNorm), a.xn1.data(), m.rows, m.d, hp_.rms_norm_eps, pool_);
  BITSMITH_RETURN_IF_ERROR(linear_forward({l, nm.q}, a.xn1.data(), w_.layer(l, LS::kQ),
                                          bias ? w_.layer(l, LS::kBq) : nullptr, m.rows, m.qd, m.d, a.q.data(), recompute));
  BITSMITH_RETURN_IF_ERROR(linear_forward({l, nm.k}, a.xn1.data(), w_.layer(l, LS::kK),
                                          bias ? w_.layer(l, LS::kBk) : nullptr, m.rows, m.kvd, m.d, a.k.data(), recompute));
  BITSMITH_RETURN_IF_ERROR(linear_forward({l, nm.v}, a.xn1.data(), w_.layer(l, LS::kV),
                                          bias ? w_.layer(l, LS::kBv) : nullptr, m.rows, m.kvd, m.d, a.v.data(), recompute));
  for (int64_t s = 0; s < m.batch; ++s) {
    infer::detail::rope(a.q.data() + s * m.seq * m.qd, m.seq, m.heads, m.hd, 0, hp_.rope_theta, hp_.rope_style, pool_);
    infer::detail::rope(a.k.data() + s * m.seq * m.kvd, m.seq, m.kv, m.hd, 0, hp_.rope_theta, hp_.rope_style, pool_);
  }
  detail::attention_forward(a.q.data(), a.k.data(), a.v.data(), a.p.data(), a.att.data(), m.batch, m.seq, m.heads,
                            m.kv, m.hd, pool_);
  BITSMITH_RETURN_IF_ERROR(linear_forward({l, nm.o}, a.att.data(), w_.layer(l, LS::kO), nullptr, m.rows, m.d, m.qd,
                                          a.x2.data(), recompute));
  for (int64_t i = 0; i < m.rows * m.d; ++i) a.x2[static_cast<size_t>(i)] += x[i];
  if (locate_ && first_bad_.empty() && !all_finite(a.x2.data(), m.rows * m.d)) first_bad_ = nm.o;
  infer::detail::rmsnorm(a.x2.data(), w_.layer(l, LS::kFfnNorm), a.xn2.data(), m.rows, m.d, hp_.rms_norm_eps, pool_);
  BITSMITH_RETURN_IF_ERROR(linear_forward({l, nm.gate}, a.xn2.data(), w_.layer(l, LS::kGate), nullptr, m.rows, m.ff,
                                          m.d, a.g.data(), recompute));
  BITSMITH_RETURN_IF_ERROR(linear_forward({l, nm.up}, a.xn2.data(), w_.layer(l, LS::kUp), nullptr, m.rows, m.ff, m.d,
                                          a.u.data(), recompute));
  a.h = a.g;  // silu_mul works in place; the backward needs the gate's input kept
  infer::detail::silu_mul(a.h.data(), a.u.data(), m.rows * m.ff, pool_);
  BITSMITH_RETURN_IF_ERROR(linear_forward({l, nm.down}, a.h.data(), w_.layer(l, LS::kDown), nullptr, m.rows, m.d, m.ff,
                                          out, recompute));
  for (int64_t i = 0; i < m.rows * m.d; ++i) out[i] += a.x2[static_cast<size_t>(i)];
  if (locate_ && first_bad_.empty() && !all_finite(out, m.rows * m.d)) first_bad_ = nm.down;
  return Status::Ok();
}

Status Pass::backward_layer(int64_t l, const float* x, LayerActs& a, LayerGrads& lg, float* dx, Weights& g) {
  using LS = LayerSlot;
  const Dims& m = m_;
  const LayerNames nm(l);
  const int64_t n = m.rows;
  lg.size(m);
  // Feed-forward block: out = x2 + down(silu(gate(xn2)) * up(xn2)).
  BITSMITH_RETURN_IF_ERROR(linear_backward({l, nm.down}, a.h.data(), w_.layer(l, LS::kDown), dx, n, m.d, m.ff,
                                           lg.dff_a.data(), 0.0f, g.layer(l, LS::kDown), nullptr));
  detail::swiglu_backward(a.g.data(), a.u.data(), lg.dff_a.data(), lg.dff_b.data(), lg.dff_c.data(), n * m.ff, pool_);
  BITSMITH_RETURN_IF_ERROR(linear_backward({l, nm.gate}, a.xn2.data(), w_.layer(l, LS::kGate), lg.dff_b.data(), n,
                                           m.ff, m.d, lg.dd_a.data(), 0.0f, g.layer(l, LS::kGate), nullptr));
  BITSMITH_RETURN_IF_ERROR(linear_backward({l, nm.up}, a.xn2.data(), w_.layer(l, LS::kUp), lg.dff_c.data(), n, m.ff,
                                           m.d, lg.dd_a.data(), 1.0f, g.layer(l, LS::kUp), nullptr));
  std::memcpy(lg.dd_b.data(), dx, sizeof(float) * static_cast<size_t>(n * m.d));  // residual: d x2 = d out + ...
  detail::rmsnorm_backward(a.x2.data(), w_.layer(l, LS::kFfnNorm), lg.dd_a.data(), lg.dd_b.data(),
                           g.layer(l, LS::kFfnNorm), n, m.d, hp_.rms_norm_eps, pool_);
  // Attention block: x2 = x + o(attention(rope(q(xn1)), rope(k(xn1)), v(xn1))).
  BITSMITH_RETURN_IF_ERROR(linear_backward({l, nm.o}, a.att.data(), w_.layer(l, LS::kO), lg.dd_b.data(), n, m.d, m.qd,
                                           lg.dattn.data(), 0.0f, g.layer(l, LS::kO), nullptr));
  detail::attention_backward(a.q.data(), a.k.data(), a.v.data(), a.p.data(), lg.dattn.data(), lg.dq.data(),
                             lg.dk.data(), lg.dv.data(), m.batch, m.seq, m.heads, m.kv, m.hd, pool_);
  detail::rope_backward(lg.dq.data(), m.batch, m.seq, m.heads, m.hd, hp_.rope_theta, hp_.rope_style, pool_);
  detail::rope_backward(lg.dk.data(), m.batch, m.seq, m.kv, m.hd, hp_.rope_theta, hp_.rope_style, pool_);
  const bool bias = hp_.qkv_bias;
  BITSMITH_RETURN_IF_ERROR(linear_backward({l, nm.q}, a.xn1.data(), w_.layer(l, LS::kQ), lg.dq.data(), n, m.qd, m.d,
                                           lg.dd_a.data(), 0.0f, g.layer(l, LS::kQ),
                                           bias ? g.layer(l, LS::kBq) : nullptr));
  BITSMITH_RETURN_IF_ERROR(linear_backward({l, nm.k}, a.xn1.data(), w_.layer(l, LS::kK), lg.dk.data(), n, m.kvd, m.d,
                                           lg.dd_a.data(), 1.0f, g.layer(l, LS::kK),
                                           bias ? g.layer(l, LS::kBk) : nullptr));
  BITSMITH_RETURN_IF_ERROR(linear_backward({l, nm.v}, a.xn1.data(), w_.layer(l, LS::kV), lg.dv.data(), n, m.kvd, m.d,
                                           lg.dd_a.data(), 1.0f, g.layer(l, LS::kV),
                                           bias ? g.layer(l, LS::kBv) : nullptr));
  std::memcpy(dx, lg.dd_b.data(), sizeof(float) * static_cast<size_t>(n * m.d));
  detail::rmsnorm_backward(x, w_.layer(l, LS::kAttnNorm), lg.dd_a.data(), dx, g.layer(l, LS::kAttnNorm), n, m.d,
                           hp_.rms_norm_eps, pool_);
  return Status::Ok();
}

Result<double> Pass::head(const float* x, float* dx, Weights* g, std::vector<float>* logits) {
  const Dims& m = m_;
  const std::string out_name(hp_.tied_embeddings ? kTokenEmbdWeight : kOutputWeight);
  const LinearId id{-1, out_name};
  Buf xf(static_cast<size_t>(m.rows * m.d)), dxf, chunk(static_cast<size_t>(m.head_rows * m.vocab));
  infer::detail::rmsnorm(x, w_.output_norm(), xf.data(), m.rows, m.d, hp_.rms_norm_eps, pool_);
  if (dx != nullptr) dxf.assign(xf.size(), 0.0f);
  if (logits != nullptr) logits->resize(static_cast<size_t>(m.rows * m.vocab));
  const int64_t count = scored();
  const float scale = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
  double total = 0;
  for (int64_t r0 = 0; r0 < m.rows; r0 += m.head_rows) {
    const int64_t rows = std::min(m.head_rows, m.rows - r0);
    const float* xr = xf.data() + r0 * m.d;
    BITSMITH_RETURN_IF_ERROR(linear_forward(id, xr, w_.output(), nullptr, rows, m.vocab, m.d, chunk.data(), false));
    if (logits != nullptr) std::copy_n(chunk.data(), rows * m.vocab, logits->data() + r0 * m.vocab);
    if (locate_ && first_bad_.empty() && !all_finite(chunk.data(), rows * m.vocab)) first_bad_ = out_name;
    if (b_.targets.empty()) continue;
    total += b_.teacher_logits.empty()
                 ? detail::cross_entropy_rows(chunk.data(), b_.targets.data() + r0, rows, m.vocab, scale, pool_)
                 : detail::kl_rows(chunk.data(), b_.teacher_logits.data() + r0 * m.vocab, b_.targets.data() + r0,
                                   rows, m.vocab, scale, pool_);
    if (dx != nullptr) {
      BITSMITH_RETURN_IF_ERROR(linear_backward(id, xr, w_.output(), chunk.data(), rows, m.vocab, m.d,
                                               dxf.data() + r0 * m.d, 0.0f, g->output(), nullptr));
    }
  }
  if (dx != nullptr) {
    std::fill(dx, dx + m.rows * m.d, 0.0f);
    detail::rmsnorm_backward(x, w_.output_norm(), dxf.data(), dx, g->output_norm(), m.rows, m.d, hp_.rms_norm_eps,
                             pool_);
  }
  return count > 0 ? total / static_cast<double>(count) : 0.0;
}

Status check_grads_layout(const Weights& w, const Weights* g) {
  if (g == nullptr || g->params().size() != w.params().size()) {
    return invalid_argument("gradients must have the weights' layout (Weights::zeros_like)");
  }
  return Status::Ok();
}

}  // namespace

uint64_t activation_bytes(const LlamaHyperparameters& hp, int64_t batch, int64_t seq, int64_t head_rows) {
  const Dims m(hp, batch, seq, head_rows);
  const uint64_t residual = static_cast<uint64_t>((m.layers + 1) * m.rows * m.d);
  return 4 * (residual + LayerActs::floats(m) + LayerGrads::floats(m) + head_floats(m) +
              static_cast<uint64_t>(m.rows * m.d));  // + the gradient flowing down the residual stream
}

Result<PassResult> loss_and_gradients(const Weights& w, const Batch& b, Weights* grads, const PassOptions& o) {
  BITSMITH_RETURN_IF_ERROR(check_grads_layout(w, grads));
  Pass pass(w, b, o);
  BITSMITH_RETURN_IF_ERROR(pass.check(true));
  const Dims& m = pass.dims();
  const auto plane = static_cast<size_t>(m.rows * m.d);
  // The residual stream entering every layer, and the last layer's output: all the forward keeps.
  Buf xs(plane * static_cast<size_t>(m.layers + 1));
  BITSMITH_RETURN_IF_ERROR(pass.embed(xs.data()));
  LayerActs acts;
  for (int64_t l = 0; l < m.layers; ++l) {
    Status st = pass.forward_layer(l, xs.data() + l * plane, xs.data() + (l + 1) * plane, acts, false);
    if (!st.ok()) return st.with_context(fmt::format("forward, layer {}", l));
  }
  Buf dx(plane);
  BITSMITH_ASSIGN_OR_RETURN(double loss, pass.head(xs.data() + m.layers * plane, dx.data(), grads, nullptr));
  LayerGrads lg;
  Buf scratch_out(plane);
  for (int64_t l = m.layers - 1; l >= 0; --l) {
    // The last layer's internals are still in acts from the forward; the others are recomputed.
    if (l != m.layers - 1) {
      Status st = pass.forward_layer(l, xs.data() + l * plane, scratch_out.data(), acts, true);
      if (!st.ok()) return st.with_context(fmt::format("recompute, layer {}", l));
    }
    Status st = pass.backward_layer(l, xs.data() + l * plane, acts, lg, dx.data(), *grads);
    if (!st.ok()) return st.with_context(fmt::format("backward, layer {}", l));
  }
  pass.embed_backward(dx.data(), *grads);
  PassResult r;
  r.loss = loss;
  r.scored = pass.scored();
  r.activation_bytes = activation_bytes(w.hparams(), b.batch, b.seq, o.head_rows) + pass.scratch_bytes();
  return r;
}

namespace {
// Forward through every layer with two alternating planes; the head's loss and/or logits.
Result<PassResult> forward_only(const Weights& w, const Batch& b, const PassOptions& o, std::vector<float>* logits,
                                std::string* first_bad = nullptr) {
  Pass pass(w, b, o);
  if (first_bad != nullptr) pass.set_locate();
  BITSMITH_RETURN_IF_ERROR(pass.check(logits == nullptr));
  const Dims& m = pass.dims();
  const auto plane = static_cast<size_t>(m.rows * m.d);
  Buf x(plane), y(plane);
  BITSMITH_RETURN_IF_ERROR(pass.embed(x.data()));
  LayerActs acts;
  for (int64_t l = 0; l < m.layers; ++l) {
    Status st = pass.forward_layer(l, x.data(), y.data(), acts, false);
    if (!st.ok()) return st.with_context(fmt::format("forward, layer {}", l));
    x.swap(y);
  }
  BITSMITH_ASSIGN_OR_RETURN(double loss, pass.head(x.data(), nullptr, nullptr, logits));
  if (first_bad != nullptr) *first_bad = pass.first_bad();
  PassResult r;
  r.loss = loss;
  r.scored = pass.scored();
  r.activation_bytes = 4 * (2 * plane + LayerActs::floats(m) + head_floats(m)) + pass.scratch_bytes();
  return r;
}
}  // namespace

Result<PassResult> evaluate_loss(const Weights& w, const Batch& b, const PassOptions& o) {
  return forward_only(w, b, o, nullptr);
}

std::string locate_non_finite(const Weights& w, const Batch& b, const PassOptions& o) {
  std::string bad;
  (void)forward_only(w, b, o, nullptr, &bad);
  return bad;
}

Status compute_logits(const Weights& w, const Batch& b, std::vector<float>* logits, const PassOptions& o) {
  Batch no_targets = b;
  no_targets.targets = {};
  return forward_only(w, no_targets, o, logits).status();
}

}  // namespace bitsmith::train
