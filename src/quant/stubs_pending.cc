// Placeholders so the registry links while the codec files are being written; each codec file
// replaces its function here (delete the function from this file when adding the real one).
#include "registry_internal.h"

namespace bitsmith::quant::detail {
}  // namespace bitsmith::quant::detail
