// formats(), cast(), decode(): the formats module over numpy arrays.
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/convert.h"
#include "bitsmith/formats/format.h"
#include "bitsmith/formats/records.h"
#include "common.h"

namespace bitsmith::python {
namespace {

// The rows of `bitsmith formats --json` (formats::format_record, the CLI's builder).
nb::list format_records() {
  nb::list rows;
  for (const formats::Format& f : formats::all_formats()) rows.append(to_python(formats::format_record(f)));
  return rows;
}

const formats::Format& format_named(const std::string& name) { return *unwrap(formats::find_format(name)); }

// Codes in the narrowest unsigned type that holds the format, then the decoded float32 values.
template <typename Code>
nb::tuple cast_as(const formats::Format& f, const Matrix& x, const formats::EncodeOptions& opt) {
  const size_t n = static_cast<size_t>(x.rows * x.cols);
  std::vector<Code> codes(n);
  std::vector<float> values(n);
  Status st;
  {
    nb::gil_scoped_release release;
    st = formats::encode_array(f, {x.data, n}, std::span<Code>(codes), opt);
    if (st.ok()) st = formats::decode_array(f, std::span<const Code>(codes), values);
  }
  check(st);
  return nb::make_tuple(owned_array(std::move(codes), x.shape), owned_array(std::move(values), x.shape));
}

nb::tuple cast(const F32In& x, const std::string& format, const std::string& rounding,
               const std::string& overflow, uint64_t seed) {
  const formats::Format& f = format_named(format);
  formats::EncodeOptions opt;
  opt.rounding = unwrap(formats::parse_rounding(rounding));
  opt.overflow = unwrap(formats::parse_overflow(overflow));
  opt.seed = seed;
  const Matrix m = as_matrix(x, "cast");
  if (f.bits() <= 8) return cast_as<uint8_t>(f, m, opt);
  if (f.bits() <= 16) return cast_as<uint16_t>(f, m, opt);
  return cast_as<uint32_t>(f, m, opt);
}

template <typename Code>
nb::ndarray<nb::numpy, float> decode_as(const formats::Format& f, const AnyIn& codes) {
  std::vector<size_t> shape;
  for (size_t i = 0; i < codes.ndim(); ++i) shape.push_back(codes.shape(i));
  std::vector<float> values(codes.size());
  Status st;
  {
    nb::gil_scoped_release release;
    st = formats::decode_array(f, {static_cast<const Code*>(codes.data()), codes.size()}, values);
  }
  check(st);
  return owned_array(std::move(values), shape);
}

nb::ndarray<nb::numpy, float> decode(const AnyIn& codes, const std::string& format) {
  const formats::Format& f = format_named(format);
  const auto dt = codes.dtype();
  if (dt.code != static_cast<uint8_t>(nb::dlpack::dtype_code::UInt) &&
      dt.code != static_cast<uint8_t>(nb::dlpack::dtype_code::Int)) {
    throw nb::value_error("decode: codes must be an integer array (uint8, uint16 or uint32)");
  }
  const int code_bits = dt.bits;
  if (code_bits < f.bits()) {
    throw nb::value_error(("decode: " + std::string(f.name) + " codes have " + std::to_string(f.bits()) +
                           " bits; a " + std::to_string(code_bits) + "-bit array cannot hold them").c_str());
  }
  switch (code_bits) {
    case 8: return decode_as<uint8_t>(f, codes);
    case 16: return decode_as<uint16_t>(f, codes);
    case 32: return decode_as<uint32_t>(f, codes);
    default: throw nb::value_error("decode: codes must be 8, 16 or 32 bits wide");
  }
}

}  // namespace

void bind_formats(nb::module_& m) {
  m.def("formats", &format_records, "Every element format and its properties (bitsmith formats --json).");
  m.def("cast", &cast, nb::arg("x").noconvert(), nb::arg("format"), nb::arg("rounding"), nb::arg("overflow"),
        nb::arg("seed"));
  m.def("decode", &decode, nb::arg("codes").noconvert(), nb::arg("format"));
  m.def("find_format", [](const std::string& name) {
    const formats::Format& f = format_named(name);
    return nb::make_tuple(nb::str(f.name.data(), f.name.size()), f.bits(), f.kind == formats::FormatKind::kInt);
  }, nb::arg("name"), "(canonical name, bits, is_integer) of a format name or alias.");
}

}  // namespace bitsmith::python
