// Integer schemes (REFERENCE.md 2, "Integer group quantization"):
//   int8 / int8_tensor: symmetric, float32 scale s = amax / 127 per row / per tensor.
//   int<b>_g<g>_sym: restricted symmetric range q in [-(2^(b-1)-1), 2^(b-1)-1] (so that -x
//     quantizes to -q), fp16 scale s = amax / (2^(b-1)-1) per group of g along the row.
//   int<b>_g<g>: asymmetric, GPTQ's min/max rule (range always holds 0), fp16 scale
//     s = (max - min) / (2^b - 1) and fp16 zero point z = rne(-min / s), q in [0, 2^b - 1].
// Importance weights drive a clipping search of the scale (pack_kernels.cc, search_params).
#include <fmt/format.h>

#include "pack_scheme.h"
#include "registry_internal.h"

namespace bitsmith::quant::detail {

namespace {

SchemeSpec int_spec(std::string name, int bits, Granularity g, int64_t group, bool sym,
                    ScaleRule rule, std::string scale_format) {
  SchemeSpec s;
  s.traits.name = std::move(name);
  s.traits.element_format = fmt::format("{}int{}", sym ? "" : "u", bits);
  s.traits.scale_format = std::move(scale_format);
  s.traits.granularity = g;
  s.traits.block_cols = group;
  s.traits.symmetric = sym;
  s.elem = ElemKind::kInt;
  s.code_bits = bits;
  s.rule = rule;
  if (sym) {
    s.qmax = (1 << (bits - 1)) - 1;
    s.qmin = -s.qmax;
  } else {
    s.qmin = 0;
    s.qmax = (1 << bits) - 1;
  }
  s.elem_max = static_cast<float>(s.qmax);
  // Scale (and zero) bits spread over the group; per-row and per-tensor scales are counted as
  // 0 here (16 or 32 bits per row of thousands of weights), exact figures per shape come from
  // the byte counts.
  const double per_group = group > 0 ? 16.0 / static_cast<double>(group) : 0.0;
  s.traits.bits_per_weight = bits + per_group * (sym ? 1 : 2);
  return s;
}

std::string group_text(int64_t group) {
  return group > 0 ? fmt::format("groups of {}", group) : std::string("one scale per row");
}

}  // namespace

std::unique_ptr<Scheme> make_int_group_scheme(int bits, int64_t group_size, bool symmetric) {
  const std::string name =
      fmt::format("int{}_g{}{}", bits, group_size > 0 ? std::to_string(group_size) : "row",
                  symmetric ? "_sym" : "");
  const Granularity g = group_size > 0 ? Granularity::kGroup : Granularity::kRow;
  SchemeSpec s = int_spec(name, bits, g, group_size, symmetric,
                          symmetric ? ScaleRule::kIntSymF16 : ScaleRule::kIntAsymF16, "float16");
  s.traits.description =
      symmetric ? fmt::format("INT{} symmetric, fp16 scale, {}", bits, group_text(group_size))
                : fmt::format("INT{} asymmetric (GPTQ min/max), fp16 scale and zero, {}", bits,
                              group_text(group_size));
  return std::make_unique<ScaledScheme>(std::move(s));
}

void add_int_schemes(SchemeList& list) {
  SchemeSpec i8 = int_spec("int8", 8, Granularity::kRow, 0, true, ScaleRule::kAmaxF32, "float32");
  i8.traits.description = "INT8 symmetric per output row, float32 scale amax/127";
  list.add(std::make_unique<ScaledScheme>(std::move(i8)));
  SchemeSpec i8t =
      int_spec("int8_tensor", 8, Granularity::kTensor, 0, true, ScaleRule::kGiven, "float32");
  i8t.traits.description = "INT8 symmetric, one float32 scale amax/127 per tensor";
  list.add(std::make_unique<ScaledScheme>(std::move(i8t)));
  list.add(make_int_group_scheme(4, 128, false));
  list.add(make_int_group_scheme(4, 128, true));
}

}  // namespace bitsmith::quant::detail
