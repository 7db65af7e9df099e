// AWQ (Lin et al. 2023; mit-han-lab/llm-awq auto_scale.py, auto_clip.py), per decoder layer:
//  1. scale search for each set of linears sharing an input (q/k/v after attn_norm, gate/up
//     after ffn_norm, attn_output after attn_v when there is no GQA, ffn_down after ffn_up):
//     s = mean|x|^alpha (alpha = i / 20), normalised by sqrt(max s * min s); the alpha with the
//     least output MSE of (x / s) Q(W diag s)^T against x W^T wins (alpha 0 is plain RTN).
//     The output compared is that of the linears themselves (llm-awq compares the whole attention
//     or MLP block's output; linear outputs are what the block's error comes from, and cheaper).
//  2. the winner is folded: the preceding norm weight (or the preceding linear's rows) / s, the
//     linears' columns * s, so the checkpoint keeps the original architecture;
//  3. clipping search for every linear but q/k: per row and group, the max shrunk by i/20
//     (i < 10) minimising the MSE of the group's partial outputs; weights clamped to it.
// Inputs come from layers already rescaled and clipped (not quantized: as llm-awq runs it),
// through a LayerRunner (one layer at a time). Each finished layer's linears are packed with
// the scheme's RTN right away (their float copies dropped); the rescaled norms stay in `ov`.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>

#include "awq.h"

#include "bitsmith/algo/awq.h"
#include "bitsmith/core/tensor_names.h"

namespace bitsmith::algo {

namespace {

struct Linear {
  std::string name;
  const quant::Scheme* scheme;
  Tensor w;  // current (rescaled) weights, rows x cols
};

// The linears' float outputs x W^T (m x rows each): the target of every grid point.
std::vector<std::vector<float>> float_outputs(std::span<const AwqLinear> lin, const float* x, int64_t m,
                                              int64_t cols) {
  std::vector<std::vector<float>> y;
  for (const AwqLinear& l : lin) {
    y.emplace_back(static_cast<size_t>(m * l.rows));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(l.rows),
                static_cast<int>(cols), 1.0f, x, static_cast<int>(cols), l.w, static_cast<int>(cols), 0.0f,
                y.back().data(), static_cast<int>(l.rows));
  }
  return y;
}

// sum over linears of || y0 - X' Wq^T ||^2 with y0 = X W^T, X' = X / s and Wq = Q(W diag s).
Result<double> scaled_loss(std::span<const AwqLinear> lin, const std::vector<std::vector<float>>& y0,
                           const float* x, int64_t m, int64_t cols, const std::vector<float>& s) {
  double loss = 0;
  std::vector<float> xs(static_cast<size_t>(m * cols));
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t c = 0; c < cols; ++c) xs[static_cast<size_t>(t * cols + c)] = x[t * cols + c] / s[static_cast<size_t>(c)];
  }
  for (size_t li = 0; li < lin.size(); ++li) {
    const AwqLinear& l = lin[li];
    const int64_t rows = l.rows;
    std::vector<float> ws(static_cast<size_t>(rows * cols)), y1(static_cast<size_t>(m * rows));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) ws[static_cast<size_t>(r * cols + c)] = l.w[r * cols + c] * s[static_cast<size_t>(c)];
    }
    BITSMITH_RETURN_IF_ERROR(l.scheme->fake_quantize(ws.data(), rows, cols, ws.data()));
    const int im = static_cast<int>(m), ir = static_cast<int>(rows), ic = static_cast<int>(cols);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, im, ir, ic, 1.0f, xs.data(), ic, ws.data(), ic, 0.0f, y1.data(), ir);
    for (size_t i = 0; i < y1.size(); ++i) {
      const double d = static_cast<double>(y0[li][i]) - y1[i];
      loss += d * d;
    }
  }
  return loss;
}

int64_t group_cols_of(const quant::Scheme& s, int64_t cols) {
  const int64_t g = s.traits().block_cols;
  return g > 0 && cols % g == 0 ? g : cols;
}

// Clipping search on one linear with input samples x (m x cols).
Status clip_linear(Linear& l, const std::vector<float>& x, int64_t m, const AwqOptions& opt) {
  const int64_t rows = l.w.shape().rows(), cols = l.w.shape().cols();
  const int64_t g = group_cols_of(*l.scheme, cols), ng = cols / g;
  float* w = l.w.mutable_as<float>().data();
  std::vector<float> amax(static_cast<size_t>(rows * ng)), best_max(amax.size());
  std::vector<double> best_err(amax.size(), INFINITY);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t gi = 0; gi < ng; ++gi) {
      float a = 0;
      for (int64_t j = 0; j < g; ++j) a = std::max(a, std::fabs(w[r * cols + gi * g + j]));
      amax[static_cast<size_t>(r * ng + gi)] = a;
    }
  }
  std::vector<float> wc(static_cast<size_t>(rows * cols)), diff(wc.size()), e(static_cast<size_t>(m * rows));
  const int steps = static_cast<int>(opt.max_shrink * opt.clip_grid);
  for (int i = 0; i < steps; ++i) {
    const float shrink = 1.0f - static_cast<float>(i) / static_cast<float>(opt.clip_grid);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float mx = amax[static_cast<size_t>(r * ng + c / g)] * shrink;
        wc[static_cast<size_t>(r * cols + c)] = std::min(std::max(w[r * cols + c], -mx), mx);
      }
    }
    BITSMITH_RETURN_IF_ERROR(l.scheme->fake_quantize(wc.data(), rows, cols, wc.data()));
    for (size_t k = 0; k < wc.size(); ++k) diff[k] = wc[k] - w[k];
    for (int64_t gi = 0; gi < ng; ++gi) {
      // Partial outputs of the group: E = X[:, group] D[:, group]^T (m x rows).
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(rows),
                  static_cast<int>(g), 1.0f, x.data() + gi * g, static_cast<int>(cols),
                  diff.data() + gi * g, static_cast<int>(cols), 0.0f, e.data(), static_cast<int>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        double err = 0;
        for (int64_t t = 0; t < m; ++t) err += static_cast<double>(e[static_cast<size_t>(t * rows + r)]) * e[static_cast<size_t>(t * rows + r)];
        const size_t k = static_cast<size_t>(r * ng + gi);
        if (err < best_err[k]) {
          best_err[k] = err;
          best_max[k] = amax[k] * shrink;
        }
      }
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float mx = best_max[static_cast<size_t>(r * ng + c / g)];
      w[r * cols + c] = std::min(std::max(w[r * cols + c], -mx), mx);
    }
  }
  return Status::Ok();
}

Result<Tensor> copy_of(const Model& m, const std::string& name) {
  BITSMITH_ASSIGN_OR_RETURN(Tensor t, m.load_f32(name));
  Tensor out(DType::kF32, t.shape());
  std::copy(t.as<float>().begin(), t.as<float>().end(), out.mutable_as<float>().begin());
  return out;
}

}  // namespace

Result<AwqScaleSearch> awq_search_scale(std::span<const AwqLinear> linears, const float* x,
                                        int64_t m, int64_t cols,
                                        std::span<const float> mean_abs, int grid) {
  if (static_cast<int64_t>(mean_abs.size()) != cols || grid <= 0) {
    return invalid_argument("awq: {} mean |x| values for {} columns, grid {}", mean_abs.size(), cols, grid);
  }
  AwqScaleSearch out;
  out.scales.assign(static_cast<size_t>(cols), 1.0f);
  std::vector<float> s(static_cast<size_t>(cols));
  const auto y0 = float_outputs(linears, x, m, cols);
  double best = INFINITY;
  for (int i = 0; i < grid; ++i) {
    const float alpha = static_cast<float>(i) / static_cast<float>(grid);
    float mx = 0, mn = INFINITY;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::max(std::pow(mean_abs[static_cast<size_t>(c)], alpha), 1e-4f);
      s[static_cast<size_t>(c)] = v;
      mx = std::max(mx, v);
      mn = std::min(mn, v);
    }
    const float norm = std::sqrt(mx * mn);
    for (float& v : s) v /= norm;
    BITSMITH_ASSIGN_OR_RETURN(double loss, scaled_loss(linears, y0, x, m, cols, s));
    out.losses.push_back(loss);
    if (loss < best) {
      best = loss;
      out.best = i;
      out.scales = s;
    }
  }
  return out;
}

Status run_awq(const Model& model, const SchemeFor& scheme_for, const AwqOptions& opt,
               const std::vector<std::vector<int32_t>>& segs, OverlayModel* ov,
               std::map<std::string, quant::QuantizedTensor>* packed,
               std::vector<std::string>* notes) {
  const auto& hp = model.hyperparameters();
  BITSMITH_ASSIGN_OR_RETURN(auto runner, LayerRunner::create(*ov, segs));
  for (int64_t l = 0; l < hp.n_layers; ++l) {
    CollectOptions co;
    co.max_samples = opt.max_samples;
    BITSMITH_ASSIGN_OR_RETURN(auto stats, runner->collect(co));
    auto name = [&](const char* n) { return tensor_name(l, n); };
    struct Set {
      std::string prev;  // norm (1-D) or linear whose output rows feed the input
      std::vector<std::string> linears;
      std::string key;
    };
    std::vector<Set> sets = {{name("attn_norm"), {name("attn_q"), name("attn_k"), name("attn_v")}, tensor_name(l, "attn_in", "")},
                             {name("ffn_norm"), {name("ffn_gate"), name("ffn_up")}, tensor_name(l, "ffn_in", "")},
                             {name("ffn_up"), {name("ffn_down")}, tensor_name(l, "ffn_down", "")}};
    if (hp.n_kv_heads == hp.n_heads) {
      sets.insert(sets.begin() + 1, Set{name("attn_v"), {name("attn_output")}, tensor_name(l, "attn_output", "")});
    }
    std::map<std::string, Tensor> cur;  // this layer's rescaled tensors
    auto get = [&](const std::string& n) -> Result<Tensor*> {
      auto it = cur.find(n);
      if (it == cur.end()) {
        if (!model.has_tensor(n)) return not_found("awq: {} is missing from {}", n, model.path());
        BITSMITH_ASSIGN_OR_RETURN(Tensor t, copy_of(*ov, n));
        it = cur.emplace(n, std::move(t)).first;
      }
      return &it->second;
    };
    for (Set& set : sets) {
      auto st = stats.find(set.key);
      if (st == stats.end()) return not_found("awq: no calibration input reached {}", set.key);
      std::vector<AwqLinear> lin;
      for (const auto& n : set.linears) {
        const quant::Scheme* s = scheme_for(n);
        if (s == nullptr || s->traits().granularity == quant::Granularity::kElement) continue;
        BITSMITH_ASSIGN_OR_RETURN(Tensor* t, get(n));
        lin.push_back({s, t->as<float>().data(), t->shape().rows()});
      }
      if (lin.size() != set.linears.size()) continue;  // a linear kept in float: leave the set as is
      const int64_t cols = st->second.cols;
      const int64_t m = static_cast<int64_t>(st->second.samples.size()) / cols;
      const std::vector<float> xmax = st->second.mean_abs();
      BITSMITH_ASSIGN_OR_RETURN(AwqScaleSearch found, awq_search_scale(lin, st->second.samples.data(), m, cols, xmax, opt.grid));
      const std::vector<float>& best_s = found.scales;
      // Fold: prev / s (norm entries or linear rows), linears' columns * s, samples / s.
      BITSMITH_ASSIGN_OR_RETURN(Tensor* prev, get(set.prev));
      float* pv = prev->mutable_as<float>().data();
      const int64_t prow = prev->shape().rank() == 1 ? 1 : prev->shape().cols();
      for (int64_t c = 0; c < cols; ++c) {
        for (int64_t j = 0; j < prow; ++j) pv[c * prow + j] /= best_s[static_cast<size_t>(c)];
      }
      for (const auto& n : set.linears) {
        BITSMITH_ASSIGN_OR_RETURN(Tensor* t, get(n));
        float* w = t->mutable_as<float>().data();
        const int64_t rows = t->shape().rows();
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= best_s[static_cast<size_t>(c)];
        }
      }
      for (int64_t t = 0; t < m; ++t) {
        for (int64_t c = 0; c < cols; ++c) st->second.samples[static_cast<size_t>(t * cols + c)] /= best_s[static_cast<size_t>(c)];
      }
    }
    // Clipping, q/k excluded (their error is amplified through the softmax).
    for (const Set& set : sets) {
      auto st = stats.find(set.key);
      const int64_t cols = st->second.cols, m = static_cast<int64_t>(st->second.samples.size()) / cols;
      for (const auto& n : set.linears) {
        const TensorCategory c = tensor_category(n);
        if (c == TensorCategory::kAttnQ || c == TensorCategory::kAttnK) continue;
        const quant::Scheme* s = scheme_for(n);
        if (s == nullptr || s->traits().granularity == quant::Granularity::kElement) continue;
        BITSMITH_ASSIGN_OR_RETURN(Tensor* t, get(n));
        Linear lin{n, s, Tensor(DType::kF32, t->shape(), t->data(), nullptr)};
        lin.w = std::move(*t);
        BITSMITH_RETURN_IF_ERROR(clip_linear(lin, st->second.samples, m, opt));
        *t = std::move(lin.w);
      }
    }
    std::vector<std::string> names;
    for (auto& [n, t] : cur) {
      names.push_back(n);
      ov->replace(n, std::move(t));
    }
    cur.clear();
    stats.clear();
    // The next layer is calibrated on this layer's outputs with the rescaled, clipped float
    // weights (as llm-awq runs it); then the linears are packed (RTN) and their floats dropped,
    // so memory holds one layer's floats. The rescaled norms stay in the overlay.
    if (l + 1 < hp.n_layers) BITSMITH_RETURN_IF_ERROR(runner->advance());
    if (packed == nullptr) continue;
    // Projections an engine fuses share one global scale, from their rescaled weights' amax.
    std::map<std::string, float> group_amax;
    for (const std::string& n : names) {
      const quant::Scheme* s = scheme_for(n);
      const std::string g = fused_group_of(n);
      if (s == nullptr || !s->traits().global_scale || g.empty()) continue;
      BITSMITH_ASSIGN_OR_RETURN(Tensor t, ov->load_f32(n));
      float& a = group_amax[g];
      for (float x : t.as<float>()) if (std::isfinite(x)) a = std::max(a, std::fabs(x));
    }
    for (const std::string& n : names) {
      const quant::Scheme* s = scheme_for(n);
      if (s == nullptr || input_key(n).empty()) continue;
      BITSMITH_ASSIGN_OR_RETURN(Tensor t, ov->load_f32(n));
      quant::QuantizeOptions qo;
      if (auto a = group_amax.find(fused_group_of(n)); s->traits().global_scale && a != group_amax.end()) {
        qo.shared_amax = a->second;
      }
      auto q = s->quantize(t.as<float>().data(), t.shape().rows(), t.shape().cols(), qo);
      if (!q.ok()) {  // kept in float; the writer quantizes (and reports) it
        if (notes) notes->push_back(fmt::format("{}: {}; rescaled weights kept in float until written", n, q.status().message()));
        continue;
      }
      (*packed)[n] = std::move(*q);
      ov->restore(n);
    }
  }
  if (notes) notes->push_back("awq: scales folded into norms/linears, weights clipped; quantized with RTN");
  return Status::Ok();
}

}  // namespace bitsmith::algo
