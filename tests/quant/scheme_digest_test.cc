// Byte-stability guard: every scheme quantizes fixed inputs (plain, with an importance vector,
// with non-finite values under allow_nonfinite) and through its GPTQ group quantizer, and the
// FNV-1a-64 digests of the bytes (packed codes, scales, zero points, tensor scale) and of the
// dequantized floats must equal the table in scheme_digests.txt. The table was generated from
// the code before a refactoring; a refactoring that claims "same bytes" keeps this test green.
//
// A scheme whose bytes change on purpose (a fixed rounding bug, a new scheme) regenerates the
// table, and the commit says why:
//   BITSMITH_WRITE_DIGESTS=tests/quant/scheme_digests.txt build/tests/quant_tests
//   (with --gtest_filter=SchemeDigest.*)
// The inputs come from integer hashing (splitmix64), not <random> distributions, whose
// floating-point output the C++ standard leaves to each library.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bitsmith/core/hashing.h"
#include "bitsmith/quant/group_quantizer.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {
namespace {

constexpr int64_t kRows = 136;  // two 128-row tiles (one partial) for fp8_e4m3_block128
constexpr int64_t kCols = 512;  // two K-quant super-blocks per row

// Values in (-1, 1) with 24 random bits, exactly representable.
float unit(uint64_t& state) {
  const auto bits = static_cast<int32_t>(splitmix64(state) >> 40) - (1 << 23);
  return std::ldexp(static_cast<float>(bits), -23);
}

// Rows of different kinds, to reach the codecs' corners: smooth values at magnitudes from
// 2^-24 to 2^7 (larger ones overflow the fp16 scales of 2- and 4-bit GGUF blocks), exact multiples of 1/8 (grid ties once scaled), denormals, blocks of zeros,
// one outlier per row, heavy tails (a cube).
std::vector<float> fixed_input() {
  uint64_t state = 20261126;
  std::vector<float> x(static_cast<size_t>(kRows * kCols));
  for (int64_t r = 0; r < kRows; ++r) {
    float* row = x.data() + r * kCols;
    const float mag = std::ldexp(1.0f, static_cast<int>(r % 32) - 24);
    for (int64_t c = 0; c < kCols; ++c) {
      const float u = unit(state);
      switch (r % 7) {
        case 0: row[c] = u * mag; break;
        case 1: row[c] = std::round(u * 64.0f) * 0.125f * mag; break;
        case 2: row[c] = u * 1e-40f; break;
        case 3: row[c] = (c / 16) % 2 ? 0.0f : u; break;
        case 4: row[c] = c == r % kCols ? 300.0f : u * 0.01f; break;
        case 5: row[c] = u * u * u * 4.0f; break;
        default: row[c] = std::round(u * 16.0f) * 0.25f; break;
      }
    }
  }
  return x;
}

std::vector<float> fixed_importance() {
  uint64_t state = 7;
  std::vector<float> w(static_cast<size_t>(kCols));
  for (float& v : w) v = std::fabs(unit(state)) * 4.0f + (splitmix64(state) % 5 == 0 ? 0.0f : 0.01f);
  return w;
}

struct Fnv1a64 {
  uint64_t h = kFnvBasis;
  void bytes(const void* p, size_t n) { h = fnv1a(p, n, h); }
  void add(const std::vector<uint8_t>& v) {
    const uint64_t n = v.size();  // the length too, so moving bytes between fields shows
    bytes(&n, sizeof n);
    bytes(v.data(), v.size());
  }
};

// "<bytes digest>:<dequantized digest>" of one quantized tensor.
std::string digest(const Scheme& s, const QuantizedTensor& q) {
  Fnv1a64 b;
  b.add(q.data);
  b.add(q.scales);
  b.add(q.zeros);
  const uint32_t ts = std::bit_cast<uint32_t>(q.tensor_scale);
  b.bytes(&ts, 4);
  std::vector<float> y(static_cast<size_t>(q.rows * q.cols));
  const Status st = s.dequantize(q.view(), y.data());
  if (!st.ok()) return "dequantize failed: " + st.to_string();
  Fnv1a64 d;
  d.bytes(y.data(), y.size() * sizeof(float));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx:%016llx", static_cast<unsigned long long>(b.h),
                static_cast<unsigned long long>(d.h));
  return buf;
}

std::string quantize_digest(const Scheme& s, const float* x, const QuantizeOptions& opt) {
  auto q = s.quantize(x, kRows, kCols, opt);
  if (!q.ok()) return "error: " + q.status().to_string();
  return digest(s, *q);
}

// The GPTQ path without error feedback: each group's parameters from the input, then every
// column on them, then finish() packs.
std::string group_quantizer_digest(const Scheme& s, const float* x) {
  auto gq = make_group_quantizer(s, x, kRows, kCols);
  if (!gq.ok()) return "error: " + gq.status().to_string();
  GroupQuantizer& g = **gq;
  const int64_t gc = g.group_cols();
  std::vector<float> values(static_cast<size_t>(kRows * gc)), col(kRows), out(kRows);
  for (int64_t gi = 0; gi < g.groups(); ++gi) {
    for (int64_t r = 0; r < kRows; ++r) {
      for (int64_t j = 0; j < gc; ++j) values[r * gc + j] = x[r * kCols + gi * gc + j];
    }
    const Status st = g.choose_params(gi, values.data(), nullptr);
    if (!st.ok()) return "error: " + st.to_string();
    for (int64_t j = 0; j < gc; ++j) {
      for (int64_t r = 0; r < kRows; ++r) col[r] = x[r * kCols + gi * gc + j];
      g.quantize_column(gi * gc + j, col.data(), out.data());
    }
  }
  auto q = g.finish();
  if (!q.ok()) return "error: " + q.status().to_string();
  return digest(s, *q);
}

std::vector<const Scheme*> covered_schemes() {
  std::vector<const Scheme*> out = listed_schemes();
  // Integer groups of every width and the per-row form, beyond the listed int4_g128[_sym].
  for (const char* n : {"int2_g16", "int3_g32_sym", "int5_g64", "int6_grow", "int7_g256_sym",
                        "int8_g32", "int3_grow_sym"}) {
    out.push_back(*find_scheme(n));
  }
  return out;
}

// name/variant -> digest, for every covered scheme.
std::map<std::string, std::string> current_digests() {
  const std::vector<float> x = fixed_input();
  const std::vector<float> imp = fixed_importance();
  std::vector<float> dirty = x;
  dirty[3 * kCols + 5] = NAN;
  dirty[10 * kCols + 300] = INFINITY;
  dirty[kRows * kCols - 1] = -INFINITY;
  std::map<std::string, std::string> out;
  for (const Scheme* s : covered_schemes()) {
    out[s->name() + "/plain"] = quantize_digest(*s, x.data(), {});
    QuantizeOptions with_imp;
    with_imp.importance = imp.data();
    out[s->name() + "/importance"] = quantize_digest(*s, x.data(), with_imp);
    QuantizeOptions allow;
    allow.allow_nonfinite = true;
    out[s->name() + "/nonfinite"] = quantize_digest(*s, dirty.data(), allow);
    if (has_group_quantizer(*s)) out[s->name() + "/group_quantizer"] = group_quantizer_digest(*s, x.data());
  }
  return out;
}

std::string table_path() { return std::string(BITSMITH_SOURCE_DIR) + "/tests/quant/scheme_digests.txt"; }

TEST(SchemeDigest, EveryListedSchemeKeepsItsBytes) {
  const auto now = current_digests();
  if (const char* w = std::getenv("BITSMITH_WRITE_DIGESTS")) {
    std::ofstream f(w);
    f << "# name/variant bytes_fnv1a64:dequantized_fnv1a64 (tests/quant/scheme_digest_test.cc)\n";
    for (const auto& [k, v] : now) f << k << ' ' << v << '\n';
    ASSERT_TRUE(f.good()) << w;
    GTEST_SKIP() << "wrote " << now.size() << " digests to " << w;
  }
  std::ifstream f(table_path());
  ASSERT_TRUE(f.good()) << "cannot read " << table_path();
  std::map<std::string, std::string> stored;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string k, v;
    ls >> k >> v;
    stored[k] = v;
  }
  for (const auto& [k, v] : now) {
    ASSERT_FALSE(v.starts_with("error") || v.starts_with("dequantize")) << k << ": " << v;
    auto it = stored.find(k);
    if (it == stored.end()) {
      ADD_FAILURE() << k << " has no stored digest (a new scheme: regenerate the table)";
      continue;
    }
    EXPECT_EQ(v, it->second) << k << " changed its bytes (left: now, right: stored)";
  }
  for (const auto& [k, v] : stored) {
    EXPECT_TRUE(now.count(k)) << k << " is stored but no longer produced";
  }
}

}  // namespace
}  // namespace bitsmith::quant
