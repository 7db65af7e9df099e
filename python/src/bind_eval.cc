// bitsmith.evaluate() and bitsmith.compare(): the library's eval::evaluate_model and
// eval::compare_schemes, returning the documents `bitsmith eval --json` and `bitsmith compare
// --json` print (one builder for both: eval::to_json).
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <nlohmann/json.hpp>

#include <optional>

#include "bitsmith/eval/model_eval.h"
#include "common.h"

namespace bitsmith::python {

namespace {

// stage, chunks done, chunks in all, seconds of the stage, tokens through its engines.
using ProgressFn = std::function<void(std::string, int64_t, int64_t, double, int64_t)>;

// How the text is scored, as both calls take it.
struct TextArgs {
  std::string text, tokenizer, style = "llamacpp", act_scheme;
  int64_t ctx = 0, max_chunks = 0;
};

// Calls a Python progress callback from the library's threads: with the GIL, and the first
// exception it raises kept to be raised when the run returns (the run itself goes on).
struct ProgressRelay {
  std::optional<ProgressFn> fn;
  std::optional<nb::python_error> error;
  eval::RunProgressFn relay() {
    if (!fn) return {};
    return [this](const eval::RunProgress& p) {
      nb::gil_scoped_acquire acquire;
      if (error) return;
      try {
        (*fn)(std::string(p.stage), p.chunks_done, p.chunks_total, p.seconds, p.tokens_done);
      } catch (nb::python_error& e) {
        error.emplace(std::move(e));
      }
    };
  }
  void rethrow() {
    if (error) throw std::move(*error);
  }
};

eval::TextRun text_run(const TextArgs& t, ProgressRelay& progress) {
  eval::TextRun run;
  run.text = t.text;
  run.tokenizer = t.tokenizer;
  run.style = unwrap(eval::parse_style(t.style));
  if (t.ctx < 0 || t.max_chunks < 0) throw nb::value_error("ctx and max_chunks: 0 (the default) or more");
  run.ctx = t.ctx;
  run.max_chunks = t.max_chunks;
  if (!t.act_scheme.empty()) (void)unwrap(quant::find_scheme(t.act_scheme));
  run.act_scheme = t.act_scheme;
  run.progress = progress.relay();
  return run;
}

nb::object evaluate(const std::string& model, const TextArgs& t, const std::string& ref, const std::string& ref_tokenizer,
                    const std::string& scheme, const std::string& recipe, const std::vector<std::string>& rules,
                    bool linears_only, bool static_activations, std::optional<ProgressFn> progress) {
  ProgressRelay relay{std::move(progress), std::nullopt};
  eval::EvalRequest rq;
  rq.model = model;
  rq.run = text_run(t, relay);
  rq.ref = ref;
  rq.ref_tokenizer = ref_tokenizer;
  rq.static_activations = static_activations;
  if (linears_only) {
    if (scheme.empty() || !recipe.empty() || !rules.empty()) {
      throw nb::value_error("evaluate: linears_only=True takes a plain scheme=, not a recipe or rules");
    }
    (void)unwrap(quant::find_scheme(scheme));
    rq.linears_only = scheme;
    rq.label = scheme;
  } else if (!scheme.empty() || !recipe.empty() || !rules.empty()) {
    rq.recipe = unwrap(plan::recipe_from_options(scheme, recipe, rules));
    rq.user_rules = rules.size();
    rq.label = rq.recipe->label() + (rules.empty() ? "" : "+rules");
  }
  Result<eval::EvalReport> rep = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    rep = eval::evaluate_model(rq);
  }
  relay.rethrow();
  nb::object doc = to_python(eval::to_json(unwrap(std::move(rep))));
  return doc;
}

nb::object compare(const std::string& model, const TextArgs& t, const std::vector<std::string>& schemes,
                   const std::vector<std::string>& recipes, bool linears_only, std::optional<ProgressFn> progress) {
  ProgressRelay relay{std::move(progress), std::nullopt};
  eval::CompareRequest rq;
  rq.model = model;
  rq.run = text_run(t, relay);
  rq.schemes = schemes;
  rq.recipes = recipes;
  rq.linears_only = linears_only;
  Result<eval::CompareReport> rep = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    rep = eval::compare_schemes(rq);
  }
  relay.rethrow();
  return to_python(eval::to_json(unwrap(std::move(rep))));
}

}  // namespace

void bind_eval(nb::module_& m) {
  nb::class_<TextArgs>(m, "TextArgs")
      .def(nb::init<>())
      .def_rw("text", &TextArgs::text)
      .def_rw("tokenizer", &TextArgs::tokenizer)
      .def_rw("style", &TextArgs::style)
      .def_rw("act_scheme", &TextArgs::act_scheme)
      .def_rw("ctx", &TextArgs::ctx)
      .def_rw("max_chunks", &TextArgs::max_chunks);
  m.def("evaluate", &evaluate, nb::arg("model"), nb::arg("text_args"), nb::arg("ref"), nb::arg("ref_tokenizer"),
        nb::arg("scheme"), nb::arg("recipe"), nb::arg("rules"), nb::arg("linears_only"), nb::arg("static_activations"),
        nb::arg("progress").none());
  m.def("compare", &compare, nb::arg("model"), nb::arg("text_args"), nb::arg("schemes"), nb::arg("recipes"),
        nb::arg("linears_only"), nb::arg("progress").none());
}

}  // namespace bitsmith::python
