#include "bitsmith/report/documents.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <vector>

#include "bitsmith/core/ascii.h"
#include "bitsmith/core/json_guard.h"
#include "bitsmith/core/text_file.h"

namespace bitsmith::report {

using nlohmann::json;

json json_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double number_of(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

json with_finite_numbers(json doc) {
  std::vector<json*> stack{&doc};
  while (!stack.empty()) {
    json* j = stack.back();
    stack.pop_back();
    if (j->is_number_float()) {
      const double v = j->get<double>();
      if (!std::isfinite(v)) *j = json_number(v);
    } else if (j->is_structured()) {
      for (auto& child : *j) stack.push_back(&child);
    }
  }
  return doc;
}

std::string_view document_kind_name(DocumentKind k) {
  switch (k) {
    case DocumentKind::kCompare: return "compare";
    case DocumentKind::kError: return "error";
    case DocumentKind::kMemory: return "memory";
    case DocumentKind::kAdvice: return "advise";
    case DocumentKind::kMeasurements: return "plan measurements";
    case DocumentKind::kAllocation: return "plan allocation";
    case DocumentKind::kPeerComparison: return "llama.cpp comparison";
    case DocumentKind::kTrainingCurve: return "training curve";
  }
  return "?";
}

namespace {

bool array_of_objects_with(const json& doc, const char* array, const char* key) {
  if (!doc.contains(array) || !doc[array].is_array()) return false;
  for (const auto& r : doc[array]) {
    if (!r.is_object()) return false;
  }
  return !doc[array].empty() && doc[array][0].contains(key);
}

}  // namespace

json* training_curve_points(json& doc) {
  if (!doc.is_object()) return nullptr;
  for (const char* key : {"points", "curve"}) {
    // An empty array is a curve too, refused by check_training_curve with its own message.
    const auto it = doc.find(key);
    if (it != doc.end() && it->is_array() && (it->empty() || ((*it)[0].is_object() && (*it)[0].contains("step")))) {
      return &*it;
    }
  }
  return nullptr;
}

const json* training_curve_points(const json& doc) { return training_curve_points(const_cast<json&>(doc)); }

Result<Document> recognise_document(json doc, std::string origin) {
  auto make = [&](DocumentKind k, json body) { return Document{k, origin, std::move(body)}; };
  if (doc.is_array()) {
    bool peer = !doc.empty();
    for (const auto& r : doc) peer = peer && r.is_object() && (r.contains("llamacpp") || r.contains("planned"));
    if (peer) return make(DocumentKind::kPeerComparison, std::move(doc));
  } else if (doc.is_object()) {
    if (doc.contains("bitsmith_measurements")) return make(DocumentKind::kMeasurements, std::move(doc));
    if (doc.contains("measurements") && doc["measurements"].is_object() &&
        doc["measurements"].contains("bitsmith_measurements")) {
      json inner = std::move(doc["measurements"]);
      return make(DocumentKind::kMeasurements, std::move(inner));
    }
    if (doc.contains("allocation") && doc["allocation"].is_object() && doc["allocation"].contains("tensors")) {
      return make(DocumentKind::kAllocation, std::move(doc));
    }
    if (doc.contains("baseline") && array_of_objects_with(doc, "results", "kld")) {
      return make(DocumentKind::kCompare, std::move(doc));
    }
    if (doc.contains("alternatives") && doc.contains("device") && doc["alternatives"].is_array()) {
      return make(DocumentKind::kAdvice, std::move(doc));
    }
    if (doc.contains("devices") && array_of_objects_with(doc, "results", "naive_bits")) {
      return make(DocumentKind::kMemory, std::move(doc));
    }
    if (doc.contains("input") && doc["input"].is_object() && array_of_objects_with(doc, "results", "scheme")) {
      return make(DocumentKind::kError, std::move(doc));
    }
    if (json* points = training_curve_points(doc)) {
      BITSMITH_RETURN_IF_ERROR(check_training_curve(*points, origin));
      return make(DocumentKind::kTrainingCurve, std::move(doc));
    }
  }
  return invalid_argument(
      "{}: not a document the report reads (the --json output of compare, error, memory, advise, plan or train, a plan "
      "measurements file, a training curve (train --curve FILE.csv or FILE.json), or scripts/plan/vs_llamacpp.py's "
      "results.json)",
      origin);
}

Result<Document> load_document(const std::string& path) {
  // The largest documents are measurement files of big models: a few MB. A training curve's
  // CSV row is about 60 bytes: 16 MB holds kMaxCurvePoints rows with room to spare.
  if (ascii_lower(path).ends_with(".csv")) {
    BITSMITH_ASSIGN_OR_RETURN(std::string csv, read_file_bounded(path, {.max_bytes = 16u << 20, .what = "training curve"}));
    return training_curve_from_csv(csv, path);
  }
  BITSMITH_ASSIGN_OR_RETURN(std::string text, read_file_bounded(path, {.max_bytes = 64u << 20, .what = "JSON document"}));
  if (text.starts_with("step,") || text.starts_with("\xEF\xBB\xBFstep,")) return training_curve_from_csv(text, path);
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, path));
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return invalid_argument("{}: not valid JSON", path);
  return recognise_document(std::move(doc), path);
}

}  // namespace bitsmith::report
