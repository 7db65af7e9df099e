// Forward-pass kernels: the linear layer product through OpenBLAS (single-threaded sgemm per
// column slice, ThreadPool across slices) against a plain triple loop, and attention. Shapes of
// a ~117M-parameter model (dim 896, hidden 2432) with 512-token chunks. Reported as FLOP/s
// (2 n m k per product); and the softmax and SiLU exponentials (vec_math.h, dispatched by CPU),
// as elements/s over a SmolLM2-sized vocabulary row and hidden row; never asserted.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "../src/infer/kernels.h"
#include "bitsmith/infer/vec_math.h"

namespace {

using bitsmith::ThreadPool;

std::vector<float> random_floats(size_t n) {
  std::mt19937 rng(0);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

template <bool kBlas>
void BM_Linear(benchmark::State& state) {
  const int64_t n = state.range(0), m = state.range(1), k = state.range(2);
  ThreadPool pool(static_cast<int>(state.range(3)));
  auto a = random_floats(static_cast<size_t>(n * k));
  auto w = random_floats(static_cast<size_t>(m * k));
  std::vector<float> c(static_cast<size_t>(n * m));
  for (auto _ : state) {
    if (kBlas) {
      bitsmith::infer::detail::gemm_nt(a.data(), w.data(), c.data(), n, m, k, pool);
    } else {
      bitsmith::infer::detail::gemm_nt_naive(a.data(), w.data(), c.data(), n, m, k, pool);
    }
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(static_cast<double>(2 * n * m * k),
                                                benchmark::Counter::kIsIterationInvariantRate);
}
// {tokens, out, in, threads}
BENCHMARK(BM_Linear<true>)->Args({512, 2432, 896, 1})->Args({512, 2432, 896, 2})
    ->Args({1, 2432, 896, 2})->Unit(benchmark::kMillisecond)->Name("linear/openblas");
BENCHMARK(BM_Linear<false>)->Args({512, 2432, 896, 1})->Args({512, 2432, 896, 2})
    ->Args({1, 2432, 896, 2})->Unit(benchmark::kMillisecond)->Name("linear/naive");

void BM_Attention(benchmark::State& state) {
  const int64_t n = state.range(0), heads = 14, hd = 64;
  ThreadPool pool(static_cast<int>(state.range(1)));
  auto q = random_floats(static_cast<size_t>(n * heads * hd));
  auto kv = random_floats(static_cast<size_t>(n * heads * hd));
  std::vector<float> out(q.size());
  for (auto _ : state) {
    bitsmith::infer::detail::attention(q.data(), kv.data(), kv.data(), out.data(), n, 0, heads,
                                       heads, hd, pool);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);  // tokens
}
BENCHMARK(BM_Attention)->Args({512, 1})->Args({512, 2})->Unit(benchmark::kMillisecond);

void BM_ExpShiftedSum(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const auto x = random_floats(n);
  std::vector<float> work(n);
  for (auto _ : state) {
    work = x;  // the kernel works in place
    benchmark::DoNotOptimize(bitsmith::infer::detail::exp_shifted_sum(work.data(), state.range(0), 4.0f));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ExpShiftedSum)->Arg(512)->Arg(49152)->Name("softmax_exp");

void BM_SiluMul(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const auto gate = random_floats(n), up = random_floats(n);
  std::vector<float> work(n);
  for (auto _ : state) {
    work = gate;
    bitsmith::infer::detail::silu_mul_row(work.data(), up.data(), state.range(0));
    benchmark::DoNotOptimize(work.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SiluMul)->Arg(1536)->Arg(65536)->Name("silu_mul");

}  // namespace

BENCHMARK_MAIN();
