// One loop over the scheme table (as llama.cpp's test-quantize-fns loops over GGML_TYPE_COUNT):
// for every listed scheme and the general int<b>_g<g> forms, on data built to hit the rounding
// corners (exact ties of every element grid, denormals, zero blocks, saturating values),
//   - the fast path (SIMD, threads) gives the bytes of the scalar reference
//     (Scheme::quantize_reference), with and without an importance vector, on shapes whose
//     block counts are not multiples of the fast paths' vector widths;
//   - the byte counts are the ones the scheme announces, and they match its bits per weight;
//   - the round trip dequantize(quantize(x)) stays within the error its element bits allow.
// Adding a scheme to the registry puts it under every check here.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "bitsmith/formats/format.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {
namespace {

std::vector<const Scheme*> table() {
  std::vector<const Scheme*> out = listed_schemes();
  for (const char* n : {"int2_g16", "int3_g32_sym", "int5_g64", "int6_grow", "int7_g256_sym",
                        "int8_g32", "int3_grow_sym"}) {
    out.push_back(*find_scheme(n));
  }
  return out;
}

// Mixed data: Gaussian rows at very different magnitudes, rows of exact grid ties (k/8 of a
// power of two hits e2m1/e4m3 midpoints once scaled), denormal rows, zero blocks, big values,
// one spike per row.
std::vector<float> corner_data(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> small(-64, 64);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * cols;
    const int kind = static_cast<int>(r % 7);
    // Up to 2^7: larger magnitudes overflow the fp16 scales of the 2- and 4-bit GGUF types.
    const float mag = std::ldexp(1.0f, static_cast<int>(r % 32) - 24);
    for (int64_t c = 0; c < cols; ++c) {
      switch (kind) {
        case 0: row[c] = nd(rng) * mag; break;
        case 1: row[c] = static_cast<float>(small(rng)) * 0.125f * mag; break;  // ties
        case 2: row[c] = nd(rng) * 1e-40f; break;                               // denormals
        case 3: row[c] = (c / 16) % 2 ? 0.0f : nd(rng); break;                  // zero blocks
        case 4: row[c] = c % 97 == 5 ? 300.0f : nd(rng) * 0.01f; break;         // spike
        case 5: row[c] = nd(rng) * 3e3f; break;                                 // large
        default: row[c] = static_cast<float>(small(rng)) * mag * 0.1f; break;
      }
    }
  }
  return x;
}

// The shapes that a scheme accepts, of: 300 x 512 (three 128-row tiles, one partial),
// 12 x 352 (11 blocks of 32: not a multiple of 8 blocks per vector), 60 x 768 (3 K-quant
// super-blocks per row).
std::vector<std::pair<int64_t, int64_t>> shapes_for(const Scheme& s) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (auto [r, c] : {std::pair<int64_t, int64_t>{300, 512}, {12, 352}, {60, 768}}) {
    if (s.check_shape(r, c).ok()) out.push_back({r, c});
  }
  return out;
}

TEST(SchemeTable, FastPathGivesTheReferenceBytes) {
  for (const Scheme* s : table()) {
    for (auto [rows, cols] : shapes_for(*s)) {
      const auto x = corner_data(rows, cols, static_cast<uint32_t>(cols));
      std::vector<float> imp(static_cast<size_t>(cols));
      for (int64_t c = 0; c < cols; ++c) imp[c] = 0.1f + static_cast<float>(c % 7);
      for (bool with_imp : {false, true}) {
        SCOPED_TRACE(s->name() + " " + std::to_string(rows) + "x" + std::to_string(cols) +
                     (with_imp ? " importance" : ""));
        QuantizeOptions opt;
        if (with_imp) opt.importance = imp.data();
        auto fast = s->quantize(x.data(), rows, cols, opt);
        auto ref = s->quantize_reference(x.data(), rows, cols, opt);
        ASSERT_TRUE(fast.ok()) << fast.status().to_string();
        ASSERT_TRUE(ref.ok()) << ref.status().to_string();
        EXPECT_EQ(fast->data, ref->data);
        EXPECT_EQ(fast->scales, ref->scales);
        EXPECT_EQ(fast->zeros, ref->zeros);
        EXPECT_EQ(fast->tensor_scale, ref->tensor_scale);
        EXPECT_EQ(fast->data.size(), s->data_bytes(rows, cols));
        EXPECT_EQ(fast->scales.size(), s->scale_bytes(rows, cols));
        EXPECT_EQ(fast->zeros.size(), s->zero_bytes(rows, cols));
        std::vector<float> y(x.size());
        ASSERT_TRUE(s->dequantize(fast->view(), y.data()).ok());
        for (float v : y) ASSERT_TRUE(std::isfinite(v));
      }
    }
  }
}

// Bits per weight as announced = bytes as stored, up to the per-row or per-tensor float32
// scale that the traits leave out (32 bits per row at most).
TEST(SchemeTable, BitsPerWeightMatchStoredBytes) {
  const int64_t rows = 256, cols = 1024;
  std::vector<float> x(static_cast<size_t>(rows * cols), 0.5f);
  for (const Scheme* s : table()) {
    SCOPED_TRACE(s->name());
    auto q = s->quantize(x.data(), rows, cols);
    ASSERT_TRUE(q.ok()) << q.status().to_string();
    const double bits = 8.0 * static_cast<double>(q->total_bytes()) / static_cast<double>(rows * cols);
    EXPECT_LE(s->traits().bits_per_weight, bits + 1e-12);
    EXPECT_LE(bits, s->traits().bits_per_weight + 32.0 / static_cast<double>(cols) + 1e-12);
  }
}

// Precision bits of a scheme's element: mantissa + 1 for floats, magnitude bits for integers
// (bits - 1; the unsigned codes of asymmetric schemes span the same range with one more bit,
// counted as for signed ones), 3 for the non-linear 4-bit grids.
int element_precision(const SchemeTraits& t) {
  auto f = formats::find_format(t.element_format);
  if (!f.ok()) return 3;
  if ((*f)->kind == formats::FormatKind::kFloat) return (*f)->fp.mantissa_bits + 1;
  return (*f)->integer.bits - 1;
}

// N(0,1) weights come back with a relative RMS error below 2^(1 - p) for p precision bits:
// a grid of p bits over the block's range has steps of range * 2^-p, RMS error step / sqrt(12),
// and the block range is a few sigma; float grids and searched scales do better. A wrong
// decoder or scale gives errors of order 1.
TEST(SchemeTable, RoundTripErrorWithinElementPrecision) {
  const int64_t rows = 64, cols = 1024;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols)), y(x.size());
  for (float& v : x) v = nd(rng);
  for (const Scheme* s : table()) {
    SCOPED_TRACE(s->name());
    ASSERT_TRUE(s->fake_quantize(x.data(), rows, cols, y.data()).ok());
    double err = 0, ref = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      err += (x[i] - y[i]) * (x[i] - y[i]);
      ref += x[i] * x[i];
    }
    const double rel = std::sqrt(err / ref);
    const int p = element_precision(s->traits());
    EXPECT_LT(rel, std::ldexp(1.0, 1 - p)) << "precision bits " << p;
  }
}

}  // namespace
}  // namespace bitsmith::quant
