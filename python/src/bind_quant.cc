// schemes(), quantize(), fake_quantize(), error(), synthetic(): the quant module over numpy.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "bitsmith/quant/metrics.h"
#include "bitsmith/quant/scheme.h"
#include "common.h"

namespace bitsmith::python {
namespace {

using quant::QuantizedTensor;

const quant::Scheme& scheme_named(const std::string& name) { return *unwrap(quant::find_scheme(name)); }

// One row of `bitsmith schemes --json`, same keys (block: the CLI's display text is left out).
nb::dict traits_record(const quant::SchemeTraits& t) {
  nb::dict r;
  r["name"] = t.name;
  r["element_format"] = t.element_format;
  r["scale_format"] = t.scale_format;
  const std::string_view g = quant::granularity_name(t.granularity);
  r["granularity"] = nb::str(g.data(), g.size());
  r["block_rows"] = t.block_rows;
  r["block_cols"] = t.block_cols;
  r["bits_per_weight"] = number(t.bits_per_weight);
  r["symmetric"] = t.symmetric;
  r["description"] = t.description;
  if (t.gguf_type >= 0) {
    r["gguf_type"] = t.gguf_type;
    r["bytes_per_block"] = t.bytes_per_block;
  }
  return r;
}

nb::list scheme_records() {
  nb::list rows;
  for (const quant::Scheme* s : quant::listed_schemes()) rows.append(traits_record(s->traits()));
  return rows;
}

// Per-column importance: a float32 vector of length cols, or none.
const float* importance_of(const std::optional<F32In>& importance, int64_t cols) {
  if (!importance) return nullptr;
  if (importance->ndim() != 1 || static_cast<int64_t>(importance->shape(0)) != cols) {
    throw nb::value_error(("importance: expected a 1-D array of " + std::to_string(cols) +
                           " values (one per column)").c_str());
  }
  return importance->data();
}

quant::QuantizeOptions options(const std::optional<F32In>& importance, int64_t cols, bool allow_nonfinite,
                               float shared_amax) {
  quant::QuantizeOptions opt;
  opt.importance = importance_of(importance, cols);
  opt.allow_nonfinite = allow_nonfinite;
  opt.shared_amax = shared_amax;
  return opt;
}

QuantizedTensor quantize(const F32In& x, const std::string& scheme, const std::optional<F32In>& importance,
                         bool allow_nonfinite, float shared_amax) {
  const quant::Scheme& s = scheme_named(scheme);
  const Matrix m = as_matrix(x, "quantize");
  const quant::QuantizeOptions opt = options(importance, m.cols, allow_nonfinite, shared_amax);
  check(s.check_shape(m.rows, m.cols));
  Result<QuantizedTensor> q = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    q = s.quantize(m.data, m.rows, m.cols, opt);
  }
  return unwrap(std::move(q));
}

nb::ndarray<nb::numpy, float> dequantize(const QuantizedTensor& q) {
  std::vector<float> out(static_cast<size_t>(q.rows * q.cols));
  Status st;
  {
    nb::gil_scoped_release release;
    st = q.scheme->dequantize(q.view(), out.data());
  }
  check(st);
  return owned_array(std::move(out), {static_cast<size_t>(q.rows), static_cast<size_t>(q.cols)});
}

nb::ndarray<nb::numpy, float> fake_quantize(const F32In& x, const std::string& scheme,
                                            const std::optional<F32In>& importance, bool allow_nonfinite) {
  const quant::Scheme& s = scheme_named(scheme);
  const Matrix m = as_matrix(x, "fake_quantize");
  const quant::QuantizeOptions opt = options(importance, m.cols, allow_nonfinite, 0.0f);
  check(s.check_shape(m.rows, m.cols));
  std::vector<float> out(static_cast<size_t>(m.rows * m.cols));
  Status st;
  {
    nb::gil_scoped_release release;
    st = s.fake_quantize(m.data, m.rows, m.cols, out.data(), opt);
  }
  check(st);
  return owned_array(std::move(out), m.shape);
}

nb::dict histogram_record(const quant::Histogram& h) {
  nb::dict d;
  d["lo"] = number(h.lo);
  d["hi"] = number(h.hi);
  nb::list counts;
  for (uint64_t c : h.counts) counts.append(c);
  d["counts"] = counts;
  return d;
}

// One row of `bitsmith error --json`'s results, same keys; a scheme that failed gives
// {"scheme", "error"} as the CLI does.
nb::dict error_record(const Result<quant::SchemeError>& r, const quant::Scheme& s) {
  nb::dict d;
  d["scheme"] = s.name();
  if (!r.ok()) {
    d["error"] = r.status().to_string();
    return d;
  }
  const quant::ErrorMetrics& e = r->metrics;
  d["bits_per_weight"] = number(r->bits_per_weight);
  d["mse"] = number(e.mse);
  d["rmse"] = number(e.rmse);
  d["mean_abs_error"] = number(e.mean_abs_error);
  d["max_abs_error"] = number(e.max_abs_error);
  d["snr_db"] = number(e.snr_db);
  d["cosine"] = number(e.cosine);
  if (r->histogram) d["histogram"] = histogram_record(*r->histogram);
  if (r->abs_histogram) d["abs_histogram"] = histogram_record(*r->abs_histogram);
  return d;
}

nb::list error(const F32In& x, const std::vector<std::string>& schemes, int histogram, bool allow_nonfinite) {
  if (histogram < 0 || histogram > 10000) throw nb::value_error("histogram: 0..10000 bins");
  std::vector<const quant::Scheme*> list;
  for (const auto& name : schemes) list.push_back(&scheme_named(name));
  const Matrix m = as_matrix(x, "error");
  quant::QuantizeOptions opt;
  opt.allow_nonfinite = allow_nonfinite;
  std::vector<Result<quant::SchemeError>> results;
  {
    nb::gil_scoped_release release;
    for (const quant::Scheme* s : list) results.push_back(quant::evaluate_scheme(*s, m.data, m.rows, m.cols, histogram, opt));
  }
  nb::list out;
  for (size_t i = 0; i < list.size(); ++i) out.append(error_record(results[i], *list[i]));
  return out;
}

nb::ndarray<nb::numpy, float> synthetic(const std::string& distribution, int64_t rows, int64_t cols, uint64_t seed) {
  if (rows <= 0 || cols <= 0) throw nb::value_error("synthetic: rows and cols must be positive");
  Result<std::vector<float>> r = invalid_argument("not run");
  {
    nb::gil_scoped_release release;
    r = quant::synthetic_weights(distribution, rows * cols, seed);
  }
  std::vector<float> w = unwrap(std::move(r));
  return owned_array(std::move(w), {static_cast<size_t>(rows), static_cast<size_t>(cols)});
}

// The quantized tensor's bytes as a read-only uint8 array that keeps the tensor alive.
nb::ndarray<nb::numpy, const uint8_t> bytes_view(nb::handle self, const std::vector<uint8_t>& bytes) {
  const size_t n = bytes.size();
  return nb::ndarray<nb::numpy, const uint8_t>(bytes.data(), 1, &n, self);
}

// Seconds per call of the C++ quantize alone (best of `repeats`; the result freed inside the
// timed span, as the Python call frees its predecessor), for bench/python_bench.py to put next to
// the time of the whole Python call.
double kernel_seconds(const F32In& x, const std::string& scheme, int repeats) {
  const quant::Scheme& s = scheme_named(scheme);
  const Matrix m = as_matrix(x, "kernel_seconds");
  check(s.check_shape(m.rows, m.cols));
  double best = 1e300;
  bool ok = true;
  {
    nb::gil_scoped_release release;
    for (int i = 0; i < std::max(repeats, 1) && ok; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      ok = s.quantize(m.data, m.rows, m.cols).ok();
      const auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
    }
  }
  if (!ok) throw nb::value_error("kernel_seconds: quantize failed");
  return best;
}

}  // namespace

void bind_quant(nb::module_& m) {
  m.def("schemes", &scheme_records, "Every listed scheme and its traits (bitsmith schemes --json).");
  m.def("scheme_traits", [](const std::string& name) { return traits_record(scheme_named(name).traits()); },
        nb::arg("name"), "The traits of any scheme name (int<b>_g<g>[_sym] included), as schemes() lists them.");
  nb::class_<QuantizedTensor>(m, "QuantizedTensor")
      .def_prop_ro("scheme", [](const QuantizedTensor& q) { return q.scheme->name(); })
      .def_prop_ro("rows", [](const QuantizedTensor& q) { return q.rows; })
      .def_prop_ro("cols", [](const QuantizedTensor& q) { return q.cols; })
      .def_prop_ro("tensor_scale", [](const QuantizedTensor& q) { return q.tensor_scale; })
      .def_prop_ro("nbytes", [](const QuantizedTensor& q) { return q.total_bytes(); })
      .def_prop_ro("data", [](nb::handle self) { return bytes_view(self, nb::cast<QuantizedTensor&>(self).data); })
      .def_prop_ro("scale_bytes", [](nb::handle self) { return bytes_view(self, nb::cast<QuantizedTensor&>(self).scales); })
      .def_prop_ro("zero_bytes", [](nb::handle self) { return bytes_view(self, nb::cast<QuantizedTensor&>(self).zeros); })
      .def("dequantize", &dequantize);
  m.def("quantize", &quantize, nb::arg("x").noconvert(), nb::arg("scheme"), nb::arg("importance").noconvert().none(),
        nb::arg("allow_nonfinite"), nb::arg("shared_amax"));
  m.def("fake_quantize", &fake_quantize, nb::arg("x").noconvert(), nb::arg("scheme"),
        nb::arg("importance").noconvert().none(), nb::arg("allow_nonfinite"));
  m.def("error", &error, nb::arg("x").noconvert(), nb::arg("schemes"), nb::arg("histogram"), nb::arg("allow_nonfinite"));
  m.def("kernel_seconds", &kernel_seconds, nb::arg("x").noconvert(), nb::arg("scheme"), nb::arg("repeats"),
        "Best seconds per call of the C++ quantize alone (the benchmark's baseline).");
  m.def("synthetic", &synthetic, nb::arg("distribution"), nb::arg("rows"), nb::arg("cols"), nb::arg("seed"),
        "The CLI's synthetic weights (bitsmith error --synthetic D --shape RxC --seed S).");
}

}  // namespace bitsmith::python
