// bitsmith.advise() and bitsmith.devices(): plan's advisor (plan::advise_with, the code of
// `bitsmith advise`) and its device table, returning the CLI's JSON documents.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>

#include "bitsmith/io/model_file.h"
#include "bitsmith/plan/advise_request.h"
#include "common.h"

namespace bitsmith::python {

namespace {

// The advisor's options as the Python layer sets them (plan::AdviseOptions' plain fields; the
// files they name are read here, as the CLI reads them).
nb::object advise(plan::AdviseOptions o) {
  io::ModelOrConfig read;
  if (!o.source.empty()) read = unwrap(io::open_model_or_config(o.source));
  o.model = read.model.get();
  o.hyperparameters = read.hyperparameters;
  std::optional<plan::Measurements> measurements;
  if (!o.measurements_path.empty()) {
    measurements = unwrap(plan::Measurements::load(o.measurements_path));
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
  nb::class_<plan::AdviseOptions>(m, "AdviseOptions")
      .def(nb::init<>())
      .def_rw("model", &plan::AdviseOptions::source)
      .def_rw("params", &plan::AdviseOptions::params)
      .def_rw("device", &plan::AdviseOptions::device)
      .def_rw("memory", &plan::AdviseOptions::memory)
      .def_rw("bandwidth", &plan::AdviseOptions::bandwidth)
      .def_rw("task", &plan::AdviseOptions::task)
      .def_rw("measurements", &plan::AdviseOptions::measurements_path)
      .def_rw("priority", &plan::AdviseOptions::priority)
      .def_rw("kv_cache", &plan::AdviseOptions::kv_cache)
      .def_rw("context", &plan::AdviseOptions::context)
      .def_rw("lora_rank", &plan::AdviseOptions::lora_rank)
      .def_rw("batch", &plan::AdviseOptions::batch)
      .def_rw("schemes", &plan::AdviseOptions::schemes);
  m.def("advise", &advise, nb::arg("options"));
  m.def("devices", &devices, "The device profiles (bitsmith advise --list-devices --json).");
}

}  // namespace bitsmith::python
