// GGUF v3 (llama.cpp's file format): the parsed header as data, and the ggml type table used to
// size tensors. Readers and writers of whole models are in model_file.h / model_writer.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"

namespace bitsmith::io {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8,
  kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view gguf_type_name(GgufType t);

// One metadata value. Scalars keep their exact type; integers in u/i, floats in f.
struct GgufValue {
  GgufType type = GgufType::kU32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;
  GgufType array_type = GgufType::kU8;  // arrays only
  std::vector<GgufValue> array;

  static GgufValue u32(uint32_t v) { GgufValue x; x.type = GgufType::kU32; x.u = v; x.i = v; return x; }
  static GgufValue i32(int32_t v) { GgufValue x; x.type = GgufType::kI32; x.i = v; x.u = static_cast<uint64_t>(v); return x; }
  static GgufValue f32(float v) { GgufValue x; x.type = GgufType::kF32; x.f = v; return x; }
  static GgufValue boolean(bool v) { GgufValue x; x.type = GgufType::kBool; x.u = v; x.i = v; return x; }
  static GgufValue str(std::string v) { GgufValue x; x.type = GgufType::kString; x.s = std::move(v); return x; }
  static GgufValue arr(GgufType elem, std::vector<GgufValue> v) {
    GgufValue x; x.type = GgufType::kArray; x.array_type = elem; x.array = std::move(v); return x;
  }
  bool is_integer() const;
  bool is_float() const { return type == GgufType::kF32 || type == GgufType::kF64; }
  // Short human text: numbers, quoted strings, "[512 x string]" for arrays.
  std::string summary() const;
};

// ggml's tensor types by id: name, values per block and bytes per block (ggml type_traits).
struct GgmlTypeInfo {
  int id;
  std::string_view name;
  int64_t block_size;
  uint64_t type_size;
};
const GgmlTypeInfo* ggml_type_info(int id);
const GgmlTypeInfo* ggml_type_by_name(std::string_view name);  // "Q4_K", case-insensitive

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // dims as GGUF lists them: innermost (contiguous) first
  int type = 0;             // ggml type id
  uint64_t offset = 0;      // relative to the data section
  uint64_t size = 0;        // bytes, from the type table
};

struct GgufFile {
  uint32_t version = 3;
  uint64_t alignment = 32;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::map<std::string, size_t> key_index;
  std::vector<GgufTensorInfo> tensors;
  uint64_t data_offset = 0;  // absolute offset of the data section
  const GgufValue* find(const std::string& key) const;
};

inline constexpr uint64_t kGgufDefaultAlignment = 32;

// Parses and validates everything: magic, version (2 or 3), counts against the bytes present,
// string lengths, UTF-8 keys and names, duplicate keys and names, types, dims (overflow),
// alignment, offsets (aligned, inside the file, not overlapping). `name` labels errors.
Result<GgufFile> parse_gguf(std::span<const uint8_t> bytes, std::string_view name);

// A GGUF file of metadata and float32 arrays (llama.cpp's imatrix files), written atomically.
struct GgufF32Array {
  std::string name;
  std::vector<int64_t> ne;  // innermost first, as GGUF lists dims
  std::vector<float> data;
};
Status write_gguf_arrays(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                         const std::vector<GgufF32Array>& arrays);

}  // namespace bitsmith::io
