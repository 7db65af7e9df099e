// Element-format array conversions (convert.h): elements per second on one thread and on all
// threads, and the scalar codec for scale. scripts/bench_formats.sh runs this next to
// numpy + ml_dtypes `astype` on the same array size. Never asserted in CI.
//
// Arg(0) = threads: 1, or 0 for every hardware thread. The array has kN float32 elements
// (4 MiB): larger than L2, so the figures include real memory traffic.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "bitsmith/core/thread_pool.h"
#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/convert.h"

namespace bitsmith::formats {
namespace {

constexpr size_t kN = size_t{1} << 20;

ThreadPool* pool_for(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return p.get();
}

const std::vector<float>& weights() {
  // Weight-like values: normal with a small spread, as in a linear layer.
  static const std::vector<float> kX = [] {
    std::vector<float> x(kN);
    std::mt19937 rng(1);
    std::normal_distribution<float> d(0.0f, 0.05f);
    for (float& v : x) v = d(rng);
    return x;
  }();
  return kX;
}

void finish(benchmark::State& state, ThreadPool* pool) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
  state.counters["threads"] = pool->num_threads();
}

template <typename Code, typename Fn>
void bench_encode(benchmark::State& state, Fn fn, size_t out_size = kN) {
  ThreadPool* pool = pool_for(static_cast<int>(state.range(0)));
  std::vector<Code> out(out_size);
  for (auto _ : state) {
    fn(weights(), std::span<Code>(out), pool);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, pool);
}

template <typename Code, typename Enc, typename Dec>
void bench_decode(benchmark::State& state, Enc enc, Dec dec, size_t code_size = kN) {
  ThreadPool* pool = pool_for(static_cast<int>(state.range(0)));
  std::vector<Code> codes(code_size);
  enc(weights(), std::span<Code>(codes), pool);
  std::vector<float> out(kN);
  for (auto _ : state) {
    dec(std::span<const Code>(codes), std::span<float>(out), pool);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, pool);
}

constexpr EncodeOptions kRne{};
constexpr EncodeOptions kStochastic{Rounding::kStochastic, Overflow::kSaturate, 1};
constexpr float kScale = 0.05f / 32;

void BM_f32_to_bf16(benchmark::State& s) { bench_encode<uint16_t>(s, [](auto x, auto o, auto* p) { f32_to_bf16(x, o, kRne, p); }); }
void BM_bf16_to_f32(benchmark::State& s) { bench_decode<uint16_t>(s, [](auto x, auto o, auto* p) { f32_to_bf16(x, o, kRne, p); }, [](auto c, auto o, auto* p) { bf16_to_f32(c, o, p); }); }
void BM_f32_to_f16(benchmark::State& s) { bench_encode<uint16_t>(s, [](auto x, auto o, auto* p) { f32_to_f16(x, o, kRne, p); }); }
void BM_f16_to_f32(benchmark::State& s) { bench_decode<uint16_t>(s, [](auto x, auto o, auto* p) { f32_to_f16(x, o, kRne, p); }, [](auto c, auto o, auto* p) { f16_to_f32(c, o, p); }); }
void BM_f32_to_e4m3(benchmark::State& s) { bench_encode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e4m3(x, o, kRne, p); }); }
void BM_e4m3_to_f32(benchmark::State& s) { bench_decode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e4m3(x, o, kRne, p); }, [](auto c, auto o, auto* p) { e4m3_to_f32(c, o, p); }); }
void BM_f32_to_e5m2(benchmark::State& s) { bench_encode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e5m2(x, o, kRne, p); }); }
void BM_e5m2_to_f32(benchmark::State& s) { bench_decode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e5m2(x, o, kRne, p); }, [](auto c, auto o, auto* p) { e5m2_to_f32(c, o, p); }); }
void BM_f32_to_e2m1(benchmark::State& s) { bench_encode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e2m1(x, o, kRne, p); }); }
void BM_e2m1_to_f32(benchmark::State& s) { bench_decode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e2m1(x, o, kRne, p); }, [](auto c, auto o, auto* p) { e2m1_to_f32(c, o, p); }); }
void BM_f32_to_e2m1_packed(benchmark::State& s) { bench_encode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e2m1_packed(x, o, kRne, p); }, kN / 2); }
void BM_e2m1_packed_to_f32(benchmark::State& s) { bench_decode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e2m1_packed(x, o, kRne, p); }, [](auto c, auto o, auto* p) { e2m1_packed_to_f32(c, o, p); }, kN / 2); }
void BM_f32_to_int8(benchmark::State& s) { bench_encode<int8_t>(s, [](auto x, auto o, auto* p) { f32_to_int8(x, kScale, o, kRne, p); }); }
void BM_int8_to_f32(benchmark::State& s) { bench_decode<int8_t>(s, [](auto x, auto o, auto* p) { f32_to_int8(x, kScale, o, kRne, p); }, [](auto c, auto o, auto* p) { int8_to_f32(c, kScale, o, p); }); }
void BM_f32_to_int4_packed(benchmark::State& s) { bench_encode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_int4_packed(x, kScale, o, kRne, p); }, kN / 2); }
void BM_int4_packed_to_f32(benchmark::State& s) { bench_decode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_int4_packed(x, kScale, o, kRne, p); }, [](auto c, auto o, auto* p) { int4_packed_to_f32(c, kScale, o, p); }, kN / 2); }
void BM_f32_to_e4m3_stochastic(benchmark::State& s) { bench_encode<uint8_t>(s, [](auto x, auto o, auto* p) { f32_to_e4m3(x, o, kStochastic, p); }); }
void BM_f32_to_bf16_stochastic(benchmark::State& s) { bench_encode<uint16_t>(s, [](auto x, auto o, auto* p) { f32_to_bf16(x, o, kStochastic, p); }); }

// The scalar codec, one element at a time: what the array paths replace.
void BM_scalar_f32_to_e4m3(benchmark::State& state) {
  const std::vector<float>& x = weights();
  std::vector<uint8_t> out(kN);
  for (auto _ : state) {
    for (size_t i = 0; i < kN; ++i) out[i] = static_cast<uint8_t>(encode(kFloat8E4M3FN, x[i]));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kN));
  state.counters["threads"] = 1;
}

#define BITSMITH_CONVERSION_BENCH(fn) BENCHMARK(fn)->ArgName("threads")->Arg(1)->Arg(0)->UseRealTime()
BITSMITH_CONVERSION_BENCH(BM_f32_to_bf16);
BITSMITH_CONVERSION_BENCH(BM_bf16_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_f16);
BITSMITH_CONVERSION_BENCH(BM_f16_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_e4m3);
BITSMITH_CONVERSION_BENCH(BM_e4m3_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_e5m2);
BITSMITH_CONVERSION_BENCH(BM_e5m2_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_e2m1);
BITSMITH_CONVERSION_BENCH(BM_e2m1_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_e2m1_packed);
BITSMITH_CONVERSION_BENCH(BM_e2m1_packed_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_int8);
BITSMITH_CONVERSION_BENCH(BM_int8_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_int4_packed);
BITSMITH_CONVERSION_BENCH(BM_int4_packed_to_f32);
BITSMITH_CONVERSION_BENCH(BM_f32_to_e4m3_stochastic);
BITSMITH_CONVERSION_BENCH(BM_f32_to_bf16_stochastic);
BENCHMARK(BM_scalar_f32_to_e4m3)->UseRealTime();

}  // namespace
}  // namespace bitsmith::formats

BENCHMARK_MAIN();
