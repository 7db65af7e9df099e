#include "bitsmith/train/casts.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "bitsmith/formats/convert.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/core/hashing.h"

namespace bitsmith::train {

namespace {

void count_underflows(const float* before, const float* after, int64_t n, CastCount& c) {
  for (int64_t i = 0; i < n; ++i) c.underflows += before[i] != 0.0f && after[i] == 0.0f ? 1 : 0;
}

// Rows padded with zeros to a multiple of `block` columns (or the rows themselves when they fit).
struct Padded {
  std::vector<float> buf;
  int64_t cols = 0;
  Padded(const float* x, int64_t rows, int64_t c, int64_t block) : cols((c + block - 1) / block * block) {
    buf.assign(static_cast<size_t>(rows * cols), 0.0f);
    for (int64_t r = 0; r < rows; ++r) std::copy_n(x + r * c, c, buf.data() + r * cols);
  }
  void back(float* x, int64_t rows, int64_t c) const {
    for (int64_t r = 0; r < rows; ++r) std::copy_n(buf.data() + r * cols, c, x + r * c);
  }
};

// The scheme's quantization of x (rows x cols) padded to its block: the padded rows and quant's
// result (codes and scales), what both block casts start from.
struct BlockCast {
  Padded padded;
  quant::QuantizedTensor q;
};
Result<BlockCast> quantize_padded(const char* scheme_name, const float* x, int64_t rows, int64_t cols, int64_t block) {
  BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* s, quant::find_scheme(scheme_name));
  Padded p(x, rows, cols, block);
  BITSMITH_ASSIGN_OR_RETURN(quant::QuantizedTensor q, s->quantize(p.buf.data(), rows, p.cols, {}));
  return BlockCast{std::move(p), std::move(q)};
}

// An overflow is a value the saturation changed: one at or past the midpoint between the
// format's largest value and the next step an unbounded format would have, since anything below
// rounds to the largest value anyway. e4m3fn: 448 + 32 / 2 = 464 (ulp 2^(8-3) at 448);
// e5m2: 57344 + 8192 / 2 = 61440 (ulp 2^(15-2)); e2m1: 6 + 2 / 2 = 7 (ulp 2 at 6).
constexpr float kE4M3Overflow = 464.0f, kE5M2Overflow = 61440.0f, kE2M1Overflow = 7.0f;

}  // namespace

float amax_of(const float* x, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

CastCount cast_bf16(float* x, int64_t n) {
  CastCount c;
  c.amax = amax_of(x, n);
  std::vector<float> before(x, x + n);
  std::vector<uint16_t> codes(static_cast<size_t>(n));
  formats::f32_to_bf16({x, static_cast<size_t>(n)}, codes);
  formats::bf16_to_f32(codes, {x, static_cast<size_t>(n)});
  count_underflows(before.data(), x, n, c);
  return c;
}

float fp8_max(Fp8 f) { return f == Fp8::kE4M3 ? 448.0f : 57344.0f; }

CastCount cast_fp8(float* x, int64_t n, Fp8 f, float scale) {
  CastCount c;
  c.amax = amax_of(x, n);
  const float limit = f == Fp8::kE4M3 ? kE4M3Overflow : kE5M2Overflow;
  std::vector<float> scaled(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    scaled[static_cast<size_t>(i)] = x[i] / scale;
    c.overflows += std::fabs(scaled[static_cast<size_t>(i)]) >= limit ? 1 : 0;
  }
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  if (f == Fp8::kE4M3) {
    formats::f32_to_e4m3(scaled, codes);
    formats::e4m3_to_f32(codes, scaled);
  } else {
    formats::f32_to_e5m2(scaled, codes);
    formats::e5m2_to_f32(codes, scaled);
  }
  for (int64_t i = 0; i < n; ++i) {
    const float v = scaled[static_cast<size_t>(i)] * scale;
    c.underflows += x[i] != 0.0f && v == 0.0f ? 1 : 0;
    x[i] = v;
  }
  return c;
}

Result<CastCount> cast_mxfp8(float* x, int64_t rows, int64_t cols) {
  CastCount c;
  c.amax = amax_of(x, rows * cols);
  BITSMITH_ASSIGN_OR_RETURN(BlockCast bc, quantize_padded("mxfp8_e4m3", x, rows, cols, 32));
  Padded& p = bc.padded;
  const quant::QuantizedTensor& q = bc.q;
  std::vector<float> out(p.buf.size());
  BITSMITH_RETURN_IF_ERROR(q.scheme->dequantize_rows(q.view(), 0, rows, out.data()));
  // Overflow: |x| / 2^e of its block past e4m3's limit (the floor rule can clip a block's maximum).
  const int64_t blocks = p.cols / 32;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int e = static_cast<int>(q.scales[static_cast<size_t>(r * blocks + b)]) - 127;
      const float top = std::ldexp(kE4M3Overflow, e);
      for (int64_t j = b * 32; j < (b + 1) * 32; ++j) {
        c.overflows += std::fabs(p.buf[static_cast<size_t>(r * p.cols + j)]) >= top ? 1 : 0;
      }
    }
  }
  count_underflows(p.buf.data(), out.data(), static_cast<int64_t>(out.size()), c);
  p.buf = std::move(out);
  p.back(x, rows, cols);
  return c;
}

Result<CastCount> cast_nvfp4(float* x, int64_t rows, int64_t cols, formats::Rounding rounding, uint64_t seed) {
  CastCount c;
  c.amax = amax_of(x, rows * cols);
  BITSMITH_ASSIGN_OR_RETURN(BlockCast bc, quantize_padded("nvfp4", x, rows, cols, 16));
  Padded& p = bc.padded;
  const quant::QuantizedTensor& q = bc.q;
  std::vector<float> out(p.buf.size());
  if (c.amax < 0x1p-126f) {  // quant flushes such a tensor to zeros (its tensor scale underflows)
    c.underflows = 0;
    for (float v : p.buf) c.underflows += v != 0.0f ? 1 : 0;
  } else {
    // d = e4m3(block scale) * S, element = e2m1(x / d) * d: quant's nvfp4 with the rounding asked.
    const int64_t blocks = p.cols / 16;
    std::vector<float> scale_values(q.scales.size());
    formats::e4m3_to_f32(q.scales, scale_values);
    std::vector<float> ratio(p.buf.size());
    std::vector<float> d(static_cast<size_t>(rows * blocks));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t b = 0; b < blocks; ++b) {
        const float db = scale_values[static_cast<size_t>(r * blocks + b)] * q.tensor_scale;
        d[static_cast<size_t>(r * blocks + b)] = db;
        for (int64_t j = b * 16; j < (b + 1) * 16; ++j) {
          const auto i = static_cast<size_t>(r * p.cols + j);
          ratio[i] = p.buf[i] / db;
          c.overflows += std::fabs(ratio[i]) >= kE2M1Overflow ? 1 : 0;
        }
      }
    }
    std::vector<uint8_t> codes(ratio.size());
    formats::EncodeOptions eo;
    eo.rounding = rounding;
    eo.seed = seed;
    formats::f32_to_e2m1(ratio, codes, eo);
    formats::e2m1_to_f32(codes, out);
    for (size_t i = 0; i < out.size(); ++i) out[i] *= d[i / 16];
    count_underflows(p.buf.data(), out.data(), static_cast<int64_t>(out.size()), c);
  }
  p.buf = std::move(out);
  p.back(x, rows, cols);
  return c;
}

void transpose(float* x, int64_t rows, int64_t cols) {
  std::vector<float> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) t[static_cast<size_t>(j * rows + r)] = x[r * cols + j];
  }
  std::memcpy(x, t.data(), t.size() * sizeof(float));
}

void random_hadamard_rows(float* x, int64_t rows, int64_t cols, uint64_t seed) {
  float sign[16];
  uint64_t z = seed;
  for (float& s : sign) s = (splitmix64(z) & 1) != 0 ? -1.0f : 1.0f;  // one per row of a group
  std::vector<float> g(static_cast<size_t>(16 * cols));
  for (int64_t r0 = 0; r0 + 16 <= rows; r0 += 16) {
    // y = H16 (s .* x) / 4, H16 the Sylvester Hadamard matrix: H[i][k] = (-1)^popcount(i & k).
    for (int64_t i = 0; i < 16; ++i) {
      float* gi = g.data() + i * cols;
      std::fill_n(gi, cols, 0.0f);
      for (int64_t k = 0; k < 16; ++k) {
        const float h = (std::popcount(static_cast<unsigned>(i & k)) % 2 == 0 ? 0.25f : -0.25f) * sign[k];
        const float* xk = x + (r0 + k) * cols;
        for (int64_t j = 0; j < cols; ++j) gi[j] += h * xk[j];
      }
    }
    std::memcpy(x + r0 * cols, g.data(), g.size() * sizeof(float));
  }
}

}  // namespace bitsmith::train
