// The formats module's data as the JSON records `bitsmith formats --json` prints and Python's
// bitsmith.formats() returns (one builder for both). Non-finite numbers stay doubles here; the
// CLI writes them as "nan"/"inf" strings when it prints.
#pragma once

#include <nlohmann/json.hpp>

#include "bitsmith/formats/format.h"

namespace bitsmith::formats {

// name, aliases, bits, exponent/mantissa bits, bias, max, min_normal, min_subnormal, epsilon,
// finite_values, has_inf, has_nan.
nlohmann::json format_record(const Format& format);

}  // namespace bitsmith::formats
