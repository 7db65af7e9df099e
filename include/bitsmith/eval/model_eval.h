// `bitsmith eval` and `bitsmith compare` as library calls on model files: open the model(s),
// tokenize the text, build the engines (fake-quantized exactly as `bitsmith quantize` would
// write the model), run them in lockstep and return the scores with the JSON document the CLI
// prints and Python's bitsmith.evaluate()/compare() return. The CLI and the bindings only parse
// arguments and print; everything they do lives here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/eval/evaluator.h"
#include "bitsmith/eval/scheme_plan.h"
#include "bitsmith/infer/engine.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::eval {

// Engine options for a model read from a file (io::FileModel): a quantized embedding/output is
// read as stored (a view over the memory map), and each layer's file pages are dropped once the
// layer has run, so not all of a model's pages are resident. Plain options for other models.
infer::EngineOptions file_engine_options(const Model& model);
// Each block linear's input quantized with the static scales the checkpoint holds
// (FileModel::static_inputs, written by `quantize --activations static`). A model that holds
// none is an error: the request would do nothing.
Status use_static_activations(const Model& model, infer::EngineOptions* options);

// Where a run is: `stage` names the model or scheme being scored; chunks of this stage.
struct RunProgress {
  std::string_view stage;
  int64_t chunks_done = 0, chunks_total = 0;
  double seconds = 0;       // of this stage
  int64_t tokens_done = 0;  // tokens through every engine of this stage
};
using RunProgressFn = std::function<void(const RunProgress&)>;

// What both runs share: the text and how it is scored.
struct TextRun {
  std::string text;       // path of the text file (eval::read_text's rule)
  std::string tokenizer;  // tokenizer file for a model without one (llama2.c)
  PplStyle style = PplStyle::kLlamaCpp;
  int64_t ctx = 0;        // tokens per chunk; 0: min(512, the model's context)
  int64_t max_chunks = 0; // 0: every whole chunk
  std::string act_scheme; // also fake-quantize every linear input (per token row); empty: none
  RunProgressFn progress;
};

// `bitsmith eval MODEL --text F [--ref R] [--scheme S | --recipe R] [--rule ..]
// [--linears-only] [--act-scheme A] [--static-activations]`.
struct EvalRequest {
  std::string model;
  TextRun run;
  std::string ref, ref_tokenizer;     // the reference; empty: the model itself when anything
                                      // is quantized, else no reference
  std::optional<plan::Recipe> recipe; // weights as quantize writes them with this recipe
  size_t user_rules = 0;              // the recipe's first rules came from the user: each must match
  std::string label;                  // the weights' label in tables and JSON ("q4_k", "q4_k_m+rules")
  std::string linears_only;           // instead of a recipe: this scheme on the block linears that fit
  bool static_activations = false;
};
struct EvalReport {
  EvalRequest request;
  int64_t ctx = 0;
  SchemePlan plan;
  EvalResult result;                  // models: [reference,] the model
  std::vector<std::string> notes;     // recipe-file rules that matched nothing
  bool has_ref() const { return result.models.size() > 1; }
  const ModelScore& score() const { return result.models.back(); }
  std::string ref_label() const;
};
Result<EvalReport> evaluate_model(const EvalRequest& request);
// `bitsmith eval --json`'s document.
nlohmann::json to_json(const EvalReport& report);

// `bitsmith compare MODEL --text F --schemes S1,S2 [--recipe R1,R2] [--linears-only]`: the
// unquantized model and one fake-quantized copy per scheme, one scheme at a time beside the
// reference (memory is the reference plus one scheme's layers, whatever the number of schemes).
struct CompareRequest {
  std::string model;
  TextRun run;
  std::vector<std::string> schemes;  // schemes, named recipes or recipe files
  std::vector<std::string> recipes;  // llama.cpp mix names or recipe files
  bool linears_only = false;         // plain schemes on the block linears that fit only
};
struct CompareRow {
  std::string label;
  SchemePlan plan;
  ModelScore score;
  double delta_ppl = 0;
  bool pareto = false;
  // A scheme none of whose tensors fit (q4_k on a 64-wide model) is measured as the file
  // quantize would write (every tensor in its fallback), so it gets a verdict, marked as such,
  // and stays off the Pareto front, where it would only repeat the fallback schemes' points.
  bool applies() const { return plan.applied > 0; }
  std::string verdict() const;
};
struct CompareReport {
  CompareRequest request;
  int64_t ctx = 0;
  SchemePlan baseline;
  ModelScore reference;
  EvalResult result;  // the totals (chunks, tokens, seconds); models[0] the reference, then one per row
  std::vector<CompareRow> rows;
};
Result<CompareReport> compare_schemes(const CompareRequest& request);
// `bitsmith compare --json`'s document.
nlohmann::json to_json(const CompareReport& report);

// Rows no other row beats on both bytes and KL divergence (ties on both keep the first).
void mark_pareto(std::vector<CompareRow>& rows);

}  // namespace bitsmith::eval
