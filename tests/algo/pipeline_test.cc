// The pieces of the sequential calibration pipeline: LayerRunner (one layer at a time, hidden
// states kept) against collect_inputs (whole forward passes, the previous implementation),
// replacements feeding the next layer, non-finite activations, Engine::forward_layer's errors,
// and the imatrix .dat round trip and its broken files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../infer/test_model.h"
#include "bitsmith/algo/calibration.h"
#include "bitsmith/infer/engine.h"

namespace bitsmith::algo {
namespace {

using testing::MemoryModel;

std::unique_ptr<MemoryModel> random_model(int layers) {
  return testing::random_llama({layers, 64, 3, false});
}

std::vector<std::vector<int32_t>> segments(int n, int len) {
  std::mt19937 rng(5);
  std::vector<std::vector<int32_t>> s(static_cast<size_t>(n));
  for (auto& seg : s) {
    for (int i = 0; i < len; ++i) seg.push_back(static_cast<int32_t>(rng() % 40));
  }
  return s;
}

void expect_same_stats(const std::map<std::string, InputStats>& a,
                       const std::map<std::string, InputStats>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, sa] : a) {
    auto it = b.find(key);
    ASSERT_NE(it, b.end()) << key;
    const InputStats& sb = it->second;
    EXPECT_EQ(sa.tokens, sb.tokens) << key;
    ASSERT_EQ(sa.hessian.size(), sb.hessian.size()) << key;
    for (size_t i = 0; i < sa.hessian.size(); ++i) {
      ASSERT_NEAR(sa.hessian[i], sb.hessian[i], 1e-9 * (1 + std::fabs(sb.hessian[i]))) << key << " " << i;
    }
    for (size_t i = 0; i < sa.sum_sq.size(); ++i) {
      ASSERT_NEAR(sa.sum_sq[i], sb.sum_sq[i], 1e-9 * (1 + sb.sum_sq[i])) << key << " " << i;
    }
    EXPECT_EQ(sa.samples, sb.samples) << key;
  }
}

TEST(LayerRunner, EachLayerSeesWhatAWholeForwardPassGivesIt) {
  auto model = random_model(3);
  const auto segs = segments(3, 12);
  auto runner = LayerRunner::create(*model, segs);
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  CollectOptions co;
  co.hessian = true;
  co.max_samples = 20;
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ((*runner)->layer(), l);
    auto got = (*runner)->collect(co);
    ASSERT_TRUE(got.ok()) << got.status().message();
    CollectOptions whole = co;
    whole.only_layer = l;
    auto want = collect_inputs(*model, segs, whole, l + 1);
    ASSERT_TRUE(want.ok()) << want.status().message();
    EXPECT_EQ(got->size(), 4u);
    expect_same_stats(*got, *want);
    ASSERT_TRUE((*runner)->advance().ok());
  }
  EXPECT_FALSE((*runner)->advance().ok());  // past the last layer
  EXPECT_FALSE((*runner)->collect(co).ok());
}

TEST(LayerRunner, HeadInputAfterTheLastLayerIsWhatAWholeForwardPassGivesIt) {
  auto model = random_model(2);
  const auto segs = segments(3, 12);
  auto runner = LayerRunner::create(*model, segs);
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  CollectOptions co;
  co.hessian = true;
  co.max_samples = 20;
  EXPECT_FALSE((*runner)->collect_head(co).ok());  // before the last layer ran
  for (int l = 0; l < 2; ++l) ASSERT_TRUE((*runner)->advance().ok());
  auto got = (*runner)->collect_head(co);
  ASSERT_TRUE(got.ok()) << got.status().message();
  CollectOptions whole = co;
  whole.head = true;
  auto all = collect_inputs(*model, segs, whole);
  ASSERT_TRUE(all.ok()) << all.status().message();
  std::map<std::string, InputStats> want;
  want[kHeadInputKey] = all->at(kHeadInputKey);
  EXPECT_EQ(got->size(), 1u);
  expect_same_stats(*got, want);
}

TEST(LayerRunner, ReplacedLayerFeedsTheNext) {
  // With attn_output and ffn_down zeroed, layer 0 adds nothing to the residual stream: layer 1
  // then sees the embeddings, exactly as layer 0 did (its own norms and weights are equal to
  // layer 0's, copied into the overlay).
  auto model = random_model(2);
  const auto segs = segments(2, 10);
  OverlayModel ov(*model);
  for (const char* n : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                        "ffn_gate", "ffn_up", "ffn_down"}) {
    auto t = model->load_f32(fmt::format("blk.0.{}.weight", n));
    ASSERT_TRUE(t.ok());
    ov.replace(fmt::format("blk.1.{}.weight", n), std::move(*t));
  }
  auto runner = LayerRunner::create(ov, segs);
  ASSERT_TRUE(runner.ok());
  CollectOptions co;
  co.hessian = true;
  auto first = (*runner)->collect(co);
  ASSERT_TRUE(first.ok());
  for (const char* n : {"attn_output", "ffn_down"}) {
    auto t = model->load_f32(fmt::format("blk.0.{}.weight", n));
    ASSERT_TRUE(t.ok());
    Tensor zero(DType::kF32, t->shape());
    for (float& v : zero.mutable_as<float>()) v = 0.0f;
    ov.replace(fmt::format("blk.0.{}.weight", n), std::move(zero));
  }
  ASSERT_TRUE((*runner)->advance().ok());
  for (size_t s = 0; s < segs.size(); ++s) {
    std::vector<float> emb((*runner)->hidden(s).size());
    auto e = infer::Engine::create(ov, {});
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->embed(segs[s], emb.data()).ok());
    EXPECT_EQ((*runner)->hidden(s), emb) << "segment " << s;
  }
  auto second = (*runner)->collect(co);
  ASSERT_TRUE(second.ok());
  const auto& h0 = first->at("blk.0.attn_in").hessian;
  const auto& h1 = second->at("blk.1.attn_in").hessian;
  ASSERT_EQ(h0.size(), h1.size());
  for (size_t i = 0; i < h0.size(); ++i) ASSERT_DOUBLE_EQ(h0[i], h1[i]) << i;
}

TEST(LayerRunner, NonFiniteActivationsAreAnError) {
  auto model = random_model(1);
  model->values("token_embd.weight")[3] = std::nanf("");
  std::vector<std::vector<int32_t>> segs = {{1, 0, 2, 3}};
  // The engine refuses the NaN weight as it loads it (at create, for the embedding); either way
  // it is an error that says "non-finite".
  auto runner = LayerRunner::create(*model, segs);
  const Status st = runner.ok() ? (*runner)->collect(CollectOptions{}).status() : runner.status();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("non-finite"), std::string::npos) << st.message();
}

TEST(EngineForwardLayer, RefusesBadLayersAndPositions) {
  auto model = random_model(1);
  infer::EngineOptions eo;
  eo.context = 8;
  auto e = infer::Engine::create(*model, eo);
  ASSERT_TRUE(e.ok());
  std::vector<float> x(8 * 32, 0.1f);
  EXPECT_TRUE((*e)->forward_layer(0, x.data(), 8, 0).ok());
  EXPECT_FALSE((*e)->forward_layer(1, x.data(), 8, 0).ok());
  EXPECT_FALSE((*e)->forward_layer(-1, x.data(), 8, 0).ok());
  EXPECT_FALSE((*e)->forward_layer(0, x.data(), 8, 1).ok());
  EXPECT_FALSE((*e)->forward_layer(0, x.data(), 0, 0).ok());
  const std::vector<int32_t> bad = {1, 40};
  EXPECT_FALSE((*e)->embed(bad, x.data()).ok());
}

std::string temp_path(const char* name) {
  return std::string(BITSMITH_BINARY_DIR) + "/" + name;
}

TEST(Imatrix, DatRoundTrip) {
  ImatrixData d;
  d.values["blk.0.attn_q.weight"] = {0.5f, 1.25f, 0.0f, 3.0f};
  d.values["blk.0.ffn_down.weight"] = std::vector<float>(172, 0.125f);
  d.chunks = 7;
  d.dataset = "tinyshakespeare.txt";
  const std::string p = temp_path("imatrix_roundtrip.dat");
  ASSERT_TRUE(write_imatrix(p, d, ImatrixFormat::kDat).ok());
  auto r = read_imatrix(p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->chunks, 7);
  EXPECT_EQ(r->dataset, d.dataset);
  ASSERT_EQ(r->values.size(), d.values.size());
  for (const auto& [name, v] : d.values) {
    ASSERT_EQ(r->values.at(name).size(), v.size()) << name;
    // Stored as mean * chunks, read back / chunks: exact for these binary fractions.
    for (size_t i = 0; i < v.size(); ++i) EXPECT_FLOAT_EQ(r->values.at(name)[i], v[i]) << name;
  }
}

TEST(Imatrix, GgufRoundTripKeepsSumsCountsAndMetadata) {
  ImatrixData d;
  d.values["blk.0.attn_q.weight"] = {0.5f, 1.25f, 0.0f, 3.0f};
  d.values["blk.1.ffn_down.weight"] = std::vector<float>(172, 0.125f);
  d.chunks = 7;
  d.chunk_size = 64;
  d.dataset = "tinyshakespeare.txt";
  const std::string p = temp_path("imatrix_roundtrip.gguf");
  ASSERT_TRUE(write_imatrix(p, d, ImatrixFormat::kGguf).ok());
  auto r = read_imatrix(p);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->chunks, 7);
  EXPECT_EQ(r->chunk_size, 64);
  EXPECT_EQ(r->dataset, d.dataset);
  ASSERT_EQ(r->values.size(), d.values.size());
  for (const auto& [name, v] : d.values) {
    ASSERT_EQ(r->values.at(name).size(), v.size()) << name;
    // Stored as sums over 7 * 64 tokens, read back / count: exact for these binary fractions.
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(r->values.at(name)[i], v[i]) << name;
  }
  // GGUF -> dat -> GGUF keeps the values.
  ASSERT_TRUE(write_imatrix(temp_path("imatrix_roundtrip2.dat"), *r, ImatrixFormat::kDat).ok());
  auto back = read_imatrix(temp_path("imatrix_roundtrip2.dat"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->values, d.values);
  EXPECT_EQ(*imatrix_format_for("x.dat", ""), ImatrixFormat::kDat);
  EXPECT_EQ(*imatrix_format_for("x.imatrix", ""), ImatrixFormat::kGguf);
  EXPECT_EQ(*imatrix_format_for("x.dat", "gguf"), ImatrixFormat::kGguf);
  EXPECT_FALSE(imatrix_format_for("x", "npy").ok());
}

TEST(Imatrix, BrokenFilesAreErrors) {
  ImatrixData d;
  d.values["blk.0.attn_q.weight"] = {1.0f, 2.0f, 3.0f};
  d.chunks = 1;
  const std::string p = temp_path("imatrix_broken.dat");
  ASSERT_TRUE(write_imatrix(p, d, ImatrixFormat::kDat).ok());
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  write(bytes.substr(0, 4 + 4 + 19 + 8 + 6));  // values cut short
  EXPECT_FALSE(read_imatrix(p).ok());
  std::string neg = bytes;
  const float minus = -1.0f;
  std::memcpy(neg.data() + 4 + 4 + 19 + 8, &minus, 4);  // a negative mean of x^2
  write(neg);
  EXPECT_FALSE(read_imatrix(p).ok());
  write("GGUF\x03\0\0\0");  // a GGUF header cut short
  auto g = read_imatrix(p);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kCorruptData) << g.status().to_string();
  EXPECT_FALSE(read_imatrix(temp_path("no_such_imatrix.dat")).ok());
}

TEST(Imatrix, FromStatsGivesEveryLinearItsInputMean) {
  auto model = random_model(2);
  const auto segs = segments(2, 8);
  auto stats = collect_inputs(*model, segs, CollectOptions{});
  ASSERT_TRUE(stats.ok());
  const ImatrixData d = imatrix_from_stats(*stats, 2, 2, 8, "x");
  EXPECT_EQ(d.values.size(), 14u);
  EXPECT_EQ(d.values.at("blk.1.attn_k.weight"), d.values.at("blk.1.attn_q.weight"));
  EXPECT_EQ(d.values.at("blk.1.ffn_down.weight").size(), 64u);
  const InputStats& s = stats->at("blk.0.ffn_in");
  EXPECT_FLOAT_EQ(d.values.at("blk.0.ffn_up.weight")[3], static_cast<float>(s.sum_sq[3] / 16.0));
}

// The head's input (CollectOptions::head): the final-normed hidden states that multiply the output
// matrix, as the engine hands them to its hook when it computes logits (forward with logits, a
// separate path from the collector's forward_hidden), summed per column over every token.
TEST(Imatrix, HeadEntryIsTheOutputInputsMeanSquare) {
  auto model = random_model(2);
  const auto segs = segments(3, 10);
  CollectOptions co;
  co.head = true;
  auto stats = collect_inputs(*model, segs, co);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  const int64_t d = model->hp_.dim;
  std::vector<double> want(static_cast<size_t>(d), 0.0);
  int64_t tokens = 0;
  infer::EngineOptions eo;
  eo.context = 10;
  eo.hook = [&](const infer::LinearInput& in) {
    if (in.layer != -1) return;
    for (int64_t i = 0; i < in.tokens * in.cols; ++i) want[static_cast<size_t>(i % in.cols)] += double(in.data[i]) * in.data[i];
    tokens += in.tokens;
  };
  auto engine = infer::Engine::create(*model, std::move(eo));
  ASSERT_TRUE(engine.ok());
  std::vector<float> logits;
  for (const auto& seg : segs) ASSERT_TRUE((*engine)->forward(seg, 0, 0, &logits).ok());
  ASSERT_EQ(tokens, 30);
  const InputStats& h = stats->at(kHeadInputKey);
  EXPECT_EQ(h.tokens, 30);
  ASSERT_EQ(h.sum_sq.size(), static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) EXPECT_NEAR(h.sum_sq[static_cast<size_t>(j)], want[static_cast<size_t>(j)], 1e-9 * want[static_cast<size_t>(j)]) << j;

  // Named by the matrix the head multiplies: output.weight here, token_embd.weight when tied.
  EXPECT_EQ(head_weight_name(*model), "output.weight");
  const ImatrixData with = imatrix_from_stats(*stats, 2, 3, 10, "x", head_weight_name(*model));
  ASSERT_EQ(with.values.size(), 15u);
  EXPECT_FLOAT_EQ(with.values.at("output.weight")[5], static_cast<float>(want[5] / 30.0));
  EXPECT_EQ(imatrix_from_stats(*stats, 2, 3, 10, "x").values.size(), 14u);  // no name: no entry
  auto plain = collect_inputs(*model, segs, CollectOptions{});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->count(kHeadInputKey), 0u);
  EXPECT_EQ(imatrix_from_stats(*plain, 2, 3, 10, "x", "output.weight").values.size(), 14u);
}

// Static activation ranges: layer 0's attention input is rmsnorm(embedding) * attn_norm, which
// the test computes by hand from the model's tensors; every other input's max |x| must be the
// max over all its token rows (kept whole as samples); q/k/v and gate/up get one value.
TEST(InputAmax, IsTheLargestInputOfEachLinear) {
  auto model = random_model(2);
  const auto segs = segments(3, 10);
  CollectOptions co;
  co.max_samples = 1000;  // every token row
  auto stats = collect_inputs(*model, segs, co);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  const int64_t d = model->hp_.dim;
  const std::vector<float>& emb = model->values("token_embd.weight");
  const std::vector<float>& norm = model->values("blk.0.attn_norm.weight");
  float want0 = 0;
  for (const auto& seg : segs) {
    for (int32_t t : seg) {
      double ss = 0;
      for (int64_t c = 0; c < d; ++c) ss += static_cast<double>(emb[static_cast<size_t>(t * d + c)]) * emb[static_cast<size_t>(t * d + c)];
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + model->hp_.rms_norm_eps);
      for (int64_t c = 0; c < d; ++c) {
        want0 = std::max(want0, static_cast<float>(std::fabs(emb[static_cast<size_t>(t * d + c)] * inv * norm[static_cast<size_t>(c)])));
      }
    }
  }
  EXPECT_NEAR(stats->at("blk.0.attn_in").max_abs, want0, 1e-5 * want0);
  for (const auto& [key, st] : *stats) {
    ASSERT_EQ(st.samples.size(), static_cast<size_t>(st.tokens * st.cols)) << key;
    float m = 0;
    for (float x : st.samples) m = std::max(m, std::fabs(x));
    EXPECT_EQ(st.max_abs, m) << key;
    EXPECT_GT(m, 0.0f) << key;
  }
  const auto amax = input_amax_from_stats(*stats, 2);
  EXPECT_EQ(amax.size(), 14u);
  EXPECT_EQ(amax.at("blk.0.attn_q.weight"), stats->at("blk.0.attn_in").max_abs);
  EXPECT_EQ(amax.at("blk.1.attn_v.weight"), amax.at("blk.1.attn_q.weight"));
  EXPECT_EQ(amax.at("blk.1.attn_k.weight"), amax.at("blk.1.attn_q.weight"));
  EXPECT_EQ(amax.at("blk.1.ffn_up.weight"), amax.at("blk.1.ffn_gate.weight"));
  EXPECT_EQ(amax.at("blk.1.ffn_down.weight"), stats->at("blk.1.ffn_down").max_abs);
  EXPECT_NE(amax.at("blk.1.ffn_down.weight"), amax.at("blk.1.ffn_gate.weight"));
  // A layer the statistics do not cover is left out, not given 0.
  EXPECT_EQ(input_amax_from_stats(*stats, 3).size(), 14u);
  // One layer at a time (each layer run once, its outputs kept): the same values.
  auto layered = input_amax(*model, segs);
  ASSERT_TRUE(layered.ok()) << layered.status().message();
  EXPECT_EQ(*layered, amax);
}

}  // namespace
}  // namespace bitsmith::algo
