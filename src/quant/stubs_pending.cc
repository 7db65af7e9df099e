// Placeholders so the registry links while the codec files are being written; each codec file
// replaces its function here (delete the function from this file when adding the real one).
#include "registry_internal.h"

namespace bitsmith::quant::detail {
void add_float_schemes(SchemeList&) {}
void add_int_schemes(SchemeList&) {}
void add_block_float_schemes(SchemeList&) {}
void add_gguf_schemes(SchemeList&) {}
std::unique_ptr<Scheme> make_int_group_scheme(int, int64_t, bool) { return nullptr; }
}  // namespace bitsmith::quant::detail
