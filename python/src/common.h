// What every binding file shares: array types, Status -> Python exceptions, numpy arrays that
// own (or view) C++ memory without copying.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bitsmith/core/status.h"

namespace bitsmith::python {

namespace nb = nanobind;

// A C-contiguous float32 array on the CPU, read-only is fine. Bound with .noconvert(): the
// Python layer converts dtypes and contiguity itself (bitsmith/_arrays.py), so nothing here
// copies an array behind the caller's back.
using F32In = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;
// Any C-contiguous CPU array (decode takes 1-, 2- and 4-byte codes).
using AnyIn = nb::ndarray<nb::c_contig, nb::device::cpu>;

// Raises the Python exception for a failed status: ValueError for bad arguments and values,
// OSError for files (not found, unreadable, corrupt), RuntimeError for a bitsmith bug. The
// message is the library's (it names the file, tensor and offset).
[[noreturn]] void raise_status(const Status& s);

inline void check(const Status& s) {
  if (!s.ok()) raise_status(s);
}
template <typename T>
T unwrap(Result<T> r) {
  if (!r.ok()) raise_status(r.status());
  return std::move(r).value();
}

// Rows x cols of an array as the schemes see it: cols = the last dimension, rows = the product of
// the others (a 1-D array is one row). A 0-d array is a ValueError.
struct Matrix {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0;
  std::vector<size_t> shape;  // the array's own shape, for results of the same shape
};
Matrix as_matrix(const F32In& x, const char* what);

// A numpy array that takes ownership of `values` (moved to the heap, freed with the array).
template <typename T>
nb::ndarray<nb::numpy, T> owned_array(std::vector<T>&& values, std::vector<size_t> shape) {
  auto* heap = new std::vector<T>(std::move(values));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(heap->data(), shape.size(), shape.data(), owner);
}

// Non-finite doubles as Python floats (the CLI's JSON writes them as "nan"/"inf" strings).
inline nb::float_ number(double v) { return nb::float_(v); }

// One of the library's JSON documents (what the CLI prints with --json) as Python dicts, lists,
// str, int, float, bool and None, so a Python result and the CLI's JSON come from one builder.
nb::object to_python(const nlohmann::json& doc);

void bind_formats(nb::module_& m);
void bind_eval(nb::module_& m);
void bind_plan(nb::module_& m);
void bind_quant(nb::module_& m);
void bind_model(nb::module_& m);

}  // namespace bitsmith::python
