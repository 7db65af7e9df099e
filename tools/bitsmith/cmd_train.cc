// bitsmith train (MODEL | --config FILE.json) --text FILE -o OUT: trains a Llama decoder on a
// text (from scratch or from a checkpoint) with AdamW, warm-up + cosine, clipping, held-out
// evaluation, atomic checkpoints (OUT, a GGUF or safetensors model eval/generate/llama.cpp load,
// and OUT.trainstate, the optimizer state a --resume continues from), and the loss curve.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/text_file.h"
#include "bitsmith/eval/text.h"
#include "bitsmith/infer/tokenizer.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/io/tokenizer_files.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/train/precision.h"
#include "bitsmith/train/trainer.h"
#include "command.h"
#include "json_out.h"

namespace bitsmith::cli {
namespace {

struct TrainArgs {
  std::string model, config, tokenizer, text, val, out, format, recipe = "fp32", curve, qat;
  double val_fraction = 0.1;
  train::TrainConfig c;
  train::RecipeOptions ro;
  int64_t log_every = 10;
  int threads = 0;
  bool resume = false, json = false;
  CLI::Option* val_fraction_opt = nullptr;
  CLI::Option* seed_opt = nullptr;
  CLI::Option *history_opt = nullptr, *margin_opt = nullptr, *keep_opt = nullptr;
};

int fail(const Status& st) {
  std::fprintf(stderr, "bitsmith train: %s\n", st.to_string().c_str());
  return st.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
}

std::string state_path(const std::string& out) { return out + ".trainstate"; }

// The vocabulary a from-scratch model takes: a tokenizer.json, a model file that holds one
// (GGUF), or a llama2.c tokenizer.bin (which does not record its size: the config's vocab_size).
Result<Vocabulary> tokenizer_vocabulary(const std::string& path, int64_t config_vocab) {
  if (path.ends_with(".json")) return io::read_hf_tokenizer(path);
  auto fmt_r = io::detect_format(path);
  if (fmt_r.ok() && *fmt_r == io::FileFormat::kGguf) {
    BITSMITH_ASSIGN_OR_RETURN(auto m, io::open_model(path));
    if (m->vocabulary().empty()) return invalid_argument("{}: holds no tokenizer", path);
    return m->vocabulary();
  }
  if (config_vocab <= 0) {
    return invalid_argument("{}: a llama2.c tokenizer does not record its size: give vocab_size in the config", path);
  }
  return io::read_llama2c_tokenizer(path, config_vocab);
}

struct Start {
  std::unique_ptr<Model> model;  // the checkpoint trained from (null from scratch)
  Vocabulary vocab;
  std::optional<train::TrainState> state;
};

Result<Start> start_from(const TrainArgs& a) {
  Start s;
  if (!a.model.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(s.model, io::open_model(a.model, a.tokenizer));
    if (s.model->vocabulary().empty()) return invalid_argument("{}: no tokenizer (give --tokenizer FILE)", a.model);
    s.vocab = s.model->vocabulary();
    BITSMITH_ASSIGN_OR_RETURN(auto w, train::Weights::load(*s.model));
    s.state.emplace(std::move(w), a.c.adam);
    if (a.resume) BITSMITH_RETURN_IF_ERROR(train::read_train_state(state_path(a.model), *s.state));
    return s;
  }
  BITSMITH_ASSIGN_OR_RETURN(std::string text, read_file_bounded(a.config, {1 << 20, true, "model config"}));
  // The config's vocab_size, if any, sizes a llama2.c tokenizer; other tokenizers give their own.
  auto peek = train::hyperparameters_from_json(text, a.config, 0);
  const int64_t config_vocab = peek.ok() ? peek->vocab_size : 0;
  BITSMITH_ASSIGN_OR_RETURN(s.vocab, tokenizer_vocabulary(a.tokenizer, config_vocab));
  BITSMITH_ASSIGN_OR_RETURN(auto hp, train::hyperparameters_from_json(text, a.config,
                                                                      static_cast<int64_t>(s.vocab.tokens.size())));
  BITSMITH_ASSIGN_OR_RETURN(auto w, train::Weights::random(hp, a.c.seed));
  s.state.emplace(std::move(w), a.c.adam);
  return s;
}

Result<train::TokenStreams> token_streams(const TrainArgs& a, const Vocabulary& vocab) {
  BITSMITH_ASSIGN_OR_RETURN(auto tok, infer::Tokenizer::create(vocab));
  BITSMITH_ASSIGN_OR_RETURN(std::string text, eval::read_text(a.text));
  auto tokens = tok->encode(text, vocab.add_bos);
  if (a.val.empty()) return train::split_tokens(std::move(tokens), a.val_fraction);
  BITSMITH_ASSIGN_OR_RETURN(std::string val, eval::read_text(a.val));
  return train::TokenStreams{std::move(tokens), tok->encode(val, vocab.add_bos)};
}

std::string duration(double s) {
  const auto t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

Status write_checkpoint(const TrainArgs& a, const train::TrainState& state, const Vocabulary& vocab,
                        io::OutputFormat format) {
  train::WeightsModel model(state.weights, vocab, "(weights in training)");
  BITSMITH_ASSIGN_OR_RETURN(auto recipe, plan::recipe_for_scheme_name("f32"));
  BITSMITH_ASSIGN_OR_RETURN(auto plans, recipe.resolve(model, format));
  io::QuantizeConfig qc;
  qc.format = format;
  BITSMITH_RETURN_IF_ERROR(io::quantize_model(model, a.out, plans, qc).status());
  BITSMITH_RETURN_IF_ERROR(train::write_train_state(state_path(a.out), state));
  if (a.curve.empty()) return Status::Ok();
  return write_file_atomic(a.curve, a.curve.ends_with(".csv") ? train::curve_csv(state.curve)
                                                               : train::curve_json(state.curve));
}

void check_usage(const TrainArgs& a) {
  if (a.model.empty() == a.config.empty()) throw UsageError("give a MODEL to train on, or --config FILE.json to train from scratch (not both)");
  if (!a.config.empty() && a.tokenizer.empty()) throw UsageError("--config needs --tokenizer (the vocabulary of the new model)");
  if (a.resume && a.model.empty()) throw UsageError("--resume continues a checkpoint: give it as MODEL");
  if (a.resume && a.seed_opt->count() > 0) throw UsageError("--seed does nothing with --resume (the checkpoint's run keeps its own)");
  if (!a.val.empty() && a.val_fraction_opt->count() > 0) throw UsageError("--val and --val-fraction exclude each other");
  if (!(a.val_fraction > 0 && a.val_fraction < 1)) throw UsageError("--val-fraction must be between 0 and 1");
  if (a.c.stop_at >= a.c.steps) throw UsageError(fmt::format("--stop-at {} must come before --steps {}", a.c.stop_at, a.c.steps));
  if (a.c.warmup >= a.c.steps) throw UsageError(fmt::format("--warmup {} leaves no step of --steps {} after it", a.c.warmup, a.c.steps));
  if (!(a.c.lr > 0) || a.c.min_lr < 0 || a.c.min_lr > a.c.lr) throw UsageError("--lr must be positive and --min-lr between 0 and --lr");
  if ((a.history_opt->count() > 0 || a.margin_opt->count() > 0) && a.recipe != "fp8-delayed") {
    throw UsageError("--amax-history and --margin apply to --recipe fp8-delayed only");
  }
  if (a.keep_opt->count() > 0 && a.recipe != "nvfp4") throw UsageError("--keep-last applies to --recipe nvfp4 only");
  if (!a.curve.empty() && !a.curve.ends_with(".json") && !a.curve.ends_with(".csv")) throw UsageError("--curve FILE must end in .json or .csv");
}

int run_train(TrainArgs a) {
  check_usage(a);
  auto format = io::output_format_for(a.out, a.format);
  if (!format.ok()) throw UsageError(format.status().message());
  if (auto probe = train::make_recipe(a.recipe, a.ro); !probe.ok()) throw UsageError(probe.status().message());
  a.ro.seed = a.c.seed;
  if (!a.qat.empty()) {
    auto s = quant::find_scheme(a.qat);
    if (!s.ok()) throw UsageError(s.status().message());
    a.c.qat_scheme = *s;
  }
  if (a.threads > 0) ThreadPool::set_global_threads(a.threads);
  auto start = start_from(a);
  if (!start.ok()) return fail(start.status());
  train::TrainState& state = *start->state;
  const int64_t end = a.c.stop_at > 0 ? a.c.stop_at : a.c.steps;
  if (a.resume && state.step >= end) {
    throw UsageError(fmt::format("{} has done {} steps already; --steps/--stop-at {} leaves nothing to do", a.model, state.step, end));
  }
  {  // the outputs must spare every input, before any work
    train::WeightsModel probe(state.weights, start->vocab, "(weights in training)");
    std::vector<std::string> inputs{a.text};
    for (const auto& f : {a.val, a.config, a.tokenizer, a.model, a.resume ? state_path(a.model) : std::string()}) {
      if (!f.empty()) inputs.push_back(f);
    }
    if (start->model) for (const auto& f : start->model->source_files()) inputs.push_back(f);
    Status st = io::check_output_spares_inputs(probe, a.out, *format, inputs);
    if (st.ok()) {
      InputFiles in;
      in.add(inputs);
      st = in.check_output(state_path(a.out));
      if (st.ok() && !a.curve.empty()) st = in.check_output(a.curve);
    }
    if (!st.ok()) return fail(st);
  }
  const auto& hp = state.weights.hparams();
  if (a.c.seq > hp.context_length) {
    throw UsageError(fmt::format("--seq {} exceeds the model's context length {}", a.c.seq, hp.context_length));
  }
  auto streams = token_streams(a, start->vocab);
  if (!streams.ok()) return fail(streams.status());
  if (Status st = train::check_streams(*streams, a.c); !st.ok()) return fail(st);

  const int64_t first_step = state.step;
  train::TrainHooks hooks;
  hooks.progress = [&](const train::CurvePoint& p, int64_t total) {
    if (p.step % a.log_every != 0 && p.val_loss < 0 && p.step != end) return;
    const double per_step = p.seconds / static_cast<double>(p.step - first_step);
    std::fprintf(stderr, "step %lld/%lld  loss %.4f%s  lr %.2e  |g| %.3g  %.0f tok/s  ETA %s\n",
                 static_cast<long long>(p.step), static_cast<long long>(total), p.loss,
                 p.val_loss >= 0 ? fmt::format("  val {:.4f}", p.val_loss).c_str() : "", p.lr, p.grad_norm,
                 p.tokens_per_s, duration(per_step * static_cast<double>(end - p.step)).c_str());
  };
  hooks.checkpoint = [&](const train::TrainState& s) { return write_checkpoint(a, s, start->vocab, *format); };
  auto precision = train::make_recipe(a.recipe, a.ro, hp.n_layers);
  if (!precision.ok()) return fail(precision.status());
  train::PassOptions pass;
  pass.precision = precision->get();
  auto sum = train::run_training(state, *streams, a.c, hooks, pass);
  if (!sum.ok()) return fail(sum.status());
  // Per tensor and operand: what the recipe's casts lost (none for fp32).
  nlohmann::json casts = nlohmann::json::object();
  uint64_t values = 0, overflows = 0, underflows = 0;
  if (*precision) {
    for (const auto& [key, st] : (*precision)->stats()) {
      casts[key] = {{"values", st.values}, {"overflows", st.overflows}, {"underflows", st.underflows},
                    {"casts", st.casts}, {"last_scale", json_number(st.last_scale)},
                    {"last_amax", json_number(st.last_amax)}, {"amax_history", st.amax_history}};
      values += st.values, overflows += st.overflows, underflows += st.underflows;
    }
  }
  if (a.json) {
    nlohmann::json curve = nlohmann::json::parse(train::curve_json(state.curve))["points"];
    print_json({{"output", a.out}, {"state", state_path(a.out)}, {"curve_file", a.curve}, {"recipe", a.recipe}, {"qat", a.qat},
                {"parameters", state.weights.parameter_count()}, {"first_step", first_step}, {"steps", state.step},
                {"train_tokens", streams->train.size()}, {"val_tokens", streams->val.size()},
                {"final_loss", json_number(sum->final_loss)}, {"final_val_loss", json_number(sum->final_val_loss)},
                {"seconds", json_number(sum->seconds)}, {"tokens_per_s", json_number(sum->tokens_per_s)},
                {"activation_bytes", sum->activation_bytes}, {"threads", ThreadPool::global().num_threads()},
                {"casts", casts}, {"cast_totals", {{"values", values}, {"overflows", overflows}, {"underflows", underflows}}},
                {"curve", curve}});
  } else {
    std::printf("trained %lld steps (%lld..%lld) of %lld parameters: loss %.4f, held-out loss %.4f, %.1f s, %.0f tok/s\n",
                static_cast<long long>(sum->steps_run), static_cast<long long>(first_step + 1),
                static_cast<long long>(state.step), static_cast<long long>(state.weights.parameter_count()),
                sum->final_loss, sum->final_val_loss, sum->seconds, sum->tokens_per_s);
    if (*precision) {
      std::printf("%s casts: %llu values, %llu overflows (%.3g%%), %llu underflows (%.3g%%) over %zu tensor operands\n",
                  a.recipe.c_str(), static_cast<unsigned long long>(values), static_cast<unsigned long long>(overflows),
                  values ? 100.0 * static_cast<double>(overflows) / static_cast<double>(values) : 0.0,
                  static_cast<unsigned long long>(underflows),
                  values ? 100.0 * static_cast<double>(underflows) / static_cast<double>(values) : 0.0,
                  (*precision)->stats().size());
    }
    std::printf("wrote %s\nwrote %s\n", a.out.c_str(), state_path(a.out).c_str());
    if (!a.curve.empty()) std::printf("wrote %s\n", a.curve.c_str());
  }
  return kExitOk;
}

std::function<int()> setup_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "Train a Llama decoder on a text (from scratch or a checkpoint)");
  sub->add_option("model", a->model, "checkpoint to train on (GGUF, safetensors, llama2.c)");
  sub->add_option("--config", a->config, "train from scratch: the architecture as JSON (dim, n_layers, n_heads, ...)");
  sub->add_option("--tokenizer", a->tokenizer, "tokenizer (llama2.c checkpoints; with --config: tokenizer.json, a GGUF or tokenizer.bin)");
  sub->add_option("--text", a->text, "training text (UTF-8)")->required();
  sub->add_option("--val", a->val, "held-out text (default: the last --val-fraction of --text)");
  a->val_fraction_opt = sub->add_option("--val-fraction", a->val_fraction, "share of --text held out")->capture_default_str();
  sub->add_option("-o,--output", a->out, "checkpoint: FILE.gguf, FILE.safetensors or a directory")->required();
  sub->add_option("--format", a->format, "gguf or safetensors (default: from the extension)");
  sub->add_option("--steps", a->c.steps, "optimizer steps in all")->capture_default_str()->check(at_least(1));
  sub->add_option("--stop-at", a->c.stop_at, "stop after this step (the schedule still targets --steps; --resume goes on)")->check(at_least(1));
  sub->add_option("--batch", a->c.batch, "sequences per micro-batch")->capture_default_str()->check(at_least(1));
  sub->add_option("--seq", a->c.seq, "tokens per sequence")->capture_default_str()->check(at_least(1));
  sub->add_option("--accumulate", a->c.accumulate, "micro-batches per step")->capture_default_str()->check(at_least(1));
  sub->add_option("--lr", a->c.lr, "peak learning rate")->capture_default_str();
  sub->add_option("--min-lr", a->c.min_lr, "learning rate at the end of the cosine")->capture_default_str();
  sub->add_option("--warmup", a->c.warmup, "linear warm-up steps")->capture_default_str()->check(at_least(0));
  sub->add_option("--weight-decay", a->c.adam.weight_decay, "AdamW decoupled weight decay (matrices)")->capture_default_str();
  sub->add_option("--clip", a->c.clip, "global gradient-norm clip (0 = none)")->capture_default_str();
  sub->add_option("--eval-every", a->c.eval_every, "held-out loss every N steps (0 = at the end)")->capture_default_str()->check(at_least(0));
  sub->add_option("--eval-batches", a->c.eval_batches, "held-out micro-batches per evaluation")->capture_default_str()->check(at_least(1));
  sub->add_option("--checkpoint-every", a->c.checkpoint_every, "write OUT every N steps (0 = at the end)")->capture_default_str()->check(at_least(0));
  a->seed_opt = sub->add_option("--seed", a->c.seed, "initialization and batch order")->capture_default_str();
  sub->add_option("--recipe", a->recipe, "precision: fp32, bf16, fp8-current, fp8-delayed, mxfp8, nvfp4")->capture_default_str();
  a->history_opt = sub->add_option("--amax-history", a->ro.amax_history, "fp8-delayed: amax history length H")->capture_default_str()->check(at_least(1));
  a->margin_opt = sub->add_option("--margin", a->ro.margin, "fp8-delayed: scale margin (powers of two of headroom)")->capture_default_str();
  a->keep_opt = sub->add_option("--keep-last", a->ro.keep_last, "nvfp4: the last N layers kept in bf16")->capture_default_str()->check(at_least(0));
  sub->add_option("--qat", a->qat, "quantization-aware: train through the block linears fake-quantized to this scheme "
                                    "(straight-through); then `quantize OUT --scheme S` writes them");
  sub->add_option("--curve", a->curve, "write the loss curve to FILE.json or FILE.csv");
  sub->add_flag("--resume", a->resume, "continue MODEL's run from MODEL.trainstate");
  sub->add_option("--log-every", a->log_every, "progress line every N steps")->capture_default_str()->check(at_least(1));
  sub->add_option("--threads", a->threads, "threads (default: all cores)");
  sub->add_flag("--json", a->json, "one JSON document on stdout");
  return [a] { return run_train(*a); };
}

}  // namespace
BITSMITH_COMMAND("train", setup_train);
}  // namespace bitsmith::cli
