// Registry-driven quantization benchmark: for every listed scheme, quantize and dequantize a
// 1024 x 4096 float32 matrix of N(0,1) weights, with 1 thread and with all threads.
// Reported: bytes_per_second = GB/s of float32 input (4 bytes per weight) for both directions.
// Never asserted in CI (DESIGN.md convention 6). Run: build/bench/quant_bench [--benchmark_filter=nvfp4]
#include <benchmark/benchmark.h>

#include <string>
#include <thread>
#include <vector>

#include "bitsmith/quant/metrics.h"
#include "bitsmith/quant/scheme.h"

namespace {

using namespace bitsmith;

constexpr int64_t kRows = 1024, kCols = 4096;

const std::vector<float>& weights() {
  static const std::vector<float> w = *quant::synthetic_weights("normal", kRows * kCols, 42);
  return w;
}

ThreadPool& pool_for(int threads) {
  static ThreadPool one(1);
  return threads == 1 ? one : ThreadPool::global();
}

void bench_quantize(benchmark::State& state, const quant::Scheme* s, int threads) {
  quant::QuantizeOptions opt;
  opt.pool = &pool_for(threads);
  const float* w = weights().data();  // generated outside the timed loop
  for (auto _ : state) {
    auto q = s->quantize(w, kRows, kCols, opt);
    if (!q.ok()) {
      state.SkipWithError(q.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(q->data.data());
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

void bench_dequantize(benchmark::State& state, const quant::Scheme* s, int threads) {
  auto q = s->quantize(weights().data(), kRows, kCols);
  if (!q.ok()) {
    state.SkipWithError(q.status().to_string().c_str());
    return;
  }
  std::vector<float> out(static_cast<size_t>(kRows * kCols));
  // dequantize has no pool option: it runs on the global pool, resized for the 1-thread run.
  ThreadPool::set_global_threads(threads);
  for (auto _ : state) {
    auto st = s->dequantize(q->view(), out.data());
    benchmark::DoNotOptimize(out.data());
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
  }
  ThreadPool::set_global_threads(0);
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

bool register_all() {
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const quant::Scheme* s : quant::listed_schemes()) {
    for (int threads : {1, all}) {
      const std::string suffix = "/threads:" + std::to_string(threads);
      // One thread: CPU time of the calling thread (robust on a shared machine); all
      // threads: wall time, the only measure that shows the parallel speed-up.
      auto* q = benchmark::RegisterBenchmark(("quantize/" + s->name() + suffix).c_str(),
                                             bench_quantize, s, threads);
      auto* d = benchmark::RegisterBenchmark(("dequantize/" + s->name() + suffix).c_str(),
                                             bench_dequantize, s, threads);
      for (auto* b : {q, d}) {
        b->Unit(benchmark::kMillisecond);
        if (threads > 1) b->UseRealTime();
      }
      if (all == 1) break;
    }
  }
  return true;
}

const bool kRegistered = register_all();

}  // namespace

BENCHMARK_MAIN();
