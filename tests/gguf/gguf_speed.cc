// Quantize speed of the GGUF block types (a timing tool, not a test; scripts/bench_gguf.sh
// runs it next to ggml and gguf-py). N(0,1) float32 input, GB/s = float32 bytes in / second.
//
//   gguf_speed [--types q4_0,q8_0,...] [--rows R] [--cols C] [--threads T] [--reps N] [--ref]
//
// Prints one line per type: "name threads GB/s(median) GB/s(min) GB/s(max)". --ref times the
// scalar _ref path instead (one thread).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bitsmith/quant/gguf_blocks.h"
#include "bitsmith/quant/scheme.h"

using namespace bitsmith;

int main(int argc, char** argv) {
  std::string types = "q4_0,q4_1,q5_0,q5_1,q8_0,q2_k,q3_k,q4_k,q5_k,q6_k,iq4_nl";
  int64_t rows = 64, cols = 4096;
  int threads = 1, reps = 5;
  bool ref = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--types") types = next();
    else if (a == "--rows") rows = std::atoll(next().c_str());
    else if (a == "--cols") cols = std::atoll(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--reps") reps = std::atoi(next().c_str());
    else if (a == "--ref") ref = true;
    else {
      std::fprintf(stderr, "usage: gguf_speed [--types a,b] [--rows R] [--cols C] [--threads T] "
                           "[--reps N] [--ref]\n");
      return 2;
    }
  }
  std::vector<float> x(static_cast<size_t>(rows * cols));
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (float& v : x) v = normal(rng);
  ThreadPool pool(threads);
  quant::QuantizeOptions opt;
  opt.pool = &pool;
  std::stringstream ss(types);
  std::string name;
  while (std::getline(ss, name, ',')) {
    auto s = quant::find_scheme(name);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().to_string().c_str());
      return 1;
    }
    std::vector<double> gbps;
    for (int r = 0; r < reps + 1; ++r) {  // the first run warms up and is not counted
      const auto t0 = std::chrono::steady_clock::now();
      auto q = ref ? (*s)->quantize_reference(x.data(), rows, cols)
                   : (*s)->quantize(x.data(), rows, cols, opt);
      const double sec =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!q.ok()) {
        std::fprintf(stderr, "%s\n", q.status().to_string().c_str());
        return 1;
      }
      if (r > 0) gbps.push_back(static_cast<double>(x.size()) * 4 / sec / 1e9);
    }
    std::sort(gbps.begin(), gbps.end());
    std::printf("%-7s %d %.4f %.4f %.4f\n", name.c_str(), ref ? 0 : threads, gbps[gbps.size() / 2],
                gbps.front(), gbps.back());
    std::fflush(stdout);
  }
  return 0;
}
