// bitsmith.advise() and bitsmith.devices(): plan's advisor (plan::advise_with, the code of
// `bitsmith advise`) and its device table, returning the CLI's JSON documents.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/safetensors.h"
#include "bitsmith/plan/advise_request.h"
#include "common.h"

namespace bitsmith::python {

namespace {

// The advisor's options as the Python layer passes them (None: the default).
struct AdviseArgs {
  std::string model, params, device, memory, bandwidth, task = "inference", measurements;
  std::optional<std::string> priority, kv_cache;
  std::optional<int64_t> context, lora_rank;
  int64_t batch = 1;
  std::vector<std::string> schemes;
};

nb::object advise(const AdviseArgs& a) {
  plan::AdviseOptions o;
  o.params = a.params;
  o.source = a.model;
  o.device = a.device;
  o.memory = a.memory;
  o.bandwidth = a.bandwidth;
  o.task = a.task;
  o.priority = a.priority;
  o.kv_cache = a.kv_cache;
  o.context = a.context;
  o.lora_rank = a.lora_rank;
  o.batch = a.batch;
  o.schemes = a.schemes;
  o.measurements_path = a.measurements;
  // The files are read here, as the CLI reads them: a config.json's hyperparameters or the model.
  std::unique_ptr<Model> model;
  if (a.model.ends_with(".json") && !a.model.ends_with(".index.json")) {
    o.hyperparameters = unwrap(io::load_hf_config(a.model));
  } else if (!a.model.empty()) {
    model = unwrap(io::open_model(a.model, ""));
    o.model = model.get();
  }
  std::optional<plan::Measurements> measurements;
  if (!a.measurements.empty()) {
    measurements = unwrap(plan::Measurements::load(a.measurements));
    o.measurements = &*measurements;
  }
  Result<plan::Advice> advice = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    advice = plan::advise_with(o);
  }
  return to_python(plan::to_json(unwrap(std::move(advice))));
}

nb::list devices() {
  nb::list out;
  for (const auto& d : plan::device_profiles()) out.append(to_python(plan::device_record(d)));
  return out;
}

}  // namespace

void bind_plan(nb::module_& m) {
  nb::class_<AdviseArgs>(m, "AdviseArgs")
      .def(nb::init<>())
      .def_rw("model", &AdviseArgs::model)
      .def_rw("params", &AdviseArgs::params)
      .def_rw("device", &AdviseArgs::device)
      .def_rw("memory", &AdviseArgs::memory)
      .def_rw("bandwidth", &AdviseArgs::bandwidth)
      .def_rw("task", &AdviseArgs::task)
      .def_rw("measurements", &AdviseArgs::measurements)
      .def_rw("priority", &AdviseArgs::priority)
      .def_rw("kv_cache", &AdviseArgs::kv_cache)
      .def_rw("context", &AdviseArgs::context)
      .def_rw("lora_rank", &AdviseArgs::lora_rank)
      .def_rw("batch", &AdviseArgs::batch)
      .def_rw("schemes", &AdviseArgs::schemes);
  m.def("advise", &advise, nb::arg("args"));
  m.def("devices", &devices, "The device profiles (bitsmith advise --list-devices --json).");
}

}  // namespace bitsmith::python
