// Minimal NumPy .npy reader/writer (format versions 1-3): little-endian float32/float16/bfloat16
// ('<f4', '<f2', and ml_dtypes' '<V2' is not accepted: bfloat16 has no standard descr),
// C order, any rank up to kMaxDims. Enough to feed real arrays to `bitsmith error` and tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "bitsmith/core/status.h"
#include "bitsmith/core/tensor.h"

namespace bitsmith {

// Reads the whole array into an owned Tensor of dtype F32 or F16. Errors name the file and
// what is wrong with it (bad magic, unsupported dtype, Fortran order, truncated data).
// The file is mapped (regular files only: a FIFO or device is refused, not waited on) and the
// header's shape is checked against the bytes present before anything is allocated.
Result<Tensor> read_npy(const std::string& path);

// The same from bytes in memory; `name` labels errors (the fuzz target's entry point).
Result<Tensor> parse_npy(std::span<const uint8_t> bytes, std::string_view name);

// Writes a contiguous F32/F16/U8 tensor view as a version 1.0 .npy file.
Status write_npy(const std::string& path, const TensorView& t);

}  // namespace bitsmith
