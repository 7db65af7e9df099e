// A one-line progress bar with tokens/s on stderr, for the library's progress callbacks (the
// library reports; only the CLI writes to the terminal).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>

#include "bitsmith/eval/model_eval.h"

namespace bitsmith::cli {

// Empty (no bar) when stderr is not a terminal: logs and pipes get no carriage returns.
inline eval::RunProgressFn terminal_progress() {
  if (!isatty(STDERR_FILENO)) return {};
  return [](const eval::RunProgress& p) {
    constexpr int64_t kWidth = 30;
    const int64_t filled = kWidth * p.chunks_done / std::max<int64_t>(p.chunks_total, 1);
    const double tps = p.seconds > 0 ? static_cast<double>(p.tokens_done) / p.seconds : 0;
    std::fprintf(stderr, "\r%.*s [%s%s] %lld/%lld chunks, %.0f tokens/s", static_cast<int>(std::min<size_t>(p.stage.size(), 40)),
                 p.stage.data(), std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(), static_cast<long long>(p.chunks_done),
                 static_cast<long long>(p.chunks_total), tps);
    if (p.chunks_done == p.chunks_total) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

// Tensors measured so far (algo::MeasureRequest::progress); empty when stderr is not a terminal.
inline std::function<void(const std::string&, int64_t, int64_t)> measure_progress() {
  if (!isatty(STDERR_FILENO)) return {};
  return [](const std::string& name, int64_t done, int64_t total) {
    std::fprintf(stderr, "\r\x1b[Kmeasured %lld/%lld %s", static_cast<long long>(done), static_cast<long long>(total),
                 name.c_str());
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace bitsmith::cli
