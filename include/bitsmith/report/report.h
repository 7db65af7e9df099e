// `bitsmith report`: one self-contained HTML page of charts (inline SVG, no script, no request
// leaves the page), each section computed here from the formats, the schemes, the planner and
// the JSON documents the commands print, which the page embeds for download.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/eval/model_eval.h"
#include "bitsmith/plan/devices.h"
#include "bitsmith/plan/model_shape.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/report/documents.h"

namespace bitsmith::report {

enum class Section : uint8_t { kNumberLines, kError, kMemory, kQuality, kSensitivity, kTraining };
inline constexpr Section kAllSections[] = {Section::kNumberLines, Section::kError, Section::kMemory,
                                           Section::kQuality, Section::kSensitivity, Section::kTraining};
// "numbers", "error", "memory", "quality", "sensitivity", "training".
std::string_view section_name(Section s);
Result<Section> parse_section(std::string_view name);

// The array the error section measures: synthetic weights, a .npy, or a model's tensor (read by
// the caller: report never depends on io).
struct ErrorInput {
  nlohmann::json description;  // what `bitsmith error --json` writes as "input"
  std::vector<float> values;
  int64_t rows = 0, cols = 0;
};

struct ReportRequest {
  std::string title = "bitsmith report";
  std::vector<Section> sections;   // empty: every section there is data for
  std::vector<Document> documents; // given with --from
  std::vector<const quant::Scheme*> schemes;  // error and memory; empty: default_report_schemes()
  std::optional<ErrorInput> error_input;      // empty: the lab's N(0,1), seed 42, 40x256
  // Memory: the shape of a model or a parameter count; a model for exact bits per weight.
  std::optional<plan::ModelShape> shape;
  const Model* model = nullptr;
  plan::Device device;           // the advisor's device (default dgx-spark, 128 GB)
  int64_t context = 4096;        // the advisor's KV cache length
  double probe = 3.14159265358979323846;  // the number every format stores in the number lines
  int histogram_bins = 60;
  // Quality: run `compare` itself (eval::compare_schemes: the model file on a text, one row per
  // scheme) and draw its document as if given with --from.
  std::optional<eval::CompareRequest> compare;
};

// The lab's comparison, short enough for readable bar charts: 16-bit, FP8, INT8, INT4, NVFP4,
// MXFP4 and llama.cpp's Q8_0 and Q4_K.
std::vector<const quant::Scheme*> default_report_schemes();
// dgx-spark: the 128 GB machine of the course.
plan::Device default_report_device();

struct Chart {
  std::string id;     // file stem in --svg-dir and the element id in the page: "error-snr"
  std::string title;
  std::string svg;
  bool small = false; // a small multiple: laid out side by side
};

struct SectionOut {
  Section section;
  std::string title;
  std::string caption;  // one plain-language paragraph
  std::vector<Chart> charts;
  std::vector<std::string> notes;  // where the data came from, what was left out
};

struct Report {
  std::string title;
  std::vector<SectionOut> sections;
  std::vector<Document> documents;  // every document the charts were drawn from, embedded
};

// Computes what is missing (error metrics, memory and advice), then draws every section.
// Errors: a section asked for without its data, a document given for a section switched off.
Result<Report> build_report(const ReportRequest& request);

// The page: one HTML file, inline SVG and CSS, a Content-Security-Policy that forbids every
// request, the documents embedded as downloadable data: links.
std::string render_html(const Report& report);

// Writes the page (atomically) and, when svg_dir is not empty, every chart as svg_dir/<id>.svg
// (committed together). Neither may replace one of `inputs`.
Status write_report(const Report& report, const std::string& html_path, const std::string& svg_dir,
                    const InputFiles& inputs);

// Section builders (one file each); `docs` are the documents of that section's kinds.
SectionOut number_lines_section(double probe);
SectionOut error_section(const std::vector<const Document*>& docs);
SectionOut memory_section(const std::vector<const Document*>& docs);
SectionOut quality_section(const std::vector<const Document*>& docs);
Result<SectionOut> sensitivity_section(const std::vector<const Document*>& docs);
SectionOut training_section(const std::vector<const Document*>& docs);

// A training curve document (documents.h: checked when it was read) as the training section
// draws it.
struct TrainingCurve {
  std::string label;                       // the document's recipe (train --json), else its file's stem
  std::vector<double> step, loss;          // every update (a NaN loss: a diverged step, drawn as a gap)
  std::vector<double> val_step, val_loss;  // the updates after which the run measured its held-out loss
};
TrainingCurve training_curve(const Document& d);
// The held-out loss of `c` relative to `reference`'s, in percent: 100 * (c / reference - 1), at
// every step both measured it. {steps, percents}.
std::pair<std::vector<double>, std::vector<double>> relative_val_loss(const TrainingCurve& c,
                                                                      const TrainingCurve& reference);
// The mean of the `window` values centred on each (window odd; fewer at the ends; non-finite
// values left out, NaN where the window holds none).
std::vector<double> centred_mean(const std::vector<double>& v, size_t window);

}  // namespace bitsmith::report
