// Helpers shared by the GGUF block codecs (gguf_*.cc): ggml's truncating int8 conversion, the
// 8-lane summation order that the scalar _ref and the SIMD fast paths both use, and the
// descriptor that turns one type's row kernels into a registry Scheme. (Binary16 conversion,
// bit casts and ggml's rounding trick are formats/float_bits.h's.)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "bitsmith/core/cpu_dispatch.h"
#include "bitsmith/formats/float_bits.h"
#include "bitsmith/quant/gguf_blocks.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant::gguf {

// C's float -> int8_t conversion as x86 compilers emit it (cvttss2si, low byte): truncation,
// and 0 for NaN, Inf and anything outside int32. ggml's legacy quantizers rely on it for
// blocks whose inverse scale overflows (denormal blocks), so the reference must reproduce it.
inline int32_t trunc_to_i8(float v) {
  if (!(v > -2147483648.f && v < 2147483648.f)) return 0;
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint32_t>(static_cast<int32_t>(v))));
}

// The summation order both paths use for block sums: lane i % 8 accumulates element i in
// order, then the 8 lanes are combined pairwise. Fixing it is what lets a SIMD path give the
// same bytes as the scalar reference (float addition is not associative).
inline float hsum8(const float* lane) {
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

// Row kernels of one GGUF type. `imp` is that row's importance (length n) or null.
using QuantizeRowFn = void (*)(const float* x, int64_t n, const float* imp, uint8_t* out);
using DequantizeRowFn = void (*)(const uint8_t* blocks, int64_t n, float* out);
// Writes code `c` (an index 0..ncodes-1 into the type's grid) of element j into a block: how
// the GPTQ group quantizer (group_quantizer_gguf.cc) puts its chosen codes back. Only the code
// bits of the layout (ggml-common.h) are touched; scales stay as the quantizer wrote them.
using SetCodeFn = void (*)(uint8_t* block, int j, uint32_t c);

// Nibble blocks of 32 (q4_0, q4_1, q5_*, iq4_nl): byte j % 16, low nibble for j < 16.
inline void set_nibble32(uint8_t* qs, int j, uint32_t v) {
  uint8_t& b = qs[j % 16];
  b = j < 16 ? static_cast<uint8_t>((b & 0xF0) | (v & 0xF))
             : static_cast<uint8_t>((b & 0x0F) | ((v & 0xF) << 4));
}
// Bit i of a little-endian bit array.
inline void set_bit(uint8_t* bits, int i, uint32_t v) {
  bits[i / 8] = static_cast<uint8_t>((bits[i / 8] & ~(1u << (i % 8))) | ((v & 1u) << (i % 8)));
}
// 4-bit codes in Block::qs (q4_0, q4_1, iq4_nl).
template <typename Block>
void set_nibble_code(uint8_t* blk, int j, uint32_t c) {
  set_nibble32(blk + offsetof(Block, qs), j, c);
}

struct GgufKernels {
  SchemeTraits traits;          // name, gguf_type, block_cols, bytes_per_block, bpw, ...
  QuantizeRowFn quantize_ref;   // scalar, defines the bytes
  QuantizeRowFn quantize_fast;  // SIMD; must give the same bytes
  DequantizeRowFn dequantize;   // same float operations as ggml's dequantize_row_*
  int scale_offsets[2];         // byte offsets of the fp16 scales in a block (-1 = none),
                                // checked for overflow to Inf after quantizing
  // The GPTQ group quantizer's view of the codes (none: the type has no group quantizer).
  int ncodes = 0;               // grid size: 16 for 4-bit codes, 255 for q8_0 (-127..127)
  SetCodeFn set_code = nullptr;
  // Every value is d * g(code) (+ m) with d (and m) the fp16 numbers at scale_offsets and
  // nothing else in the block scaling it (q4_0..q8_0, iq4_nl; not the K-quants' sub-scales).
  bool linear_fp16_params = false;
};

// A block type's kernel entry (bits per weight = 8 * bytes / block, e.g. 8 * 18 / 32 = 4.5).
inline GgufKernels block_kernels(const char* name, int type, int block, uint64_t bytes,
                                 const char* elem, const char* scale_fmt, QuantizeRowFn ref,
                                 QuantizeRowFn fast, DequantizeRowFn deq, int fp16_scale_offset,
                                 const char* desc) {
  GgufKernels k;
  k.traits.name = name;
  k.traits.element_format = elem;
  k.traits.scale_format = scale_fmt;
  k.traits.granularity = Granularity::kGguf;
  k.traits.block_cols = block;
  k.traits.bytes_per_block = bytes;
  k.traits.bits_per_weight = 8.0 * static_cast<double>(bytes) / block;
  k.traits.symmetric = true;
  k.traits.gguf_type = type;
  k.traits.description = desc;
  k.quantize_ref = ref;
  k.quantize_fast = fast;
  k.dequantize = deq;
  k.scale_offsets[0] = fp16_scale_offset;
  k.scale_offsets[1] = -1;
  return k;
}

std::unique_ptr<Scheme> make_gguf_scheme(const GgufKernels& k);

// Kernel tables of the codec files (gguf_legacy.cc, gguf_kquants.cc, gguf_iq4.cc,
// gguf_mxfp4.cc).
void append_legacy_kernels(std::vector<GgufKernels>& out);
void append_kquant_kernels(std::vector<GgufKernels>& out);
void append_nonlinear_kernels(std::vector<GgufKernels>& out);
void append_mxfp4_kernels(std::vector<GgufKernels>& out);

}  // namespace bitsmith::quant::gguf
