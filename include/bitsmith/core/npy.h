// Minimal NumPy .npy reader/writer (format versions 1-3): little-endian float32/float16/bfloat16
// ('<f4', '<f2', and ml_dtypes' '<V2' is not accepted: bfloat16 has no standard descr),
// C order, any rank up to kMaxDims. Enough to feed real arrays to `bitsmith error` and tests.
#pragma once

#include <string>

#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"

namespace bitsmith {

// Reads the whole array into an owned Tensor of dtype F32 or F16. Errors name the file and
// what is wrong with it (bad magic, unsupported dtype, Fortran order, truncated data).
Result<Tensor> read_npy(const std::string& path);

// Writes a contiguous F32/F16/U8 tensor view as a version 1.0 .npy file.
Status write_npy(const std::string& path, const TensorView& t);

}  // namespace bitsmith
