// bitsmith report OUT.html [--from DOC.json|CURVE.csv ...] [--params N | --model FILE [--tensor NAME]]
// [--input X.npy] [--schemes ...] [--sections ...] [--svg-dir DIR]: one self-contained HTML page
// of charts (report/report.h). This file reads what report may not (model files, .npy arrays),
// parses options and prints where the page went.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "bitsmith/core/npy.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/model_shape.h"
#include "bitsmith/quant/metrics.h"
#include "bitsmith/report/report.h"
#include "command.h"

namespace bitsmith::cli {
namespace {

struct ReportOptions {
  std::string out, svg_dir, params, model, tensor, input, device, title = "bitsmith report", probe, text, tokenizer;
  int64_t ctx = 0, max_chunks = 0;
  std::vector<std::string> from, sections, schemes;
  int64_t context = 4096;
  int histogram = 60;
  CLI::Option *context_opt = nullptr, *histogram_opt = nullptr;
};

int failed(const Status& st) {
  std::fprintf(stderr, "bitsmith report: %s\n", st.to_string().c_str());
  return kExitFailed;
}

template <typename T>
T or_usage(Result<T> r) {
  if (!r.ok()) throw UsageError(r.status().message());
  return std::move(*r);
}

bool section_on(const report::ReportRequest& r, report::Section s) {
  return r.sections.empty() || std::find(r.sections.begin(), r.sections.end(), s) != r.sections.end();
}

int run_report(const ReportOptions& o) {
  if (!o.out.ends_with(".html") && !o.out.ends_with(".htm")) throw UsageError(fmt::format("{}: the page is an .html file", o.out));
  if (!o.params.empty() && !o.model.empty()) throw UsageError("give --params or --model, not both");
  if (!o.tensor.empty() && o.model.empty()) throw UsageError("--tensor NAME names a tensor of --model FILE: give the model");
  if (!o.tensor.empty() && !o.input.empty()) throw UsageError("--tensor and --input both name the array to measure: give one");
  const bool shaped = !o.params.empty() || !o.model.empty();
  if (!shaped && (!o.device.empty() || o.context_opt->count())) {
    throw UsageError("--device and --context size the memory section: give --params or --model");
  }
  report::ReportRequest req;
  req.title = o.title;
  req.histogram_bins = o.histogram;
  if (o.histogram < 1 || o.histogram > 10000) throw UsageError("--histogram: 1..10000 bins");
  for (const auto& s : o.sections) req.sections.push_back(or_usage(report::parse_section(s)));
  if (!o.probe.empty()) {
    if (!section_on(req, report::Section::kNumberLines)) throw UsageError("--probe is drawn in the numbers section, which --sections leaves out");
    req.probe = or_usage(formats::parse_number(o.probe));
    if (!std::isfinite(req.probe) || req.probe == 0) throw UsageError("--probe: a finite, non-zero number");
  }
  if (!o.schemes.empty() && !section_on(req, report::Section::kError) && !section_on(req, report::Section::kMemory) &&
      (o.text.empty() || !section_on(req, report::Section::kQuality))) {
    throw UsageError("--schemes chooses what the error and memory sections (and quality, with --text) compare; "
                     "--sections leaves them out");
  }
  if ((!o.input.empty() || !o.tensor.empty() || o.histogram_opt->count()) && !section_on(req, report::Section::kError)) {
    throw UsageError("--input, --tensor and --histogram feed the error section, which --sections leaves out");
  }
  for (const auto& n : o.schemes) {
    auto s = quant::find_scheme(n);
    if (!s.ok()) throw UsageError(s.status().message());
    req.schemes.push_back(*s);
  }
  if (!o.text.empty()) {
    if (o.model.empty()) throw UsageError("--text is what compare scores --model on: give the model");
    if (!o.sections.empty() && !section_on(req, report::Section::kQuality)) {
      throw UsageError("--text feeds the quality section, which --sections leaves out");
    }
    eval::CompareRequest c;
    c.model = o.model;
    c.run.text = o.text;
    c.run.tokenizer = o.tokenizer;
    c.run.ctx = o.ctx;
    c.run.max_chunks = o.max_chunks;
    for (const quant::Scheme* s : req.schemes.empty() ? report::default_report_schemes() : req.schemes) {
      c.schemes.push_back(s->name());
    }
    req.compare = std::move(c);
  } else if (o.ctx != 0 || o.max_chunks != 0 || !o.tokenizer.empty()) {
    throw UsageError("--ctx, --max-chunks and --tokenizer set how --text is scored: give --text");
  }
  const auto start = std::chrono::steady_clock::now();
  InputFiles inputs;
  for (const auto& f : o.from) {
    auto doc = report::load_document(f);
    if (!doc.ok()) return failed(doc.status());
    req.documents.push_back(std::move(*doc));
    inputs.add(f);
  }
  std::unique_ptr<Model> model;
  if (!o.model.empty()) {
    auto m = io::open_model(o.model, o.tokenizer);
    if (!m.ok()) return failed(m.status());
    model = std::move(*m);
    for (const auto& f : model->source_files()) inputs.add(f);
    const double params = static_cast<double>(io::model_totals(*model).parameters);
    auto shape = plan::shape_from_hyperparameters(model->hyperparameters(), params, "from " + o.model);
    if (!shape.ok()) return failed(shape.status());
    req.shape = std::move(*shape);
    req.model = model.get();
  } else if (!o.params.empty()) {
    req.shape = or_usage(plan::shape_for_params(or_usage(plan::parse_param_count(o.params))));
  }
  req.device = o.device.empty() ? report::default_report_device() : or_usage(plan::parse_device(o.device));
  req.context = o.context;
  if (!o.tensor.empty()) {
    if (!model->has_tensor(o.tensor)) throw UsageError(fmt::format("{} has no tensor '{}' (see bitsmith inspect)", o.model, o.tensor));
    auto t = model->load_f32(o.tensor);
    if (!t.ok()) return failed(t.status());
    auto v = quant::to_float32(*t);
    if (!v.ok()) return failed(v.status());
    req.error_input = report::ErrorInput{{{"model", o.model}, {"tensor", o.tensor}, {"shape", {t->shape().rows(), t->shape().cols()}}},
                                         std::move(*v), t->shape().rows(), t->shape().cols()};
  } else if (!o.input.empty()) {
    auto t = read_npy(o.input);
    if (!t.ok()) return failed(t.status());
    auto v = quant::to_float32(*t);
    if (!v.ok()) return failed(v.status());
    inputs.add(o.input);
    req.error_input = report::ErrorInput{{{"file", o.input}, {"dtype", std::string(dtype_name(t->dtype()))},
                                          {"shape", {t->shape().rows(), t->shape().cols()}}},
                                         std::move(*v), t->shape().rows(), t->shape().cols()};
  }
  auto rep = report::build_report(req);
  if (!rep.ok()) {
    if (rep.status().code() == StatusCode::kInvalidArgument) throw UsageError(rep.status().message());
    return failed(rep.status());
  }
  if (Status st = report::write_report(*rep, o.out, o.svg_dir, inputs); !st.ok()) return failed(st);
  size_t charts = 0;
  for (const auto& s : rep->sections) charts += s.charts.size();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s: %zu sections, %zu charts, %zu documents (%.1f s)\n", o.out.c_str(), rep->sections.size(), charts,
              rep->documents.size(), secs);
  if (!o.svg_dir.empty()) std::printf("wrote %zu SVG files in %s\n", charts, o.svg_dir.c_str());
  return kExitOk;
}

std::function<int()> setup_report(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* sub = app.add_subcommand("report", "One self-contained HTML page of charts: number lines, error, memory, quality, sensitivity, training");
  sub->add_option("output", o->out, "The page to write (OUT.html)")->required();
  sub->add_option("--from", o->from,
                  "Documents to draw and embed (repeatable): compare/error/memory/advise/plan/train --json, plan -o M.json, "
                  "vs_llamacpp.py's results.json, train --curve FILE.csv or FILE.json");
  sub->add_option("--sections", o->sections, "Comma-separated: numbers, error, memory, quality, sensitivity, training (default: all with data)")
      ->delimiter(',');
  sub->add_option("--schemes", o->schemes, "Schemes the error and memory sections compare (default: bf16 ... q4_k)")->delimiter(',');
  sub->add_option("--params", o->params, "Memory section for a parameter count (70B, 135M): a Llama-like shape is assumed");
  sub->add_option("--model", o->model, "Memory section for a model file (exact bits per weight); with --tensor, the error section too");
  sub->add_option("--text", o->text, "Quality section: run compare on --model over this text, one row per --schemes entry");
  sub->add_option("--tokenizer", o->tokenizer, "--model's tokenizer file (llama2.c)");
  sub->add_option("--ctx", o->ctx, "--text: tokens per chunk (default min(512, the model's context))")->check(at_least(1));
  sub->add_option("--max-chunks", o->max_chunks, "--text: score at most N chunks (default all)")->check(at_least(1));
  sub->add_option("--tensor", o->tensor, "Error section on this tensor of --model (e.g. blk.0.ffn_down.weight)");
  sub->add_option("--input", o->input, "Error section on this .npy array (float32 or float16)");
  sub->add_option("--device", o->device, "The advisor's device (default dgx-spark, 128 GB): " + plan::known_device_names());
  o->context_opt = sub->add_option("--context", o->context, "The advisor's KV cache length (default 4096, or the model's context)")
                       ->check(at_least(1));
  o->histogram_opt = sub->add_option("--histogram", o->histogram, "Bins of the error histograms (default 60)");
  sub->add_option("--probe", o->probe, "The number every format stores in the number lines (default pi)");
  sub->add_option("--svg-dir", o->svg_dir, "Also write every chart as DIR/<chart>.svg");
  sub->add_option("--title", o->title, "The page's title");
  return [o] { return run_report(*o); };
}

}  // namespace
BITSMITH_COMMAND("report", setup_report);
}  // namespace bitsmith::cli
