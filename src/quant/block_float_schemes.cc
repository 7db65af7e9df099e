// Block-scaled float schemes (REFERENCE.md 2): NVFP4 (two-level, ModelOpt's rules) and the OCP
// Microscaling family (blocks of 32, one e8m0 exponent per block).
//
// Where references differ, the rule followed:
//   - nvfp4: ModelOpt. S = amax / (6 * 448); s_b = e4m3_rne(amax_b / (6 S)); q = e2m1(x / (s_b S)),
//     all in float32 with division, as ModelOpt writes it. A block scale that rounds to zero
//     becomes 1 (ModelOpt does this for a zero block; torchao clamps to [2^-6, 448] instead).
//     A tensor with amax < 2^-126 quantizes to zeros (S is still stored).
//   - MX: the spec's floor rule e = floor(log2 amax) - emax_elem by default; `mxfp4_rceil` uses
//     NVIDIA's e = ceil(log2(amax / 6)) with amax / 6 rounded in float32 first. Elements are
//     rounded to nearest even (the spec and ml_dtypes), not microxcaling's default "nearest"
//     (ties away from zero). mxint8 clamps to [-127, 127] * 2^-6, as microxcaling does.
// Importance weights are accepted and ignored: these scale rules leave no choice to weigh.
#include <fmt/format.h>

#include "pack_scheme.h"
#include "registry_internal.h"

namespace bitsmith::quant::detail {

namespace {

SchemeSpec block_spec(std::string name, ElemKind elem, std::string elem_name, int bits,
                      ScaleRule rule, float elem_max, int emax, std::string desc) {
  SchemeSpec s;
  const bool nv = rule == ScaleRule::kNvfp4;
  s.traits.name = std::move(name);
  s.traits.element_format = std::move(elem_name);
  s.traits.scale_format = nv ? "float8_e4m3fn" : "float8_e8m0fnu";
  s.traits.granularity = Granularity::kGroup;
  s.traits.block_cols = nv ? 16 : 32;
  s.traits.global_scale = nv;
  // element bits + 8 scale bits per block: nvfp4 4 + 8/16 = 4.5, MX b + 8/32 = b + 0.25
  s.traits.bits_per_weight = bits + 8.0 / static_cast<double>(s.traits.block_cols);
  s.traits.description = std::move(desc);
  s.elem = elem;
  s.code_bits = bits;
  s.rule = rule;
  s.elem_max = elem_max;
  s.mx_emax = emax;
  return s;
}

}  // namespace

void add_block_float_schemes(SchemeList& list) {
  // Element maxima and emax (exponent of the largest power of two below max):
  // e2m1 6 = 1.5 * 2^2; e3m2 28 = 1.75 * 2^4; e2m3 7.5 = 1.875 * 2^2;
  // e4m3 448 = 1.75 * 2^8; e5m2 57344 = 1.75 * 2^15.
  list.add(std::make_unique<ScaledScheme>(block_spec(
      "nvfp4", ElemKind::kE2M1, "float4_e2m1fn", 4, ScaleRule::kNvfp4, 6.0f, 2,
      "NVFP4: E2M1, e4m3 scale per 16 values, float32 tensor scale (ModelOpt rules)")));
  list.add(std::make_unique<ScaledScheme>(block_spec(
      "mxfp4", ElemKind::kE2M1, "float4_e2m1fn", 4, ScaleRule::kMxFloor, 6.0f, 2,
      "MXFP4 (OCP MX v1.0): E2M1, e8m0 scale per 32, floor rule")));
  list.add(std::make_unique<ScaledScheme>(block_spec(
      "mxfp4_rceil", ElemKind::kE2M1, "float4_e2m1fn", 4, ScaleRule::kMxRceil, 6.0f, 2,
      "MXFP4 with NVIDIA's rceil scale: e = ceil(log2(amax/6)), no clipping")));
  list.add(std::make_unique<ScaledScheme>(block_spec(
      "mxfp6_e3m2", ElemKind::kE3M2, "float6_e3m2fn", 6, ScaleRule::kMxFloor, 28.0f, 4,
      "MXFP6 E3M2, e8m0 scale per 32, floor rule")));
  list.add(std::make_unique<ScaledScheme>(block_spec(
      "mxfp6_e2m3", ElemKind::kE2M3, "float6_e2m3fn", 6, ScaleRule::kMxFloor, 7.5f, 2,
      "MXFP6 E2M3, e8m0 scale per 32, floor rule")));
  list.add(std::make_unique<ScaledScheme>(block_spec(
      "mxfp8_e4m3", ElemKind::kE4M3, "float8_e4m3fn", 8, ScaleRule::kMxFloor, 448.0f, 8,
      "MXFP8 E4M3, e8m0 scale per 32, floor rule")));
  list.add(std::make_unique<ScaledScheme>(block_spec(
      "mxfp8_e5m2", ElemKind::kE5M2, "float8_e5m2", 8, ScaleRule::kMxFloor, 57344.0f, 15,
      "MXFP8 E5M2, e8m0 scale per 32, floor rule")));
  SchemeSpec mxint8 = block_spec("mxint8", ElemKind::kInt, "int8", 8, ScaleRule::kMxFloor,
                                 127.0f / 64.0f, 0,
                                 "MXINT8: int8 times 2^-6 (max 127/64), e8m0 scale per 32");
  mxint8.qmin = -127;
  mxint8.qmax = 127;
  mxint8.mx_int_shift = 6;  // element value = code * 2^-6, so d = 2^(e - 6)
  list.add(std::make_unique<ScaledScheme>(std::move(mxint8)));
}

}  // namespace bitsmith::quant::detail
