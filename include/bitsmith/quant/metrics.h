// Error metrics between a reference array and its quantized approximation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {

struct ErrorMetrics {
  double mse = 0;
  double rmse = 0;
  double mean_abs_error = 0;
  double max_abs_error = 0;
  double snr_db = 0;   // 10 log10(sum x^2 / sum (x - x')^2); +inf when the error is zero
  double cosine = 0;   // <x, x'> / (|x| |x'|); 1 when both are zero
};

// Sums in double, so the figures do not depend on the thread count.
ErrorMetrics compute_error_metrics(const float* reference, const float* approx, int64_t n);

struct Histogram {
  double lo = 0, hi = 0;          // range of the bins
  std::vector<uint64_t> counts;   // equal-width bins over [lo, hi]
};
// Histogram of the signed error approx - reference over `bins` bins spanning its range.
Histogram error_histogram(const float* reference, const float* approx, int64_t n, int bins);
// Histogram of the absolute error |approx - reference| over `bins` bins spanning [0, max]: the
// lab's figure (absolute error, log count axis), where FP and INT formats differ most visibly
// in the tail; the signed histogram above shows bias instead.
Histogram abs_error_histogram(const float* reference, const float* approx, int64_t n, int bins);

// One scheme's error on one array: what `bitsmith error` prints per row.
struct SchemeError {
  const Scheme* scheme = nullptr;
  double bits_per_weight = 0;  // exact for this shape: (codes + scales + zeros) bits / weights
  ErrorMetrics metrics;
  std::optional<Histogram> histogram;      // signed error x' - x, when asked for (bins > 0)
  std::optional<Histogram> abs_histogram;  // |x' - x| over [0, max], with the same bin count
};

// Quantizes x (rows x cols) with `s`, dequantizes, and measures; histogram_bins 0 = none.
Result<SchemeError> evaluate_scheme(const Scheme& s, const float* x, int64_t rows, int64_t cols,
                                    int histogram_bins = 0, const QuantizeOptions& opt = {});

// Synthetic weights with a fixed, platform-independent generator (splitmix64 + Box-Muller), so
// a seed means the same array everywhere: "normal" N(0,1), "laplace" (b = 1/sqrt(2): unit
// variance), "student_t" (4 degrees of freedom), "uniform" on [-1, 1).
Result<std::vector<float>> synthetic_weights(std::string_view distribution, int64_t n,
                                             uint64_t seed);

// A float32 or float16 tensor (e.g. from read_npy) as float32 values.
Result<std::vector<float>> to_float32(const Tensor& t);

}  // namespace bitsmith::quant
