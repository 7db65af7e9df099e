// The report: which sections, the documents each needs (given or computed here), and the order.
#include "bitsmith/report/report.h"

#include <fmt/format.h>

#include <algorithm>

#include "bitsmith/plan/advise.h"
#include "bitsmith/plan/advise_request.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/quant/records.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/quant/metrics.h"

namespace bitsmith::report {

namespace {

using nlohmann::json;

constexpr std::string_view kComputed = "computed by bitsmith report";

// The sections a document feeds (a plan allocation feeds two: its mix is a point of the quality
// chart and the text of the sensitivity heatmap).
std::vector<Section> sections_fed(DocumentKind k) {
  switch (k) {
    case DocumentKind::kError: return {Section::kError};
    case DocumentKind::kMemory:
    case DocumentKind::kAdvice: return {Section::kMemory};
    case DocumentKind::kCompare:
    case DocumentKind::kPeerComparison: return {Section::kQuality};
    case DocumentKind::kAllocation: return {Section::kQuality, Section::kSensitivity};
    case DocumentKind::kMeasurements: return {Section::kSensitivity};
    case DocumentKind::kTrainingCurve: return {Section::kTraining};
  }
  return {};
}

bool has(const std::vector<Section>& v, Section s) { return std::find(v.begin(), v.end(), s) != v.end(); }

Result<Document> error_document(const ReportRequest& r, const std::vector<const quant::Scheme*>& schemes) {
  ErrorInput lab;
  const ErrorInput* in = r.error_input ? &*r.error_input : nullptr;
  if (!in) {
    // The lab's weights, as `bitsmith error` draws them without input.
    BITSMITH_ASSIGN_OR_RETURN(lab.values, quant::synthetic_weights("normal", 40 * 256, 42));
    lab.rows = 40, lab.cols = 256;
    lab.description = {{"synthetic", "normal"}, {"seed", 42}, {"shape", {40, 256}}};
    in = &lab;
  }
  json results = json::array();
  for (const quant::Scheme* s : schemes) {
    auto e = quant::evaluate_scheme(*s, in->values.data(), in->rows, in->cols, r.histogram_bins);
    // A scheme the shape does not fit (q4_k on 64 columns) is listed with its error, as `error` does.
    results.push_back(quant::error_record(e, *s));
  }
  return Document{DocumentKind::kError, std::string(kComputed),
                  with_finite_numbers({{"input", in->description}, {"results", results}})};
}

Status memory_documents(const ReportRequest& r, const std::vector<const quant::Scheme*>& schemes,
                        std::vector<Document>* out) {
  const plan::ModelShape& shape = *r.shape;
  std::vector<plan::Device> devices = plan::default_devices();
  Result<plan::MemoryPlan> mem = invalid_argument("no memory plan");
  if (r.model) {
    std::vector<plan::Recipe> recipes;
    for (const quant::Scheme* s : schemes) {
      BITSMITH_ASSIGN_OR_RETURN(plan::Recipe rec, plan::Recipe::uniform(s->name()));
      recipes.push_back(std::move(rec));
    }
    mem = plan::plan_memory_for_model(*r.model, recipes, devices);
  } else {
    mem = plan::plan_memory(shape.params, schemes, devices);
  }
  BITSMITH_RETURN_IF_ERROR(mem.status());
  plan::AdviceRequest req;
  req.shape = shape;
  req.device = r.device;
  req.context = shape.context_length > 0 ? std::min(r.context, shape.context_length) : r.context;
  for (size_t i = 0; i < schemes.size(); ++i) {
    plan::Candidate c = plan::candidate_for_scheme(*schemes[i]);
    // On a model, the written file's bits per weight (head rule, fallbacks), as `advise MODEL` uses.
    if (r.model) c.bits_per_weight = mem->rows[i].bits_per_weight;
    req.candidates.push_back(std::move(c));
  }
  BITSMITH_ASSIGN_OR_RETURN(plan::Advice advice, plan::advise(std::move(req)));
  out->push_back({DocumentKind::kMemory, std::string(kComputed), with_finite_numbers(plan::to_json(*mem))});
  out->push_back({DocumentKind::kAdvice, std::string(kComputed), with_finite_numbers(plan::to_json(advice))});
  return Status::Ok();
}

std::vector<const Document*> of_kinds(const std::vector<Document>& docs, std::initializer_list<DocumentKind> kinds) {
  std::vector<const Document*> out;
  for (const auto& d : docs) {
    if (std::find(kinds.begin(), kinds.end(), d.kind) != kinds.end()) out.push_back(&d);
  }
  return out;
}

}  // namespace

std::string_view section_name(Section s) {
  switch (s) {
    case Section::kNumberLines: return "numbers";
    case Section::kError: return "error";
    case Section::kMemory: return "memory";
    case Section::kQuality: return "quality";
    case Section::kSensitivity: return "sensitivity";
    case Section::kTraining: return "training";
  }
  return "?";
}

Result<Section> parse_section(std::string_view name) {
  for (Section s : kAllSections) {
    if (section_name(s) == name) return s;
  }
  return invalid_argument("unknown section '{}' (numbers, error, memory, quality, sensitivity, training)", name);
}

std::vector<const quant::Scheme*> default_report_schemes() {
  std::vector<const quant::Scheme*> out;
  for (const char* n : {"bf16", "fp8_e4m3", "int8", "q8_0", "int4_g128", "nvfp4", "mxfp4", "q4_k"}) {
    if (auto s = quant::find_scheme(n); s.ok()) out.push_back(*s);
  }
  return out;
}

plan::Device default_report_device() { return *plan::find_device("dgx-spark"); }

Result<Report> build_report(const ReportRequest& request) {
  const bool explicit_sections = !request.sections.empty();
  std::vector<Section> on = explicit_sections ? request.sections : std::vector<Section>{};
  std::vector<Document> docs = request.documents;
  if (request.compare) {
    BITSMITH_ASSIGN_OR_RETURN(eval::CompareReport compared, eval::compare_schemes(*request.compare));
    docs.push_back({DocumentKind::kCompare, std::string(kComputed), with_finite_numbers(eval::to_json(compared))});
  }
  for (const auto& d : docs) {
    const auto fed = sections_fed(d.kind);
    const bool used = std::any_of(fed.begin(), fed.end(), [&](Section s) { return has(on, s); });
    if (explicit_sections && !used) {
      return invalid_argument("{}: a {} document feeds the {} section, which --sections leaves out", d.origin,
                              document_kind_name(d.kind), section_name(fed.front()));
    }
    if (!explicit_sections) {
      for (Section s : fed) {
        if (!has(on, s)) on.push_back(s);
      }
    }
  }
  if (!explicit_sections) {
    for (Section s : {Section::kNumberLines, Section::kError}) on.push_back(s);
    if (request.shape) on.push_back(Section::kMemory);
  }
  const auto schemes = request.schemes.empty() ? default_report_schemes() : request.schemes;
  const bool error_docs_given = !of_kinds(docs, {DocumentKind::kError}).empty();
  if (has(on, Section::kError) && (request.error_input || !error_docs_given)) {
    BITSMITH_ASSIGN_OR_RETURN(Document e, error_document(request, schemes));
    docs.push_back(std::move(e));
  }
  if (has(on, Section::kMemory) && request.shape) BITSMITH_RETURN_IF_ERROR(memory_documents(request, schemes, &docs));

  Report report;
  report.title = request.title;
  for (Section s : kAllSections) {
    if (!has(on, s)) continue;
    SectionOut out;
    switch (s) {
      case Section::kNumberLines: out = number_lines_section(request.probe); break;
      case Section::kError: out = error_section(of_kinds(docs, {DocumentKind::kError})); break;
      case Section::kMemory: out = memory_section(of_kinds(docs, {DocumentKind::kMemory, DocumentKind::kAdvice})); break;
      case Section::kQuality:
        out = quality_section(of_kinds(docs, {DocumentKind::kCompare, DocumentKind::kAllocation, DocumentKind::kPeerComparison}));
        break;
      case Section::kSensitivity: {
        BITSMITH_ASSIGN_OR_RETURN(out, sensitivity_section(of_kinds(docs, {DocumentKind::kMeasurements, DocumentKind::kAllocation})));
        break;
      }
      case Section::kTraining: out = training_section(of_kinds(docs, {DocumentKind::kTrainingCurve})); break;
    }
    if (out.charts.empty() && !explicit_sections) continue;  // a plan allocation without its measurements
    if (out.charts.empty()) {
      static constexpr std::string_view kNeeds[] = {
          "", "an array", "--params, --model or --from memory.json / advise.json",
          "--from compare.json, a plan allocation (plan --json with a budget) or vs_llamacpp.py's results.json",
          "--from a plan measurements file (bitsmith plan MODEL -o M.json)",
          "--from a training curve (bitsmith train --curve FILE.csv or FILE.json, or train --json)"};
      static_assert(std::size(kNeeds) == std::size(kAllSections));
      return invalid_argument("the {} section has nothing to draw: give {}", section_name(s),
                              kNeeds[static_cast<size_t>(s)]);
    }
    report.sections.push_back(std::move(out));
  }
  report.documents = std::move(docs);
  return report;
}

}  // namespace bitsmith::report
