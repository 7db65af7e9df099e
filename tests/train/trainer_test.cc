// The optimizer, the schedule, the train state file and the model config, each against values
// computed by hand from their definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bitsmith/quant/scheme.h"
#include "bitsmith/train/trainer.h"

namespace bitsmith::train {
namespace {

LlamaHyperparameters small() {
  LlamaHyperparameters hp;
  hp.dim = 8, hp.hidden_dim = 12, hp.n_layers = 1, hp.n_heads = 2, hp.n_kv_heads = 1, hp.head_dim = 4;
  hp.vocab_size = 11, hp.context_length = 16;
  return hp;
}

TEST(Schedule, WarmupThenCosineToTheFloor) {
  const LrSchedule s{1.0, 0.1, 4, 14};
  EXPECT_DOUBLE_EQ(s.at(0), 0.25);  // (0 + 1) / 4
  EXPECT_DOUBLE_EQ(s.at(3), 1.0);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);                         // cos(0)
  EXPECT_NEAR(s.at(9), 0.1 + 0.45 * (1 + std::cos(M_PI * 0.5)), 1e-12);  // halfway: 0.55
  EXPECT_DOUBLE_EQ(s.at(14), 0.1);
  EXPECT_DOUBLE_EQ(s.at(100), 0.1);
}

TEST(AdamW, FirstStepMovesEachWeightByLrTimesTheSignOfItsGradient) {
  auto w = Weights::zeros(small());
  ASSERT_TRUE(w.ok());
  Weights g = w->zeros_like();
  for (auto& p : w->params()) std::fill_n(p.data(), p.numel(), 0.5f);
  for (auto& p : g.params()) {
    for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] = i % 2 == 0 ? 3.0f : -0.01f;
  }
  AdamW opt(*w, AdamWOptions{0.9, 0.95, 1e-8, 0.1});
  opt.step(*w, g, 0.01, 1);
  // Step 1: m^ = g, v^ = g^2, so the update is lr * g / |g| (+ decay lr * wd * w on matrices).
  for (const auto& p : w->params()) {
    const bool matrix = p.value.shape().rank() == 2;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const float expect = 0.5f - (i % 2 == 0 ? 0.01f : -0.01f) - (matrix ? 0.01f * 0.1f * 0.5f : 0.0f);
      ASSERT_NEAR(p.data()[i], expect, 1e-6f) << p.name << "[" << i << "]";
    }
  }
}

TEST(Clip, ScalesToTheMaximumNorm) {
  auto g = Weights::zeros(small());
  ASSERT_TRUE(g.ok());
  g->params()[0].data()[0] = 3.0f;
  g->params()[1].data()[0] = 4.0f;
  EXPECT_DOUBLE_EQ(clip_grad_norm(*g, 1.0), 5.0);
  EXPECT_FLOAT_EQ(g->params()[0].data()[0], 0.6f);
  EXPECT_FLOAT_EQ(g->params()[1].data()[0], 0.8f);
  EXPECT_EQ(first_non_finite(*g), "");
  g->params()[2].data()[5] = NAN;
  EXPECT_EQ(first_non_finite(*g), g->params()[2].name + "[5]");
}

TEST(TrainState, RoundTripsAndRefusesAnotherModel) {
  auto w = Weights::random(small(), 5);
  ASSERT_TRUE(w.ok());
  TrainState s(*w);
  s.step = 7;
  s.optimizer.first_moment().params()[3].data()[2] = 0.25f;
  s.optimizer.second_moment().params()[4].data()[1] = 0.5f;
  s.curve.push_back(CurvePoint{7, 2.5, 1e-3, 0.7, 1000, 3.0, 2.75});
  const std::string path = (std::filesystem::temp_directory_path() / "bitsmith_train_state_test.trainstate").string();
  ASSERT_TRUE(write_train_state(path, s).ok());
  TrainState back(*w);
  ASSERT_TRUE(read_train_state(path, back).ok());
  EXPECT_EQ(back.step, 7);
  EXPECT_EQ(back.optimizer.first_moment().params()[3].data()[2], 0.25f);
  EXPECT_EQ(back.optimizer.second_moment().params()[4].data()[1], 0.5f);
  ASSERT_EQ(back.curve.size(), 1u);
  EXPECT_DOUBLE_EQ(back.curve[0].val_loss, 2.75);
  // Other weights of the same shapes: the hash tells.
  auto other = Weights::random(small(), 6);
  TrainState wrong(*other);
  Status st = read_train_state(path, wrong);
  EXPECT_NE(st.message().find("belongs to other weights"), std::string::npos) << st.message();
  // Another architecture.
  LlamaHyperparameters hp = small();
  hp.n_layers = 2;
  TrainState deeper(*Weights::random(hp, 5));
  st = read_train_state(path, deeper);
  EXPECT_NE(st.message().find("another architecture"), std::string::npos) << st.message();
  // Truncated.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  st = read_train_state(path, back);
  EXPECT_EQ(st.code(), StatusCode::kCorruptData) << st.message();
  std::filesystem::remove(path);
}

TEST(ModelConfig, DefaultsAndErrors) {
  auto hp = hyperparameters_from_json(R"({"dim": 96, "n_layers": 3, "n_heads": 6})", "c.json", 512);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->hidden_dim, 256);  // 2/3 * 4 * 96 = 256, a multiple of 32 already
  EXPECT_EQ(hp->n_kv_heads, 6);
  EXPECT_EQ(hp->head_dim, 16);
  EXPECT_EQ(hp->vocab_size, 512);
  EXPECT_TRUE(hp->tied_embeddings);
  for (const auto& [text, words] : std::vector<std::pair<std::string, std::string>>{
           {R"({"dim": 96, "n_layers": 3})", "needs 'n_heads'"},
           {R"({"dim": 96, "n_layers": 3, "n_heads": 6, "dropout": 0.1})", "unknown key 'dropout'"},
           {R"({"dim": 96, "n_layers": 3, "n_heads": 5})", "not a multiple"},
           {R"({"dim": 96, "n_layers": 3, "n_heads": 6, "vocab_size": 100})", "tokenizer has 512"},
           {R"({"dim": "big", "n_layers": 3, "n_heads": 6})", "c.json"},
           {R"([1, 2])", "JSON object"}}) {
    auto r = hyperparameters_from_json(text, "c.json", 512);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  }
}

TEST(Streams, SplitAndLengthChecks) {
  std::vector<int32_t> t(100);
  for (int i = 0; i < 100; ++i) t[static_cast<size_t>(i)] = i;
  TokenStreams s = split_tokens(t, 0.1);
  EXPECT_EQ(s.train.size(), 90u);
  EXPECT_EQ(s.val.front(), 90);
  s = split_tokens(t, 0.5);
  TrainConfig c;
  c.batch = 2, c.seq = 24;  // 2 x 24 + 1 = 49 <= 50 training tokens; 25 <= 50 held out
  EXPECT_TRUE(check_streams(s, c).ok()) << check_streams(s, c).message();
  c.seq = 25;
  EXPECT_NE(check_streams(s, c).message().find("shorter than one batch"), std::string::npos);
  s = split_tokens(t, 0.1);
  c.batch = 1, c.seq = 10;  // 11 of 90 training tokens, but only 10 held out
  EXPECT_NE(check_streams(s, c).message().find("held-out text has 10 tokens"), std::string::npos);
}

}  // namespace
}  // namespace bitsmith::train

namespace bitsmith::train {
namespace {

// QAT's straight-through estimator: the pass runs on the fake-quantized linears (exactly quant's
// fake_quantize), norms and embeddings untouched; training that way lowers the loss of the
// quantized model on the text it sees.
TEST(Qat, PassesRunOnFakeQuantizedLinearsAndLowerTheirLoss) {
  LlamaHyperparameters hp = small();
  hp.dim = 32, hp.hidden_dim = 64, hp.n_heads = 2, hp.n_kv_heads = 2, hp.head_dim = 16, hp.n_layers = 2;
  auto w = Weights::random(hp, 3);
  ASSERT_TRUE(w.ok());
  auto scheme = quant::find_scheme("int4_g32");
  ASSERT_TRUE(scheme.ok());
  Weights q;
  ASSERT_TRUE(fake_quantize_linears(*w, **scheme, &q).ok());
  for (size_t i = 0; i < q.params().size(); ++i) {
    const Param& p = w->params()[i];
    const bool linear = p.name.find("attn_") != std::string::npos || p.name.find("ffn_gate") != std::string::npos ||
                        p.name.find("ffn_up") != std::string::npos || p.name.find("ffn_down") != std::string::npos;
    std::vector<float> want(p.data(), p.data() + p.numel());
    if (linear && p.value.shape().rank() == 2) {
      ASSERT_TRUE((*scheme)->fake_quantize(p.data(), p.value.shape().rows(), p.value.shape().cols(), want.data()).ok());
    }
    for (int64_t j = 0; j < p.numel(); ++j) ASSERT_EQ(q.params()[i].data()[j], want[static_cast<size_t>(j)]) << p.name;
  }
  // A repeating text: QAT learns it, measured on the quantized weights.
  std::vector<int32_t> text;
  for (int i = 0; i < 400; ++i) text.push_back(static_cast<int32_t>((i * 7) % 11));
  TokenStreams s = split_tokens(text, 0.25);
  TrainConfig c;
  c.steps = 30, c.batch = 4, c.seq = 16, c.lr = 1e-2, c.min_lr = 1e-3, c.eval_every = 0, c.eval_batches = 2;
  c.qat_scheme = *scheme;
  TrainState st(*w);
  auto before = held_out_loss(q, s.val, c);
  ASSERT_TRUE(before.ok());
  auto sum = run_training(st, s, c, {});
  ASSERT_TRUE(sum.ok()) << sum.status().message();
  ASSERT_TRUE(fake_quantize_linears(st.weights, **scheme, &q).ok());
  auto after = held_out_loss(q, s.val, c);
  EXPECT_NEAR(*after, sum->final_val_loss, 1e-9);  // the reported held-out loss is the quantized model's
  EXPECT_LT(*after, *before - 1.0);
}

}  // namespace
}  // namespace bitsmith::train
