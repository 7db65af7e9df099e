// make_group_quantizer: checks what every scheme's group quantizer needs (shape, finite
// weights), then asks the scheme for its own (Scheme::new_group_quantizer).
#include "bitsmith/quant/group_quantizer.h"

#include <cmath>

namespace bitsmith::quant {

bool has_group_quantizer(const Scheme& scheme) { return scheme.has_group_quantizer(); }

Result<std::unique_ptr<GroupQuantizer>> Scheme::new_group_quantizer(const float*, int64_t,
                                                                    int64_t,
                                                                    const QuantizeOptions&) const {
  return unsupported("scheme {} has no quantization grid for error-feedback methods (plain "
                     "casts keep every weight; use it with --method rtn)",
                     name());
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
  return scheme.new_group_quantizer(w, rows, cols, opt);
}

}  // namespace bitsmith::quant
