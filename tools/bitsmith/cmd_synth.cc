// bitsmith synth OUT: writes a synthetic Llama checkpoint (random weights, a tokenizer) of a
// chosen shape or size, streamed tensor by tensor.
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/io/synth.h"
#include "bitsmith/plan/recipe.h"
#include "command.h"
#include "json_out.h"

namespace bitsmith::cli {
namespace {

struct SynthCliOptions {
  std::string out, format, size, scheme = "f32";
  io::SynthConfig c;
  bool json = false;
};

// "2GB", "500MB", "1.5GiB", "123456" -> bytes.
uint64_t parse_size(const std::string& s) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    throw UsageError(fmt::format("--size '{}': expected a number with an optional unit (KB, MB, GB, KiB, MiB, GiB)", s));
  }
  std::string unit = s.substr(pos);
  double mult = 1;
  if (unit == "KB") mult = 1e3; else if (unit == "MB") mult = 1e6; else if (unit == "GB") mult = 1e9;
  else if (unit == "KiB") mult = 1024.0; else if (unit == "MiB") mult = 1048576.0; else if (unit == "GiB") mult = 1073741824.0;
  else if (!unit.empty() && unit != "B") throw UsageError(fmt::format("--size '{}': unknown unit '{}'", s, unit));
  if (v <= 0) throw UsageError(fmt::format("--size '{}' must be positive", s));
  return static_cast<uint64_t>(v * mult);
}

int run_synth(SynthCliOptions o) {
  auto fmt_r = io::output_format_for(o.out, o.format);
  if (!fmt_r.ok()) throw UsageError(fmt_r.status().message());
  if (!o.size.empty()) o.c = io::synth_config_for_bytes(o.c, parse_size(o.size));
  auto model = io::make_synthetic_model(o.c);
  if (!model.ok()) throw UsageError(model.status().message());
  auto recipe = plan::recipe_for_scheme_name(o.scheme);
  if (!recipe.ok()) throw UsageError(recipe.status().message());
  const io::OutputFormat format = *fmt_r;
  auto r = io::write_synthetic_model(o.c, o.out, format, [&](const Model& m) { return recipe->resolve(m, format); });
  if (!r.ok()) {
    std::fprintf(stderr, "bitsmith synth: %s\n", r.status().to_string().c_str());
    return r.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
  }
  if (o.json) {
    print_json({{"output", r->output}, {"extra_files", r->extra_files},
                {"format", *fmt_r == io::OutputFormat::kGguf ? "gguf" : "safetensors"}, {"scheme", o.scheme},
                {"dim", o.c.dim}, {"hidden_dim", o.c.hidden_dim}, {"n_layers", o.c.n_layers}, {"n_heads", o.c.n_heads},
                {"n_kv_heads", o.c.n_kv_heads}, {"vocab_size", o.c.vocab_size}, {"seed", o.c.seed},
                {"parameters", r->parameters}, {"bytes", r->output_bytes}, {"seconds", json_number(r->seconds)}});
  } else {
    std::printf("wrote %s: %lld layers, dim %lld, hidden %lld, vocab %lld, %llu parameters, %llu bytes (%s), %.2f s\n",
                r->output.c_str(), static_cast<long long>(o.c.n_layers), static_cast<long long>(o.c.dim),
                static_cast<long long>(o.c.hidden_dim), static_cast<long long>(o.c.vocab_size),
                static_cast<unsigned long long>(r->parameters), static_cast<unsigned long long>(r->output_bytes),
                o.scheme.c_str(), r->seconds);
    for (const auto& f : r->extra_files) std::printf("wrote %s\n", f.c_str());
  }
  return kExitOk;
}

std::function<int()> setup_synth(CLI::App& app) {
  auto o = std::make_shared<SynthCliOptions>();
  auto* sub = app.add_subcommand("synth", "Write a synthetic Llama checkpoint (random weights, with a tokenizer)");
  sub->add_option("output", o->out, "FILE.gguf, FILE.safetensors or a directory (safetensors)")->required();
  sub->add_option("--size", o->size, "approximate float32 size (e.g. 2GB); sets the layer count");
  sub->add_option("--dim", o->c.dim, "embedding length")->capture_default_str();
  sub->add_option("--hidden", o->c.hidden_dim, "feed-forward length")->capture_default_str();
  sub->add_option("--layers", o->c.n_layers, "blocks (ignored with --size)")->capture_default_str();
  sub->add_option("--heads", o->c.n_heads, "attention heads")->capture_default_str();
  sub->add_option("--kv-heads", o->c.n_kv_heads, "key/value heads")->capture_default_str();
  sub->add_option("--vocab", o->c.vocab_size, "vocabulary size (>= 260)")->capture_default_str();
  sub->add_option("--context", o->c.context_length, "context length")->capture_default_str();
  sub->add_flag("--tied", o->c.tied_embeddings, "share the output projection with the embedding");
  sub->add_option("--seed", o->c.seed, "random seed")->capture_default_str();
  sub->add_option("--scheme", o->scheme, "storage: f32 (default), fp16, bf16, or any quantization scheme")->capture_default_str();
  sub->add_option("--format", o->format, "gguf or safetensors (default: from the extension)");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  return [o] { return run_synth(*o); };
}

}  // namespace
BITSMITH_COMMAND("synth", setup_synth);
}  // namespace bitsmith::cli
