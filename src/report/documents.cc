#include "bitsmith/report/documents.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

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

json scheme_error_json(const quant::SchemeError& e) {
  const auto& m = e.metrics;
  json j = {{"scheme", e.scheme->name()},
            {"bits_per_weight", json_number(e.bits_per_weight)},
            {"mse", json_number(m.mse)}, {"rmse", json_number(m.rmse)},
            {"mean_abs_error", json_number(m.mean_abs_error)},
            {"max_abs_error", json_number(m.max_abs_error)},
            {"snr_db", json_number(m.snr_db)}, {"cosine", json_number(m.cosine)}};
  if (e.histogram) {
    j["histogram"] = {{"lo", json_number(e.histogram->lo)}, {"hi", json_number(e.histogram->hi)},
                      {"counts", e.histogram->counts}};
  }
  if (e.abs_histogram) {
    j["abs_histogram"] = {{"lo", json_number(e.abs_histogram->lo)}, {"hi", json_number(e.abs_histogram->hi)},
                          {"counts", e.abs_histogram->counts}};
  }
  return j;
}

json memory_document(const plan::MemoryPlan& plan) {
  json devs = json::array(), rows = json::array();
  for (const auto& d : plan.devices) devs.push_back({{"name", d.name}, {"bytes", d.bytes}});
  for (const auto& r : plan.rows) {
    json fits = json::object();
    for (size_t i = 0; i < plan.devices.size(); ++i) fits[plan.devices[i].name] = r.fits[i];
    rows.push_back({{"scheme", r.label},
                    {"bits_per_weight", json_number(r.bits_per_weight)},
                    {"naive_bits", json_number(r.naive_bits)}, {"bytes", json_number(r.bytes)},
                    {"naive_bytes", json_number(r.naive_bytes)}, {"fits", fits}});
  }
  return {{"params", json_number(plan.params)}, {"devices", devs}, {"results", rows},
          {"note", "weights only; KV cache and activations need more"}};
}

json device_json(const plan::Device& d) {
  json peaks = json::object();
  json native = json::array();
  for (size_t i = 0; i < plan::kComputeFormatCount; ++i) {
    const auto f = static_cast<plan::ComputeFormat>(i);
    peaks[std::string(plan::compute_format_name(f))] = d.peak(f);
    if (d.native(f)) native.push_back(plan::compute_format_name(f));
  }
  return {{"name", d.name}, {"description", d.description}, {"bytes", d.bytes}, {"bandwidth_bytes_per_s", d.bandwidth},
          {"runtime_overhead_bytes", d.runtime_overhead}, {"unified_memory", d.unified_memory},
          {"peak_dense_flops", peaks}, {"native_formats", native}};
}

json advice_document(const plan::Advice& a) {
  const auto& r = a.request;
  const auto& s = r.shape;
  json alts = json::array();
  for (const auto& alt : a.alternatives) {
    json items = json::array();
    for (const auto& it : alt.items) {
      items.push_back({{"label", it.label}, {"bytes", json_number(it.bytes)}, {"counted", it.counted}, {"formula", it.formula}});
    }
    auto bound = [](double v) { return v > 0 ? json(v) : json(nullptr); };
    alts.push_back({{"scheme", alt.candidate.label}, {"bits_per_weight", json_number(alt.candidate.bits_per_weight)},
                    {"precision_bits", alt.candidate.precision_bits}, {"weight_bytes", json_number(alt.weight_bytes)},
                    {"kv_cache_bytes", json_number(alt.kv_cache_bytes)}, {"activation_bytes", json_number(alt.activation_bytes)},
                    {"total_bytes", json_number(alt.total_bytes)}, {"fits", alt.fits},
                    {"headroom_bytes", json_number(alt.headroom_bytes)}, {"checkpointing", alt.checkpointing},
                    {"path", plan::exec_path_name(alt.path)}, {"runs_as", plan::compute_format_name(alt.runs_as)},
                    {"path_note", alt.path_note}, {"decode_tokens_per_s_bound", bound(alt.decode_tokens_per_s)},
                    {r.task == plan::Task::kInference ? "prefill_tokens_per_s_bound" : "train_tokens_per_s_bound",
                     bound(alt.prefill_tokens_per_s)},
                    {"quality", alt.candidate.quality_note}, {"items", items}});
  }
  json rec = nullptr;
  if (a.recommended >= 0) rec = a.alternatives[static_cast<size_t>(a.recommended)].candidate.label;
  return {{"model", {{"params", json_number(s.params)}, {"layers", s.n_layers}, {"hidden", s.hidden}, {"ffn", s.ffn},
                     {"heads", s.n_heads}, {"kv_heads", s.n_kv_heads}, {"head_dim", s.head_dim}, {"vocab", s.vocab},
                     {"context_length", s.context_length}, {"source", s.source}}},
          {"device", device_json(r.device)},
          {"request", {{"task", plan::task_name(r.task)}, {"priority", plan::priority_name(r.priority)},
                       {"context", r.context}, {"batch", r.batch}, {"kv_cache", plan::kv_cache_name(r.kv_cache)},
                       {"lora_rank", r.lora_rank}}},
          {"alternatives", alts}, {"recommendation", rec}, {"reasoning", a.reasoning}, {"notes", a.notes}};
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
  }
  return invalid_argument(
      "{}: not a document the report reads (the --json output of compare, error, memory, advise or plan, a plan "
      "measurements file, or scripts/plan/vs_llamacpp.py's results.json)",
      origin);
}

Result<Document> load_document(const std::string& path) {
  // The largest documents are measurement files of big models: a few MB.
  BITSMITH_ASSIGN_OR_RETURN(std::string text, read_file_bounded(path, {.max_bytes = 64u << 20, .what = "JSON document"}));
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, path));
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return invalid_argument("{}: not valid JSON", path);
  return recognise_document(std::move(doc), path);
}

}  // namespace bitsmith::report
