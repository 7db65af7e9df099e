// Writes HQQ and AWQ problems and bitsmith's answers as .npy files for the numpy oracles:
//   algo_oracle_dump hqq OUT_DIR   per set (small, large) <set>_W.npy (rows x cols, normal
//       weights with outliers and a constant group) and, per scheme, <set>_<scheme>_scale.npy /
//       _zero.npy (the stored fp16 d and z, rows x groups) and _deq.npy (the dequantized
//       weights); for hqq_reference.py.
//   algo_oracle_dump awq OUT_DIR   X (m x cols with loud channels), mean |X| per column, two
//       linears W0, W1 sharing the input, and per scheme <scheme>_alpha.npy (the chosen index
//       and the grid), <scheme>_scales.npy and <scheme>_losses.npy; for awq_reference.py.
//   algo_oracle_dump imatrix MODEL IDS CTX CHUNKS LLAMA_DAT   reads a .dat that llama.cpp's
//       llama-imatrix wrote for MODEL (GGUF) and checks it against bitsmith's own imatrix on the
//       same tokens (IDS: llama-tokenize --ids output), chunked as llama-imatrix does (CTX tokens
//       per chunk, the first replaced by BOS); exit 0 when every value agrees within 1%.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bitsmith/algo/awq.h"
#include "bitsmith/algo/methods.h"
#include "bitsmith/core/npy.h"
#include "bitsmith/io/model_file.h"

using namespace bitsmith;

namespace {

bool save(const std::string& path, DType dt, Shape shape, const void* data) {
  Tensor t(dt, shape, data, nullptr);
  Status st = write_npy(path, t.view());
  if (!st.ok()) std::fprintf(stderr, "%s\n", st.message().c_str());
  return st.ok();
}

std::vector<float> normal(int64_t n, float sd, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = nd(rng);
  return v;
}

// Two magnitudes: at sd 0.02 the l_p shrink zeroes every error (|e|^(p-1) / beta > |e| below
// |e| ~ 0.17), so only the zero-point mean acts; at sd 2 the shrink is active.
int dump_hqq(const std::string& dir) {
  const int64_t rows = 48, cols = 256;
  for (const auto& [set, sd] : {std::pair<const char*, float>{"small", 0.02f}, {"large", 2.0f}}) {
    std::mt19937 rng(7);
    std::vector<float> w = normal(rows * cols, sd, rng);
    for (int64_t r = 0; r < rows; r += 5) w[static_cast<size_t>(r * cols + (r * 17) % cols)] = -10 * sd;
    for (int64_t c = 0; c < 32; ++c) w[static_cast<size_t>(3 * cols + c)] = sd / 2;  // constant group
    if (!save(dir + "/" + set + "_W.npy", DType::kF32, {rows, cols}, w.data())) return 1;
    for (const char* name : {"int4_g32", "int3_g64", "int4_g128", "int2_g16"}) {
      auto s = quant::find_scheme(name);
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", name, s.status().message().c_str());
        return 1;
      }
      auto q = algo::hqq_quantize(**s, w.data(), rows, cols, algo::HqqOptions{});
      if (!q.ok()) {
        std::fprintf(stderr, "%s: %s\n", name, q.status().message().c_str());
        return 1;
      }
      const int64_t ng = static_cast<int64_t>(q->scales.size()) / 2 / rows;
      std::vector<float> deq(static_cast<size_t>(rows * cols));
      if (!(*s)->dequantize(q->view(), deq.data()).ok()) return 1;
      const std::string p = dir + "/" + set + "_" + name;
      if (!save(p + "_scale.npy", DType::kF16, {rows, ng}, q->scales.data()) ||
          !save(p + "_zero.npy", DType::kF16, {rows, ng}, q->zeros.data()) ||
          !save(p + "_deq.npy", DType::kF32, {rows, cols}, deq.data())) {
        return 1;
      }
      std::printf("{\"set\": \"%s\", \"scheme\": \"%s\", \"groups\": %lld}\n", set, name,
                  static_cast<long long>(ng));
    }
  }
  return 0;
}

int dump_awq(const std::string& dir) {
  const int64_t m = 512, cols = 128, rows0 = 96, rows1 = 64;
  const int grid = 20;
  std::mt19937 rng(11);
  std::vector<float> x = normal(m * cols, 1.0f, rng);
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t c = 0; c < cols; c += 9) x[static_cast<size_t>(t * cols + c)] *= 12.0f;  // loud
    x[static_cast<size_t>(t * cols + 5)] *= 1e-6f;  // nearly dead: s clamps at 1e-4
  }
  std::vector<float> mean_abs(static_cast<size_t>(cols), 0.0f);
  for (int64_t c = 0; c < cols; ++c) {
    double a = 0;
    for (int64_t t = 0; t < m; ++t) a += std::fabs(x[static_cast<size_t>(t * cols + c)]);
    mean_abs[static_cast<size_t>(c)] = static_cast<float>(a / static_cast<double>(m));
  }
  std::vector<float> w0 = normal(rows0 * cols, 0.05f, rng), w1 = normal(rows1 * cols, 0.05f, rng);
  if (!save(dir + "/X.npy", DType::kF32, {m, cols}, x.data()) ||
      !save(dir + "/mean_abs.npy", DType::kF32, {cols}, mean_abs.data()) ||
      !save(dir + "/W0.npy", DType::kF32, {rows0, cols}, w0.data()) ||
      !save(dir + "/W1.npy", DType::kF32, {rows1, cols}, w1.data())) {
    return 1;
  }
  for (const char* name : {"int4_g32", "int3_g64", "int4_g128"}) {
    auto s = quant::find_scheme(name);
    if (!s.ok()) return 1;
    const algo::AwqLinear lin[] = {{*s, w0.data(), rows0}, {*s, w1.data(), rows1}};
    auto r = algo::awq_search_scale(lin, x.data(), m, cols, mean_abs, grid);
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, r.status().message().c_str());
      return 1;
    }
    const float alpha[] = {static_cast<float>(r->best), static_cast<float>(grid)};
    std::vector<float> losses(r->losses.begin(), r->losses.end());
    const std::string p = dir + "/" + name;
    if (!save(p + "_alpha.npy", DType::kF32, {2}, alpha) ||
        !save(p + "_scales.npy", DType::kF32, {cols}, r->scales.data()) ||
        !save(p + "_losses.npy", DType::kF32, {grid}, losses.data())) {
      return 1;
    }
    std::printf("{\"scheme\": \"%s\", \"best\": %d}\n", name, r->best);
  }
  return 0;
}

int check_llama_imatrix(char** argv) {
  auto model = io::open_model(argv[2], "");
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().message().c_str());
    return 1;
  }
  std::ifstream in(argv[3]);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (char& c : text) if (c == '[' || c == ']' || c == ',') c = ' ';
  std::istringstream ids(text);
  std::vector<int32_t> tokens;
  for (int32_t t; ids >> t;) tokens.push_back(t);
  const int64_t ctx = std::stoll(argv[4]), chunks = std::stoll(argv[5]);
  if (static_cast<int64_t>(tokens.size()) < ctx * chunks) {
    std::fprintf(stderr, "%zu tokens, fewer than %lld chunks of %lld\n", tokens.size(),
                 static_cast<long long>(chunks), static_cast<long long>(ctx));
    return 1;
  }
  std::vector<std::vector<int32_t>> segs;
  for (int64_t c = 0; c < chunks; ++c) {
    segs.emplace_back(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx);
    segs.back()[0] = (*model)->vocabulary().bos_id;
  }
  auto stats = algo::collect_inputs(**model, segs, algo::CollectOptions{});
  if (!stats.ok()) {
    std::fprintf(stderr, "%s\n", stats.status().message().c_str());
    return 1;
  }
  const auto ours = algo::imatrix_from_stats(*stats, (*model)->hyperparameters().n_layers,
                                             static_cast<int32_t>(chunks), static_cast<int32_t>(ctx), "x");
  auto theirs = algo::read_imatrix(argv[6]);
  if (!theirs.ok()) {
    std::fprintf(stderr, "%s\n", theirs.status().message().c_str());
    return 1;
  }
  double worst = 0;
  int64_t values = 0;
  for (const auto& [name, v] : ours.values) {
    auto it = theirs->values.find(name);
    if (it == theirs->values.end() || it->second.size() != v.size()) {
      std::fprintf(stderr, "%s: missing or of another length in llama.cpp's file\n", name.c_str());
      return 1;
    }
    for (size_t i = 0; i < v.size(); ++i, ++values) {
      worst = std::max(worst, std::fabs(double{v[i]} - it->second[i]) / std::max(1e-6, double{v[i]}));
    }
  }
  std::printf("{\"entries\": %zu, \"llama_entries\": %zu, \"values\": %lld, \"chunks\": %d, "
              "\"max_rel_diff\": %.3g}\n", ours.values.size(), theirs->values.size(),
              static_cast<long long>(values), theirs->chunks, worst);
  return ours.values.size() == theirs->values.size() && worst < 0.01 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: algo_oracle_dump hqq|awq OUT_DIR\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "hqq") return dump_hqq(argv[2]);
  if (mode == "awq") return dump_awq(argv[2]);
  if (mode == "imatrix" && argc == 7) return check_llama_imatrix(argv);
  std::fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
