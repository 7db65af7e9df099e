// compressed-tensors layouts (what transformers and vLLM load) of bitsmith's schemes, as
// compressed-tensors 0.20 defines them (compressors/{nvfp4,mxfp4,mxfp6,mxfp8,pack_quantized,
// naive_quantized}): which format holds a scheme, the QuantizationArgs of its config group, and
// the byte conversions of `pack-quantized`, the one layout whose bytes differ from the scheme's.
//
// pack-quantized (pack_to_int32): per row, element i occupies bits [i*b, (i+1)*b) of a
// little-endian int32 stream (ceil(cols*b/32) words, the tail zero), holding q + 2^(b-1) where q
// is compressed-tensors' signed code in [-2^(b-1), 2^(b-1) - 1]. bitsmith's symmetric codes are
// b-bit two's complement, so the stored value is code XOR 2^(b-1); its asymmetric codes are
// unsigned in [0, 2^b - 1] = compressed-tensors' q + 2^(b-1), stored unchanged, and so are its zero
// points (compressed-tensors' signed zero point + 2^(b-1)), packed the same way along the rows
// (packed_dim=0): weight_zero_point int32 [ceil(rows*b/32), groups]. Scales stay fp16 [rows, groups]
// (int8 per row: float32 [rows, 1]); weight_shape is int64 [rows, cols].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitsmith/core/status.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::io::detail::ct_layout {

enum class Format : uint8_t { kNone, kNvfp4, kFloat8, kPackInt, kMxfp4, kMxfp6, kMxfp8 };

// The compressed-tensors format that holds the scheme exactly, or kNone.
Format format_of(const quant::Scheme& s);
const char* format_name(Format f);
// The config group's "weights" QuantizationArgs for the scheme (format_of(s) != kNone).
nlohmann::json weights_args(const quant::Scheme& s);

// The config group's "input_activations" QuantizationArgs for a scheme that
// quantizes_activations under `mode`, as compressed-tensors' presets define them
// (quantization/quant_scheme.py: FP8 static, FP8_DYNAMIC, FP8_BLOCK, NVFP4), in the field set
// llm-compressor saves; null otherwise.
nlohmann::json input_args(const quant::Scheme& s, Activations mode);

// pack-quantized integer parameters of a scheme (format_of(s) == kPackInt).
struct IntParams {
  int bits = 0;
  int64_t group = 0;  // 0: one scale per row
  bool symmetric = true;
};
IntParams int_params(const quant::Scheme& s);

inline int64_t packed_words(int64_t n, int bits) { return (n * bits + 31) / 32; }

// bitsmith row-packed codes (rows x ceil(cols*bits/8) bytes) <-> weight_packed (rows x words int32).
std::vector<uint8_t> pack_rows(const uint8_t* codes, int64_t rows, int64_t cols, const IntParams& p);
std::vector<uint8_t> unpack_rows(const uint8_t* words, int64_t rows, int64_t cols, const IntParams& p);
// bitsmith fp16 zero points [rows, groups] <-> weight_zero_point int32 [words(rows), groups].
// Unpacking fails on nothing: every stored value is a valid zero point.
std::vector<uint8_t> pack_zeros(const uint8_t* f16, int64_t rows, int64_t groups, int bits);
std::vector<uint8_t> unpack_zeros(const uint8_t* words, int64_t rows, int64_t groups, int bits);

}  // namespace bitsmith::io::detail::ct_layout
