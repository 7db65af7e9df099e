// bitsmith inspect FILE: format, hyperparameters, tokenizer, tensors, totals.
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/records.h"
#include "command.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct InspectOptions {
  std::string path;
  std::string tokenizer;
  bool json = false;
  bool metadata = false;
};

int run_inspect(const InspectOptions& o) {
  auto opened = io::open_model(o.path, o.tokenizer);
  if (!opened.ok()) {
    std::fprintf(stderr, "bitsmith inspect: %s\n", opened.status().to_string().c_str());
    return kExitFailed;
  }
  const auto& m = dynamic_cast<const io::FileModel&>(**opened);
  const auto totals = io::model_totals(m);
  if (o.json) {
    nlohmann::json doc = io::inspect_record(m);
    if (o.metadata) doc["metadata"] = m.metadata();
    print_json(doc);
    return kExitOk;
  }
  const auto& hp = m.hyperparameters();
  std::string out = fmt::format("{}: {} ({})\n", m.path(), m.file_format(), hp.architecture);
  out += fmt::format("  dim {}  hidden {}  layers {}  heads {}/{} (kv)  head_dim {}  vocab {}  context {}\n",
                     hp.dim, hp.hidden_dim, hp.n_layers, hp.n_heads, hp.n_kv_heads, hp.head_dim, hp.vocab_size,
                     hp.context_length);
  out += fmt::format("  rms_norm_eps {}  rope_theta {}  rope {}  tied embeddings {}\n", format_number(hp.rms_norm_eps),
                     format_number(hp.rope_theta), hp.rope_style == RopeStyle::kHalfSplit ? "half-split" : "interleaved",
                     hp.tied_embeddings ? "yes" : "no");
  const auto& v = m.vocabulary();
  if (v.empty()) out += "  tokenizer: none\n";
  else out += fmt::format("  tokenizer: {} with {} tokens, {} merges, bos {} eos {}\n", v.model, v.tokens.size(),
                          v.merges.size(), v.bos_id, v.eos_id);
  if (o.metadata) {
    for (const auto& [k, val] : m.metadata()) out += fmt::format("  {} = {}\n", k, val);
  }
  Table t({"tensor", "shape", "dtype", "bytes"});
  for (const auto& ti : m.tensors()) t.add({ti.name, ti.shape.to_string(), ti.storage, std::to_string(ti.bytes)});
  out += t.render();
  out += fmt::format("{} tensors, {} parameters, {} bytes, {:.4f} bits per weight\n", m.tensors().size(),
                     totals.parameters, totals.bytes, totals.bits_per_weight);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

std::function<int()> setup_inspect(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  auto* sub = app.add_subcommand("inspect", "Show a model file: format, hyperparameters, tokenizer, tensors");
  sub->add_option("file", o->path, "GGUF, safetensors (file, directory or index.json) or llama2.c checkpoint")->required();
  sub->add_option("--tokenizer", o->tokenizer, "llama2.c tokenizer.bin (default: tokenizer.bin or tok*.bin beside FILE)");
  sub->add_flag("--metadata", o->metadata, "Also list the file's metadata keys");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  return [o] { return run_inspect(*o); };
}

}  // namespace
BITSMITH_COMMAND("inspect", setup_inspect);
}  // namespace bitsmith::cli
