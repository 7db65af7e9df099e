// The JSON documents the commands print with --json, as the report reads and embeds them. The
// documents the report computes itself (error, memory, advise) come from the builders the
// commands print with (quant::error_record, plan::to_json), so a page made from `--from
// error.json` and one made by the report's own run hold the same document.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"

namespace bitsmith::report {

// Every document's number convention: non-finite numbers become "nan", "inf", "-inf".
nlohmann::json json_number(double v);
// The reverse for reading: a number, "nan"/"inf"/"-inf", or null (NaN). Anything else is NaN.
double number_of(const nlohmann::json& j);

// A document as the commands print it: non-finite numbers anywhere become json_number's strings
// (the library's builders hold plain doubles, which nlohmann would print as null). An explicit
// stack, no recursion on depth.
nlohmann::json with_finite_numbers(nlohmann::json doc);

enum class DocumentKind : uint8_t {
  kCompare,       // bitsmith compare --json
  kError,         // bitsmith error --json
  kMemory,        // bitsmith memory --json
  kAdvice,        // bitsmith advise --json
  kMeasurements,  // bitsmith plan -o M.json (or the "measurements" of plan --json without a budget)
  kAllocation,    // bitsmith plan --json with a budget: the chosen mix
  kPeerComparison // scripts/plan/vs_llamacpp.py's results.json: llama.cpp's mixes measured by llama-perplexity
};
std::string_view document_kind_name(DocumentKind k);

struct Document {
  DocumentKind kind;
  std::string origin;  // the file it came from, or "computed by the report"
  nlohmann::json body;
};

// Which command printed `doc`; an error naming `origin` and the kinds the report reads when it
// is none of them.
Result<Document> recognise_document(nlohmann::json doc, std::string origin);
// Reads (bounded, depth-checked) and recognises a JSON file.
Result<Document> load_document(const std::string& path);

}  // namespace bitsmith::report
