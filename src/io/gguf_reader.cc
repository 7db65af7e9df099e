// GGUF parsing (header, metadata, tensor infos) with every count, length and offset checked
// against the bytes present, and the GGUF -> Model mapping (llama.* keys, tokenizer.ggml.*).
#include <algorithm>
#include <cctype>

#include "bitsmith/core/ascii.h"
#include "bitsmith/core/checked.h"
#include "bitsmith/io/gguf.h"
#include "byte_reader.h"
#include "readers.h"

namespace bitsmith::io {

namespace {
// ggml's type_traits (ggml.c): values per block and bytes per block of every type id.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},          {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},       {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},       {9, "Q8_1", 32, 36},       {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},    {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},    {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},   {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},    {21, "IQ3_S", 256, 110},   {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136},  {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},         {27, "I64", 1, 8},         {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},    {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},    {39, "MXFP4", 32, 17},
};
constexpr int kMaxArrayDepth = 4;  // GGUF allows nested arrays; bound the recursion
constexpr uint32_t kMaxDims = 4;   // GGML_MAX_DIMS

// Bytes a scalar of this type occupies; 0 for string/array.
uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

class Parser {
 public:
  Parser(std::span<const uint8_t> b, std::string_view name) : r_(b, name), name_(name) {}

  Result<GgufFile> run() {
    GgufFile g;
    uint32_t magic = 0;
    BITSMITH_RETURN_IF_ERROR(r_.read(&magic, "magic"));
    if (magic != 0x46554747u) return corrupt_data("{}: bad magic 0x{:08x} (not a GGUF file)", name_, magic);
    BITSMITH_RETURN_IF_ERROR(r_.read(&g.version, "version"));
    if (g.version != 2 && g.version != 3) {
      return unsupported("{}: GGUF version {} (only 2 and 3 are supported)", name_, g.version);
    }
    uint64_t n_tensors = 0, n_kv = 0;
    BITSMITH_RETURN_IF_ERROR(r_.read(&n_tensors, "tensor count"));
    BITSMITH_RETURN_IF_ERROR(r_.read(&n_kv, "metadata count"));
    // A key/value takes at least 8 + 1 + 4 + 1 bytes and a tensor info 8 + 1 + 4 + 4 + 8: hostile
    // counts fail here, before anything is allocated.
    if (n_kv > r_.remaining() / 14) return corrupt_data("{}: metadata count {} cannot fit in {} bytes", name_, n_kv, r_.remaining());
    if (n_tensors > r_.remaining() / 25) return corrupt_data("{}: tensor count {} cannot fit in {} bytes", name_, n_tensors, r_.remaining());
    for (uint64_t k = 0; k < n_kv; ++k) {
      std::string key;
      BITSMITH_RETURN_IF_ERROR(read_string(&key, fmt::format("metadata key {}", k)));
      if (!detail::valid_utf8(key)) return corrupt_data("{}: metadata key {} at offset {} is not valid UTF-8", name_, k, r_.offset());
      if (g.key_index.count(key)) return corrupt_data("{}: duplicate metadata key '{}'", name_, key);
      uint32_t type = 0;
      BITSMITH_RETURN_IF_ERROR(r_.read(&type, fmt::format("type of '{}'", key)));
      GgufValue v;
      BITSMITH_RETURN_IF_ERROR(read_value(static_cast<GgufType>(type), &v, key, 0));
      g.key_index[key] = g.metadata.size();
      g.metadata.emplace_back(std::move(key), std::move(v));
    }
    if (const GgufValue* a = g.find("general.alignment")) {
      if (a->type != GgufType::kU32 || a->u == 0 || (a->u & (a->u - 1)) != 0) {
        return corrupt_data("{}: general.alignment must be a u32 power of two, got {}", name_, a->summary());
      }
      g.alignment = a->u;
    }
    std::map<std::string, size_t> names;
    for (uint64_t t = 0; t < n_tensors; ++t) {
      GgufTensorInfo ti;
      BITSMITH_ASSIGN_OR_RETURN(ti, read_tensor_info(t));
      if (names.count(ti.name)) return corrupt_data("{}: duplicate tensor name '{}'", name_, ti.name);
      names[ti.name] = t;
      g.tensors.push_back(std::move(ti));
    }
    auto data = checked_add(r_.offset(), g.alignment - 1);
    if (!data) return corrupt_data("{}: data offset overflows", name_);
    g.data_offset = *data / g.alignment * g.alignment;
    BITSMITH_RETURN_IF_ERROR(check_layout(g));
    return g;
  }

 private:
  Status read_string(std::string* out, const std::string& what) {
    uint64_t len = 0;
    BITSMITH_RETURN_IF_ERROR(r_.read(&len, what + " length"));
    std::span<const uint8_t> b;
    if (len > r_.remaining()) {
      return corrupt_data("{}: {} at offset {} has length {} past the end of the file ({} bytes left)", name_, what,
                          r_.offset() - 8, len, r_.remaining());
    }
    BITSMITH_RETURN_IF_ERROR(r_.bytes(len, &b, what));
    out->assign(reinterpret_cast<const char*>(b.data()), b.size());
    return Status::Ok();
  }

  Status read_value(GgufType type, GgufValue* v, const std::string& key, int depth) {
    v->type = type;
    const uint64_t size = scalar_size(type);
    if (size != 0) {
      uint8_t raw[8] = {};
      std::span<const uint8_t> b;
      BITSMITH_RETURN_IF_ERROR(r_.bytes(size, &b, fmt::format("value of '{}'", key)));
      std::copy(b.begin(), b.end(), raw);
      uint64_t u = 0;
      std::memcpy(&u, raw, 8);
      switch (type) {
        case GgufType::kU8: case GgufType::kU16: case GgufType::kU32: case GgufType::kU64:
          v->u = u; v->i = static_cast<int64_t>(u); break;
        case GgufType::kBool:
          if (u > 1) return corrupt_data("{}: '{}' bool value {} at offset {}", name_, key, u, r_.offset() - 1);
          v->u = u; v->i = static_cast<int64_t>(u); break;
        case GgufType::kI8: v->i = static_cast<int8_t>(u); break;
        case GgufType::kI16: v->i = static_cast<int16_t>(u); break;
        case GgufType::kI32: v->i = static_cast<int32_t>(u); break;
        case GgufType::kI64: v->i = static_cast<int64_t>(u); break;
        case GgufType::kF32: { float f; std::memcpy(&f, raw, 4); v->f = f; break; }
        case GgufType::kF64: { double d; std::memcpy(&d, raw, 8); v->f = d; break; }
        default: break;
      }
      if (type != GgufType::kF32 && type != GgufType::kF64 && v->i >= 0) v->u = static_cast<uint64_t>(v->i);
      return Status::Ok();
    }
    if (type == GgufType::kString) return read_string(&v->s, fmt::format("string value of '{}'", key));
    if (type != GgufType::kArray) {
      return corrupt_data("{}: '{}' has unknown value type {} at offset {}", name_, key,
                          static_cast<uint32_t>(type), r_.offset() - 4);
    }
    if (depth >= kMaxArrayDepth) return corrupt_data("{}: '{}' nests arrays deeper than {}", name_, key, kMaxArrayDepth);
    uint32_t elem = 0;
    uint64_t n = 0;
    BITSMITH_RETURN_IF_ERROR(r_.read(&elem, fmt::format("array type of '{}'", key)));
    BITSMITH_RETURN_IF_ERROR(r_.read(&n, fmt::format("array length of '{}'", key)));
    v->array_type = static_cast<GgufType>(elem);
    const uint64_t min_elem = scalar_size(v->array_type) ? scalar_size(v->array_type) : 8;
    if (n > r_.remaining() / min_elem) {
      return corrupt_data("{}: '{}' array of {} elements at offset {} cannot fit in the {} bytes left", name_, key, n,
                          r_.offset() - 8, r_.remaining());
    }
    v->array.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      BITSMITH_RETURN_IF_ERROR(read_value(v->array_type, &v->array[k], key, depth + 1));
    }
    return Status::Ok();
  }

  Result<GgufTensorInfo> read_tensor_info(uint64_t t) {
    GgufTensorInfo ti;
    BITSMITH_RETURN_IF_ERROR(read_string(&ti.name, fmt::format("tensor {} name", t)));
    if (!detail::valid_utf8(ti.name)) return corrupt_data("{}: tensor {} name is not valid UTF-8", name_, t);
    uint32_t n_dims = 0;
    BITSMITH_RETURN_IF_ERROR(r_.read(&n_dims, fmt::format("n_dims of '{}'", ti.name)));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return corrupt_data("{}: tensor '{}' has {} dims (1..{} allowed)", name_, ti.name, n_dims, kMaxDims);
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      BITSMITH_RETURN_IF_ERROR(r_.read(&ne, fmt::format("dim {} of '{}'", d, ti.name)));
      if (ne > static_cast<uint64_t>(INT64_MAX)) return corrupt_data("{}: tensor '{}' dim {} = {} is too large", name_, ti.name, d, ne);
      ti.ne.push_back(static_cast<int64_t>(ne));
    }
    uint32_t type = 0;
    BITSMITH_RETURN_IF_ERROR(r_.read(&type, fmt::format("type of '{}'", ti.name)));
    BITSMITH_RETURN_IF_ERROR(r_.read(&ti.offset, fmt::format("offset of '{}'", ti.name)));
    ti.type = static_cast<int>(type);
    const GgmlTypeInfo* info = ggml_type_info(ti.type);
    if (!info) return unsupported("{}: tensor '{}' has unknown ggml type {}", name_, ti.name, type);
    auto n = checked_product(ti.ne);
    if (!n || *n > static_cast<uint64_t>(INT64_MAX)) {
      return corrupt_data("{}: tensor '{}' dims overflow 64 bits", name_, ti.name);
    }
    if (ti.ne[0] % info->block_size != 0) {
      return corrupt_data("{}: tensor '{}' row length {} is not a multiple of {}'s block size {}", name_, ti.name,
                          ti.ne[0], info->name, info->block_size);
    }
    auto size = checked_mul(*n / static_cast<uint64_t>(info->block_size), info->type_size);
    if (!size) return corrupt_data("{}: tensor '{}' byte size overflows", name_, ti.name);
    ti.size = *size;
    return ti;
  }

  Status check_layout(const GgufFile& g) {
    const uint64_t file_size = r_.offset() + r_.remaining();
    if (g.data_offset > file_size && !g.tensors.empty()) {
      return corrupt_data("{}: data section starts at {} past the end of the file ({} bytes)", name_, g.data_offset, file_size);
    }
    const uint64_t data_size = file_size > g.data_offset ? file_size - g.data_offset : 0;
    std::vector<const GgufTensorInfo*> order;
    for (const auto& t : g.tensors) {
      if (t.offset % g.alignment != 0) {
        return corrupt_data("{}: tensor '{}' offset {} is not a multiple of the alignment {}", name_, t.name, t.offset, g.alignment);
      }
      auto end = checked_add(t.offset, t.size);
      if (!end || *end > data_size) {
        return corrupt_data("{}: tensor '{}' bytes [{}, {}+{}) run past the end of the data section ({} bytes)", name_,
                            t.name, t.offset, t.offset, t.size, data_size);
      }
      if (t.size > 0) order.push_back(&t);  // an empty tensor holds no bytes: it overlaps nothing
    }
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      if (order[k - 1]->offset + order[k - 1]->size > order[k]->offset) {
        return corrupt_data("{}: tensors '{}' and '{}' overlap at data offset {}", name_, order[k - 1]->name,
                            order[k]->name, order[k]->offset);
      }
    }
    return Status::Ok();
  }

  detail::ByteReader r_;
  std::string name_;
};

}  // namespace

std::string_view gguf_type_name(GgufType t) {
  constexpr std::string_view names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < std::size(names) ? names[i] : "unknown";
}

bool GgufValue::is_integer() const {
  return scalar_size(type) != 0 && !is_float() && type != GgufType::kBool;
}

std::string GgufValue::summary() const {
  switch (type) {
    case GgufType::kString: return s.size() > 60 ? fmt::format("\"{}...\"", s.substr(0, 57)) : fmt::format("\"{}\"", s);
    case GgufType::kArray: return fmt::format("[{} x {}]", array.size(), gguf_type_name(array_type));
    case GgufType::kF32: case GgufType::kF64: return fmt::format("{}", f);
    case GgufType::kBool: return u ? "true" : "false";
    case GgufType::kI8: case GgufType::kI16: case GgufType::kI32: case GgufType::kI64: return fmt::format("{}", i);
    default: return fmt::format("{}", u);
  }
}

const GgmlTypeInfo* ggml_type_info(int id) {
  for (const auto& t : kGgmlTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

const GgmlTypeInfo* ggml_type_by_name(std::string_view name) {
  for (const auto& t : kGgmlTypes) {
    if (ascii_lower(t.name) == ascii_lower(name)) return &t;
  }
  return nullptr;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = key_index.find(key);
  return it == key_index.end() ? nullptr : &metadata[it->second].second;
}

Result<GgufFile> parse_gguf(std::span<const uint8_t> bytes, std::string_view name) {
  return Parser(bytes, name).run();
}

}  // namespace bitsmith::io
