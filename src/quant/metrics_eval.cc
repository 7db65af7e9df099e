// evaluate_scheme, synthetic weights and float16 input: the library side of `bitsmith error`.
#include <cmath>
#include <cstring>

#include "bitsmith/core/hashing.h"
#include "bitsmith/formats/convert.h"
#include "bitsmith/quant/metrics.h"

namespace bitsmith::quant {

Result<SchemeError> evaluate_scheme(const Scheme& s, const float* x, int64_t rows, int64_t cols,
                                    int histogram_bins, const QuantizeOptions& opt) {
  BITSMITH_RETURN_IF_ERROR(s.check_shape(rows, cols));
  BITSMITH_ASSIGN_OR_RETURN(QuantizedTensor q, s.quantize(x, rows, cols, opt));
  std::vector<float> y(static_cast<size_t>(rows * cols));
  BITSMITH_RETURN_IF_ERROR(s.dequantize(q.view(), y.data()));
  SchemeError r;
  r.scheme = &s;
  const int64_t n = rows * cols;
  r.bits_per_weight = n > 0 ? static_cast<double>(q.total_bytes()) * 8.0 / static_cast<double>(n)
                            : s.traits().bits_per_weight;
  r.metrics = compute_error_metrics(x, y.data(), n);
  if (histogram_bins > 0) {
    r.histogram = error_histogram(x, y.data(), n, histogram_bins);
    r.abs_histogram = abs_error_histogram(x, y.data(), n, histogram_bins);
  }
  return r;
}

namespace {

// Uniform on (0, 1): 53 random bits, offset by half a step so log() never sees 0.
double uniform01(uint64_t& state) {
  return (static_cast<double>(splitmix64(state) >> 11) + 0.5) * 0x1p-53;
}

double normal(uint64_t& state) {
  const double u1 = uniform01(state), u2 = uniform01(state);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

Result<std::vector<float>> synthetic_weights(std::string_view distribution, int64_t n,
                                             uint64_t seed) {
  if (n < 0) return invalid_argument("synthetic weights: negative count {}", n);
  std::vector<float> out(static_cast<size_t>(n));
  uint64_t state = seed;
  if (distribution == "normal") {
    for (float& v : out) v = static_cast<float>(normal(state));
  } else if (distribution == "laplace") {
    // Inverse CDF with b = 1/sqrt(2), so the variance 2 b^2 is 1 like the others.
    for (float& v : out) {
      const double u = uniform01(state) - 0.5;
      v = static_cast<float>(-std::copysign(1.0, u) * std::log(1.0 - 2.0 * std::fabs(u)) /
                             std::sqrt(2.0));
    }
  } else if (distribution == "student_t") {
    // t = Z / sqrt(chi2_4 / 4), chi2_4 the sum of four squared normals: heavy tails.
    for (float& v : out) {
      const double z = normal(state);
      double chi2 = 0;
      for (int k = 0; k < 4; ++k) {
        const double g = normal(state);
        chi2 += g * g;
      }
      v = static_cast<float>(z / std::sqrt(chi2 / 4.0));
    }
  } else if (distribution == "uniform") {
    for (float& v : out) v = static_cast<float>(2.0 * uniform01(state) - 1.0);
  } else {
    return invalid_argument("unknown distribution '{}' (normal, laplace, student_t, uniform)",
                            distribution);
  }
  return out;
}

Result<std::vector<float>> to_float32(const Tensor& t) {
  const size_t n = static_cast<size_t>(t.shape().numel());
  std::vector<float> out(n);
  if (t.dtype() == DType::kF32) {
    if (n) std::memcpy(out.data(), t.data(), n * 4);
  } else if (t.dtype() == DType::kF16) {
    std::vector<uint16_t> h(n);
    if (n) std::memcpy(h.data(), t.data(), n * 2);
    formats::f16_to_f32(h, out);
  } else {
    return unsupported("array of dtype {}: float32 or float16 expected", dtype_name(t.dtype()));
  }
  return out;
}

}  // namespace bitsmith::quant
