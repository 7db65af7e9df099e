// bitsmith's own layout for quantized weights in safetensors (schemes compressed-tensors has no
// format for): per weight <base>.qdata (U8 [rows, data bytes per row]), <base>.qscales and
// <base>.qzeros (U8, 1-D, when the scheme has them), <base>.qtensor_scale (F32 [1]), with the
// scheme and shape in the __metadata__ key "bitsmith.quantization" (a JSON object keyed by weight
// name). The tensor scale is a tensor, not metadata, because it is known only after quantizing
// and the header is written first.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "bitsmith/core/status.h"

namespace bitsmith::io::detail::st_layout {

inline constexpr const char* kMetadataKey = "bitsmith.quantization";
// The same entries for weights bitsmith wrote in a compressed-tensors layout: the exact scheme
// (mxfp4 vs mxfp4_rceil, the integer width of a short pack-quantized row), which that layout
// alone does not say. Readers of others' files infer it from the tensors.
inline constexpr const char* kCompressedKey = "bitsmith.compressed_tensors";

struct Entry {
  std::string scheme;
  int64_t rows = 0, cols = 0;
};

// Reads the metadata key if present (absent: no entries).
Status parse_metadata(const std::map<std::string, std::string>& metadata, std::string_view file,
                      std::map<std::string, Entry>* out, const char* key = kMetadataKey);
std::string metadata_json(const std::map<std::string, Entry>& entries);

}  // namespace bitsmith::io::detail::st_layout
