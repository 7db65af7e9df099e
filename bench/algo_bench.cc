// Calibrated-method benchmarks: GPTQ on one square layer (1024 and 4096 columns; int4_g128,
// int4_g32, q4_k) from a Hessian of correlated activations, and the Hessian accumulation of the
// calibration hook (sum x x^T over 512-token segments, OpenBLAS dsyrk), and HQQ on one layer.
// Reported: items_per_second = weights (GPTQ, HQQ) or activation values (Hessian) per second.
// Never asserted in CI (DESIGN.md convention 6). Run: build/bench/algo_bench [--benchmark_filter=gptq]
#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "../src/algo/collector.h"
#include "bitsmith/algo/gptq.h"
#include "bitsmith/algo/methods.h"

namespace {

using namespace bitsmith;

std::vector<float> normal(int64_t n, float sd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = nd(rng);
  return v;
}

// Activations: a shared component (correlation) plus loud channels, as in tests/algo/gptq_dump.
std::vector<float> activations(int64_t tokens, int64_t cols, uint32_t seed) {
  std::vector<float> x = normal(tokens * cols, 1.0f, seed);
  const std::vector<float> shared = normal(tokens, 0.5f, seed + 1);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < cols; ++c) {
      float& v = x[static_cast<size_t>(t * cols + c)];
      v += shared[static_cast<size_t>(t)];
      if (c % 31 == 0) v *= 8.0f;
    }
  }
  return x;
}

// The Hessian of `cols` inputs from 2 * cols tokens, through the calibration collector.
const std::vector<double>& hessian(int64_t cols) {
  static std::map<int64_t, std::vector<double>> cache;
  auto it = cache.find(cols);
  if (it != cache.end()) return it->second;
  const std::vector<float> x = activations(2 * cols, cols, 7);
  algo::CollectOptions co;
  co.hessian = true;
  algo::detail::StatsCollector c(co);
  c.add(infer::LinearInput{0, "attn_q", x.data(), 2 * cols, cols});
  return cache[cols] = c.finish().at("blk.0.attn_in").hessian;
}

void bench_gptq(benchmark::State& state, const char* scheme) {
  const int64_t n = state.range(0);
  auto s = quant::find_scheme(scheme);
  if (!s.ok()) {
    state.SkipWithError(s.status().to_string().c_str());
    return;
  }
  const std::vector<float> w = normal(n * n, 0.02f, 3);
  const std::vector<double>& h = hessian(n);
  for (auto _ : state) {
    algo::GptqReport rep;
    auto q = algo::gptq_quantize(**s, w.data(), n, n, h.data(), algo::GptqOptions{}, &rep);
    if (!q.ok()) {
      state.SkipWithError(q.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(q->data.data());
  }
  state.SetItemsProcessed(state.iterations() * n * n);
}

void bench_hessian(benchmark::State& state) {
  const int64_t cols = state.range(0), tokens = 512;
  const std::vector<float> x = activations(tokens, cols, 9);
  algo::CollectOptions co;
  co.hessian = true;
  for (auto _ : state) {
    algo::detail::StatsCollector c(co);
    for (int seg = 0; seg < 8; ++seg) c.add(infer::LinearInput{0, "attn_q", x.data(), tokens, cols});
    auto stats = c.finish();
    benchmark::DoNotOptimize(stats.begin()->second.hessian.data());
  }
  state.SetItemsProcessed(state.iterations() * 8 * tokens * cols);
}

void bench_hqq(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto s = quant::find_scheme("int4_g64");
  const std::vector<float> w = normal(n * n, 0.02f, 5);
  for (auto _ : state) {
    auto q = algo::hqq_quantize(**s, w.data(), n, n, algo::HqqOptions{});
    benchmark::DoNotOptimize(q->data.data());
  }
  state.SetItemsProcessed(state.iterations() * n * n);
}

BENCHMARK_CAPTURE(bench_gptq, int4_g128, "int4_g128")->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bench_gptq, int4_g32, "int4_g32")->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bench_gptq, q4_k, "q4_k")->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bench_hessian)->Arg(576)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bench_hqq)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
