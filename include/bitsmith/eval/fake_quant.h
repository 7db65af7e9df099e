// What `eval --scheme` and `compare` fake-quantize, and what the quantized model would weigh;
// plus the small pieces both commands share (the text file rule, a terminal progress bar).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::eval {

// Which scheme each matrix gets for a fake-quant run of one scheme. Block linears
// (blk.N.*.weight, 2-D) take it; a linear whose shape the scheme rejects (stories260K's
// 172-wide ffn_down under 32-blocks) keeps its stored precision and is listed in `kept`.
// Embedding, output and norms keep their stored precision. bytes/bits_per_weight: the whole
// model as it would be stored (kept tensors at their file bytes).
struct SchemePlan {
  const quant::Scheme* scheme = nullptr;  // null: nothing quantized
  std::map<std::string, const quant::Scheme*> by_tensor;
  std::vector<std::string> kept;
  uint64_t bytes = 0;
  uint64_t parameters = 0;
  double bits_per_weight = 0;
  // For EngineOptions::weight_scheme_for; the plan must outlive the engine.
  std::function<const quant::Scheme*(const std::string&)> chooser() const;
};
// scheme_name empty: the model as stored.
Result<SchemePlan> plan_schemes(const Model& model, const std::string& scheme_name);

// The whole file minus one trailing newline (what llama-perplexity scores).
Result<std::string> read_text(const std::string& path);

// A one-line progress bar with tokens/s on stderr when stderr is a terminal; else empty.
std::function<void(int64_t, int64_t, double)> terminal_progress(int64_t tokens_per_chunk);

}  // namespace bitsmith::eval
