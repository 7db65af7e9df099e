// Constructors of the GroupQuantizer implementations (group_quantizer*.cc).
#pragma once

#include <memory>

#include "bitsmith/quant/group_quantizer.h"

namespace bitsmith::quant::detail {

class ScaledScheme;

Result<std::unique_ptr<GroupQuantizer>> make_scaled_group_quantizer(const ScaledScheme& s,
                                                                    const float* w, int64_t rows,
                                                                    int64_t cols,
                                                                    const QuantizeOptions& opt);
Result<std::unique_ptr<GroupQuantizer>> make_gguf_group_quantizer(const Scheme& s, int64_t rows,
                                                                  int64_t cols,
                                                                  const QuantizeOptions& opt);
bool gguf_has_code_layout(int gguf_type);

}  // namespace bitsmith::quant::detail
