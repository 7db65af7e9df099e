// Output paths: which files an output stands for, and the check that none of them replaces an
// input (a model's own files, its companions, or another model's companions).
#include <filesystem>

#include "bitsmith/core/atomic_file.h"
#include "bitsmith/io/quantize.h"

namespace bitsmith::io {
namespace {
namespace fs = std::filesystem;

bool is_companion(const std::string& name) {
  return name == "config.json" || name == "tokenizer.json" || name == "tokenizer_config.json" ||
         name == kSafetensorsIndex;
}

// Weights in `dir` that are not `ours`: another model whose companions we would replace.
std::string other_model_weights(const fs::path& dir, const std::string& ours) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n == ours || n.starts_with(".") || (n == kSafetensorsIndex && ours != "model.safetensors")) continue;
    if (n.ends_with(".safetensors") || n.ends_with(".safetensors.index.json") ||
        (n.starts_with("pytorch_model") && n.ends_with(".bin"))) {
      return it->path().string();
    }
  }
  return "";
}
}  // namespace

Result<OutputFormat> output_format_for(const std::string& path, const std::string& flag) {
  if (flag == "gguf") return OutputFormat::kGguf;
  if (flag == "safetensors") return OutputFormat::kSafetensors;
  if (!flag.empty()) return invalid_argument("unknown output format '{}' (gguf or safetensors)", flag);
  if (path.ends_with(".gguf")) return OutputFormat::kGguf;
  std::error_code ec;
  const fs::path p(path);
  const std::string ext = p.has_filename() ? p.extension().string() : "";
  if (ext.empty() || ext == ".safetensors" || fs::is_directory(p, ec)) return OutputFormat::kSafetensors;
  return invalid_argument("output '{}': unknown extension '{}' (use .gguf, .safetensors or a directory, or give --format)",
                          path, ext);
}

OutputLayout output_layout(const std::string& out, OutputFormat format, bool with_tokenizer) {
  const fs::path p(out);
  const auto parent = [&] { return p.parent_path().empty() ? std::string(".") : p.parent_path().string(); };
  if (format == OutputFormat::kGguf) return {parent(), {p.filename().string()}};
  OutputLayout l;
  std::string model = "model.safetensors";
  if (out.ends_with(".safetensors")) {
    l.dir = parent();
    model = p.filename().string();
  } else {
    l.dir = out;
  }
  l.names = {"config.json"};
  if (with_tokenizer) l.names.insert(l.names.end(), {"tokenizer.json", "tokenizer_config.json"});
  // Loaders open a folder by model.safetensors or model.safetensors.index.json: a file with
  // another name gets an index naming it, so the folder loads as one.
  if (model != "model.safetensors") l.names.push_back(kSafetensorsIndex);
  l.names.push_back(model);
  return l;
}

Status check_output_spares_inputs(const Model& model, const std::string& out, OutputFormat format,
                                  const std::vector<std::string>& other_inputs) {
  InputFiles inputs;
  inputs.add(model.source_files());
  inputs.add(other_inputs);
  const OutputLayout l = output_layout(out, format, !model.vocabulary().empty());
  std::error_code ec;
  if (format == OutputFormat::kSafetensors && fs::exists(out, ec) && !fs::is_directory(out, ec) &&
      !out.ends_with(".safetensors")) {
    return invalid_argument("output '{}' exists and is not a directory", out);
  }
  for (const auto& n : l.names) BITSMITH_RETURN_IF_ERROR(inputs.check_output((fs::path(l.dir) / n).string()));
  if (format == OutputFormat::kGguf) return Status::Ok();
  for (const auto& n : l.names) {
    if (!is_companion(n) || !fs::exists(fs::path(l.dir) / n, ec)) continue;
    const std::string other = other_model_weights(l.dir, l.model_file());
    if (!other.empty()) {
      return invalid_argument("refusing to write {}: {} holds another model ({}) whose {} this output would replace; "
                              "write into a new directory", out, l.dir, other, n);
    }
  }
  return Status::Ok();
}

}  // namespace bitsmith::io
