// Array conversions between float32 and the element formats: the hot paths of quantization.
//
// Every function here is defined as "apply the scalar codec (codec.h) to each element" and
// produces exactly those bytes, for every input (NaN, Inf, subnormals, -0) and every rounding
// and overflow mode; it is only faster: vectorized for the CPU it runs on (AVX-512, AVX2 or
// baseline, chosen at run time) and split over a ThreadPool in chunks (nullptr = the global
// pool; a 1-thread pool runs on the caller). Results never depend on the thread count:
// stochastic rounding gives element i the random word stochastic_bits(opt.seed,
// opt.first_index + i).
//
// Sizes: output spans must have exactly the element count of the input (packed 4-bit outputs:
// (n + 1) / 2 bytes, low nibble = even element, the unused high nibble of an odd tail is 0).
// A size mismatch is a programming error and aborts via BITSMITH_ASSERT; the Format-generic
// encode_array/decode_array return a Status instead, since their format comes from input.
#pragma once

#include <cstdint>
#include <span>

#include "bitsmith/core/status.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/format.h"

namespace bitsmith::formats {

// IEEE half (float16): codes are the 16-bit patterns.
void f32_to_f16(std::span<const float> x, std::span<uint16_t> out, const EncodeOptions& opt = {},
                ThreadPool* pool = nullptr);
void f16_to_f32(std::span<const uint16_t> codes, std::span<float> out, ThreadPool* pool = nullptr);

// bfloat16.
void f32_to_bf16(std::span<const float> x, std::span<uint16_t> out, const EncodeOptions& opt = {},
                 ThreadPool* pool = nullptr);
void bf16_to_f32(std::span<const uint16_t> codes, std::span<float> out, ThreadPool* pool = nullptr);

// float8_e4m3fn and float8_e5m2, one code per byte.
void f32_to_e4m3(std::span<const float> x, std::span<uint8_t> out, const EncodeOptions& opt = {},
                 ThreadPool* pool = nullptr);
void e4m3_to_f32(std::span<const uint8_t> codes, std::span<float> out, ThreadPool* pool = nullptr);
void f32_to_e5m2(std::span<const float> x, std::span<uint8_t> out, const EncodeOptions& opt = {},
                 ThreadPool* pool = nullptr);
void e5m2_to_f32(std::span<const uint8_t> codes, std::span<float> out, ThreadPool* pool = nullptr);

// float4_e2m1fn: packed two per byte (out.size() == (x.size() + 1) / 2), and unpacked (one code
// per byte, in the low nibble). The packed decoder decodes out.size() elements.
void f32_to_e2m1_packed(std::span<const float> x, std::span<uint8_t> packed,
                        const EncodeOptions& opt = {}, ThreadPool* pool = nullptr);
void e2m1_packed_to_f32(std::span<const uint8_t> packed, std::span<float> out,
                        ThreadPool* pool = nullptr);
void f32_to_e2m1(std::span<const float> x, std::span<uint8_t> out, const EncodeOptions& opt = {},
                 ThreadPool* pool = nullptr);
void e2m1_to_f32(std::span<const uint8_t> codes, std::span<float> out, ThreadPool* pool = nullptr);

// Integers with a scale: q = encode(int format, x / scale) with the division done in float32
// (so q = clamp(round(x / scale)), NaN -> 0, rounding per opt; integers always saturate), and
// decode x' = float(q) * scale (a float32 multiply). int4 packs two codes per byte like e2m1.
void f32_to_int8(std::span<const float> x, float scale, std::span<int8_t> out,
                 const EncodeOptions& opt = {}, ThreadPool* pool = nullptr);
void int8_to_f32(std::span<const int8_t> q, float scale, std::span<float> out,
                 ThreadPool* pool = nullptr);
void f32_to_int4_packed(std::span<const float> x, float scale, std::span<uint8_t> packed,
                        const EncodeOptions& opt = {}, ThreadPool* pool = nullptr);
void int4_packed_to_f32(std::span<const uint8_t> packed, float scale, std::span<float> out,
                        ThreadPool* pool = nullptr);
// Any integer format of 2..8 bits, signed or unsigned, one code per byte (its low bits).
void f32_to_int_codes(const IntFormat& f, std::span<const float> x, float scale,
                      std::span<uint8_t> codes, const EncodeOptions& opt = {},
                      ThreadPool* pool = nullptr);
void int_codes_to_f32(const IntFormat& f, std::span<const uint8_t> codes, float scale,
                      std::span<float> out, ThreadPool* pool = nullptr);

// Any format (integers with scale 1). The code width must hold the format: uint8_t for formats
// of 8 bits or fewer, uint16_t for 16 or fewer, uint32_t for any. Decoding uses only the low
// `bits` bits of each code. Errors: size mismatch or a code type too narrow (InvalidArgument).
Status encode_array(const Format& f, std::span<const float> x, std::span<uint8_t> codes,
                    const EncodeOptions& opt = {}, ThreadPool* pool = nullptr);
Status encode_array(const Format& f, std::span<const float> x, std::span<uint16_t> codes,
                    const EncodeOptions& opt = {}, ThreadPool* pool = nullptr);
Status encode_array(const Format& f, std::span<const float> x, std::span<uint32_t> codes,
                    const EncodeOptions& opt = {}, ThreadPool* pool = nullptr);
Status decode_array(const Format& f, std::span<const uint8_t> codes, std::span<float> out,
                    ThreadPool* pool = nullptr);
Status decode_array(const Format& f, std::span<const uint16_t> codes, std::span<float> out,
                    ThreadPool* pool = nullptr);
Status decode_array(const Format& f, std::span<const uint32_t> codes, std::span<float> out,
                    ThreadPool* pool = nullptr);

}  // namespace bitsmith::formats
