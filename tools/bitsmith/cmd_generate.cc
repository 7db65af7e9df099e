// bitsmith generate MODEL: text from a prompt, streamed to stdout as it is sampled.
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/core/npy.h"
#include "bitsmith/eval/model_eval.h"
#include "bitsmith/infer/generate.h"
#include "bitsmith/io/model_file.h"
#include "command.h"
#include "json_out.h"

namespace bitsmith::cli {

using eval::file_engine_options;

namespace {

struct GenerateArgs {
  std::string model, tokenizer, prompt, logits;
  int64_t max_tokens = 256;
  double temperature = 0.0, top_p = 1.0;
  uint64_t seed = 0;
  int threads = 0;
  bool json = false, static_activations = false;
};

// Layers dequantized once and kept while they fit: generation runs every layer per token.
constexpr uint64_t kResidentBytes = uint64_t{2} << 30;

int run_generate(const GenerateArgs& a) {
  if (a.max_tokens < 0) throw UsageError("--max-tokens must be >= 0");
  if (!(a.temperature >= 0)) throw UsageError("--temperature must be >= 0");
  if (!(a.top_p > 0 && a.top_p <= 1)) throw UsageError("--top-p must be in (0, 1]");
  if (a.threads > 0) ThreadPool::set_global_threads(a.threads);
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "bitsmith generate: %s\n", st.to_string().c_str());
    return kExitFailed;
  };
  auto model = io::open_model(a.model, a.tokenizer);
  if (!model.ok()) return fail(model.status());
  if ((*model)->vocabulary().empty()) {
    return fail(invalid_argument("{}: no tokenizer (give --tokenizer FILE)", a.model));
  }
  auto tok = infer::Tokenizer::create((*model)->vocabulary());
  if (!tok.ok()) return fail(tok.status());
  // The embedding and output head stay as stored (rows dequantized on demand) and file pages are
  // released, as eval does; decoded layers stay resident up to kResidentBytes, because decoding
  // them again for every generated token would multiply the time per token.
  infer::EngineOptions eo = file_engine_options(**model);
  eo.resident_bytes = kResidentBytes;
  if (a.static_activations) {
    if (Status st = eval::use_static_activations(**model, &eo); !st.ok()) throw UsageError(st.message());
  }
  // The cache holds only what this run can reach.
  eo.context = std::min<int64_t>((*model)->hyperparameters().context_length,
                                 static_cast<int64_t>((*tok)->encode(a.prompt, true).size()) +
                                     a.max_tokens + 1);
  auto engine = infer::Engine::create(**model, eo);
  if (!engine.ok()) return fail(engine.status());
  if (!a.logits.empty()) {
    // The prompt's logits at every position, for comparing engines (tests/cli/test_hf_loaders_cli.py).
    const std::vector<int32_t> ids = (*tok)->encode(a.prompt, (*tok)->vocabulary().add_bos);
    std::vector<float> logits;
    Status st = (*engine)->forward(ids, 0, 0, &logits);
    const int64_t rows = static_cast<int64_t>(ids.size());
    if (st.ok() && rows > 0) {
      auto shape = Shape::from(std::vector<int64_t>{rows, static_cast<int64_t>(logits.size()) / rows});
      st = shape.ok() ? write_npy(a.logits, TensorView{DType::kF32, *shape, logits.data()}) : shape.status();
    }
    if (!st.ok()) return fail(st);
  }
  infer::GenerateOptions go;
  go.prompt = a.prompt;
  go.max_tokens = a.max_tokens;
  go.sampling = {a.temperature, a.top_p, a.seed};
  std::function<void(std::string_view)> stream;
  if (!a.json) {
    std::fwrite(a.prompt.data(), 1, a.prompt.size(), stdout);
    stream = [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  }
  auto r = infer::generate(**engine, **tok, go, stream);
  if (!r.ok()) return fail(r.status().with_context(a.model));
  const double prefill_tps = r->prefill_seconds > 0
      ? static_cast<double>(r->prompt_tokens.size()) / r->prefill_seconds : 0;
  const double decode_tps = r->decode_seconds > 0
      ? static_cast<double>(r->tokens.size()) / r->decode_seconds : 0;
  if (a.json) {
    print_json({{"model", a.model}, {"prompt", a.prompt}, {"prompt_tokens", r->prompt_tokens.size()},
                {"prompt_token_ids", r->prompt_tokens},
                {"tokens", r->tokens.size()}, {"token_ids", r->tokens}, {"text", r->text},
                {"temperature", json_number(a.temperature)}, {"top_p", json_number(a.top_p)},
                {"seed", a.seed}, {"prefill_tokens_per_second", json_number(prefill_tps)},
                {"decode_tokens_per_second", json_number(decode_tps)}});
    return kExitOk;
  }
  std::fputc('\n', stdout);
  std::fflush(stdout);  // the text first, then the statistics line on stderr
  std::fprintf(stderr, "[%zu prompt tokens, %zu generated, %.1f tokens/s]\n",
               r->prompt_tokens.size(), r->tokens.size(), decode_tps);
  return kExitOk;
}

std::function<int()> setup_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto* sub = app.add_subcommand("generate", "Generate text from a prompt (streamed)");
  sub->add_option("model", a->model, "Model file (GGUF, safetensors, llama2.c)")->required();
  sub->add_option("--tokenizer", a->tokenizer, "Tokenizer file (llama2.c checkpoints)");
  sub->add_option("--prompt", a->prompt, "Prompt text (default: empty, start from BOS)");
  sub->add_option("--max-tokens", a->max_tokens, "New tokens at most (default 256)");
  sub->add_option("--temperature", a->temperature, "0 = greedy (default)");
  sub->add_option("--top-p", a->top_p, "Nucleus sampling mass (default 1 = off)");
  sub->add_option("--seed", a->seed, "Sampling seed (default 0)");
  sub->add_option("--threads", a->threads, "Threads (default: all cores)");
  sub->add_option("--logits", a->logits, "Also write the prompt's logits, float32 [tokens, vocab], to this .npy file");
  sub->add_flag("--static-activations", a->static_activations,
                "Quantize each linear's input with the static scales the checkpoint holds (quantize --activations static)");
  sub->add_flag("--json", a->json, "One JSON document on stdout instead of streaming");
  return [a] { return run_generate(*a); };
}

}  // namespace

BITSMITH_COMMAND("generate", setup_generate);

}  // namespace bitsmith::cli
