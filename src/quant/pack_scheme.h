// ScaledScheme: the one codec behind every scaled scheme of this module (fp8 tensor/channel/
// block, int8, int<b>_g<g>, nvfp4, the MX family). A scheme is data (DESIGN.md convention 1):
// an element kind, a scale rule per block along the row, and a granularity; one engine packs
// them. Cast schemes (f32/fp16/bf16) live in float_schemes.cc.
#pragma once

#include <cstdint>
#include <string>

#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant::detail {

enum class ElemKind : uint8_t { kE4M3, kE5M2, kE2M1, kE3M2, kE2M3, kInt };

// How a block's divisor d (element value = x / d, decoded x' = q * d) is chosen and stored.
enum class ScaleRule : uint8_t {
  kGiven,       // d comes from a tensor-level or 2-D tile scale (kTensor, kBlock2D schemes)
  kAmaxF32,     // d = amax / element max, stored as float32; a zero d becomes 1
  kIntSymF16,   // d = fp16(amax / qmax), stored fp16; q in [-qmax, qmax]
  kIntAsymF16,  // GPTQ min/max: d = fp16((max - min) / qmax), z = rne(-min / d); fp16 both
  kNvfp4,       // REFERENCE.md 2: s_b = e4m3(amax / (6 S)), d = s_b * S
  kMxFloor,     // OCP MX: e = floor(log2 amax) - emax_elem, d = 2^e (e8m0 byte e + 127)
  kMxRceil,     // NVIDIA: e = ceil(log2(amax / max_elem))
};

struct SchemeSpec {
  SchemeTraits traits;
  ElemKind elem = ElemKind::kE4M3;
  int code_bits = 8;
  int qmin = 0, qmax = 0;  // kInt: code range (asymmetric: 0..2^b-1)
  ScaleRule rule = ScaleRule::kGiven;
  float elem_max = 0;      // the element's largest magnitude (kAmaxF32 and tensor/tile scales)
  int mx_emax = 0;         // floor rule: exponent of the element's largest power of two
  int mx_int_shift = 0;    // mxint8: elements are code * 2^-6
};

class ScaledScheme final : public Scheme {
 public:
  explicit ScaledScheme(SchemeSpec spec);
  const SchemeTraits& traits() const override { return spec_.traits; }
  const SchemeSpec& spec() const { return spec_; }
  // code -> element value before the scale (what dequantization multiplies by d).
  const float* code_values() const { return lut_; }
  int64_t values_per_block(int64_t cols) const { return block_len(cols); }

  Status check_shape(int64_t rows, int64_t cols) const override;
  uint64_t data_bytes(int64_t rows, int64_t cols) const override;
  uint64_t scale_bytes(int64_t rows, int64_t cols) const override;
  uint64_t zero_bytes(int64_t rows, int64_t cols) const override;

  Result<QuantizedTensor> quantize(const float* x, int64_t rows, int64_t cols,
                                   const QuantizeOptions& opt = {}) const override;
  Status dequantize_rows(const QuantizedView& q, int64_t row_begin, int64_t row_end,
                         float* out) const override;

  // The scalar reference: one thread, formats::encode for every element and scale, a bit-by-bit
  // packer. Defines the bytes the fast path must reproduce.
  Result<QuantizedTensor> quantize_reference(const float* x, int64_t rows, int64_t cols,
                                             const QuantizeOptions& opt = {}) const override;

  // Every scaled scheme has a grid: its group quantizer is group_quantizer_scaled.cc's.
  bool has_group_quantizer() const override { return true; }
  Result<std::unique_ptr<GroupQuantizer>> new_group_quantizer(
      const float* w, int64_t rows, int64_t cols, const QuantizeOptions& opt) const override;

 private:
  Result<QuantizedTensor> quantize_impl(const float* x, int64_t rows, int64_t cols,
                                        const QuantizeOptions& opt, bool ref) const;
  int64_t block_len(int64_t cols) const;   // values per scale block along a row
  int scale_width() const;                 // bytes per stored scale (0: none per block)

  SchemeSpec spec_;
  float lut_[256];  // code -> element value (before the scale)
};

}  // namespace bitsmith::quant::detail
