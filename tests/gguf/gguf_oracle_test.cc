// bitsmith's GGUF block types against references nobody here wrote, through files that
// tests/oracles/gguf_quant_oracle.py writes (the CTest fixture gguf.oracle_generate):
//   - Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 bytes equal gguf.quants.quantize's (ggml's reference rule);
//   - every type's dequantization of random blocks equals gguf.quants.dequantize bit for bit;
//   - GGUF MXFP4 bytes equal ggml's library and the gguf package;
//   - K-quants and IQ4_NL reach an RMSE no worse than ggml's own reference quantizer (libggml
//     through tests/oracles/ggml_oracle.py) on three distributions and on the stories260K
//     weights (when shared/ has them).
// Each test skips (GTEST_SKIP, reported as skipped by CTest) when its oracle files are absent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {
namespace {

std::string oracle_dir() {
  const char* env = std::getenv("BITSMITH_GGUF_ORACLE_DIR");
  return env ? env : std::string(BITSMITH_GGUF_ORACLE_DIR_DEFAULT);
}

bool oracle_ready() { return std::ifstream(oracle_dir() + "/done").good(); }

std::vector<uint8_t> read_bytes(const std::string& name) {
  std::ifstream f(oracle_dir() + "/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
std::vector<float> read_floats(const std::string& name) {
  const std::vector<uint8_t> b = read_bytes(name);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

#define SKIP_WITHOUT_ORACLE()                                                             \
  if (!oracle_ready()) GTEST_SKIP() << "no oracle data in " << oracle_dir()              \
                                    << " (run tests/oracles/gguf_quant_oracle.py DIR)"

TEST(GgufOracle, LegacyBytesEqualGgufPackage) {
  SKIP_WITHOUT_ORACLE();
  int64_t rows = 0, cols = 0;
  std::ifstream(oracle_dir() + "/shape.txt") >> rows >> cols;
  const std::vector<float> x = read_floats("legacy.f32");
  ASSERT_EQ(x.size(), static_cast<size_t>(rows * cols));
  for (const char* name : {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"}) {
    const Scheme* s = *find_scheme(name);
    const std::vector<uint8_t> want = read_bytes(std::string("legacy.") + name + ".q");
    auto got = s->quantize(x.data(), rows, cols);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ(got->data.size(), want.size()) << name;
    const size_t row_bytes = want.size() / static_cast<size_t>(rows);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got->data[i], want[i]) << name << ": row " << i / row_bytes << ", byte "
                                       << i % row_bytes << " of the row";
    }
  }
}

// GGUF MXFP4 bytes equal ggml's library (quantize_row_mxfp4_ref) and the gguf package.
TEST(GgufOracle, Mxfp4BytesEqualGgml) {
  SKIP_WITHOUT_ORACLE();
  int64_t rows = 0, cols = 0;
  std::ifstream(oracle_dir() + "/shape.txt") >> rows >> cols;
  const std::vector<float> x = read_floats("legacy.f32");
  auto got = (*find_scheme("gguf_mxfp4"))->quantize(x.data(), rows, cols);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  int compared = 0;
  for (const char* file : {"legacy.gguf_mxfp4.ggml.q", "legacy.gguf_mxfp4.q"}) {
    const std::vector<uint8_t> want = read_bytes(file);
    if (want.empty()) continue;
    ASSERT_EQ(got->data.size(), want.size()) << file;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got->data[i], want[i]) << file << ": block " << i / 17 << ", byte " << i % 17;
    }
    ++compared;
  }
  if (compared == 0) GTEST_SKIP() << "neither ggml nor the gguf package has MXFP4";
}

TEST(GgufOracle, DequantizeEqualsGgufPackage) {
  SKIP_WITHOUT_ORACLE();
  for (const char* name : {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k",
                           "q5_k", "q6_k", "iq4_nl", "gguf_mxfp4"}) {
    const Scheme* s = *find_scheme(name);
    const std::vector<uint8_t> q = read_bytes(std::string("deq.") + name + ".q");
    if (q.empty() && std::string(name) == "gguf_mxfp4") continue;  // gguf package without MXFP4
    const std::vector<float> want = read_floats(std::string("deq.") + name + ".f32");
    const int64_t cols = 4096, rows = static_cast<int64_t>(want.size()) / cols;
    ASSERT_EQ(q.size(), s->data_bytes(rows, cols)) << name;
    QuantizedView v{s, rows, cols, q, {}, {}, 1.f};
    std::vector<float> got(want.size());
    ASSERT_TRUE(s->dequantize(v, got.data()).ok());
    for (size_t i = 0; i < want.size(); ++i) {
      uint32_t a, b;
      std::memcpy(&a, &got[i], 4);
      std::memcpy(&b, &want[i], 4);
      ASSERT_EQ(a, b) << name << ": element " << i << " got " << got[i] << " want " << want[i];
    }
  }
}

TEST(GgufOracle, KQuantErrorNoWorseThanGgml) {
  SKIP_WITHOUT_ORACLE();
  int compared = 0;
  for (const char* set : {"normal", "laplace", "student_t", "stories"}) {
    const std::vector<float> x = read_floats(std::string("kq.") + set + ".f32");
    if (x.empty()) continue;  // stories: the stories260K weights were not found
    const int64_t cols = 4096, rows = static_cast<int64_t>(x.size()) / cols;
    for (const char* name : {"q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl"}) {
      std::ifstream f(oracle_dir() + "/kq." + set + "." + name + ".rmse");
      double ggml_rmse = 0;
      if (!(f >> ggml_rmse)) continue;  // ggml's library not built
      std::vector<float> y(x.size());
      ASSERT_TRUE((*find_scheme(name))->fake_quantize(x.data(), rows, cols, y.data()).ok());
      double e = 0;
      for (size_t i = 0; i < x.size(); ++i) e += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
      const double rmse = std::sqrt(e / static_cast<double>(x.size()));
      EXPECT_LE(rmse, ggml_rmse * (1 + 1e-6)) << name << " on " << set;
      std::printf("%-7s %-10s bitsmith %.6g  ggml %.6g  (%+.2f%%)\n", name, set, rmse, ggml_rmse,
                  100 * (rmse / ggml_rmse - 1));
      ++compared;
    }
  }
  if (compared == 0) GTEST_SKIP() << "ggml library not built: no reference RMSE to compare";
}

}  // namespace
}  // namespace bitsmith::quant
