// bitsmith imatrix MODEL --text FILE -o FILE: llama.cpp's importance matrix (mean x^2 per input
// column of every linear layer), written as llama.cpp writes it: GGUF, or the legacy .dat (algo/calibration.h).
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/algo/calibration.h"
#include "bitsmith/core/atomic_file.h"
#include "bitsmith/io/model_file.h"
#include "command.h"
#include "json_out.h"

namespace bitsmith::cli {
namespace {

struct ImatrixCliOptions {
  std::string model, text, out, tokenizer, format;
  int64_t samples = 128, seqlen = 512;
  uint64_t seed = 0;
  bool json = false;
};

int run_imatrix(const ImatrixCliOptions& o) {
  auto format = algo::imatrix_format_for(o.out, o.format);
  if (!format.ok()) throw UsageError(format.status().message());
  auto model = io::open_model(o.model, o.tokenizer);
  if (!model.ok()) {
    std::fprintf(stderr, "bitsmith imatrix: %s\n", model.status().to_string().c_str());
    return kExitFailed;
  }
  InputFiles inputs;
  inputs.add((*model)->source_files());
  inputs.add(o.text);
  if (Status st = inputs.check_output(o.out); !st.ok()) throw UsageError(st.message());
  algo::CalibrationOptions co{o.text, o.samples, o.seqlen, o.seed};
  auto segs = algo::calibration_segments(**model, co);
  if (!segs.ok()) {
    std::fprintf(stderr, "bitsmith imatrix: %s\n", segs.status().to_string().c_str());
    return kExitFailed;
  }
  auto data = algo::collect_imatrix(**model, *segs, static_cast<int32_t>(o.seqlen), o.text);
  if (!data.ok()) {
    std::fprintf(stderr, "bitsmith imatrix: %s\n", data.status().to_string().c_str());
    return kExitFailed;
  }
  Status st = algo::write_imatrix(o.out, *data, *format);
  if (!st.ok()) {
    std::fprintf(stderr, "bitsmith imatrix: %s\n", st.to_string().c_str());
    return kExitFailed;
  }
  if (o.json) {
    print_json({{"model", o.model}, {"text", o.text}, {"output", o.out},
                {"format", *format == algo::ImatrixFormat::kGguf ? "gguf" : "dat"}, {"entries", data->values.size()},
                {"chunks", data->chunks}, {"tokens", static_cast<int64_t>(segs->size()) * o.seqlen}});
  } else {
    std::printf("wrote %s: %zu tensors, %d chunks of %lld tokens\n", o.out.c_str(), data->values.size(),
                data->chunks, static_cast<long long>(o.seqlen));
  }
  return kExitOk;
}

std::function<int()> setup_imatrix(CLI::App& app) {
  auto o = std::make_shared<ImatrixCliOptions>();
  auto* sub = app.add_subcommand("imatrix", "Collect llama.cpp's importance matrix (mean x^2 per linear input column)");
  sub->add_option("model", o->model, "GGUF, safetensors or llama2.c checkpoint")->required();
  sub->add_option("--text", o->text, "calibration text")->required();
  sub->add_option("-o,--output", o->out, "output imatrix: GGUF (llama-imatrix's default) or, for a .dat name, the legacy format")->required();
  sub->add_option("--output-format", o->format, "gguf or dat (default: dat for a .dat name, else gguf)");
  sub->add_option("--tokenizer", o->tokenizer, "llama2.c tokenizer.bin");
  sub->add_option("--calib-samples", o->samples, "segments (default 128)");
  sub->add_option("--calib-seqlen", o->seqlen, "tokens per segment (default 512)");
  sub->add_option("--seed", o->seed, "seed of the segment offsets (default 0)");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  return [o] { return run_imatrix(*o); };
}

}  // namespace
BITSMITH_COMMAND("imatrix", setup_imatrix);
}  // namespace bitsmith::cli
