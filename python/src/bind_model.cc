// open() and Model, memory(), quantize_model(): model files over Python, each returning what the
// CLI's JSON holds (inspect, memory, quantize), same keys.
#include <map>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>

#include "bitsmith/algo/quantize_file.h"
#include "bitsmith/infer/tokenizer.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/io/records.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/recipe.h"
#include "common.h"

namespace bitsmith::python {
namespace {

// A model file kept open (memory-mapped) for as long as Python holds it or one of its arrays.
struct OpenModel {
  std::shared_ptr<const Model> model;
  std::shared_ptr<const infer::Tokenizer> tokenizer;  // made on first use
  const io::FileModel& file() const { return dynamic_cast<const io::FileModel&>(*model); }
  const infer::Tokenizer& tok() {
    if (!tokenizer) {
      if (model->vocabulary().empty()) throw nb::value_error((model->path() + ": no tokenizer").c_str());
      tokenizer = unwrap(infer::Tokenizer::create(model->vocabulary()));
    }
    return *tokenizer;
  }
};

// Token ids of text; BOS first where the vocabulary asks for it (add_bos unset), as eval does.
std::vector<int32_t> encode(OpenModel& m, const std::string& text, std::optional<bool> add_bos) {
  const infer::Tokenizer& t = m.tok();
  const bool bos = add_bos.value_or(m.model->vocabulary().add_bos);
  nb::gil_scoped_release release;
  return t.encode(text, bos);
}

// The bytes ids stand for (the Python layer decodes them as UTF-8).
nb::bytes decode_ids(OpenModel& m, const std::vector<int32_t>& ids) {
  const infer::Tokenizer& t = m.tok();
  for (int32_t id : ids) {
    if (id < 0 || id >= t.size()) throw nb::value_error(("decode: token id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(t.size())).c_str());
  }
  const std::string text = t.decode(ids);
  return nb::bytes(text.data(), text.size());
}

OpenModel open(const std::string& path, const std::string& tokenizer) {
  Result<std::unique_ptr<Model>> m = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    m = io::open_model(path, tokenizer);
  }
  return {std::shared_ptr<const Model>(unwrap(std::move(m))), nullptr};
}


// `bitsmith inspect --json`'s document and its parts (io::inspect_record, the CLI's builder).
nb::object hyperparameters(const OpenModel& m) { return to_python(io::hyperparameters_record(m.model->hyperparameters())); }
nb::object tokenizer(const OpenModel& m) { return to_python(io::tokenizer_record(m.model->vocabulary())); }
nb::object tensor_records(const OpenModel& m) { return to_python(io::tensor_records(*m.model)); }
nb::object inspect(const OpenModel& m) { return to_python(io::inspect_record(*m.model)); }

// One tensor as float32, dequantized if stored quantized. Plain F32 tensors come straight from
// the memory map (read-only, zero-copy; the array keeps the file open).
nb::ndarray<nb::numpy, const float> tensor(const OpenModel& m, const std::string& name) {
  if (!m.model->has_tensor(name)) {
    PyErr_SetString(PyExc_KeyError, (m.model->path() + ": no tensor named '" + name + "'").c_str());
    throw nb::python_error();
  }
  Result<Tensor> t = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    t = m.model->load_f32(name);
  }
  struct Held {
    Tensor tensor;
    std::shared_ptr<const Model> model;
  };
  auto* held = new Held{unwrap(std::move(t)), m.model};
  nb::capsule owner(held, [](void* p) noexcept { delete static_cast<Held*>(p); });
  std::vector<size_t> shape;
  for (int64_t d : held->tensor.shape().dims()) shape.push_back(static_cast<size_t>(d));
  return nb::ndarray<nb::numpy, const float>(held->tensor.data(), shape.size(), shape.data(), owner);
}

// `bitsmith memory --json`: --params or --model, schemes (recipes with a model), devices.
nb::object memory(const std::optional<std::string>& params, const std::optional<OpenModel>& model,
                const std::vector<std::string>& schemes, const std::vector<std::string>& device_specs) {
  if (params.has_value() == model.has_value()) throw nb::value_error("memory: give params or model (one of them)");
  std::vector<plan::Device> devices;
  for (const auto& d : device_specs) devices.push_back(unwrap(plan::parse_device(d)));
  if (devices.empty()) devices = plan::default_devices();
  Result<plan::MemoryPlan> mp = invalid_argument("not run");
  if (model) {
    std::vector<plan::Recipe> recipes;
    for (const auto& name : schemes) recipes.push_back(unwrap(plan::recipe_for_scheme_name(name)));
    if (recipes.empty()) {
      for (const quant::Scheme* s : plan::default_memory_schemes()) recipes.push_back(unwrap(plan::Recipe::uniform(s->name())));
    }
    nb::gil_scoped_release release;
    mp = plan::plan_memory_for_model(*model->model, recipes, devices);
  } else {
    const double count = unwrap(plan::parse_param_count(*params));
    std::vector<const quant::Scheme*> list;
    for (const auto& name : schemes) {
      if (!quant::find_scheme(name).ok() && plan::Recipe::is_named(name)) {
        throw nb::value_error(("memory: '" + name + "' is a recipe: its bits per weight depend on the model's "
                               "shapes; give model= instead of params=").c_str());
      }
      list.push_back(unwrap(quant::find_scheme(name)));
    }
    if (list.empty()) list = plan::default_memory_schemes();
    mp = plan::plan_memory(count, list, devices);
  }
  return to_python(plan::to_json(unwrap(std::move(mp))));
}

using ProgressFn = std::function<void(size_t, size_t, std::string, uint64_t, uint64_t)>;

// A whole checkpoint quantized and written: what `bitsmith quantize IN OUT --scheme S | --recipe R
// [--format F] [--method M --calib FILE ...] [--allow-requantize] [--dry-run] --json` does and
// prints (algo::QuantizeJob, algo::to_json: the CLI's code).
nb::object quantize_model(const std::string& scheme, const std::string& recipe_name, algo::QuantizeRequest rq,
                          std::optional<ProgressFn> progress) {
  if (scheme.empty() == recipe_name.empty()) throw nb::value_error("quantize_model: give scheme= or recipe= (one of them)");
  rq.recipe = unwrap(plan::recipe_from_options(scheme, recipe_name, {}));
  rq.scheme = scheme;
  std::optional<nb::python_error> callback_error;
  if (progress) {
    rq.progress = [&](const io::QuantizeProgress& p) {
      nb::gil_scoped_acquire acquire;
      if (callback_error) return;
      try {
        (*progress)(p.index, p.count, p.name, p.input_bytes_done, p.input_bytes_total);
      } catch (nb::python_error& e) {
        callback_error.emplace(std::move(e));
      }
    };
  }
  const OpenModel m = open(rq.in, "");
  const algo::QuantizeJob job = unwrap(algo::QuantizeJob::plan(*m.model, rq));
  Result<algo::QuantizeFileReport> r = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    r = job.run();  // GPTQ/AWQ run here
  }
  if (callback_error) throw std::move(*callback_error);
  return to_python(algo::to_json(unwrap(std::move(r))));
}

}  // namespace

void bind_model(nb::module_& m) {
  nb::class_<OpenModel>(m, "Model")
      .def_prop_ro("path", [](const OpenModel& o) { return o.model->path(); })
      .def_prop_ro("format", [](const OpenModel& o) { return std::string(o.model->file_format()); })
      .def_prop_ro("hyperparameters", &hyperparameters)
      .def_prop_ro("tokenizer", &tokenizer)
      .def_prop_ro("tensors", &tensor_records)
      .def_prop_ro("metadata", [](const OpenModel& o) {
        nb::dict d;
        for (const auto& [k, v] : o.file().metadata()) d[nb::str(k.c_str())] = v;
        return d;
      })
      .def("inspect", &inspect)
      .def("encode", &encode, nb::arg("text"), nb::arg("add_bos").none())
      .def("decode", &decode_ids, nb::arg("ids"))
      .def("tensor", &tensor, nb::arg("name"))
      .def("has_tensor", [](const OpenModel& o, const std::string& n) { return o.model->has_tensor(n); });
  m.def("open", &open, nb::arg("path"), nb::arg("tokenizer") = "");
  m.def("memory", &memory, nb::arg("params").none(), nb::arg("model").none(), nb::arg("schemes"), nb::arg("devices"));
  // algo::QuantizeRequest's plain fields (the recipe and the progress callback are set by
  // quantize_model); GPTQ's settings as flat attributes.
  nb::class_<algo::QuantizeRequest>(m, "QuantizeRequest")
      .def(nb::init<>())
      .def_rw("input", &algo::QuantizeRequest::in)
      .def_rw("output", &algo::QuantizeRequest::out)
      .def_rw("format", &algo::QuantizeRequest::format)
      .def_rw("method", &algo::QuantizeRequest::method)
      .def_rw("calib", &algo::QuantizeRequest::calib)
      .def_rw("imatrix", &algo::QuantizeRequest::imatrix)
      .def_rw("calib_samples", &algo::QuantizeRequest::calib_samples)
      .def_rw("calib_seqlen", &algo::QuantizeRequest::calib_seqlen)
      .def_rw("seed", &algo::QuantizeRequest::seed)
      .def_rw("activations", &algo::QuantizeRequest::activations)
      .def_rw("allow_requantize", &algo::QuantizeRequest::allow_requantize)
      .def_rw("dry_run", &algo::QuantizeRequest::dry_run)
      .def_prop_rw("act_order", [](const algo::QuantizeRequest& r) { return r.gptq.act_order; },
                   [](algo::QuantizeRequest& r, bool v) { r.gptq.act_order = v; })
      .def_prop_rw("weighted_params", [](const algo::QuantizeRequest& r) { return r.gptq.weighted_params; },
                   [](algo::QuantizeRequest& r, bool v) { r.gptq.weighted_params = v; })
      .def_prop_rw("refit_params", [](const algo::QuantizeRequest& r) { return r.gptq.refit_params; },
                   [](algo::QuantizeRequest& r, bool v) { r.gptq.refit_params = v; })
      .def_prop_rw("static_groups", [](const algo::QuantizeRequest& r) { return r.gptq.static_groups; },
                   [](algo::QuantizeRequest& r, bool v) { r.gptq.static_groups = v; })
      .def_prop_rw("damp", [](const algo::QuantizeRequest& r) { return r.gptq.damp; },
                   [](algo::QuantizeRequest& r, double v) { r.gptq.damp = v; })
      .def_prop_rw("qat_steps", [](const algo::QuantizeRequest& r) { return r.qat.steps; },
                   [](algo::QuantizeRequest& r, int64_t v) { r.qat.steps = v; })
      .def_prop_rw("qat_lr", [](const algo::QuantizeRequest& r) { return r.qat.lr; },
                   [](algo::QuantizeRequest& r, double v) { r.qat.lr = v; })
      .def_prop_rw("qat_batch", [](const algo::QuantizeRequest& r) { return r.qat.batch; },
                   [](algo::QuantizeRequest& r, int64_t v) { r.qat.batch = v; })
      .def_prop_rw("distill", [](const algo::QuantizeRequest& r) { return r.qat.distill; },
                   [](algo::QuantizeRequest& r, bool v) { r.qat.distill = v; });
  m.def("quantize_model", &quantize_model, nb::arg("scheme"), nb::arg("recipe"), nb::arg("request"),
        nb::arg("progress").none());
}

}  // namespace bitsmith::python
