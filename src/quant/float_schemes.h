// Cast schemes (f32, fp16, bf16): every element converted on its own, no scale.
#pragma once

#include "bitsmith/formats/format.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant::detail {

class CastScheme final : public Scheme {
 public:
  CastScheme(SchemeTraits traits, formats::FloatFormat format);
  const SchemeTraits& traits() const override { return traits_; }
  Status check_shape(int64_t rows, int64_t cols) const override;
  uint64_t data_bytes(int64_t rows, int64_t cols) const override;
  uint64_t scale_bytes(int64_t, int64_t) const override { return 0; }
  Result<QuantizedTensor> quantize(const float* x, int64_t rows, int64_t cols,
                                   const QuantizeOptions& opt = {}) const override;
  Status dequantize_rows(const QuantizedView& q, int64_t row_begin, int64_t row_end,
                         float* out) const override;
  // Scalar reference: formats::encode per element.
  Result<QuantizedTensor> quantize_reference(const float* x, int64_t rows, int64_t cols,
                                             const QuantizeOptions& opt = {}) const override;

 private:
  Result<QuantizedTensor> quantize_impl(const float* x, int64_t rows, int64_t cols,
                                        const QuantizeOptions& opt, bool ref) const;
  SchemeTraits traits_;
  formats::FloatFormat format_;
};

}  // namespace bitsmith::quant::detail
