// The text `eval`, `compare` and bitsmith.evaluate() score.
#pragma once

#include <cstdint>
#include <string>

#include "bitsmith/core/status.h"

namespace bitsmith::eval {

// The whole file minus one trailing newline (what llama-perplexity scores). Pipes and FIFOs are
// read too (`--text <(zcat wiki.txt.gz)`), but never more than kMaxTextBytes, and a NUL byte
// stops the read: that is a binary file (or /dev/zero), not text.
inline constexpr uint64_t kMaxTextBytes = uint64_t{1} << 30;  // 1 GiB: WikiText-2's test set is 1.3 MB
Result<std::string> read_text(const std::string& path);

}  // namespace bitsmith::eval
