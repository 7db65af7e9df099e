// Constructors of the GroupQuantizer implementations (group_quantizer_*.cc), called by the
// schemes' Scheme::new_group_quantizer.
#pragma once

#include <memory>

#include "bitsmith/quant/group_quantizer.h"
#include "gguf_common.h"

namespace bitsmith::quant::detail {

class ScaledScheme;

Result<std::unique_ptr<GroupQuantizer>> make_scaled_group_quantizer(const ScaledScheme& s,
                                                                    const float* w, int64_t rows,
                                                                    int64_t cols,
                                                                    const QuantizeOptions& opt);
// A GGUF block type's, from its kernel entry (gguf_common.h): codes, code writer, scale layout.
Result<std::unique_ptr<GroupQuantizer>> make_gguf_group_quantizer(const Scheme& s, const gguf::GgufKernels& k,
                                                                  int64_t rows, int64_t cols,
                                                                  const QuantizeOptions& opt);

}  // namespace bitsmith::quant::detail
