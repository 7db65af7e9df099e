// make_group_quantizer: dispatch on the scheme's kind (group_quantizer.h).
#include "bitsmith/quant/group_quantizer.h"

#include <cmath>

#include "group_quantizer_internal.h"
#include "pack_scheme.h"

namespace bitsmith::quant {

bool has_group_quantizer(const Scheme& scheme) {
  if (dynamic_cast<const detail::ScaledScheme*>(&scheme) != nullptr) return true;
  return scheme.traits().granularity == Granularity::kGguf &&
         detail::gguf_has_code_layout(scheme.traits().gguf_type);
}

Result<std::unique_ptr<GroupQuantizer>> make_group_quantizer(const Scheme& scheme, const float* w,
                                                             int64_t rows, int64_t cols,
                                                             const QuantizeOptions& opt) {
  BITSMITH_RETURN_IF_ERROR(scheme.check_shape(rows, cols));
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(w[i])) {
      return invalid_argument("scheme {}: weight [{}, {}] is {}", scheme.name(), i / cols,
                              i % cols, w[i]);
    }
  }
  if (const auto* s = dynamic_cast<const detail::ScaledScheme*>(&scheme)) {
    return detail::make_scaled_group_quantizer(*s, w, rows, cols, opt);
  }
  if (has_group_quantizer(scheme)) return detail::make_gguf_group_quantizer(scheme, rows, cols, opt);
  return unsupported("scheme {} has no quantization grid for error-feedback methods (plain "
                     "casts keep every weight; use it with --method rtn)",
                     scheme.name());
}

}  // namespace bitsmith::quant
