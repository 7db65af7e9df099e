// io benchmarks (never asserted): GGUF header parsing with a 32000-token vocabulary, plain dtype
// decoding, and whole-model streaming quantization of a synthetic checkpoint, in bytes/s of input.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "bitsmith/core/mapped_file.h"
#include "bitsmith/io/gguf.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/io/synth.h"
#include "bitsmith/plan/recipe.h"

namespace {

namespace fs = std::filesystem;
using namespace bitsmith;

const fs::path& bench_dir() {
  static const fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("bitsmith_io_bench_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// dim 512, hidden 1536 (multiples of 256 so every GGUF type fits), 2 layers, vocab 32000.
std::string synth_file() {
  static const std::string path = [] {
    io::SynthConfig c;
    c.dim = 512;
    c.hidden_dim = 1536;
    c.n_layers = 2;
    c.vocab_size = 32000;
    std::string p = (bench_dir() / "synth.gguf").string();
    auto r = io::write_synthetic_model(c, p, io::OutputFormat::kGguf, [](const Model& m) {
      return plan::Recipe::uniform("f32")->resolve(m, io::OutputFormat::kGguf);
    });
    if (!r.ok()) std::abort();
    return p;
  }();
  return path;
}

void BM_ParseGgufHeader(benchmark::State& state) {
  auto f = MappedFile::open(synth_file());
  auto g = io::parse_gguf(f.value()->bytes(), "bench");
  const uint64_t header = g->data_offset;
  for (auto _ : state) {
    auto p = io::parse_gguf(f.value()->bytes(), "bench");
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * header));
}
BENCHMARK(BM_ParseGgufHeader)->Unit(benchmark::kMillisecond);

void BM_DecodeToF32(benchmark::State& state) {
  const auto dtype = static_cast<DType>(state.range(0));
  const size_t n = 1 << 22;
  std::vector<uint8_t> src(n * dtype_size(dtype), 0x3C);
  std::vector<float> out(n);
  for (auto _ : state) {
    io::decode_to_f32(dtype, src.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * src.size()));
  state.SetLabel(std::string(dtype_name(dtype)));
}
BENCHMARK(BM_DecodeToF32)->Arg(static_cast<int>(DType::kF16))->Arg(static_cast<int>(DType::kBF16))
    ->Arg(static_cast<int>(DType::kF8E4M3))->Unit(benchmark::kMillisecond);

void BM_QuantizeModel(benchmark::State& state, const char* scheme) {
  auto m = io::open_model(synth_file());
  if (!m.ok()) std::abort();
  io::QuantizeConfig cfg;
  cfg.format = io::OutputFormat::kGguf;
  auto plans = plan::recipe_for_scheme_name(scheme)->resolve(**m, cfg.format);
  if (!plans.ok()) std::abort();
  uint64_t in = 0;
  for (auto _ : state) {
    auto r = io::quantize_model(**m, (bench_dir() / "out.gguf").string(), *plans, cfg);
    if (!r.ok()) std::abort();
    in = r->input_bytes;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in));
}
BENCHMARK_CAPTURE(BM_QuantizeModel, f16, "fp16")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_QuantizeModel, q8_0, "q8_0")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_QuantizeModel, q4_0, "q4_0")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_QuantizeModel, q4_k_m, "q4_k_m")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  fs::remove_all(bench_dir());
  return 0;
}
