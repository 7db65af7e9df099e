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
  kPeerComparison, // scripts/plan/vs_llamacpp.py's results.json: llama.cpp's mixes measured by llama-perplexity
  kTrainingCurve   // bitsmith train's loss curve: --curve FILE.csv or FILE.json, or train --json
};
std::string_view document_kind_name(DocumentKind k);

struct Document {
  DocumentKind kind;
  std::string origin;  // the file it came from, or "computed by the report"
  nlohmann::json body;
};

// Which command printed `doc`; an error naming `origin` and the kinds the report reads when it
// is none of them, or when a training curve breaks the rules of check_training_curve.
Result<Document> recognise_document(nlohmann::json doc, std::string origin);
// Reads (bounded, depth-checked) and recognises a JSON file, or reads a training curve CSV (a
// name ending in .csv, or text starting with "step,").
Result<Document> load_document(const std::string& path);

// A training curve as `bitsmith train --curve FILE.csv` writes it: the header
// step,loss,lr,grad_norm,tokens_per_s,seconds,val_loss, then one row per update (val_loss empty
// where the run did not evaluate). The document is what `--curve FILE.json` writes for the same
// run: {"points": [{"step": ..., "loss": ..., ..., "val_loss": null}, ...]}. Errors name
// `origin` and the line: a header other than train's, a row with another number of fields, a
// field that is not a number (nan and inf are numbers; only val_loss may be empty), then
// check_training_curve's rules.
Result<Document> training_curve_from_csv(std::string_view text, const std::string& origin);

// The points of a training curve: {"points": [...]} (train --curve FILE.json) or {"curve": [...]}
// (train --json, the header of OUT.trainstate); nullptr when `doc` has neither.
nlohmann::json* training_curve_points(nlohmann::json& doc);
const nlohmann::json* training_curve_points(const nlohmann::json& doc);

// The rules every training curve follows, whichever file it came from, checked in place on
// `points` (train's point objects): at least one and at most kMaxCurvePoints points; each step a
// whole number >= 0 (stored as an integer), larger than the one before; loss a number (or
// "nan"/"inf": a diverged step is drawn as a gap); val_loss, when present, a number or null.
// Messages name `origin` and the point: its line in the file when `lines` (a CSV's) is given,
// else its place in the array ("point 6").
inline constexpr size_t kMaxCurvePoints = 100000;
Status check_training_curve(nlohmann::json& points, const std::string& origin, const std::vector<size_t>* lines = nullptr);

}  // namespace bitsmith::report
