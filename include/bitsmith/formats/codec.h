// The one generic codec: any FloatFormat or IntFormat, encoded from float64/float32 with a
// rounding mode and an overflow mode, decoded exactly to float64/float32.
#pragma once

#include <cstdint>

#include "bitsmith/core/hashing.h"
#include "bitsmith/formats/format.h"

namespace bitsmith::formats {

enum class Rounding : uint8_t {
  kRne,         // round to nearest, ties to even (the default everywhere)
  kRtz,         // round toward zero (truncate)
  kStochastic,  // round up with probability equal to the distance from the lower neighbour;
                // the random bits come from (seed, element index), so results are reproducible
                // and independent of thread count
};

enum class Overflow : uint8_t {
  kSaturate,  // finite values past the largest finite clamp to +-max finite; +-Inf also clamps
              // (CUDA's __NV_SATFINITE); NaN stays NaN where the format has one
  kIeee,      // what a plain cast does (ml_dtypes): past the rounding boundary gives Inf where
              // the format has Inf, NaN where it only has NaN (e4m3fn: 464 -> 448, 465 -> NaN),
              // and saturates where it has neither (fp6, fp4)
};

struct EncodeOptions {
  Rounding rounding = Rounding::kRne;
  Overflow overflow = Overflow::kSaturate;
  uint64_t seed = 0;  // stochastic rounding only
  // Array conversions (convert.h): element i draws stochastic index first_index + i, so a
  // tensor converted in pieces rounds exactly as if converted whole. Scalar encode() ignores it
  // (it takes the index as an argument).
  uint64_t first_index = 0;
};

std::string_view rounding_name(Rounding r);
std::string_view overflow_name(Overflow o);
Result<Rounding> parse_rounding(std::string_view s);
Result<Overflow> parse_overflow(std::string_view s);

// Encodes x. `index` selects the random stream for stochastic rounding (element index in an
// array), ignored otherwise. NaN input: the format's canonical NaN (sign kept where signed);
// a format without NaN (fp6, fp4) has no encoding for it and gets -0 here, as ml_dtypes does,
// so quantizers must reject non-finite input before encoding (they do, naming the element).
// e8m0 (unsigned, no zero): zero and negative inputs give NaN (0xFF), as in ml_dtypes; values
// below 2^-127 round like any other (to 2^-127 under rne).
uint32_t encode(const FloatFormat& f, double x, const EncodeOptions& opt = {}, uint64_t index = 0);
double decode(const FloatFormat& f, uint32_t code);

// Integers: round per `opt.rounding`, clamp to [min, max] (integers always saturate; the
// overflow mode does not apply). NaN encodes to 0. The code is the two's complement bit
// pattern in the low `bits` bits.
uint32_t encode(const IntFormat& f, double x, const EncodeOptions& opt = {}, uint64_t index = 0);
double decode(const IntFormat& f, uint32_t code);

// Format-generic entry points.
uint32_t encode(const Format& f, double x, const EncodeOptions& opt = {}, uint64_t index = 0);
double decode(const Format& f, uint32_t code);

// How a format stores x: its code, the decoded value and the error (rel_error = abs_error /
// |x|; 0 when both are 0, inf when only x is 0; NaN when x or the value is NaN).
struct Probe {
  uint32_t code;
  double value;
  double abs_error;
  double rel_error;
};
Probe probe(const Format& f, double x, const EncodeOptions& opt = {});

// Whether a code is NaN in the format (integers: never).
bool is_nan_code(const FloatFormat& f, uint32_t code);

// The uniform 64-bit random word stochastic rounding uses for (seed, index): splitmix64 of a
// Weyl sequence keyed by the seed, a fixed, documented word per (seed, index), so scalar,
// vectorized and threaded paths draw identical bits. Inline so the vector loops can use it.
inline uint64_t stochastic_bits(uint64_t seed, uint64_t index) {
  // The index-th word of the splitmix64 stream seeded with `seed`, without walking the stream.
  return mix64(seed + kGolden * index);
}

}  // namespace bitsmith::formats
