// Error metrics between a reference array and its quantized approximation.
#pragma once

#include <cstdint>
#include <vector>

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

}  // namespace bitsmith::quant
