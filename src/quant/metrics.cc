#include "bitsmith/quant/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bitsmith::quant {

ErrorMetrics compute_error_metrics(const float* reference, const float* approx, int64_t n) {
  ErrorMetrics m;
  if (n <= 0) {
    m.snr_db = std::numeric_limits<double>::infinity();
    m.cosine = 1.0;
    return m;
  }
  // Serial sums in double: exact enough (53-bit) and independent of the thread count.
  double se = 0, sa = 0, sx = 0, sy = 0, sxy = 0, mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = reference[i], y = approx[i], e = y - x;
    se += e * e;
    sa += std::fabs(e);
    mx = std::max(mx, std::fabs(e));
    if (std::isnan(e)) mx = e;  // a NaN error must not hide behind max()
    sx += x * x;
    sy += y * y;
    sxy += x * y;
  }
  const double dn = static_cast<double>(n);
  m.mse = se / dn;
  m.rmse = std::sqrt(m.mse);
  m.mean_abs_error = sa / dn;
  m.max_abs_error = mx;
  // SNR: signal power over noise power; exact reproduction is +inf, a zero signal with
  // nonzero error is -inf.
  if (se == 0) m.snr_db = std::numeric_limits<double>::infinity();
  else if (sx == 0) m.snr_db = -std::numeric_limits<double>::infinity();
  else m.snr_db = 10.0 * std::log10(sx / se);
  if (sx == 0 && sy == 0) m.cosine = 1.0;
  else if (sx == 0 || sy == 0) m.cosine = 0.0;
  else m.cosine = sxy / (std::sqrt(sx) * std::sqrt(sy));
  return m;
}

Histogram error_histogram(const float* reference, const float* approx, int64_t n, int bins) {
  Histogram h;
  if (bins <= 0) return h;
  h.counts.assign(static_cast<size_t>(bins), 0);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int64_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(approx[i]) - reference[i];
    if (!std::isfinite(e)) continue;
    lo = std::min(lo, e);
    hi = std::max(hi, e);
  }
  if (!(lo <= hi)) {  // no finite errors at all
    h.lo = h.hi = 0;
    return h;
  }
  h.lo = lo;
  h.hi = hi;
  const double width = (hi - lo) / bins;
  for (int64_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(approx[i]) - reference[i];
    if (!std::isfinite(e)) continue;
    int64_t b = width > 0 ? static_cast<int64_t>((e - lo) / width) : 0;
    b = std::clamp<int64_t>(b, 0, bins - 1);  // e == hi lands in the last bin
    ++h.counts[static_cast<size_t>(b)];
  }
  return h;
}

Histogram abs_error_histogram(const float* reference, const float* approx, int64_t n, int bins) {
  Histogram h;
  if (bins <= 0) return h;
  h.counts.assign(static_cast<size_t>(bins), 0);
  double hi = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::abs(static_cast<double>(approx[i]) - reference[i]);
    if (std::isfinite(e)) hi = std::max(hi, e);
  }
  h.hi = hi;
  const double width = hi / bins;
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::abs(static_cast<double>(approx[i]) - reference[i]);
    if (!std::isfinite(e)) continue;
    const int64_t b = width > 0 ? std::clamp<int64_t>(static_cast<int64_t>(e / width), 0, bins - 1) : 0;
    ++h.counts[static_cast<size_t>(b)];
  }
  return h;
}

}  // namespace bitsmith::quant
