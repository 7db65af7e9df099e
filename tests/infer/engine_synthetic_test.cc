// Engine properties on small random models (test_model.h MemoryModel): KV-cache generation equals
// prefill, the RoPE conventions are the same model up to the HF<->GGUF q/k row permutation,
// biases, hooks, fake-quant, and errors that name the tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "bitsmith/formats/codec.h"
#include "bitsmith/infer/engine.h"
#include "test_model.h"

namespace bitsmith::infer {
namespace {

using testing::MemoryModel;

std::unique_ptr<MemoryModel> random_model(bool bias = false, int seed = 1) {
  return testing::random_llama({2, 48, static_cast<unsigned>(seed), bias});
}

const std::vector<int32_t> kTokens = {1, 7, 3, 39, 12, 0, 25, 25, 8, 30, 2, 17};

std::vector<float> prefill(const Model& m, EngineOptions o = {}) {
  auto e = Engine::create(m, std::move(o));
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  std::vector<float> logits;
  Status st = (*e)->forward(kTokens, 0, 0, &logits);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return logits;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double e = std::fabs(double(a[i]) - b[i]);
    if (std::isnan(e)) return INFINITY;
    d = std::max(d, e);
  }
  return d;
}

TEST(EngineSynthetic, IncrementalDecodingEqualsPrefill) {
  auto m = random_model();
  const auto full = prefill(*m);
  auto e = Engine::create(*m, {});
  ASSERT_TRUE(e.ok());
  std::vector<float> all, step;
  // First 5 tokens as one batch, then one at a time from the cache.
  ASSERT_TRUE((*e)->forward(std::span(kTokens).first(5), 0, 0, &step).ok());
  all = step;
  for (size_t i = 5; i < kTokens.size(); ++i) {
    ASSERT_TRUE((*e)->forward(std::span(kTokens).subspan(i, 1), static_cast<int64_t>(i), 0, &step).ok());
    all.insert(all.end(), step.begin(), step.end());
  }
  EXPECT_LT(max_abs_diff(full, all), 1e-4);
  // logits_from keeps only the tail rows (a 3-row product may round differently from a 12-row
  // one inside OpenBLAS, hence a tolerance).
  std::vector<float> tail;
  ASSERT_TRUE((*e)->forward(kTokens, 0, 9, &tail).ok());
  EXPECT_LT(max_abs_diff(tail, std::vector<float>(full.end() - 3 * 40, full.end())), 1e-5);
}

TEST(EngineSynthetic, HalfSplitRopeIsInterleavedWithPermutedRows) {
  auto gg = random_model();
  auto hf = random_model();
  hf->hp_.rope_style = RopeStyle::kHalfSplit;
  // HF -> GGUF permutation within each head: interleaved slot 2i holds half-split slot i and
  // slot 2i+1 holds i + hd/2. Apply it to the q and k rows of the GGUF-style copy.
  const int64_t hd = 8, d = 32;
  for (int l = 0; l < 2; ++l) {
    for (const char* name : {"attn_q.weight", "attn_k.weight"}) {
      const std::string key = "blk." + std::to_string(l) + "." + name;
      const auto& src = hf->values(key);
      auto& dst = gg->values(key);
      const int64_t heads = static_cast<int64_t>(src.size()) / (hd * d);
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < hd / 2; ++i) {
          for (int64_t c = 0; c < d; ++c) {
            dst[((h * hd) + 2 * i) * d + c] = src[((h * hd) + i) * d + c];
            dst[((h * hd) + 2 * i + 1) * d + c] = src[((h * hd) + i + hd / 2) * d + c];
          }
        }
      }
    }
  }
  EXPECT_LT(max_abs_diff(prefill(*gg), prefill(*hf)), 1e-4);
  // Without the permutation the two conventions differ: the test can fail.
  auto plain = random_model();
  EXPECT_GT(max_abs_diff(prefill(*plain), prefill(*hf)), 1e-3);
}

TEST(EngineSynthetic, BiasesAreAdded) {
  auto no_bias = random_model(false);
  auto zero_bias = random_model(true);
  EXPECT_LT(max_abs_diff(prefill(*no_bias), prefill(*zero_bias)), 1e-6);
  zero_bias->values("blk.1.attn_v.bias")[3] = 0.5f;
  EXPECT_GT(max_abs_diff(prefill(*no_bias), prefill(*zero_bias)), 1e-4);
}

TEST(EngineSynthetic, HookSeesEveryLinearInput) {
  auto m = random_model();
  std::vector<std::pair<int, std::string>> seen;
  EngineOptions o;
  o.hook = [&](const LinearInput& in) {
    seen.emplace_back(in.layer, std::string(in.name));
    EXPECT_EQ(in.tokens, static_cast<int64_t>(kTokens.size()));
    EXPECT_EQ(in.cols, in.name == "attn_output" ? 32 : in.name == "ffn_down" ? 48 : 32);
  };
  prefill(*m, o);
  ASSERT_EQ(seen.size(), 2u * 7 + 1);
  EXPECT_EQ(seen[0], std::make_pair(0, std::string("attn_q")));
  EXPECT_EQ(seen[6], std::make_pair(0, std::string("ffn_down")));
  EXPECT_EQ(seen.back(), std::make_pair(-1, std::string("output")));
}

TEST(EngineSynthetic, FakeQuantChangesLogitsOnlyWhenAsked) {
  auto m = random_model();
  const auto ref = prefill(*m);
  auto f32 = quant::find_scheme("f32");
  if (!f32.ok()) GTEST_SKIP() << "f32 scheme not registered";
  EngineOptions o;
  o.weight_scheme = *f32;  // exact: a no-op
  EXPECT_EQ(prefill(*m, o), ref);
  auto fp8 = quant::find_scheme("fp8_e4m3");
  if (!fp8.ok()) GTEST_SKIP() << "fp8_e4m3 not registered";
  o.weight_scheme = *fp8;
  const auto w8 = prefill(*m, o);
  EXPECT_GT(max_abs_diff(ref, w8), 1e-4);
  EXPECT_LT(max_abs_diff(ref, w8), 3.0);  // logits span about +-4
  o.act_scheme = *fp8;
  EXPECT_GT(max_abs_diff(w8, prefill(*m, o)), 1e-5);
  // Keeping layers resident gives the same numbers as reloading them.
  o.resident_bytes = ~uint64_t{0};
  auto e = Engine::create(*m, o);
  ASSERT_TRUE(e.ok());
  std::vector<float> a, b;
  ASSERT_TRUE((*e)->forward(kTokens, 0, 0, &a).ok());
  ASSERT_TRUE((*e)->forward(kTokens, 0, 0, &b).ok());
  EXPECT_EQ(a, b);
  EXPECT_GT((*e)->weight_bytes_held(), 2u * 40 * 32 * 4);
}

// Static activation quantization: layer 0's attention input (rmsnorm of the embeddings, the same
// with or without it) becomes clip(x, -A, A) rounded on e4m3 with the one scale A / 448, computed
// here with the formats' scalar codec; q/k/v share it; nvfp4 keeps every value within [-A, A] on
// its grid; layers it gives no scheme keep their float inputs.
TEST(EngineSynthetic, StaticActivationsClipAndRoundWithTheGivenRange) {
  auto m = random_model();
  auto fp8 = quant::find_scheme("fp8_e4m3");
  auto nvfp4 = quant::find_scheme("nvfp4");
  ASSERT_TRUE(fp8.ok() && nvfp4.ok());
  std::map<std::string, std::vector<float>> plain, quantized;
  auto capture = [](std::map<std::string, std::vector<float>>* into) {
    return [into](const LinearInput& in) {
      (*into)[std::to_string(in.layer) + "." + std::string(in.name)] = std::vector<float>(in.data, in.data + in.tokens * in.cols);
    };
  };
  EngineOptions o;
  o.hook = capture(&plain);
  prefill(*m, o);
  const std::vector<float>& x = plain.at("0.attn_q");
  float own = 0;
  for (float v : x) own = std::max(own, std::fabs(v));
  const float a = own * 0.5f;  // a calibrated range below this input's: the largest values clip
  o.hook = capture(&quantized);
  o.static_activation = [&](int layer, std::string_view linear) {
    if (layer == 0 && (linear == "attn_q" || linear == "attn_k" || linear == "attn_v")) return StaticActivation{*fp8, a};
    if (layer == 0 && linear == "ffn_gate") return StaticActivation{*nvfp4, a};
    return StaticActivation{};
  };
  const auto logits = prefill(*m, o);
  const formats::FloatFormat& e4m3 = formats::kFloat8E4M3FN;
  const float s = a / 448.0f;
  const std::vector<float>& got = quantized.at("0.attn_q");
  ASSERT_EQ(got.size(), x.size());
  int clipped = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float c = std::clamp(x[i], -a, a);
    clipped += c != x[i];
    const float want = static_cast<float>(formats::decode(e4m3, formats::encode(e4m3, c / s))) * s;
    ASSERT_EQ(got[i], want) << i;
  }
  EXPECT_GT(clipped, 0);
  EXPECT_EQ(quantized.at("0.attn_k"), got);
  EXPECT_EQ(quantized.at("0.attn_v"), got);
  const std::vector<float>& gate = quantized.at("0.ffn_gate");
  const float nv_max = *std::max_element(gate.begin(), gate.end(), [](float p, float q) { return std::fabs(p) < std::fabs(q); });
  EXPECT_LE(std::fabs(nv_max), a * 1.0001f);
  EXPECT_NE(gate, plain.at("0.ffn_gate"));
  EXPECT_EQ(quantized.at("1.attn_output").size(), plain.at("1.attn_output").size());
  EXPECT_GT(max_abs_diff(logits, prefill(*m)), 1e-4);
}

TEST(EngineSynthetic, ErrorsNameTheProblem) {
  auto m = random_model();
  m->add("blk.1.ffn_up.weight.bad", {1}, {0.0f});
  auto bad = random_model();
  bad->values("blk.1.ffn_up.weight").pop_back();
  {
    MemoryModel wrong;
    wrong.hp_ = m->hp_;
    wrong.add("token_embd.weight", {40, 31}, std::vector<float>(40 * 31));
    auto e = Engine::create(wrong, {});
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find("token_embd.weight"), std::string::npos);
  }
  {
    MemoryModel missing;
    missing.hp_ = m->hp_;
    missing.add("token_embd.weight", {40, 32}, std::vector<float>(40 * 32));
    missing.add("output_norm.weight", {32}, std::vector<float>(32, 1.0f));
    // Layers the hyperparameters promise must be there before the KV cache is sized for them.
    auto e = Engine::create(missing, {});
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find("no tensor 'blk.0.attn_k.weight' for layer 0 of 2"), std::string::npos)
        << e.status().message();
  }
  {
    // A k/v width the tensors do not have (head_dim claimed 4096): refused before allocating.
    auto wide = random_model();
    wide->hp_.head_dim = 4096;
    wide->hp_.n_heads = 1;
    wide->hp_.n_kv_heads = 1;
    auto e = Engine::create(*wide, {});
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find("tensor 'blk.0.attn_k.weight' has shape [16, 32], the hyperparameters say [4096, 32]"),
              std::string::npos) << e.status().message();
  }
  EngineOptions small;
  small.context = 8;
  auto e = Engine::create(*m, small);
  ASSERT_TRUE(e.ok());
  std::vector<float> logits;
  EXPECT_FALSE((*e)->forward(kTokens, 0, 0, &logits).ok());  // 12 tokens > context 8
  const int32_t oov[] = {1, 40};
  Status st = (*e)->forward(oov, 0, 0, &logits);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("index 1"), std::string::npos);
  auto hp = m->hp_;
  MemoryModel odd;
  odd.hp_ = hp;
  odd.hp_.n_kv_heads = 3;
  EXPECT_FALSE(Engine::create(odd, {}).ok());
}

// A quantized embedding/output held as stored (EngineOptions::stored_view): the lookup
// dequantizes single rows, the projection slices of rows; same numbers as the float32 matrix of
// the same values, without it. weight_scheme_for on token_embd gives the same model again
// (quantized once by the engine).
TEST(EngineSynthetic, StoredQuantizedHeadEqualsItsFloat32Values) {
  auto q8 = quant::find_scheme("q8_0");
  ASSERT_TRUE(q8.ok());
  auto m = random_model();
  auto qt = (*q8)->quantize(m->values("token_embd.weight").data(), 40, 32);
  ASSERT_TRUE(qt.ok());
  auto qout = (*q8)->quantize(m->values("output.weight").data(), 40, 32);
  ASSERT_TRUE(qout.ok());
  auto deq = random_model();  // the same seed: the same tensors, embedding/output dequantized
  ASSERT_TRUE((*q8)->dequantize(qt->view(), deq->values("token_embd.weight").data()).ok());
  ASSERT_TRUE((*q8)->dequantize(qout->view(), deq->values("output.weight").data()).ok());
  const auto want = prefill(*deq);
  EngineOptions o;
  std::vector<std::string> asked;
  o.stored_view = [&](const std::string& name) {
    asked.push_back(name);
    return name == "token_embd.weight" ? qt->view() : qout->view();
  };
  EXPECT_LT(max_abs_diff(prefill(*m, o), want), 1e-5);
  EXPECT_EQ(asked, (std::vector<std::string>{"token_embd.weight", "output.weight"}));
  auto e = Engine::create(*m, o);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->weight_bytes_held(), qt->total_bytes() + qout->total_bytes() + 32 * 4);
  // The engine quantizing the head itself (fake quant of embedding and output).
  EngineOptions fq;
  fq.weight_scheme_for = [&](const std::string& name) -> const quant::Scheme* {
    return name == "token_embd.weight" || name == "output.weight" ? *q8 : nullptr;
  };
  EXPECT_LT(max_abs_diff(prefill(*m, fq), want), 1e-5);
  // A view of the wrong shape is refused, naming the tensor.
  o.stored_view = [&](const std::string&) {
    quant::QuantizedView v = qt->view();
    v.rows = 39;
    return v;
  };
  auto bad = Engine::create(*m, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("token_embd.weight"), std::string::npos);
}

// forward_hidden + output_logits by slices give forward()'s logits, a slice at a time.
TEST(EngineSynthetic, OutputLogitsBySlicesEqualForward) {
  auto q8 = quant::find_scheme("q8_0");
  ASSERT_TRUE(q8.ok());
  auto m = random_model();
  for (bool quantized : {false, true}) {
    EngineOptions o;
    if (quantized) {
      o.weight_scheme_for = [&](const std::string& name) -> const quant::Scheme* {
        return name == "output.weight" ? *q8 : nullptr;
      };
    }
    const auto want = prefill(*m, o);
    auto e = Engine::create(*m, o);
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->forward_hidden(kTokens, 0, 2).ok());
    ASSERT_EQ((*e)->hidden_rows(), 10);
    std::vector<float> got(10 * 40, NAN), slice;
    for (int64_t v0 = 0; v0 < 40; v0 += 16) {
      const int64_t w = std::min<int64_t>(16, 40 - v0);
      slice.assign(static_cast<size_t>(10 * w), NAN);
      ASSERT_TRUE((*e)->output_logits(v0, v0 + w, slice.data()).ok());
      for (int64_t r = 0; r < 10; ++r) {
        for (int64_t j = 0; j < w; ++j) got[static_cast<size_t>(r * 40 + v0 + j)] = slice[static_cast<size_t>(r * w + j)];
      }
    }
    const std::vector<float> tail(want.begin() + 2 * 40, want.end());
    EXPECT_LT(max_abs_diff(got, tail), 1e-5) << quantized;
    EXPECT_FALSE((*e)->output_logits(30, 41, slice.data()).ok());
    EXPECT_FALSE((*e)->output_logits(5, 5, slice.data()).ok());
    ASSERT_TRUE((*e)->forward_hidden(kTokens, 0, 12).ok());  // no rows kept
    EXPECT_FALSE((*e)->output_logits(0, 8, slice.data()).ok());
  }
}

// release_tensor hears of every block tensor once its layer has run, unless the layer is kept.
TEST(EngineSynthetic, ReleaseTensorAfterEachLayerNotKept) {
  auto m = random_model(true);
  std::vector<std::string> released;
  EngineOptions o;
  o.release_tensor = [&](const std::string& name) { released.push_back(name); };
  auto e = Engine::create(*m, o);
  ASSERT_TRUE(e.ok());
  std::vector<float> logits;
  ASSERT_TRUE((*e)->forward(kTokens, 0, 0, &logits).ok());
  EXPECT_EQ(released.size(), 2u * 12);  // 9 tensors and 3 biases per layer
  EXPECT_NE(std::find(released.begin(), released.end(), "blk.1.ffn_down.weight"), released.end());
  EXPECT_EQ(std::find(released.begin(), released.end(), "token_embd.weight"), released.end());
  released.clear();
  o.resident_bytes = ~uint64_t{0};
  auto kept = Engine::create(*m, o);
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE((*kept)->forward(kTokens, 0, 0, &logits).ok());
  EXPECT_TRUE(released.empty());
}

// Non-finite weights used to run through (logits all NaN, perplexity "nan" with success); now
// they are an error naming the tensor, and never a crash.
TEST(EngineSynthetic, NonFiniteWeightsAreRefusedByName) {
  // NaN in a layer weight: found when the layer is first loaded, by the forward pass.
  auto m = testing::random_llama({2, 48, 1, false});
  m->values("blk.1.ffn_up.weight")[77] = std::nanf("");
  auto e = Engine::create(*m, {});
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  std::vector<float> logits;
  Status st = (*e)->forward(kTokens, 0, 0, &logits);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("memory: tensor 'blk.1.ffn_up.weight' holds a non-finite weight (nan) at element 77"),
            std::string::npos) << st.message();
  // Inf in the embedding (loaded at create).
  auto m2 = testing::random_llama({2, 48, 1, false});
  m2->values("token_embd.weight")[5] = INFINITY;
  auto e2 = Engine::create(*m2, {});
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.status().message().find("tensor 'token_embd.weight' holds a non-finite weight (inf)"), std::string::npos)
      << e2.status().message();
}

}  // namespace
}  // namespace bitsmith::infer
