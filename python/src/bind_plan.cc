// bitsmith.advise() and bitsmith.devices(): plan's advisor (plan::advise_with, the code of
// `bitsmith advise`; with calibration text algo::advise_measured, `bitsmith advise MODEL --calib`)
// and its device table, returning the CLI's JSON documents.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>

#include "bitsmith/algo/plan_measure.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/plan/advise_request.h"
#include "common.h"

namespace bitsmith::python {

namespace {

// The advisor's options as the Python layer sets them (plan::AdviseOptions' plain fields; the
// files they name are read here, as the CLI reads them). measure.calib set: the model is measured
// now (measure.cache, when set, keeps the measurements), as `bitsmith advise MODEL --calib` does.
nb::object advise(plan::AdviseOptions o, const algo::MeasureRequest& measure) {
  const bool measuring = !measure.calib.empty();
  io::ModelOrConfig read;
  if (!o.source.empty()) read = unwrap(io::open_model_or_config(o.source));
  o.model = read.model.get();
  o.hyperparameters = read.hyperparameters;
  std::optional<plan::Measurements> measurements;
  if (!o.measurements_path.empty() && !measuring) {
    measurements = unwrap(plan::Measurements::load(o.measurements_path));
    o.measurements = &*measurements;
  }
  Result<plan::Advice> advice = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    if (measuring) {
      algo::MeasureRequest r = measure;
      r.cache = o.measurements_path;
      o.measurements_path.clear();
      advice = algo::advise_measured(o, r);
    } else {
      advice = plan::advise_with(o);
    }
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
  nb::class_<algo::MeasureRequest>(m, "MeasureRequest")
      .def(nb::init<>())
      .def_rw("calib", &algo::MeasureRequest::calib)
      .def_rw("candidates", &algo::MeasureRequest::candidates)
      .def_rw("method", &algo::MeasureRequest::method)
      .def_rw("costs", &algo::MeasureRequest::costs)
      .def_rw("samples", &algo::MeasureRequest::samples)
      .def_rw("seqlen", &algo::MeasureRequest::seqlen)
      .def_rw("seed", &algo::MeasureRequest::seed)
      .def_rw("fit_samples", &algo::MeasureRequest::fit_samples);
  m.def("advise", &advise, nb::arg("options"), nb::arg("measure"));
  m.def("devices", &devices, "The device profiles (bitsmith advise --list-devices --json).");
}

}  // namespace bitsmith::python
