// Float schemes: the plain casts (f32, fp16, bf16) and FP8 with per-tensor, per-channel and
// 128x128 block scales (REFERENCE.md 2, "FP8 tensor quantization").
#include "float_schemes.h"

#include <atomic>
#include <cstring>
#include <vector>

#include "bitsmith/core/checked.h"
#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/convert.h"
#include "nonfinite.h"
#include "pack.h"
#include "pack_scheme.h"
#include "registry_internal.h"

namespace bitsmith::quant::detail {

namespace {

int format_bytes(const formats::FloatFormat& f) { return f.bits() / 8; }

}  // namespace

CastScheme::CastScheme(SchemeTraits traits, formats::FloatFormat format)
    : traits_(std::move(traits)), format_(format) {}

Status CastScheme::check_shape(int64_t rows, int64_t cols) const {
  if (rows < 0 || cols < 0 ||
      !checked_mul(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols))) {
    return invalid_argument("scheme {}: bad shape {}x{}", name(), rows, cols);
  }
  return Status::Ok();
}

uint64_t CastScheme::data_bytes(int64_t rows, int64_t cols) const {
  return static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) *
         static_cast<uint64_t>(format_bytes(format_));
}

Result<QuantizedTensor> CastScheme::quantize(const float* x, int64_t rows, int64_t cols,
                                             const QuantizeOptions& opt) const {
  return quantize_impl(x, rows, cols, opt, false);
}

Result<QuantizedTensor> CastScheme::quantize_reference(const float* x, int64_t rows, int64_t cols,
                                                 const QuantizeOptions& opt) const {
  return quantize_impl(x, rows, cols, opt, true);
}

// Importance weights do not apply: a cast has no scale to choose.
Result<QuantizedTensor> CastScheme::quantize_impl(const float* x, int64_t rows, int64_t cols,
                                                  const QuantizeOptions& opt, bool ref) const {
  BITSMITH_RETURN_IF_ERROR(check_shape(rows, cols));
  const int64_t n = rows * cols;
  std::vector<float> clean;
  const float* src = x;
  if (has_nonfinite(x, rows, cols, ref ? nullptr : opt.pool)) {
    if (!opt.allow_nonfinite) return find_nonfinite(x, rows, cols, name());
    clean = sanitize_nonfinite(x, n);
    src = clean.data();
  }
  QuantizedTensor q;
  q.scheme = this;
  q.rows = rows;
  q.cols = cols;
  q.data.resize(data_bytes(rows, cols));
  const size_t len = static_cast<size_t>(n);
  if (format_.bits() == 32) {
    if (len) std::memcpy(q.data.data(), src, len * 4);
    return q;
  }
  std::vector<uint16_t> codes(len);
  if (ref) {
    for (size_t i = 0; i < len; ++i) codes[i] = static_cast<uint16_t>(formats::encode(format_, src[i]));
  } else if (format_.exponent_bits == 5) {
    formats::f32_to_f16({src, len}, codes, {}, opt.pool);  // RNE, saturating (the defaults)
  } else {
    formats::f32_to_bf16({src, len}, codes, {}, opt.pool);
  }
  if (len) std::memcpy(q.data.data(), codes.data(), len * 2);
  return q;
}

Status CastScheme::dequantize_rows(const QuantizedView& q, int64_t row_begin, int64_t row_end,
                                   float* out) const {
  BITSMITH_RETURN_IF_ERROR(check_dequant_args(*this, q, row_begin, row_end));
  const size_t off = static_cast<size_t>(row_begin * q.cols);
  const size_t len = static_cast<size_t>((row_end - row_begin) * q.cols);
  if (len == 0) return Status::Ok();
  if (format_.bits() == 32) {
    std::memcpy(out, q.data.data() + off * 4, len * 4);
    return Status::Ok();
  }
  std::vector<uint16_t> codes(len);
  std::memcpy(codes.data(), q.data.data() + off * 2, len * 2);
  if (format_.exponent_bits == 5) formats::f16_to_f32(codes, {out, len});
  else formats::bf16_to_f32(codes, {out, len});
  return Status::Ok();
}

namespace {

SchemeTraits cast_traits(std::string name, std::string fmt, double bpw, int gguf_type,
                         std::string desc) {
  SchemeTraits t;
  t.gguf_type = gguf_type;  // GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_BF16 = 30
  t.name = std::move(name);
  t.element_format = std::move(fmt);
  t.scale_format = "none";
  t.granularity = Granularity::kElement;
  t.bits_per_weight = bpw;
  t.description = std::move(desc);
  return t;
}

SchemeSpec fp8_spec(std::string name, ElemKind elem, Granularity g, int64_t block_rows,
                    int64_t block_cols, std::string desc) {
  SchemeSpec s;
  s.traits.name = std::move(name);
  const bool e4m3 = elem == ElemKind::kE4M3;
  s.traits.element_format = e4m3 ? "float8_e4m3fn" : "float8_e5m2";
  s.traits.scale_format = "float32";
  s.traits.granularity = g;
  s.traits.block_rows = block_rows;
  s.traits.block_cols = block_cols;
  // Per-tensor and per-row float32 scales cost nothing per weight (32/cols for a row: 0.008
  // bits at 4096 columns); a 128x128 tile adds 32/16384 bits.
  s.traits.bits_per_weight = g == Granularity::kBlock2D ? 8.0 + 32.0 / (128.0 * 128.0) : 8.0;
  s.traits.description = std::move(desc);
  s.elem = elem;
  s.code_bits = 8;
  s.rule = g == Granularity::kRow ? ScaleRule::kAmaxF32 : ScaleRule::kGiven;
  // 448 = (1 + 6/8) * 2^8 (e4m3fn); 57344 = (1 + 3/4) * 2^15 (e5m2)
  s.elem_max = e4m3 ? 448.0f : 57344.0f;
  return s;
}

}  // namespace

void add_float_schemes(SchemeList& list) {
  list.add(std::make_unique<CastScheme>(
      cast_traits("f32", "float32", 32, 0, "float32 as is (for conversions)"), formats::kFloat32));
  list.add(std::make_unique<CastScheme>(
      cast_traits("fp16", "float16", 16, 1, "IEEE half, round to nearest even, saturating"),
      formats::kFloat16));
  list.add(std::make_unique<CastScheme>(
      cast_traits("bf16", "bfloat16", 16, 30, "bfloat16, round to nearest even"), formats::kBFloat16));
  list.add(std::make_unique<ScaledScheme>(fp8_spec(
      "fp8_e4m3", ElemKind::kE4M3, Granularity::kTensor, 1, 0,
      "FP8 E4M3 with one float32 scale per tensor, s = amax/448")));
  list.add(std::make_unique<ScaledScheme>(fp8_spec(
      "fp8_e4m3_channel", ElemKind::kE4M3, Granularity::kRow, 1, 0,
      "FP8 E4M3 with one float32 scale per output row, s = amax_row/448")));
  list.add(std::make_unique<ScaledScheme>(fp8_spec(
      "fp8_e4m3_block128", ElemKind::kE4M3, Granularity::kBlock2D, 128, 128,
      "FP8 E4M3 with a float32 scale per 128x128 tile (DeepSeek-V3 weights)")));
  list.add(std::make_unique<ScaledScheme>(fp8_spec(
      "fp8_e5m2", ElemKind::kE5M2, Granularity::kTensor, 1, 0,
      "FP8 E5M2 with one float32 scale per tensor, s = amax/57344")));
}

}  // namespace bitsmith::quant::detail
