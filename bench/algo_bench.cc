// Calibrated-method benchmarks: GPTQ on one square layer (1024 and 4096 columns; int4_g128,
// int4_g32, q4_k) from a Hessian of correlated activations, and the Hessian accumulation of the
// calibration hook (sum x x^T over 512-token segments, OpenBLAS dsyrk), and HQQ on one layer.
// Reported: items_per_second = weights (GPTQ, HQQ) or activation values (Hessian) per second.
// Never asserted in CI (DESIGN.md convention 6). Run: build/bench/algo_bench [--benchmark_filter=gptq]
//
// algo_bench --vs-numpy DIR ROWS COLS [RUNS [THREADS]]: GPTQ against tests/oracles/gptq_reference.py on the
// same layer (scripts/bench_algo.sh SPEED=1 runs both sides): writes W.npy (rows x cols, this
// file's weights) and H.npy (this file's Hessian, rounded to float32, which both sides use), then
// for int4_g128, int4_g32 act-order and nvfp4 runs GPTQ RUNS times (default 3), writes the
// dequantized result <config>.npy and prints one JSON line per config with the median seconds.
// THREADS sizes the library's pool (OpenBLAS's threads: OPENBLAS_NUM_THREADS).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../src/algo/collector.h"
#include "bitsmith/algo/gptq.h"
#include "bitsmith/algo/methods.h"
#include "bitsmith/core/npy.h"

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
BENCHMARK_CAPTURE(bench_gptq, nvfp4, "nvfp4")->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(bench_gptq, q4_k, "q4_k")->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bench_hessian)->Arg(576)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bench_hqq)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

Status save_dequantized(const quant::QuantizedTensor& q, const std::string& path) {
  Tensor deq(DType::kF32, {q.rows, q.cols});
  BITSMITH_RETURN_IF_ERROR(q.scheme->dequantize(q.view(), deq.mutable_as<float>().data()));
  return write_npy(path, deq.view());
}

int vs_numpy(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: algo_bench --vs-numpy DIR ROWS COLS [RUNS [THREADS]]\n");
    return 2;
  }
  const std::string dir = argv[2];
  const int64_t rows = std::stoll(argv[3]), cols = std::stoll(argv[4]);
  const int runs = argc > 5 ? std::max(1, std::atoi(argv[5])) : 3;
  if (argc > 6 && std::atoi(argv[6]) > 0) ThreadPool::set_global_threads(std::atoi(argv[6]));
  const std::vector<float> w = normal(rows * cols, 0.02f, 3);
  Tensor h32(DType::kF32, {cols, cols});
  const std::vector<double>& hd = hessian(cols);
  std::transform(hd.begin(), hd.end(), h32.mutable_as<float>().begin(),
                 [](double v) { return static_cast<float>(v); });
  const std::vector<double> h(h32.as<float>().begin(), h32.as<float>().end());
  const Tensor wt(DType::kF32, {rows, cols}, w.data(), nullptr);
  if (!write_npy(dir + "/W.npy", wt.view()).ok() || !write_npy(dir + "/H.npy", h32.view()).ok()) {
    std::fprintf(stderr, "cannot write to %s\n", dir.c_str());
    return 1;
  }
  struct Config {
    const char* name;
    const char* scheme;
    bool act_order;
  };
  const Config configs[] = {{"int4_g128", "int4_g128", false},
                            {"int4_g32_act", "int4_g32", true},
                            {"nvfp4", "nvfp4", false}};
  for (const Config& c : configs) {
    auto s = quant::find_scheme(c.scheme);
    if (!s.ok()) return 1;
    algo::GptqOptions o;
    o.act_order = c.act_order;
    std::vector<double> secs;
    Result<quant::QuantizedTensor> q = internal_error("not run");
    for (int i = 0; i < runs && (i == 0 || q.ok()); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      q = algo::gptq_quantize(**s, w.data(), rows, cols, h.data(), o, nullptr);
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const Status saved = q.ok() ? save_dequantized(*q, dir + "/" + c.name + ".npy") : q.status();
    if (!saved.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name, saved.to_string().c_str());
      return 1;
    }
    std::sort(secs.begin(), secs.end());
    std::printf("{\"name\": \"%s\", \"scheme\": \"%s\", \"act_order\": %s, \"seconds\": %.6f, "
                "\"runs\": %d, \"threads\": %d}\n",
                c.name, c.scheme, c.act_order ? "true" : "false", secs[secs.size() / 2], runs,
                ThreadPool::global().num_threads());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--vs-numpy") == 0) return vs_numpy(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
