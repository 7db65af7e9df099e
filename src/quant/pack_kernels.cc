#include "pack_kernels.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "bitsmith/formats/codec.h"
#include "pack.h"

namespace bitsmith::quant::detail {

namespace {

#define BITSMITH_INLINE inline __attribute__((always_inline))

using formats::FloatFormat;

constexpr FloatFormat format_of(ElemKind e) {
  switch (e) {
    case ElemKind::kE4M3: return formats::kFloat8E4M3FN;
    case ElemKind::kE5M2: return formats::kFloat8E5M2;
    case ElemKind::kE2M1: return formats::kFloat4E2M1FN;
    case ElemKind::kE3M2: return formats::kFloat6E3M2FN;
    case ElemKind::kE2M3: return formats::kFloat6E2M3FN;
    case ElemKind::kInt: break;
  }
  return formats::kFloat32;
}

std::array<float, 256> e4m3_table() {
  std::array<float, 256> t{};
  for (uint32_t c = 0; c < 256; ++c) {
    t[c] = static_cast<float>(formats::decode(formats::kFloat8E4M3FN, c));
  }
  return t;
}
const std::array<float, 256> kE4M3Values = e4m3_table();

constexpr uint8_t kE4M3One = 0x38;  // 1.0 = 2^(7 - 7): exponent field 0b0111, mantissa 0

// Scale encoders: the reference path goes through the generic codec, the fast one through
// the bit tricks of pack.h; both round to nearest even and saturate.
template <bool kRef>
BITSMITH_INLINE uint8_t enc_e4m3(float v) {
  if constexpr (kRef) return static_cast<uint8_t>(formats::encode(formats::kFloat8E4M3FN, v));
  return static_cast<uint8_t>(formats::fast_encode_float<formats::kFloat8E4M3FN>(v));
}
template <bool kRef>
BITSMITH_INLINE uint16_t enc_half(float v) {
  if constexpr (kRef) return static_cast<uint16_t>(formats::encode(formats::kFloat16, v));
  return formats::fp32_to_fp16<formats::Overflow::kSaturate>(v);
}
template <bool kRef>
BITSMITH_INLINE float dec_half(uint16_t h) {
  if constexpr (kRef) return static_cast<float>(formats::decode(formats::kFloat16, h));
  return formats::fp16_to_fp32(h);
}

// One element: a float code (RNE, saturating) or an integer clamped to [lo, hi] plus offset z
// (asymmetric zero point; 0 otherwise). Integer codes keep their two's complement low bits.
template <bool kRef, ElemKind E>
BITSMITH_INLINE uint8_t encode_elem(float v, float lo, float hi, int32_t z) {
  if constexpr (E == ElemKind::kInt) {
    int32_t q;
    if constexpr (kRef) {
      const double c = std::min<double>(std::max<double>(v, lo), hi);
      q = static_cast<int32_t>(formats::decode(formats::IntFormat{16, true},
                                               formats::encode(formats::IntFormat{16, true}, c)));
    } else {
      q = fast_round_clamp(v, lo, hi);
    }
    return static_cast<uint8_t>(q + z);
  } else {
    constexpr FloatFormat F = format_of(E);
    if constexpr (kRef) return static_cast<uint8_t>(formats::encode(F, v));
    return static_cast<uint8_t>(formats::fast_encode_float<F>(v));
  }
}

template <bool kRef, ElemKind E>
BITSMITH_INLINE void encode_block(const float* __restrict x, int64_t n, float d, float lo,
                                  float hi, int32_t z, uint8_t* __restrict codes) {
  for (int64_t j = 0; j < n; ++j) codes[j] = encode_elem<kRef, E>(x[j] / d, lo, hi, z);
}

struct BlockStats {
  uint32_t amax_bits = 0;
  float mn = 0, mx = 0;  // asymmetric rule only
};

template <bool kRef, ScaleRule R>
BITSMITH_INLINE BlockStats block_stats(const float* __restrict x, int64_t n) {
  BlockStats s;
  uint32_t m = 0;
  for (int64_t j = 0; j < n; ++j) m = std::max(m, formats::float_to_bits(x[j]) & 0x7FFFFFFFu);
  s.amax_bits = m;
  if constexpr (R == ScaleRule::kIntAsymF16) {
    float mn = x[0], mx = x[0];
    for (int64_t j = 1; j < n; ++j) {
      mn = x[j] < mn ? x[j] : mn;
      mx = x[j] > mx ? x[j] : mx;
    }
    s.mn = mn;
    s.mx = mx;
  }
  return s;
}

// What a block encodes with, and what it stores.
struct BlockParams {
  float d = 1.0f;          // element value = x / d
  float lo = 0, hi = 0;    // integer clamp bounds (relative to the zero point)
  int32_t z = 0;           // asymmetric zero point
  uint32_t scale_code = 0; // stored scale bits (width per rule)
  uint16_t zero_code = 0;  // stored zero point (fp16 bits)
  bool all_zero = false;   // every code 0 (nvfp4 flushed tensor)
};

// floor(log2 a) and ceil(log2 a) of a positive finite float, exactly, from its bits.
BITSMITH_INLINE int floor_log2(float a) {
  const uint32_t b = formats::float_to_bits(a);
  const int e = static_cast<int>(b >> 23);
  return e > 0 ? e - 127 : (31 - std::countl_zero(b)) - 149;  // subnormal: m * 2^-149
}
BITSMITH_INLINE int ceil_log2(float a) {
  const uint32_t b = formats::float_to_bits(a);
  const bool pow2 = (b >> 23) > 0 ? (b & 0x7FFFFFu) == 0 : (b & (b - 1)) == 0;
  return floor_log2(a) + (pow2 ? 0 : 1);
}

// The scale rule: block statistics (shrunk by `shrink` during an importance search) to params.
template <bool kRef, ScaleRule R>
BITSMITH_INLINE BlockParams block_params(const BlockStats& s, const RowCtx& c, int64_t b,
                                         float shrink) {
  const SchemeSpec& sp = *c.spec;
  BlockParams p;
  p.lo = static_cast<float>(sp.qmin);
  p.hi = static_cast<float>(sp.qmax);
  const float amax = formats::bits_to_float(s.amax_bits) * shrink;
  if constexpr (R == ScaleRule::kGiven) {
    p.d = c.given[b];
  } else if constexpr (R == ScaleRule::kAmaxF32) {
    p.d = amax / sp.elem_max;
    if (p.d == 0.0f) p.d = 1.0f;  // all-zero block (or amax below elem_max * 2^-150)
    p.scale_code = formats::float_to_bits(p.d);
  } else if constexpr (R == ScaleRule::kIntSymF16) {
    uint16_t h = enc_half<kRef>(amax / static_cast<float>(sp.qmax));
    // A scale below fp16's range: 1 for an all-zero block, else the smallest half (2^-24),
    // so tiny weights keep what resolution fp16 allows instead of dividing by zero.
    if (h == 0) h = amax == 0.0f ? 0x3C00 : 0x0001;
    p.scale_code = h;
    p.d = dec_half<kRef>(h);
  } else if constexpr (R == ScaleRule::kIntAsymF16) {
    // GPTQ's quantizer: the range always contains 0; an all-zero group uses [-1, 1].
    float mn = std::min(s.mn, 0.0f), mx = std::max(s.mx, 0.0f);
    if (mn == 0.0f && mx == 0.0f) {
      mn = -1.0f;
      mx = 1.0f;
    }
    mn *= shrink;
    mx *= shrink;
    uint16_t h = enc_half<kRef>((mx - mn) / static_cast<float>(sp.qmax));
    if (h == 0) h = 0x0001;
    p.scale_code = h;
    p.d = dec_half<kRef>(h);
    const float zf = std::min(std::max(-mn / p.d, 0.0f), static_cast<float>(sp.qmax));
    p.z = fast_round_clamp(zf, 0.0f, static_cast<float>(sp.qmax));
    p.zero_code = enc_half<kRef>(static_cast<float>(p.z));
    p.lo = static_cast<float>(-p.z);
    p.hi = static_cast<float>(sp.qmax - p.z);
  } else if constexpr (R == ScaleRule::kNvfp4) {
    if (c.flush_zero) {
      p.all_zero = true;
      p.scale_code = kE4M3One;
      return p;
    }
    uint8_t sc = enc_e4m3<kRef>(amax / c.six_s);
    // ModelOpt sets a zero block scale to 1 (the block is all zero); bitsmith applies the rule
    // after rounding, so a scale that rounds to zero (amax_b < 2^-10 * 6 S) gets 1 too: its
    // elements, below 6 * 2^-10 * S, are under a quarter of d = S and encode to 0, not x / 0.
    if (sc == 0) sc = kE4M3One;
    p.scale_code = sc;
    p.d = kE4M3Values[sc] * c.tensor_scale;
  } else {  // kMxFloor, kMxRceil
    int e;
    if constexpr (R == ScaleRule::kMxFloor) {
      e = amax == 0.0f ? -127 : floor_log2(amax) - sp.mx_emax;
    } else {
      const float v = amax / sp.elem_max;
      e = v == 0.0f ? -127 : ceil_log2(v);
    }
    e = std::min(127, std::max(-127, e));
    p.scale_code = static_cast<uint32_t>(e + 127);
    p.d = exp2_float(e - sp.mx_int_shift);
  }
  return p;
}

void store_params(const BlockParams& p, ScaleRule rule, int64_t b, uint8_t* scales,
                  uint8_t* zeros) {
  const int w = rule_scale_width(rule);
  if (w > 0) std::memcpy(scales + b * w, &p.scale_code, static_cast<size_t>(w));  // LE host
  if (rule_zero_width(rule) > 0) std::memcpy(zeros + b * 2, &p.zero_code, 2);
}

// Importance-weighted clipping search (integer rules): shrink the range on AWQ's grid
// (1, 0.95, ..., 0.55) and keep the params with the least sum w_j (x_j - x'_j)^2. Ratio 1 is
// plain RTN and wins ties, so weights never make the weighted error worse.
template <bool kRef, ElemKind E, ScaleRule R>
BlockParams search_params(const float* x, int64_t n, const BlockStats& s, const RowCtx& c,
                          int64_t b, const float* w) {
  thread_local std::vector<uint8_t> codes;
  codes.resize(static_cast<size_t>(n));
  BlockParams best = block_params<kRef, R>(s, c, b, 1.0f);
  double best_err = INFINITY;
  for (int i = 0; i < 10; ++i) {
    const float shrink = 1.0f - 0.05f * static_cast<float>(i);
    const BlockParams p = block_params<kRef, R>(s, c, b, shrink);
    encode_block<kRef, E>(x, n, p.d, p.lo, p.hi, p.z, codes.data());
    double err = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float q = static_cast<float>(static_cast<int32_t>(static_cast<int8_t>(codes[j])));
      const float deq = R == ScaleRule::kIntAsymF16
                            ? (static_cast<float>(codes[j]) - static_cast<float>(p.z)) * p.d
                            : q * p.d;
      const double e = static_cast<double>(x[j]) - deq;
      err += static_cast<double>(w[j]) * e * e;
    }
    if (err < best_err) {
      best_err = err;
      best = p;
    }
  }
  return best;
}

// kB > 0: the block length is that constant (nvfp4 16, MX 32), so the block loops unroll into
// whole vectors; 0: c.block at run time.
template <bool kRef, ElemKind E, ScaleRule R, int kB>
BITSMITH_INLINE bool quantize_row(const float* __restrict x, const RowCtx& c,
                                  uint8_t* __restrict codes, uint8_t* scales, uint8_t* zeros) {
  bool ok = true;
  if constexpr (kB > 0) {
    // Fixed small blocks (nvfp4, MX): all block scales first, then all elements, so no
    // block's element loop waits on its own scale chain (amax -> divide -> encode -> decode)
    // and consecutive blocks overlap in the CPU. Same arithmetic as the loop below.
    const int64_t nb = c.cols / kB;
    thread_local std::vector<BlockParams> params;
    params.resize(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
      BlockStats s = block_stats<kRef, R>(x + b * kB, kB);
      if (s.amax_bits >= kNonFiniteAbsBits) {  // reported by the caller, with row and column
        ok = false;
        s.amax_bits = 0;
      }
      params[static_cast<size_t>(b)] = block_params<kRef, R>(s, c, b, 1.0f);
      store_params(params[static_cast<size_t>(b)], R, b, scales, zeros);
    }
    for (int64_t b = 0; b < nb; ++b) {
      const BlockParams& p = params[static_cast<size_t>(b)];
      if (p.all_zero) std::memset(codes + b * kB, 0, kB);
      else encode_block<kRef, E>(x + b * kB, kB, p.d, p.lo, p.hi, p.z, codes + b * kB);
    }
    return ok;
  }
  const int64_t block = kB > 0 ? kB : c.block;
  const int64_t cols = c.cols;
  const int64_t nb = block > 0 ? (cols + block - 1) / block : 0;
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t off = b * block;
    const int64_t n = kB > 0 ? kB : std::min(block, cols - off);
    const float* xb = x + off;
    uint8_t* cb = codes + off;
    BlockStats s;
    if constexpr (R != ScaleRule::kGiven) {
      s = block_stats<kRef, R>(xb, n);
      if (s.amax_bits >= kNonFiniteAbsBits) {  // reported by the caller, with row and column
        ok = false;
        std::memset(cb, 0, static_cast<size_t>(n));
        continue;
      }
    }
    BlockParams p;
    constexpr bool kSearchable = E == ElemKind::kInt &&
                                 (R == ScaleRule::kAmaxF32 || R == ScaleRule::kIntSymF16 ||
                                  R == ScaleRule::kIntAsymF16);
    if constexpr (kSearchable) {
      p = c.importance ? search_params<kRef, E, R>(xb, n, s, c, b, c.importance + off)
                       : block_params<kRef, R>(s, c, b, 1.0f);
    } else {
      p = block_params<kRef, R>(s, c, b, 1.0f);
    }
    store_params(p, R, b, scales, zeros);
    if (p.all_zero) {
      std::memset(cb, 0, static_cast<size_t>(n));
      continue;
    }
    encode_block<kRef, E>(xb, n, p.d, p.lo, p.hi, p.z, cb);
  }
  return ok;
}

template <ElemKind E, ScaleRule R>
bool quantize_row_ref(const float* x, const RowCtx& c, uint8_t* codes, uint8_t* scales,
                      uint8_t* zeros) {
  return quantize_row<true, E, R, 0>(x, c, codes, scales, zeros);
}

template <ElemKind E, ScaleRule R, int kB>
BITSMITH_CPU_CLONES("avx2") bool quantize_row_fast(const float* x, const RowCtx& c, uint8_t* codes,
                                             uint8_t* scales, uint8_t* zeros) {
  return quantize_row<false, E, R, kB>(x, c, codes, scales, zeros);
}

template <ElemKind E, ScaleRule R>
RowQuantFn pick(bool ref) {
  if (ref) return &quantize_row_ref<E, R>;
  // nvfp4 blocks are always 16 and MX blocks 32 (check_shape guarantees whole blocks).
  constexpr int kB = R == ScaleRule::kNvfp4 ? 16
                     : (R == ScaleRule::kMxFloor || R == ScaleRule::kMxRceil) ? 32 : 0;
  return &quantize_row_fast<E, R, kB>;
}

template <ElemKind E>
RowQuantFn pick_rule(ScaleRule rule, bool ref) {
  switch (rule) {
    case ScaleRule::kGiven: return pick<E, ScaleRule::kGiven>(ref);
    case ScaleRule::kAmaxF32: return pick<E, ScaleRule::kAmaxF32>(ref);
    case ScaleRule::kMxFloor: return pick<E, ScaleRule::kMxFloor>(ref);
    default: break;
  }
  if constexpr (E == ElemKind::kInt) {
    if (rule == ScaleRule::kIntSymF16) return pick<E, ScaleRule::kIntSymF16>(ref);
    if (rule == ScaleRule::kIntAsymF16) return pick<E, ScaleRule::kIntAsymF16>(ref);
  } else {
    if (rule == ScaleRule::kNvfp4) return pick<E, ScaleRule::kNvfp4>(ref);
    if (rule == ScaleRule::kMxRceil) return pick<E, ScaleRule::kMxRceil>(ref);
  }
  return nullptr;
}

}  // namespace

RowQuantFn select_row_quant(ElemKind elem, ScaleRule rule, bool ref) {
  switch (elem) {
    case ElemKind::kE4M3: return pick_rule<ElemKind::kE4M3>(rule, ref);
    case ElemKind::kE5M2: return pick_rule<ElemKind::kE5M2>(rule, ref);
    case ElemKind::kE2M1: return pick_rule<ElemKind::kE2M1>(rule, ref);
    case ElemKind::kE3M2: return pick_rule<ElemKind::kE3M2>(rule, ref);
    case ElemKind::kE2M3: return pick_rule<ElemKind::kE2M3>(rule, ref);
    case ElemKind::kInt: return pick_rule<ElemKind::kInt>(rule, ref);
  }
  return nullptr;
}

int rule_scale_width(ScaleRule rule) {
  switch (rule) {
    case ScaleRule::kGiven: return 0;
    case ScaleRule::kAmaxF32: return 4;
    case ScaleRule::kIntSymF16:
    case ScaleRule::kIntAsymF16: return 2;
    case ScaleRule::kNvfp4:
    case ScaleRule::kMxFloor:
    case ScaleRule::kMxRceil: return 1;
  }
  return 0;
}

int rule_zero_width(ScaleRule rule) { return rule == ScaleRule::kIntAsymF16 ? 2 : 0; }

BlockGrid stored_grid(const RowCtx& c, const uint8_t* scales, const uint8_t* zeros, int64_t b) {
  const SchemeSpec& sp = *c.spec;
  BlockGrid g;
  g.lo = static_cast<float>(sp.qmin);
  g.hi = static_cast<float>(sp.qmax);
  switch (sp.rule) {
    case ScaleRule::kGiven: g.d = c.given[b]; break;
    case ScaleRule::kAmaxF32: std::memcpy(&g.d, scales + 4 * b, 4); break;
    case ScaleRule::kIntSymF16:
    case ScaleRule::kIntAsymF16: {
      uint16_t h;
      std::memcpy(&h, scales + 2 * b, 2);
      g.d = formats::fp16_to_fp32(h);
      if (sp.rule == ScaleRule::kIntAsymF16) {
        std::memcpy(&h, zeros + 2 * b, 2);
        g.z = formats::fp16_to_fp32(h);
        // The encoder clamps relative to the zero point (block_params' lo/hi).
        g.lo = -g.z;
        g.hi = static_cast<float>(sp.qmax) - g.z;
      }
      break;
    }
    case ScaleRule::kNvfp4: g.d = kE4M3Values[scales[b]] * c.tensor_scale; break;
    case ScaleRule::kMxFloor:
    case ScaleRule::kMxRceil:
      // e8m0 0xFF is NaN (never written by the quantizer); it decodes to NaN here too.
      g.d = scales[b] == 0xFF ? NAN
                              : exp2_float(static_cast<int>(scales[b]) - 127 - sp.mx_int_shift);
      break;
  }
  return g;
}

void encode_on_grid(ElemKind e, const float* x, int64_t n, const BlockGrid& g, uint8_t* codes) {
  const auto z = static_cast<int32_t>(g.z);
  switch (e) {
    case ElemKind::kE4M3: return encode_block<false, ElemKind::kE4M3>(x, n, g.d, g.lo, g.hi, z, codes);
    case ElemKind::kE5M2: return encode_block<false, ElemKind::kE5M2>(x, n, g.d, g.lo, g.hi, z, codes);
    case ElemKind::kE2M1: return encode_block<false, ElemKind::kE2M1>(x, n, g.d, g.lo, g.hi, z, codes);
    case ElemKind::kE3M2: return encode_block<false, ElemKind::kE3M2>(x, n, g.d, g.lo, g.hi, z, codes);
    case ElemKind::kE2M3: return encode_block<false, ElemKind::kE2M3>(x, n, g.d, g.lo, g.hi, z, codes);
    case ElemKind::kInt: return encode_block<false, ElemKind::kInt>(x, n, g.d, g.lo, g.hi, z, codes);
  }
}

BITSMITH_CPU_CLONES("avx2")
void dequant_row(const uint8_t* codes, const uint8_t* scales, const uint8_t* zeros,
                 const RowCtx& c, const float* lut, float* out) {
  const int64_t nb = c.block > 0 ? (c.cols + c.block - 1) / c.block : 0;
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t off = b * c.block;
    const int64_t n = std::min(c.block, c.cols - off);
    const BlockGrid grid = stored_grid(c, scales, zeros, b);
    const float d = grid.d, z = grid.z;
    const uint8_t* cb = codes + off;
    float* ob = out + off;
    for (int64_t j = 0; j < n; ++j) ob[j] = (lut[cb[j]] - z) * d;
  }
}

}  // namespace bitsmith::quant::detail
