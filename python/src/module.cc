// bitsmith._bitsmith: the extension module. Each bind_*.cc adds one module's functions; the
// Python package (python/bitsmith/__init__.py) checks and converts arguments and wraps results.
#include <Python.h>

#include "bitsmith/core/thread_pool.h"
#include "common.h"

namespace bitsmith::python {

void raise_status(const Status& s) {
  PyObject* type = PyExc_ValueError;
  switch (s.code()) {
    case StatusCode::kIoError:
    case StatusCode::kNotFound:
    case StatusCode::kCorruptData: type = PyExc_OSError; break;
    case StatusCode::kInternal: type = PyExc_RuntimeError; break;
    default: break;
  }
  PyErr_SetString(type, s.to_string().c_str());
  throw nb::python_error();
}

Matrix as_matrix(const F32In& x, const char* what) {
  if (x.ndim() == 0) throw nb::value_error((std::string(what) + ": expected an array of 1 or more dimensions, got a scalar").c_str());
  Matrix m;
  m.data = x.data();
  m.cols = static_cast<int64_t>(x.shape(x.ndim() - 1));
  int64_t numel = 1;
  for (size_t i = 0; i < x.ndim(); ++i) {
    m.shape.push_back(x.shape(i));
    numel *= static_cast<int64_t>(x.shape(i));
  }
  m.rows = m.cols == 0 ? 0 : numel / m.cols;
  return m;
}

}  // namespace bitsmith::python

NB_MODULE(_bitsmith, m) {
  using namespace bitsmith::python;
  m.doc() = "bitsmith's C++ library; use the bitsmith package, which wraps this module";
  m.def("set_threads", [](int n) {
    if (n < 0) throw nb::value_error("threads: 0 (every core) or more");
    bitsmith::ThreadPool::set_global_threads(n);
  }, nb::arg("n"), "Threads of the library's pool (0 = every core).");
  m.def("threads", [] { return bitsmith::ThreadPool::global().num_threads(); },
        "Threads of the library's pool.");
  bind_formats(m);
  bind_quant(m);
  bind_model(m);
  bind_eval(m);
  bind_plan(m);
}
