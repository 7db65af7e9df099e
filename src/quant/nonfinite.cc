#include "nonfinite.h"

#include <atomic>
#include <cmath>

#include "pack.h"

namespace bitsmith::quant::detail {

BITSMITH_CPU_CLONES("avx2")
uint32_t max_abs_bits(const float* x, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, formats::float_to_bits(x[i]) & 0x7FFFFFFFu);
  return m;
}

Status find_nonfinite(const float* x, int64_t rows, int64_t cols, std::string_view scheme) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    if (max_abs_bits(row, cols) < kNonFiniteAbsBits) continue;
    for (int64_t c = 0; c < cols; ++c) {
      if (!std::isfinite(row[c])) {
        return out_of_range(
            "scheme {}: non-finite value {} at row {}, column {} (set allow_nonfinite / "
            "--allow-nonfinite to map NaN to 0 and Inf to the largest finite magnitude)",
            scheme, row[c], r, c);
      }
    }
  }
  return Status::Ok();
}

bool has_nonfinite(const float* x, int64_t rows, int64_t cols, ThreadPool* pool) {
  std::atomic<bool> bad{false};
  parallel_rows(pool, rows, cols, [&](int64_t r0, int64_t r1) {
    if (max_abs_bits(x + r0 * cols, (r1 - r0) * cols) >= kNonFiniteAbsBits) bad = true;
  });
  return bad.load();
}

std::vector<float> sanitize_nonfinite(const float* x, int64_t n) {
  float finite_max = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i])) finite_max = std::max(finite_max, std::fabs(x[i]));
  }
  std::vector<float> out(x, x + n);
  for (float& v : out) {
    if (std::isnan(v)) v = 0.0f;
    else if (std::isinf(v)) v = v > 0 ? finite_max : -finite_max;
  }
  return out;
}

}  // namespace bitsmith::quant::detail
