// Internal: the loops behind convert.h. Each kernel converts one contiguous chunk on the calling
// thread; convert.cc splits arrays into chunks over the ThreadPool. The kernels are compiled
// several times for different CPUs (x86-64-v4 = AVX-512, v3 = AVX2, baseline) and the loader
// picks one at run time (GCC target_clones), so one binary runs everywhere and vectorizes
// where it can. Every kernel reproduces the scalar codec (codec.cc) bit for bit; the tests
// compare them on every code and on millions of adversarial inputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitsmith/formats/codec.h"

namespace bitsmith::formats::detail {

// float32 -> a signed float format with subnormals and 1..22 mantissa bits (fp16, bf16, fp8,
// fp6, fp4). The special results are taken from the scalar codec itself (see
// make_float_encode_params), so NaN/Inf/overflow policy lives in one place.
struct FloatEncodeParams {
  uint32_t mant_bits;   // M
  uint32_t shift_base;  // 23 - M: float32 mantissa bits dropped for a normal result
  int32_t exp_adjust;   // bias - 127: float32 biased exponent -> target biased exponent
  uint32_t max_code;    // magnitude code of the largest finite value
  uint32_t sign_bit;
  uint32_t nan_code[2];       // [sign] result for NaN input
  uint32_t inf_code[2];       // [sign] result for +-Inf input
  uint32_t overflow_code[2];  // [sign] result for a finite value that rounds past max
  Rounding rounding;
  uint64_t seed;
};

bool float_kernel_supported(const FloatFormat& f);
FloatEncodeParams make_float_encode_params(const FloatFormat& f, const EncodeOptions& opt);

// index0: stochastic-rounding index of element 0 of this chunk.
void encode_float_u8(const FloatEncodeParams& p, const float* x, uint8_t* out, size_t n,
                     uint64_t index0);
void encode_float_u16(const FloatEncodeParams& p, const float* x, uint16_t* out, size_t n,
                      uint64_t index0);

// 16-bit float codes (fp16, bf16) -> float32, exact; NaN codes give the canonical quiet NaN
// with the code's sign, as the scalar decode does.
struct FloatDecodeParams {
  uint32_t mant_bits;
  uint32_t exp_all;     // all-ones biased exponent
  int32_t exp_adjust;   // 127 - bias
  float subnormal_ulp;  // 2^(1 - bias - M): value of mantissa 1 at biased exponent 0
};
FloatDecodeParams make_float_decode_params(const FloatFormat& f);
void decode_ieee16(const FloatDecodeParams& p, const uint16_t* codes, float* out, size_t n);
// bfloat16 -> float32: a shift, NaNs made canonical as the scalar codec does.
void decode_bf16(const uint16_t* codes, float* out, size_t n);

// Codes of 8 bits or fewer -> float32 through a 256-entry table built by the scalar decoder.
void decode_table_u8(const float* table, const uint8_t* codes, float* out, size_t n);
// Two 4-bit codes per byte (low nibble = even element) -> float32; n = number of elements.
void decode_table_nibbles(const float* table16, const uint8_t* packed, float* out, size_t n);
// Packs n 4-bit codes (n even) into n/2 bytes, low nibble first.
void pack_nibbles(const uint8_t* codes, uint8_t* packed, size_t n);

// float32 / scale -> an integer format (round per mode, clamp to [lo, hi], NaN -> 0), the code
// being the value's two's complement bits masked to the format's width.
struct IntEncodeParams {
  float scale;
  float lo, hi;
  uint32_t mask;
  Rounding rounding;
  uint64_t seed;
};
void encode_int_u8(const IntEncodeParams& p, const float* x, uint8_t* out, size_t n,
                   uint64_t index0);
// Integer codes of `bits` (1..8) bits -> float(value) * scale: arithmetic, not a table, so it
// vectorizes (a sign extension, a conversion and a multiply).
void decode_int_u8(int bits, bool is_signed, float scale, const uint8_t* codes, float* out,
                   size_t n);

}  // namespace bitsmith::formats::detail
