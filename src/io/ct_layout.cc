#include "ct_layout.h"

#include <cstring>

#include "bitsmith/formats/convert.h"

namespace bitsmith::io::detail::ct_layout {
namespace {

using nlohmann::json;

bool is_int_group(const quant::SchemeTraits& t) {
  // int8 (per row, float32 scale) and int<b>_g<g>[_sym] / int<b>_grow[_sym] (fp16 scale and zero).
  const bool int_elem = t.element_format.starts_with("int") || t.element_format.starts_with("uint");
  const bool per_row_or_group = t.granularity == quant::Granularity::kRow || t.granularity == quant::Granularity::kGroup;
  return int_elem && per_row_or_group && (t.scale_format == "float16" || (t.name == "int8" && t.scale_format == "float32"));
}

int bits_of(const std::string& element_format) {
  const std::string digits = element_format.substr(element_format.starts_with("u") ? 4 : 3);
  return std::atoi(digits.c_str());
}

// Bit i of a little-endian stream.
uint32_t get_bits(const uint8_t* p, int64_t bit, int n) {
  uint32_t v = 0;
  for (int k = 0; k < n; ++k) v |= static_cast<uint32_t>((p[(bit + k) >> 3] >> ((bit + k) & 7)) & 1u) << k;
  return v;
}
void put_bits(uint8_t* p, int64_t bit, int n, uint32_t v) {
  for (int k = 0; k < n; ++k) {
    if ((v >> k) & 1u) p[(bit + k) >> 3] = static_cast<uint8_t>(p[(bit + k) >> 3] | (1u << ((bit + k) & 7)));
  }
}

}  // namespace

Format format_of(const quant::Scheme& s) {
  const auto& t = s.traits();
  const std::string& n = t.name;
  if (n == "nvfp4") return Format::kNvfp4;
  if (n == "fp8_e4m3" || n == "fp8_e4m3_channel" || n == "fp8_e4m3_block128") return Format::kFloat8;
  // Both MX scale rules store the same bytes (e8m0 exponent per 32, E2M1 codes).
  if (n == "mxfp4" || n == "mxfp4_rceil") return Format::kMxfp4;
  if (n == "mxfp6_e2m3") return Format::kMxfp6;  // compressed-tensors' fp6 is E2M3 only
  if (n == "mxfp8_e4m3") return Format::kMxfp8;
  if (is_int_group(t)) return Format::kPackInt;
  return Format::kNone;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kNvfp4: return "nvfp4-pack-quantized";
    case Format::kFloat8: return "float-quantized";
    case Format::kPackInt: return "pack-quantized";
    case Format::kMxfp4: return "mxfp4-pack-quantized";
    case Format::kMxfp6: return "mxfp6-pack-quantized";
    case Format::kMxfp8: return "mxfp8-quantized";
    case Format::kNone: break;
  }
  return "";
}

IntParams int_params(const quant::Scheme& s) {
  const auto& t = s.traits();
  return {bits_of(t.element_format), t.granularity == quant::Granularity::kGroup ? t.block_cols : 0, t.symmetric};
}

json weights_args(const quant::Scheme& s) {
  json w = {{"dynamic", false}, {"symmetric", true}, {"type", "float"}, {"observer", "minmax"},
            {"actorder", nullptr}, {"observer_kwargs", json::object()}, {"block_structure", nullptr}};
  const std::string& n = s.name();
  switch (format_of(s)) {
    case Format::kNvfp4:
      w.update({{"num_bits", 4}, {"strategy", "tensor_group"}, {"group_size", 16}});
      break;
    case Format::kFloat8:
      w.update({{"num_bits", 8}, {"group_size", nullptr}});
      if (n == "fp8_e4m3") w["strategy"] = "tensor";
      else if (n == "fp8_e4m3_channel") w["strategy"] = "channel";
      else w.update({{"strategy", "block"}, {"block_structure", {128, 128}}});
      break;
    case Format::kMxfp4:
    case Format::kMxfp6:
    case Format::kMxfp8:
      w.update({{"num_bits", format_of(s) == Format::kMxfp4 ? 4 : format_of(s) == Format::kMxfp6 ? 6 : 8},
                {"strategy", "group"}, {"group_size", 32}, {"scale_dtype", "torch.uint8"}, {"zp_dtype", "torch.uint8"}});
      break;
    case Format::kPackInt: {
      const IntParams p = int_params(s);
      w.update({{"num_bits", p.bits}, {"type", "int"}, {"symmetric", p.symmetric},
                {"strategy", p.group ? "group" : "channel"}, {"group_size", p.group ? json(p.group) : json(nullptr)}});
      break;
    }
    case Format::kNone: break;
  }
  return w;
}

json input_args(const quant::Scheme& s, Activations mode) {
  json a = {{"num_bits", 8}, {"type", "float"}, {"symmetric", true}, {"group_size", nullptr}, {"strategy", "tensor"},
            {"block_structure", nullptr}, {"dynamic", false}, {"actorder", nullptr}, {"observer", "static_minmax"},
            {"observer_kwargs", json::object()}};
  const std::string& n = s.name();
  if (mode == Activations::kStatic && (n == "fp8_e4m3" || n == "fp8_e4m3_channel")) return a;  // FP8 (W8A8 static)
  if (mode == Activations::kStatic && n == "nvfp4") {
    // NVFP4 (W4A4): a static global scale (input_global_scale), block scales per 16 at run time.
    a.update({{"num_bits", 4}, {"group_size", 16}, {"strategy", "tensor_group"}, {"dynamic", "local"},
              {"scale_dtype", "torch.float8_e4m3fn"}, {"zp_dtype", nullptr}});
    return a;
  }
  if (mode == Activations::kDynamic && (n == "fp8_e4m3" || n == "fp8_e4m3_channel")) {
    a.update({{"strategy", "token"}, {"dynamic", true}, {"observer", nullptr}});  // FP8_DYNAMIC
    return a;
  }
  if (mode == Activations::kDynamic && n == "fp8_e4m3_block128") {
    a.update({{"strategy", "group"}, {"group_size", 128}, {"dynamic", true}, {"observer", nullptr}});  // FP8_BLOCK
    return a;
  }
  return nullptr;
}

std::vector<uint8_t> pack_rows(const uint8_t* codes, int64_t rows, int64_t cols, const IntParams& p) {
  const int64_t in_row = (cols * p.bits + 7) / 8, out_row = packed_words(cols, p.bits) * 4;
  const uint32_t flip = p.symmetric ? 1u << (p.bits - 1) : 0u;
  std::vector<uint8_t> out(static_cast<size_t>(rows * out_row), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* in = codes + r * in_row;
    uint8_t* o = out.data() + r * out_row;
    if (p.bits == 8 || p.bits == 4) {  // whole bytes: the same bit positions, top bit of each code flipped
      const uint8_t x = static_cast<uint8_t>(p.bits == 8 ? flip : flip | (flip << 4));
      for (int64_t i = 0; i < in_row; ++i) o[i] = in[i] ^ x;
      if (p.bits == 4 && (cols & 1)) o[in_row - 1] = static_cast<uint8_t>(o[in_row - 1] & 0x0F);  // no code in the tail nibble
      continue;
    }
    for (int64_t i = 0; i < cols; ++i) put_bits(o, i * p.bits, p.bits, get_bits(in, i * p.bits, p.bits) ^ flip);
  }
  return out;
}

std::vector<uint8_t> unpack_rows(const uint8_t* words, int64_t rows, int64_t cols, const IntParams& p) {
  const int64_t out_row = (cols * p.bits + 7) / 8, in_row = packed_words(cols, p.bits) * 4;
  const uint32_t flip = p.symmetric ? 1u << (p.bits - 1) : 0u;
  std::vector<uint8_t> out(static_cast<size_t>(rows * out_row), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* in = words + r * in_row;
    uint8_t* o = out.data() + r * out_row;
    for (int64_t i = 0; i < cols; ++i) put_bits(o, i * p.bits, p.bits, get_bits(in, i * p.bits, p.bits) ^ flip);
  }
  return out;
}

std::vector<uint8_t> pack_zeros(const uint8_t* f16, int64_t rows, int64_t groups, int bits) {
  const int64_t words = packed_words(rows, bits);
  std::vector<uint16_t> codes(static_cast<size_t>(rows * groups));
  std::memcpy(codes.data(), f16, codes.size() * 2);
  std::vector<float> z(codes.size());
  formats::f16_to_f32(codes, z);
  // Column g of the [rows, groups] zero points is one packed stream down the rows.
  std::vector<uint8_t> col(static_cast<size_t>(words * 4));
  std::vector<uint8_t> out(static_cast<size_t>(words * groups * 4), 0);
  const uint32_t maxz = (1u << bits) - 1;
  for (int64_t g = 0; g < groups; ++g) {
    std::fill(col.begin(), col.end(), 0);
    for (int64_t r = 0; r < rows; ++r) {
      const float v = z[static_cast<size_t>(r * groups + g)];
      const uint32_t q = v <= 0 ? 0u : v >= static_cast<float>(maxz) ? maxz : static_cast<uint32_t>(v + 0.5f);
      put_bits(col.data(), r * bits, bits, q);
    }
    for (int64_t w = 0; w < words; ++w) std::memcpy(out.data() + (w * groups + g) * 4, col.data() + w * 4, 4);
  }
  return out;
}

std::vector<uint8_t> unpack_zeros(const uint8_t* words_in, int64_t rows, int64_t groups, int bits) {
  const int64_t words = packed_words(rows, bits);
  std::vector<uint8_t> col(static_cast<size_t>(words * 4));
  std::vector<float> z(static_cast<size_t>(rows * groups));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t w = 0; w < words; ++w) std::memcpy(col.data() + w * 4, words_in + (w * groups + g) * 4, 4);
    for (int64_t r = 0; r < rows; ++r) z[static_cast<size_t>(r * groups + g)] = static_cast<float>(get_bits(col.data(), r * bits, bits));
  }
  std::vector<uint16_t> codes(z.size());
  formats::f32_to_f16(z, codes);
  std::vector<uint8_t> out(codes.size() * 2);
  std::memcpy(out.data(), codes.data(), out.size());
  return out;
}

}  // namespace bitsmith::io::detail::ct_layout
