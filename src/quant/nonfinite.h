// Non-finite input: detection that names the element, and the documented allow_nonfinite
// policy (NaN -> 0, +-Inf -> +-the largest finite magnitude of the tensor).
#pragma once

#include <cstdint>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/core/thread_pool.h"

namespace bitsmith::quant::detail {

// Max of |x| bit patterns over n floats: a float's magnitude order equals its bits' order, so
// this is amax's bits, and a result >= kNonFiniteAbsBits means a NaN or Inf was seen.
uint32_t max_abs_bits(const float* x, int64_t n);

// OutOfRange error naming the first non-finite element in row-major order ("scheme nvfp4:
// non-finite value inf at row 3, column 17"), or Ok if there is none.
Status find_nonfinite(const float* x, int64_t rows, int64_t cols, std::string_view scheme);

// Whether any element is non-finite (parallel scan).
bool has_nonfinite(const float* x, int64_t rows, int64_t cols, ThreadPool* pool);

// A copy with NaN replaced by 0 and +-Inf by +-(largest finite |x| in the array; 0 if none).
std::vector<float> sanitize_nonfinite(const float* x, int64_t n);

}  // namespace bitsmith::quant::detail
