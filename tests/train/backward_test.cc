// The backward pass checked the way llm.c checks its trainer: every parameter's gradient against
// central finite differences of the loss on tiny random models (each architecture variant the
// engine runs: tied/separate output, both RoPE styles, GQA, q/k/v biases), and the forward
// against infer's engine on stories260K. (PyTorch autograd on stories260K: torch_gradients_check.py.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bitsmith/infer/engine.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/plan/footprint.h"
#include "bitsmith/plan/model_shape.h"
#include "bitsmith/train/backward.h"

namespace bitsmith::train {
namespace {

LlamaHyperparameters tiny(bool tied, RopeStyle rope, int64_t kv_heads, bool bias) {
  LlamaHyperparameters hp;
  hp.dim = 16, hp.hidden_dim = 24, hp.n_layers = 2, hp.n_heads = 4, hp.n_kv_heads = kv_heads, hp.head_dim = 4;
  hp.vocab_size = 19, hp.context_length = 16, hp.tied_embeddings = tied, hp.rope_style = rope, hp.qkv_bias = bias;
  return hp;
}

// Random weights loud enough that every gradient is well above float32 noise: matrices
// normal(0, 0.25), norms 1 + normal(0, 0.2), biases normal(0, 0.2).
Weights loud_weights(const LlamaHyperparameters& hp, uint32_t seed) {
  auto w = Weights::zeros(hp);
  EXPECT_TRUE(w.ok());
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& p : w->params()) {
    const bool norm = p.name.find("norm") != std::string::npos, bias = p.name.find("bias") != std::string::npos;
    for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] = norm ? 1.0f + 0.2f * nd(rng) : (bias ? 0.2f : 0.25f) * nd(rng);
  }
  return std::move(*w);
}

struct Tokens {
  std::vector<int32_t> tokens, targets;
};
Tokens random_tokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  Tokens t;
  for (int64_t i = 0; i < n; ++i) {
    t.tokens.push_back(static_cast<int32_t>(rng() % vocab));
    t.targets.push_back(static_cast<int32_t>(rng() % vocab));
  }
  t.targets[2] = -1;  // an unscored position
  return t;
}

// Every element of every parameter: analytic gradient vs central differences of the loss.
// float32 rounds the loss to ~1e-6, which divided by 2h is noise of ~5e-5 in every difference,
// so an element is judged against the scale of its tensor: err = |fd - an| / max(|an|, 0.1 top)
// with top the tensor's largest gradient (elements above a tenth of it: plain relative error).
struct FdErrors {
  double relative = 0;  // the largest err above
  double absolute = 0;  // the largest |fd - an|
};
FdErrors fd_errors(const LlamaHyperparameters& hp, uint32_t seed) {
  Weights w = loud_weights(hp, seed);
  const int64_t batch = 2, seq = 5;
  Tokens tk = random_tokens(batch * seq, hp.vocab_size, seed + 1);
  Batch b{tk.tokens, tk.targets, batch, seq};
  Weights g = w.zeros_like();
  auto r = loss_and_gradients(w, b, &g);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  auto eval = evaluate_loss(w, b);
  EXPECT_TRUE(eval.ok());
  EXPECT_NEAR(r->loss, eval->loss, 1e-6);
  const float h = 2e-2f;
  FdErrors out;
  for (size_t pi = 0; pi < w.params().size(); ++pi) {
    Param& p = w.params()[pi];
    const float* an = g.params()[pi].data();
    float top = 0;
    for (int64_t i = 0; i < p.numel(); ++i) top = std::max(top, std::fabs(an[i]));
    EXPECT_GT(top, 1e-3) << p.name << ": a gradient that is all zeros checks nothing";
    double tensor_worst = 0;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const float keep = p.data()[i];
      // Central differences at h and h/2 combined by Richardson extrapolation, (4 D(h/2) - D(h)) / 3:
      // the h^2 truncation term cancels, so h can stay large against the loss's rounding.
      auto central = [&](float step) {
        p.data()[i] = keep + step;
        const double up = evaluate_loss(w, b)->loss;
        p.data()[i] = keep - step;
        const double down = evaluate_loss(w, b)->loss;
        p.data()[i] = keep;
        return (up - down) / (2.0 * static_cast<double>(step));
      };
      const double fd = (4.0 * central(h / 2) - central(h)) / 3.0;
      const double diff = std::fabs(fd - an[i]);
      tensor_worst = std::max(tensor_worst, diff / std::max(std::fabs(static_cast<double>(an[i])), 0.1 * top));
      out.absolute = std::max(out.absolute, diff);
    }
    if (getenv("FD_VERBOSE")) std::printf("  %s: %.3g (top %.3g)\n", p.name.c_str(), tensor_worst, top);
    out.relative = std::max(out.relative, tensor_worst);
  }
  return out;
}

struct Variant {
  const char* name;
  bool tied;
  RopeStyle rope;
  int64_t kv;
  bool bias;
};

TEST(Backward, MatchesCentralFiniteDifferencesOnTinyModels) {
  for (const Variant& v : {Variant{"separate output, interleaved rope, GQA 4:2", false, RopeStyle::kInterleaved, 2, false},
                           Variant{"tied output, half-split rope, MHA", true, RopeStyle::kHalfSplit, 4, false},
                           Variant{"q/k/v biases, GQA 4:1", false, RopeStyle::kHalfSplit, 1, true}}) {
    const FdErrors e = fd_errors(tiny(v.tied, v.rope, v.kv, v.bias), 7);
    std::printf("finite differences, %s: max relative error %.3g, max absolute %.3g\n", v.name, e.relative,
                e.absolute);
    EXPECT_LT(e.relative, 1e-2) << v.name;
  }
}

TEST(Backward, GradientsAccumulateOverCalls) {
  const auto hp = tiny(false, RopeStyle::kInterleaved, 2, false);
  Weights w = loud_weights(hp, 3);
  Tokens tk = random_tokens(8, hp.vocab_size, 4);
  Batch b{tk.tokens, tk.targets, 2, 4};
  Weights once = w.zeros_like(), twice = w.zeros_like();
  ASSERT_TRUE(loss_and_gradients(w, b, &once).ok());
  ASSERT_TRUE(loss_and_gradients(w, b, &twice).ok());
  ASSERT_TRUE(loss_and_gradients(w, b, &twice).ok());
  for (size_t pi = 0; pi < w.params().size(); ++pi) {
    for (int64_t i = 0; i < w.params()[pi].numel(); ++i) {
      const float a = once.params()[pi].data()[i];
      ASSERT_NEAR(twice.params()[pi].data()[i], 2 * a, 1e-5f * std::fabs(a) + 1e-8f) << w.params()[pi].name;
    }
  }
}

TEST(Backward, RefusesBadBatches) {
  const auto hp = tiny(false, RopeStyle::kInterleaved, 2, false);
  Weights w = loud_weights(hp, 3);
  Weights g = w.zeros_like();
  std::vector<int32_t> tokens{1, 2, 3, 4}, targets{2, 3, 4, 5};
  EXPECT_FALSE(loss_and_gradients(w, Batch{tokens, targets, 2, 3}, &g).ok());  // 4 tokens for 2 x 3
  std::vector<int32_t> bad_token{1, 2, 19, 4};
  auto r = loss_and_gradients(w, Batch{bad_token, targets, 1, 4}, &g);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token 19 at index 2"), std::string::npos) << r.status().message();
  std::vector<int32_t> none{-1, -1, -1, -1};
  EXPECT_FALSE(loss_and_gradients(w, Batch{tokens, none, 1, 4}, &g).ok());
}

std::string shared_path(const std::string& rel) { return std::string(BITSMITH_SHARED_DIR) + "/" + rel; }

// The trainer's forward is the engine's: logits of stories260K on two sequences of 64 tokens,
// each compared with the engine run on that sequence alone.
TEST(Backward, ForwardLogitsEqualTheEnginesOnStories260K) {
  auto model = io::open_model(shared_path("models/stories260K/stories260K.bin"),
                              shared_path("models/stories260K/tok512.bin"));
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto w = Weights::load(**model);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  const int64_t seq = 64;
  Tokens tk = random_tokens(2 * seq, (*model)->hyperparameters().vocab_size, 11);
  std::vector<float> ours;
  ASSERT_TRUE(compute_logits(*w, Batch{tk.tokens, {}, 2, seq}, &ours).ok());
  double worst = 0, top = 0;
  for (int64_t s = 0; s < 2; ++s) {
    auto engine = infer::Engine::create(**model, {});
    ASSERT_TRUE(engine.ok());
    std::vector<float> theirs;
    ASSERT_TRUE((*engine)->forward(std::span(tk.tokens).subspan(static_cast<size_t>(s * seq), seq), 0, 0, &theirs).ok());
    for (size_t i = 0; i < theirs.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs(theirs[i] - ours[s * theirs.size() + i])));
      top = std::max(top, static_cast<double>(std::fabs(theirs[i])));
    }
  }
  std::printf("stories260K logits: max |trainer - engine| = %.3g (largest logit %.3g)\n", worst, top);
  EXPECT_LT(worst, 1e-4 * top);
}

}  // namespace
}  // namespace bitsmith::train

namespace bitsmith::train {
namespace {

// The activation memory a pass reports is the formula of backward.h (the residual stream of every
// layer, one layer's internals, one slice of logits), printed beside the advisor's estimate of
// training activations with full checkpointing (plan/footprint.h: bf16, flash attention), which
// it should exceed by about the float32/bf16 factor plus the attention probabilities kept here.
TEST(Backward, ActivationMemoryIsTheBoundedFormula) {
  auto model = io::open_model(shared_path("models/stories260K/stories260K.bin"),
                              shared_path("models/stories260K/tok512.bin"));
  ASSERT_TRUE(model.ok());
  auto w = Weights::load(**model);
  ASSERT_TRUE(w.ok());
  const int64_t batch = 2, seq = 128;
  Tokens tk = random_tokens(batch * seq, w->hparams().vocab_size, 5);
  Weights g = w->zeros_like();
  auto r = loss_and_gradients(*w, Batch{tk.tokens, tk.targets, batch, seq}, &g);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->activation_bytes, activation_bytes(w->hparams(), batch, seq));
  auto shape = plan::shape_from_hyperparameters(w->hparams(), static_cast<double>(w->parameter_count()), "stories260K");
  ASSERT_TRUE(shape.ok());
  const double advisor = plan::training_activation_bytes(*shape, seq, batch, true);
  std::printf("stories260K, %lld x %lld tokens: activations held %llu bytes; advisor (bf16, checkpointing) %.0f\n",
              static_cast<long long>(batch), static_cast<long long>(seq),
              static_cast<unsigned long long>(r->activation_bytes), advisor);
  EXPECT_GT(static_cast<double>(r->activation_bytes), advisor);
  EXPECT_LT(static_cast<double>(r->activation_bytes), 8 * advisor);
  // Twice the layers add one residual plane per layer, not a layer's internals.
  LlamaHyperparameters deeper = w->hparams();
  deeper.n_layers *= 2;
  EXPECT_EQ(activation_bytes(deeper, batch, seq) - activation_bytes(w->hparams(), batch, seq),
            static_cast<uint64_t>(4 * w->hparams().n_layers * batch * seq * w->hparams().dim));
}

}  // namespace
}  // namespace bitsmith::train
