// Distillation (QAT's --distill): the KL divergence to a teacher's logits and its gradient,
// checked against central finite differences like the cross-entropy's (backward_test.cc), and the
// trainer's QAT loop on fixed segments with a per-tensor plan and a teacher.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <cmath>
#include <random>

#include "bitsmith/quant/scheme.h"
#include "bitsmith/train/backward.h"
#include "bitsmith/train/trainer.h"

namespace bitsmith::train {
namespace {

LlamaHyperparameters tiny() {
  LlamaHyperparameters hp;
  hp.dim = 16, hp.hidden_dim = 32, hp.n_layers = 2, hp.n_heads = 4, hp.n_kv_heads = 2, hp.head_dim = 4;
  hp.vocab_size = 19, hp.context_length = 16, hp.tied_embeddings = false;
  return hp;
}

Weights random_weights(const LlamaHyperparameters& hp, uint32_t seed, float sd) {
  auto w = Weights::zeros(hp);
  EXPECT_TRUE(w.ok());
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& p : w->params()) {
    const bool norm = p.name.find("norm") != std::string::npos;
    for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] = norm ? 1.0f + 0.2f * nd(rng) : sd * nd(rng);
  }
  return std::move(*w);
}

TEST(Distill, KlGradientMatchesCentralFiniteDifferences) {
  const auto hp = tiny();
  Weights student = random_weights(hp, 11, 0.25f), teacher = random_weights(hp, 12, 0.25f);
  const int64_t batch = 2, seq = 5;
  std::vector<int32_t> tokens, targets;
  std::mt19937 rng(5);
  for (int64_t i = 0; i < batch * seq; ++i) {
    tokens.push_back(static_cast<int32_t>(rng() % hp.vocab_size));
    targets.push_back(0);  // scored; the value is not used by the KL loss
  }
  targets[3] = -1;  // an unscored position
  std::vector<float> tl;
  ASSERT_TRUE(compute_logits(teacher, Batch{tokens, {}, batch, seq}, &tl).ok());
  Batch b{tokens, targets, batch, seq, tl};
  Weights g = student.zeros_like();
  auto r = loss_and_gradients(student, b, &g);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_GT(r->loss, 0.01);
  EXPECT_EQ(r->scored, batch * seq - 1);
  double worst = 0;
  const float h = 2e-2f;
  for (size_t pi = 0; pi < student.params().size(); ++pi) {
    Param& p = student.params()[pi];
    const float* an = g.params()[pi].data();
    float top = 0;
    for (int64_t i = 0; i < p.numel(); ++i) top = std::max(top, std::fabs(an[i]));
    ASSERT_GT(top, 1e-4) << p.name;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const float keep = p.data()[i];
      auto central = [&](float step) {
        p.data()[i] = keep + step;
        const double up = evaluate_loss(student, b)->loss;
        p.data()[i] = keep - step;
        const double down = evaluate_loss(student, b)->loss;
        p.data()[i] = keep;
        return (up - down) / (2.0 * static_cast<double>(step));
      };
      const double fd = (4.0 * central(h / 2) - central(h)) / 3.0;
      worst = std::max(worst, std::fabs(fd - an[i]) / std::max(std::fabs(static_cast<double>(an[i])), 0.1 * top));
    }
  }
  std::printf("KL distillation, finite differences: max relative error %.3g\n", worst);
  EXPECT_LT(worst, 1e-2);
}

TEST(Distill, StudentEqualToTeacherHasZeroLossAndGradient) {
  const auto hp = tiny();
  Weights w = random_weights(hp, 3, 0.25f);
  std::vector<int32_t> tokens{1, 5, 7, 2, 9, 4}, targets(6, 0);
  std::vector<float> tl;
  ASSERT_TRUE(compute_logits(w, Batch{tokens, {}, 2, 3}, &tl).ok());
  Weights g = w.zeros_like();
  auto r = loss_and_gradients(w, Batch{tokens, targets, 2, 3, tl}, &g);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->loss, 0.0, 1e-6);
  for (const auto& p : g.params()) {
    for (int64_t i = 0; i < p.numel(); ++i) ASSERT_NEAR(p.data()[i], 0.0f, 1e-5f) << p.name;
  }
  std::vector<float> short_logits(5);
  EXPECT_FALSE(loss_and_gradients(w, Batch{tokens, targets, 2, 3, short_logits}, &g).ok());
}

// QAT as quantize --method qat runs it: fixed segments, a scheme per tensor, the float model as
// the teacher. The distillation loss of the quantized student falls, and the trained weights
// stay finite.
TEST(Distill, QatOnSegmentsLowersTheKlOfTheQuantizedModel) {
  auto hp = tiny();
  hp.dim = 32, hp.hidden_dim = 64, hp.head_dim = 8;
  const Weights teacher = random_weights(hp, 21, 0.15f);
  Weights start = teacher.zeros_like();
  for (size_t i = 0; i < teacher.params().size(); ++i) {
    std::copy_n(teacher.params()[i].data(), teacher.params()[i].numel(), start.params()[i].data());
  }
  auto scheme = quant::find_scheme("int3_g32");
  ASSERT_TRUE(scheme.ok());
  TrainConfig c;
  c.steps = 40, c.batch = 4, c.seq = 8, c.lr = 3e-3, c.min_lr = 3e-4, c.warmup = 4, c.eval_batches = 0;
  c.adam.weight_decay = 0;
  c.teacher = &teacher;
  for (const auto& p : start.params()) {
    if (p.value.shape().rank() == 2 && p.name.find("blk.") == 0) c.qat_schemes[p.name] = *scheme;
  }
  TokenStreams data;
  std::mt19937 rng(9);
  for (int s = 0; s < 16; ++s) {
    std::vector<int32_t> seg;
    for (int64_t t = 0; t <= c.seq; ++t) seg.push_back(static_cast<int32_t>(rng() % hp.vocab_size));
    data.segments.push_back(seg);
  }
  TrainState state(std::move(start), c.adam);
  auto sum = run_training(state, data, c, {});
  ASSERT_TRUE(sum.ok()) << sum.status().to_string();
  ASSERT_EQ(state.curve.size(), 40u);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += state.curve[static_cast<size_t>(i)].loss / 5;
  for (int i = 35; i < 40; ++i) last += state.curve[static_cast<size_t>(i)].loss / 5;
  std::printf("QAT int3_g32 distillation on a tiny model: KL %.4f (steps 1-5) -> %.4f (steps 36-40)\n", first, last);
  EXPECT_LT(last, 0.8 * first);
  // A segment of the wrong length is refused before any step.
  data.segments[3].pop_back();
  TrainState again(teacher.zeros_like(), c.adam);
  EXPECT_FALSE(run_training(again, data, c, {}).ok());
}

// nvfp4 in a safetensors output shares one global scale per fused group (q/k/v, gate/up): QAT's
// fake quantization then uses the group's amax, exactly as io writes it.
TEST(Distill, FusedGroupsShareTheGlobalScale) {
  auto hp = tiny();
  hp.dim = 32, hp.hidden_dim = 64, hp.head_dim = 8;
  Weights w = random_weights(hp, 4, 0.1f);
  float* q = w.layer(0, LayerSlot::kQ);
  q[5] = 3.0f;  // the group's largest weight, in attn_q
  auto scheme = quant::find_scheme("nvfp4");
  ASSERT_TRUE(scheme.ok());
  std::map<std::string, const quant::Scheme*> plan;
  for (const char* n : {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"}) plan[n] = *scheme;
  Weights own, fused;
  ASSERT_TRUE(fake_quantize_tensors(w, plan, &own, false).ok());
  ASSERT_TRUE(fake_quantize_tensors(w, plan, &fused, true).ok());
  const Param* k = w.find("blk.0.attn_k.weight");
  const int64_t rows = k->value.shape().rows(), cols = k->value.shape().cols();
  std::vector<float> expect(static_cast<size_t>(k->numel()));
  quant::QuantizeOptions o;
  o.shared_amax = 3.0f;
  ASSERT_TRUE((*scheme)->fake_quantize(k->data(), rows, cols, expect.data(), o).ok());
  const float* got = fused.find("blk.0.attn_k.weight")->data();
  const float* alone = own.find("blk.0.attn_k.weight")->data();
  int64_t differ = 0;
  for (int64_t i = 0; i < k->numel(); ++i) {
    ASSERT_EQ(got[i], expect[static_cast<size_t>(i)]) << i;
    differ += got[i] != alone[i];
  }
  EXPECT_GT(differ, 0);  // the shared scale is not the tensor's own
}

}  // namespace
}  // namespace bitsmith::train
