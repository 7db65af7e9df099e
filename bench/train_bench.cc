// The trainer: one forward + backward pass (tokens/s) of a small random Llama (the Tiny
// Shakespeare model of docs/train.md: dim 128, 4 layers, vocab 512) at 8 x 64 tokens, in fp32
// and under each precision recipe (the cost of simulating the casts), and the block casts alone
// (elements/s). Never asserted.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bitsmith/train/backward.h"
#include "bitsmith/train/casts.h"
#include "bitsmith/train/precision.h"

namespace {

using namespace bitsmith;

LlamaHyperparameters small_model() {
  LlamaHyperparameters hp;
  hp.dim = 128, hp.hidden_dim = 352, hp.n_layers = 4, hp.n_heads = 4, hp.n_kv_heads = 4, hp.head_dim = 32;
  hp.vocab_size = 512, hp.context_length = 256, hp.tied_embeddings = true;
  return hp;
}

const char* const kRecipes[] = {"fp32", "bf16", "fp8-current", "fp8-delayed", "mxfp8", "nvfp4"};

void BM_PassSmallModel(benchmark::State& state) {
  const char* recipe_name = kRecipes[state.range(0)];
  const int64_t batch = 8, seq = 64;
  auto w = train::Weights::random(small_model(), 1);
  train::Weights g = w->zeros_like();
  auto recipe = train::make_recipe(recipe_name, {}, 4);
  std::mt19937 rng(0);
  std::vector<int32_t> tokens(batch * seq), targets(batch * seq);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(rng() % 512), targets[i] = static_cast<int32_t>(rng() % 512);
  train::PassOptions o;
  o.precision = recipe->get();
  for (auto _ : state) {
    auto r = train::loss_and_gradients(*w, train::Batch{tokens, targets, batch, seq}, &g, o);
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(recipe_name);
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(batch * seq), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PassSmallModel)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);

template <int kKind>
void BM_BlockCast(benchmark::State& state) {
  const int64_t rows = 512, cols = 352;
  std::mt19937 rng(0);
  std::normal_distribution<float> nd;
  std::vector<float> x(rows * cols), y;
  for (auto& v : x) v = nd(rng);
  for (auto _ : state) {
    y = x;
    auto r = kKind == 0 ? train::cast_mxfp8(y.data(), rows, cols)
                        : train::cast_nvfp4(y.data(), rows, cols, kKind == 1 ? formats::Rounding::kRne : formats::Rounding::kStochastic, 7);
    benchmark::DoNotOptimize(r);
  }
  state.counters["elements/s"] = benchmark::Counter(static_cast<double>(rows * cols), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BlockCast<0>)->Name("BM_CastMxfp8");
BENCHMARK(BM_BlockCast<1>)->Name("BM_CastNvfp4Rne");
BENCHMARK(BM_BlockCast<2>)->Name("BM_CastNvfp4Stochastic");

}  // namespace

BENCHMARK_MAIN();
