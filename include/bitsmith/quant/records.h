// The quant module's data as the JSON records the CLI prints (`schemes --json`, `error --json`)
// and Python returns (bitsmith.schemes(), scheme_traits(), error()): one builder for both.
// Non-finite numbers stay doubles; the CLI writes them as "nan"/"inf" strings when it prints.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bitsmith/core/status.h"
#include "bitsmith/quant/metrics.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {

// How a scheme's scales are laid out, for people: "-", "tensor", "row", "1x32", "16x16",
// "1x256 (144 B)".
std::string block_text(const SchemeTraits& traits);
// One row of `bitsmith schemes --json`.
nlohmann::json traits_record(const SchemeTraits& traits);
// One row of `bitsmith error --json`'s results; a scheme that failed gives {"scheme", "error"}.
nlohmann::json error_record(const Result<SchemeError>& result, const Scheme& scheme);

}  // namespace bitsmith::quant
