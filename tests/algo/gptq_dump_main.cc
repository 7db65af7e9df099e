// Writes a GPTQ problem (weights W, Hessian H) and bitsmith's GPTQ results for several option
// sets as .npy files, for tests/oracles/gptq_reference.py to recompute in numpy and compare.
// Usage: gptq_dump OUT_DIR [rows cols]   (prints one JSON line per config with its wall time)
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bitsmith/algo/gptq.h"
#include "bitsmith/core/npy.h"

using namespace bitsmith;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: gptq_dump OUT_DIR [rows cols]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int64_t rows = argc > 3 ? std::stoll(argv[2]) : 96;
  const int64_t cols = argc > 3 ? std::stoll(argv[3]) : 384;
  const int64_t n = 2 * cols;
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Tensor w(DType::kF32, {rows, cols});
  auto wv = w.mutable_as<float>();
  for (auto& v : wv) v = 0.02f * nd(rng);
  for (int64_t r = 0; r < rows; r += 7) wv[static_cast<size_t>(r * cols + (r * 13) % cols)] = 0.15f;
  // Correlated activations with a few loud channels and two dead ones (H_ii = 0).
  std::vector<float> x(static_cast<size_t>(n * cols));
  for (int64_t t = 0; t < n; ++t) {
    float shared = nd(rng);
    for (int64_t c = 0; c < cols; ++c) {
      float v = nd(rng) + 0.5f * shared;
      if (c % 31 == 0) v *= 8.0f;
      if (c == 5 || c == cols - 3) v = 0.0f;
      x[static_cast<size_t>(t * cols + c)] = v;
    }
  }
  Tensor h32(DType::kF32, {cols, cols});
  auto hv = h32.mutable_as<float>();
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t t = 0; t < n; ++t) {
        s += static_cast<double>(x[static_cast<size_t>(t * cols + i)]) * x[static_cast<size_t>(t * cols + j)];
      }
      hv[static_cast<size_t>(i * cols + j)] = static_cast<float>(2.0 * s / static_cast<double>(n));
    }
  }
  // Both sides use the float32-rounded H.
  std::vector<double> h(hv.begin(), hv.end());
  if (!write_npy(dir + "/W.npy", w.view()).ok() || !write_npy(dir + "/H.npy", h32.view()).ok()) {
    std::fprintf(stderr, "cannot write to %s\n", dir.c_str());
    return 1;
  }
  struct Config {
    const char* name;
    const char* scheme;
    bool act_order, static_groups;
  };
  const Config configs[] = {
      {"int4_g32", "int4_g32", false, false},      {"int3_g64", "int3_g64", false, false},
      {"int4_g128_act", "int4_g128", true, false}, {"int4_g64_static", "int4_g64", false, true},
      {"int4_grow_act", "int4_grow", true, false}, {"int4_g32_sym", "int4_g32_sym", false, false},
  };
  for (const Config& c : configs) {
    auto s = quant::find_scheme(c.scheme);
    if (!s.ok()) return 1;
    algo::GptqOptions o;
    o.act_order = c.act_order;
    o.static_groups = c.static_groups;
    algo::GptqReport rep;
    const auto t0 = std::chrono::steady_clock::now();
    auto q = algo::gptq_quantize(**s, wv.data(), rows, cols, h.data(), o, &rep);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!q.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name, q.status().message().c_str());
      return 1;
    }
    Tensor deq(DType::kF32, {rows, cols});
    if (!(*s)->dequantize(q->view(), deq.mutable_as<float>().data()).ok()) return 1;
    if (!write_npy(dir + "/" + c.name + ".npy", deq.view()).ok()) return 1;
    std::printf("{\"name\": \"%s\", \"scheme\": \"%s\", \"act_order\": %s, \"static_groups\": %s, "
                "\"seconds\": %.6f, \"dead\": %lld, \"loss\": %.9g}\n",
                c.name, c.scheme, c.act_order ? "true" : "false", c.static_groups ? "true" : "false",
                secs, static_cast<long long>(rep.dead_columns), rep.loss);
  }
  return 0;
}
