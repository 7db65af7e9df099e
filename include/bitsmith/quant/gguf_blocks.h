// ggml's on-disk block layouts (ggml/src/ggml-common.h), as plain packed structs with their
// sizes checked at compile time (DESIGN.md convention 4). Every scale `d`/`dmin` is an IEEE
// binary16 bit pattern, little-endian like the rest of the block. A GGUF tensor row is its
// blocks back to back; QuantizedTensor::data of a GGUF scheme holds exactly those bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant::gguf {

// GGML_TYPE_* ids as written in GGUF tensor infos (ggml.h enum ggml_type).
enum GgmlType : int {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kBF16 = 30,
  kMXFP4 = 39,
};

inline constexpr int kQK = 32;    // QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = QK4_NL = QK_MXFP4
inline constexpr int kQK_K = 256; // super-block of the K-quants
inline constexpr int kKScaleSize = 12;  // K_SCALE_SIZE: 8 six-bit scales + 8 six-bit mins

#pragma pack(push, 1)

// x = (q - 8) * d, q in 0..15. qs[j] holds element j (low nibble) and j + 16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_0) == 2 + 16, "block_q4_0: fp16 d + 16 nibble bytes = 18");

// x = q * d + m, q in 0..15.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ4_1) == 2 + 2 + 16, "block_q4_1 = 20 bytes");

// x = (q - 16) * d, q in 0..31; bit 4 of element j is bit j of the little-endian qh word.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_0) == 2 + 4 + 16, "block_q5_0 = 22 bytes");

struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ5_1) == 2 + 2 + 4 + 16, "block_q5_1 = 24 bytes");

// x = q * d, q int8.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 2 + 32, "block_q8_0 = 34 bytes");

// 16 sub-blocks of 16: x = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 16 + 64 + 2 + 2, "block_q2_K = 84 bytes (2.625 bpw)");

// 16 sub-blocks of 16: x = d * (s - 32) * (q - 4), s a 6-bit scale, q = 2 low bits + hmask bit
// (the bit set means "no -4 offset").
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 32 + 64 + 12 + 2, "block_q3_K = 110 bytes (3.4375 bpw)");

// 8 sub-blocks of 32: x = d * sc * q - dmin * m, 6-bit sc/m packed in 12 bytes, q in 0..15.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 2 + 2 + 12 + 128, "block_q4_K = 144 bytes (4.5 bpw)");

// As Q4_K with a fifth bit per element in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 2 + 2 + 12 + 32 + 128, "block_q5_K = 176 bytes (5.5 bpw)");

// 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q 6 bits (4 in ql, 2 in qh).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 128 + 64 + 16 + 2, "block_q6_K = 210 bytes (6.5625 bpw)");

// x = d * kIQ4NLValues[q]; same nibble order as Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18, "block_iq4_nl = 18 bytes (4.5 bpw)");

// x = 2^(e - 128) * kMxfp4Values[q] (the table holds 2 x E2M1, hence e - 128, not e - 127).
struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockMXFP4) == 17, "block_mxfp4 = 17 bytes (4.25 bpw)");

#pragma pack(pop)

// The IQ4_NL non-linear grid (ggml-common.h kvalues_iq4nl), sorted ascending.
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
// E2M1 magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 doubled so they are integers (kvalues_mxfp4).
inline constexpr int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

}  // namespace bitsmith::quant::gguf
