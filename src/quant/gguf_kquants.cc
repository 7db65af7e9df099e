// K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256 values; layouts in gguf_blocks.h).
//
// The bytes are bitsmith's own (only the layouts and the dequantization must match ggml): per
// sub-block a weighted scale search (gguf_search.h; ggml's weights and candidate grids), the
// sub-block scales quantized against one fp16 super-block scale as ggml does, the values
// re-quantized with the stored scales, and then a step ggml's reference does not have: the fp16
// super-block scale(s) refitted by least squares over all 256 values with the final codes, kept
// only when the stored result has a lower error. That step is why the error is no worse than
// ggml's while the search runs on SIMD lanes.
#include <algorithm>
#include <cmath>

#include "gguf_klanes.h"

namespace bitsmith::quant::gguf {
namespace {

using namespace klanes;

// ggml's 12-byte packing of eight 6-bit scales and mins (get_scale_min_k4 reads it back).
void pack_scales_k4(const AsymResult& r, uint8_t* s) {
  for (int j = 0; j < 12; ++j) s[j] = 0;
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = r.sc[j], lm = r.m[j];
    if (j < 4) {
      s[j] = ls;
      s[j + 4] = lm;
    } else {
      s[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      s[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
}
void unpack_scale_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// ggml's q2_K_ref grid: (-0.5, 0.1, 15) over |x| weights (scored by squared error here).
constexpr AsymParams kQ2K = {16, 3, 15, -0.5f, 0.5f, 3, WeightRule::kAbs, 1.f};
constexpr AsymParams kQ4K = {32, 15, 63, -1.f, 0.4f, 5, WeightRule::kAvPlusAbs, 2.f};
constexpr AsymParams kQ5K = {32, 31, 63, -0.5f, 0.5f, 3, WeightRule::kAvPlusAbs, 2.f};

template <class F>
[[gnu::always_inline]] inline void q2k_row(const float* x, int64_t n, const float* imp,
                                           uint8_t* out) {
  for (int64_t b = 0; b < n / kN; ++b) {
    AsymResult r;
    asym_super_block<F>(kQ2K, x + b * kN, imp ? imp + b * kN : nullptr, r);
    BlockQ2_K y{};
    for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(r.sc[j] | (r.m[j] << 4));
    for (int j = 0; j < kN; j += 128) {
      for (int l = 0; l < 32; ++l) {
        y.qs[j / 4 + l] = static_cast<uint8_t>(r.L[j + l] | (r.L[j + l + 32] << 2) |
                                               (r.L[j + l + 64] << 4) | (r.L[j + l + 96] << 6));
      }
    }
    y.d = r.d;
    y.dmin = r.dmin;
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

template <class F>
[[gnu::always_inline]] inline void q4k_row(const float* x, int64_t n, const float* imp,
                                           uint8_t* out) {
  for (int64_t b = 0; b < n / kN; ++b) {
    AsymResult r;
    asym_super_block<F>(kQ4K, x + b * kN, imp ? imp + b * kN : nullptr, r);
    BlockQ4_K y{};
    y.d = r.d;
    y.dmin = r.dmin;
    pack_scales_k4(r, y.scales);
    for (int j = 0; j < kN; j += 64) {
      for (int l = 0; l < 32; ++l) {
        y.qs[j / 2 + l] = static_cast<uint8_t>(r.L[j + l] | (r.L[j + l + 32] << 4));
      }
    }
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

template <class F>
[[gnu::always_inline]] inline void q5k_row(const float* x, int64_t n, const float* imp,
                                           uint8_t* out) {
  for (int64_t b = 0; b < n / kN; ++b) {
    AsymResult r;
    asym_super_block<F>(kQ5K, x + b * kN, imp ? imp + b * kN : nullptr, r);
    BlockQ5_K y{};
    y.d = r.d;
    y.dmin = r.dmin;
    pack_scales_k4(r, y.scales);
    uint8_t m1 = 1, m2 = 2;
    for (int j = 0; j < kN; j += 64) {
      for (int l = 0; l < 32; ++l) {
        // Branch-free: bit 4 of each level goes to qh, the low 4 bits to qs.
        const int l1 = r.L[j + l], l2 = r.L[j + l + 32];
        y.qh[l] |= static_cast<uint8_t>((l1 >> 4) * m1 | (l2 >> 4) * m2);
        y.qs[j / 2 + l] = static_cast<uint8_t>((l1 & 15) | ((l2 & 15) << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
    }
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

// ---------------------------------------------------------------- symmetric (Q3_K Q6_K)

constexpr SymParams kQ3K = {4, -32.f, -32, 31, 2.f, 1, 0.5f};
constexpr SymParams kQ6K = {32, -128.f, -128, 127, 1.f, 2, 0.4f};

template <class F>
[[gnu::always_inline]] inline void q3k_row(const float* x, int64_t n, const float* imp,
                                           uint8_t* out) {
  for (int64_t b = 0; b < n / kN; ++b) {
    SymResult r;
    BlockQ3_K y{};
    if (sym_super_block<F>(kQ3K, x + b * kN, imp ? imp + b * kN : nullptr, r)) {
      for (int j = 0; j < 16; ++j) {
        const int l = r.sc[j] + 32;  // 6-bit code, 4 low bits in scales[0..7], 2 high in [8..11]
        if (j < 8) y.scales[j] = static_cast<uint8_t>(l & 0xF);
        else y.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        y.scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      y.d = r.d;
      uint8_t L[kN];
      for (int j = 0; j < kN; ++j) {
        // Bit 2 of the level (set = no -4 offset) goes to byte j % 32, bit j / 32 of hmask;
        // branch-free, the levels being unpredictable.
        const int hi = (r.L[j] >> 2) & 1;
        y.hmask[j % 32] |= static_cast<uint8_t>(hi << (j / 32));
        L[j] = static_cast<uint8_t>(r.L[j] & 3);
      }
      for (int j = 0; j < kN; j += 128) {
        for (int l = 0; l < 32; ++l) {
          y.qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) |
                                                 (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
      }
    }
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

template <class F>
[[gnu::always_inline]] inline void q6k_row(const float* x, int64_t n, const float* imp,
                                           uint8_t* out) {
  for (int64_t b = 0; b < n / kN; ++b) {
    SymResult r;
    BlockQ6_K y{};
    if (sym_super_block<F>(kQ6K, x + b * kN, imp ? imp + b * kN : nullptr, r)) {
      y.d = r.d;
      for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<int8_t>(r.sc[j]);
      const int8_t* L = r.L;
      for (int j = 0; j < kN; j += 128) {
        uint8_t* ql = y.ql + j / 2;
        uint8_t* qh = y.qh + j / 4;
        for (int l = 0; l < 32; ++l) {
          const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
          ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
          ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
          qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                       ((q4 >> 4) << 6));
        }
      }
    }
    std::memcpy(out + b * sizeof y, &y, sizeof y);
  }
}

// ---------------------------------------------------------------- entry points

// _ref: one sub-block at a time (F = float); _fast: 8 sub-blocks per vector (F = v8f), the
// same bytes. (16 lanes under AVX-512 measured slower: lane inserts, and GCC contracts a * b + c
// into FMA there, which changes the bytes.)
#define BITSMITH_GGUF_ROW_PAIR(name)                                                     \
  void name##_ref(const float* x, int64_t n, const float* imp, uint8_t* out) {           \
    name<float>(x, n, imp, out);                                                         \
  }                                                                                      \
  BITSMITH_CPU_CLONES("avx2") void name##_fast(                    \
      const float* x, int64_t n, const float* imp, uint8_t* out) {                       \
    name<v8f>(x, n, imp, out);                                                           \
  }
BITSMITH_GGUF_ROW_PAIR(q2k_row)
BITSMITH_GGUF_ROW_PAIR(q3k_row)
BITSMITH_GGUF_ROW_PAIR(q4k_row)
BITSMITH_GGUF_ROW_PAIR(q5k_row)
BITSMITH_GGUF_ROW_PAIR(q6k_row)
#undef BITSMITH_GGUF_ROW_PAIR

// Dequantization: the float operations and their order are ggml's dequantize_row_*.
void q2k_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kN; ++b) {
    BlockQ2_K blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = formats::fp16_to_fp32(blk.d), dmin = formats::fp16_to_fp32(blk.dmin);
    int is = 0;
    for (int h = 0; h < kN; h += 128) {
      const uint8_t* q = blk.qs + h / 4;
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = blk.scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF),
                      ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l)
            *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void q3k_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kN; ++b) {
    BlockQ3_K blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = formats::fp16_to_fp32(blk.d);
    for (int i = 0; i < kN; ++i) {
      const int j = i / 16;  // sub-block
      const int lo = j < 8 ? (blk.scales[j] & 0xF) : (blk.scales[j - 8] >> 4);
      const int sc = (lo | (((blk.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      const int pos = i % 128, shift = 2 * (pos / 32), byte = (i / 128) * 32 + pos % 32;
      const int q = ((blk.qs[byte] >> shift) & 3) - ((blk.hmask[i % 32] >> (i / 32)) & 1 ? 0 : 4);
      y[b * kN + i] = (d * static_cast<float>(sc)) * static_cast<float>(q);
    }
  }
}

template <bool kQ5>
void q45k_dequant(const uint8_t* p, int64_t n, float* y) {
  using Block = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;
  for (int64_t b = 0; b < n / kN; ++b) {
    Block blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = formats::fp16_to_fp32(blk.d), dmin = formats::fp16_to_fp32(blk.dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_k4(j, blk.scales, &sc, &m);
      const float dl = d * sc, ml = dmin * m;
      const uint8_t* q = blk.qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        int v = (j % 2 == 0) ? (q[l] & 0xF) : (q[l] >> 4);
        if constexpr (kQ5) v += (blk.qh[l] >> j) & 1 ? 16 : 0;
        *y++ = dl * static_cast<float>(v) - ml;
      }
    }
  }
}

void q6k_dequant(const uint8_t* p, int64_t n, float* y) {
  for (int64_t b = 0; b < n / kN; ++b) {
    BlockQ6_K blk;
    std::memcpy(&blk, p + b * sizeof blk, sizeof blk);
    const float d = formats::fp16_to_fp32(blk.d);
    for (int i = 0; i < kN; ++i) {
      const int h = i / 128, pos = i % 128, l = pos % 32, quarter = pos / 32;
      const uint8_t ql = blk.ql[64 * h + l + 32 * (quarter % 2)];
      const int lo = quarter < 2 ? (ql & 0xF) : (ql >> 4);
      const int hi = (blk.qh[32 * h + l] >> (2 * quarter)) & 3;
      const int q = (lo | (hi << 4)) - 32;
      y[b * kN + i] = d * static_cast<float>(blk.scales[i / 16]) * static_cast<float>(q);
    }
  }
}

// ---------------------------------------------------------------- code writers (GPTQ)

// q2_K, q3_K: element 128n + 32k + l has 2 bits at shift 2k of qs[32n + l] (q3_K: its third
// bit is bit 4n + k of hmask[l]).
template <bool kQ3>
void set_q23k_code(uint8_t* blk, int j, uint32_t c) {
  const int n = j / 128, k = (j % 128) / 32, l = j % 32;
  uint8_t& b = blk[(kQ3 ? offsetof(BlockQ3_K, qs) : offsetof(BlockQ2_K, qs)) +
                   static_cast<size_t>(32 * n + l)];
  b = static_cast<uint8_t>((b & ~(3u << (2 * k))) | ((c & 3u) << (2 * k)));
  if constexpr (kQ3) {
    uint8_t& h = blk[offsetof(BlockQ3_K, hmask) + static_cast<size_t>(l)];
    const int bit = 4 * n + k;
    h = static_cast<uint8_t>((h & ~(1u << bit)) | (((c >> 2) & 1u) << bit));
  }
}

// q4_K, q5_K: chunk ch of 64: qs[32ch + l] low nibble = element 64ch + l, high nibble =
// 64ch + 32 + l; q5_K's fifth bit is bit 2ch (first half) or 2ch + 1 (second half) of qh[l].
template <bool kQ5>
void set_q45k_code(uint8_t* blk, int j, uint32_t c) {
  const int ch = j / 64, half = (j % 64) / 32, l = j % 32;
  uint8_t& b = blk[(kQ5 ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs)) +
                   static_cast<size_t>(32 * ch + l)];
  b = half == 0 ? static_cast<uint8_t>((b & 0xF0) | (c & 0xF))
                : static_cast<uint8_t>((b & 0x0F) | ((c & 0xF) << 4));
  if constexpr (kQ5) {
    uint8_t& h = blk[offsetof(BlockQ5_K, qh) + static_cast<size_t>(l)];
    const int bit = 2 * ch + half;
    h = static_cast<uint8_t>((h & ~(1u << bit)) | (((c >> 4) & 1u) << bit));
  }
}

// q6_K: element 128n + 32k + l: low 4 bits in ql[64n + l + 32 (k odd)] (high nibble for
// k >= 2), high 2 bits at shift 2k of qh[32n + l].
void set_q6k_code(uint8_t* blk, int j, uint32_t c) {
  const int n = j / 128, k = (j % 128) / 32, l = j % 32;
  uint8_t& b = blk[offsetof(BlockQ6_K, ql) + static_cast<size_t>(64 * n + l + (k & 1) * 32)];
  b = k < 2 ? static_cast<uint8_t>((b & 0xF0) | (c & 0xF))
            : static_cast<uint8_t>((b & 0x0F) | ((c & 0xF) << 4));
  uint8_t& h = blk[offsetof(BlockQ6_K, qh) + static_cast<size_t>(32 * n + l)];
  h = static_cast<uint8_t>((h & ~(3u << (2 * k))) | (((c >> 4) & 3u) << (2 * k)));
}

GgufKernels kquant(const char* name, int type, uint64_t bytes, double bpw, const char* elem,
                   QuantizeRowFn ref, QuantizeRowFn fast, DequantizeRowFn deq, int off0,
                   int off1, int ncodes, SetCodeFn set_code, const char* desc) {
  GgufKernels k = block_kernels(name, type, kN, bytes, elem, "float16", ref, fast, deq, off0, desc);
  k.traits.bits_per_weight = bpw;
  k.traits.symmetric = std::string(elem).find("uint") == std::string::npos;
  k.scale_offsets[1] = off1;
  k.ncodes = ncodes;
  k.set_code = set_code;
  return k;
}

}  // namespace

void append_kquant_kernels(std::vector<GgufKernels>& out) {
  // bpw = 8 * bytes / 256, e.g. Q4_K: 8 * 144 / 256 = 4.5.
  out.push_back(kquant("q2_k", kQ2_K, 84, 2.625, "uint2", q2k_row_ref, q2k_row_fast, q2k_dequant,
                       offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin), 4, set_q23k_code<false>,
                       "GGUF Q2_K: 256-value super-blocks, 16x16 with 4-bit scale and min"));
  out.push_back(kquant("q3_k", kQ3_K, 110, 3.4375, "int3", q3k_row_ref, q3k_row_fast, q3k_dequant,
                       offsetof(BlockQ3_K, d), -1, 8, set_q23k_code<true>,
                       "GGUF Q3_K: 256-value super-blocks, 16x16 with 6-bit scales"));
  out.push_back(kquant("q4_k", kQ4_K, 144, 4.5, "uint4", q4k_row_ref, q4k_row_fast,
                       q45k_dequant<false>, offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin), 16,
                       set_q45k_code<false>,
                       "GGUF Q4_K: 256-value super-blocks, 8x32 with 6-bit scale and min"));
  out.push_back(kquant("q5_k", kQ5_K, 176, 5.5, "uint5", q5k_row_ref, q5k_row_fast,
                       q45k_dequant<true>, offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin), 32,
                       set_q45k_code<true>,
                       "GGUF Q5_K: 256-value super-blocks, 8x32 with 6-bit scale and min"));
  out.push_back(kquant("q6_k", kQ6_K, 210, 6.5625, "int6", q6k_row_ref, q6k_row_fast, q6k_dequant,
                       offsetof(BlockQ6_K, d), -1, 64, set_q6k_code,
                       "GGUF Q6_K: 256-value super-blocks, 16x16 with int8 scales"));
}

}  // namespace bitsmith::quant::gguf
