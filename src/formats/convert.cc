// Array conversions: split the array over the thread pool and run a kernel per chunk
// (convert_kernels.cc), or the scalar codec for the few formats no kernel covers (float32
// itself, e8m0, integers wider than 8 bits). Chunk boundaries never change a result: each
// element's stochastic index is its position plus opt.first_index.
#include "bitsmith/formats/convert.h"

#include <algorithm>
#include <array>

#include "bitsmith/core/assert.h"
#include "convert_kernels.h"

namespace bitsmith::formats {

namespace {

// Elements per chunk: large enough that waking a worker (a few microseconds) is noise next to
// the chunk's work, small enough to spread a few-MB array over all cores.
constexpr int64_t kGrain = int64_t{1} << 15;
// Packed 4-bit encoders go through a small on-stack buffer of codes, this many at a time.
constexpr size_t kNibbleBlock = 4096;

template <typename Fn>
void for_chunks(ThreadPool* pool, size_t n, int64_t grain, const Fn& fn) {
  ThreadPool& p = pool != nullptr ? *pool : ThreadPool::global();
  p.parallel_for(static_cast<int64_t>(n), grain, [&](int64_t begin, int64_t end) {
    fn(static_cast<size_t>(begin), static_cast<size_t>(end));
  });
}

void encode_kernel(const detail::FloatEncodeParams& p, const float* x, uint8_t* out, size_t n,
                   uint64_t index0) {
  detail::encode_float_u8(p, x, out, n, index0);
}
void encode_kernel(const detail::FloatEncodeParams& p, const float* x, uint16_t* out, size_t n,
                   uint64_t index0) {
  detail::encode_float_u16(p, x, out, n, index0);
}

// float32 -> a float format, through the kernel when one covers the format and code width.
template <typename Code>
void encode_float_array(const FloatFormat& f, std::span<const float> x, Code* out,
                        const EncodeOptions& opt, ThreadPool* pool) {
  if constexpr (sizeof(Code) <= 2) {
    if (detail::float_kernel_supported(f) && f.bits() <= 8 * static_cast<int>(sizeof(Code))) {
      const detail::FloatEncodeParams p = detail::make_float_encode_params(f, opt);
      for_chunks(pool, x.size(), kGrain, [&](size_t b, size_t e) {
        encode_kernel(p, x.data() + b, out + b, e - b, opt.first_index + b);
      });
      return;
    }
  }
  for_chunks(pool, x.size(), kGrain, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      out[i] = static_cast<Code>(encode(f, static_cast<double>(x[i]), opt, opt.first_index + i));
    }
  });
}

// A 256-entry float table of a format's codes (codes of fewer bits use the low bits of the
// byte), built by the scalar decoder so the table path cannot round differently. Desc is a
// FloatFormat, IntFormat or Format: decode() takes each.
template <typename Desc>
std::array<float, 256> decode_table(const Desc& f, int bits, float scale) {
  std::array<float, 256> t{};
  const uint32_t mask = (1u << bits) - 1u;
  for (uint32_t c = 0; c < 256; ++c) t[c] = static_cast<float>(decode(f, c & mask)) * scale;
  return t;
}

void decode_bytes(const std::array<float, 256>& table, std::span<const uint8_t> codes,
                  std::span<float> out, ThreadPool* pool) {
  BITSMITH_ASSERT(codes.size() == out.size());
  for_chunks(pool, codes.size(), kGrain, [&](size_t b, size_t e) {
    detail::decode_table_u8(table.data(), codes.data() + b, out.data() + b, e - b);
  });
}

void decode_nibbles(const std::array<float, 256>& table, std::span<const uint8_t> packed,
                    std::span<float> out, ThreadPool* pool) {
  BITSMITH_ASSERT(packed.size() == (out.size() + 1) / 2);
  const size_t n = out.size();
  // Chunks over bytes, so every chunk but the last decodes whole pairs.
  for_chunks(pool, packed.size(), kGrain / 2, [&](size_t b, size_t e) {
    const size_t count = std::min(2 * e, n) - 2 * b;
    detail::decode_table_nibbles(table.data(), packed.data() + b, out.data() + 2 * b, count);
  });
}

// Encodes x into 4-bit codes packed two per byte; encode_block(x, codes, n, index0) fills
// one code per byte for a block of at most kNibbleBlock elements.
template <typename EncodeBlock>
void encode_nibbles(std::span<const float> x, std::span<uint8_t> packed, uint64_t first_index,
                    ThreadPool* pool, const EncodeBlock& encode_block) {
  BITSMITH_ASSERT(packed.size() == (x.size() + 1) / 2);
  const size_t n = x.size();
  for_chunks(pool, packed.size(), kGrain / 2, [&](size_t b, size_t e) {
    uint8_t codes[kNibbleBlock];
    for (size_t i = 2 * b; i < std::min(2 * e, n); i += kNibbleBlock) {
      const size_t count = std::min({kNibbleBlock, n - i, 2 * e - i});
      encode_block(x.data() + i, codes, count, first_index + i);
      detail::pack_nibbles(codes, packed.data() + i / 2, count & ~size_t{1});
      if (count % 2) packed[(i + count) / 2] = codes[count - 1] & 0xF;  // odd tail, high nibble 0
    }
  });
}

detail::IntEncodeParams int_params(const IntFormat& f, float scale, const EncodeOptions& opt) {
  detail::IntEncodeParams p{};
  p.scale = scale;
  p.lo = static_cast<float>(f.min());
  p.hi = static_cast<float>(f.max());
  p.mask = (1u << f.bits) - 1u;
  p.rounding = opt.rounding;
  p.seed = opt.seed;
  return p;
}

constexpr IntFormat kInt8{8, true};
constexpr IntFormat kInt4{4, true};

template <typename Code>
Status check_sizes(const Format& f, size_t n_in, size_t n_out) {
  if (n_in != n_out) {
    return invalid_argument("{}: {} inputs but {} outputs", f.name, n_in, n_out);
  }
  if (f.bits() > 8 * static_cast<int>(sizeof(Code))) {
    return invalid_argument("{}: {}-bit codes do not fit a {}-bit code array", f.name, f.bits(),
                            8 * sizeof(Code));
  }
  return Status::Ok();
}

template <typename Code>
Status encode_any(const Format& f, std::span<const float> x, std::span<Code> codes,
                  const EncodeOptions& opt, ThreadPool* pool) {
  BITSMITH_RETURN_IF_ERROR(check_sizes<Code>(f, x.size(), codes.size()));
  if (f.kind == FormatKind::kFloat) {
    encode_float_array(f.fp, x, codes.data(), opt, pool);
  } else if constexpr (sizeof(Code) == 1) {
    f32_to_int_codes(f.integer, x, 1.0f, codes, opt, pool);
  } else {
    for_chunks(pool, x.size(), kGrain, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        codes[i] = static_cast<Code>(encode(f, static_cast<double>(x[i]), opt, opt.first_index + i));
      }
    });
  }
  return Status::Ok();
}

void decode_ieee16_array(const FloatFormat& f, std::span<const uint16_t> codes,
                         std::span<float> out, ThreadPool* pool) {
  BITSMITH_ASSERT(codes.size() == out.size());
  const detail::FloatDecodeParams p = detail::make_float_decode_params(f);
  for_chunks(pool, codes.size(), kGrain, [&](size_t b, size_t e) {
    detail::decode_ieee16(p, codes.data() + b, out.data() + b, e - b);
  });
}

template <typename Code>
Status decode_any(const Format& f, std::span<const Code> codes, std::span<float> out,
                  ThreadPool* pool) {
  BITSMITH_RETURN_IF_ERROR(check_sizes<Code>(f, codes.size(), out.size()));
  if constexpr (sizeof(Code) == 1) {
    decode_bytes(decode_table(f, f.bits(), 1.0f), codes, out, pool);
    return Status::Ok();
  }
  if constexpr (sizeof(Code) == 2) {
    if (f.kind == FormatKind::kFloat && f.fp.bits() == 16 && f.fp.nan_inf == NanInf::kIeee) {
      decode_ieee16_array(f.fp, codes, out, pool);
      return Status::Ok();
    }
  }
  const uint32_t mask = f.bits() >= 32 ? 0xFFFFFFFFu : (1u << f.bits()) - 1u;
  for_chunks(pool, codes.size(), kGrain, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) out[i] = static_cast<float>(decode(f, codes[i] & mask));
  });
  return Status::Ok();
}

}  // namespace

void f32_to_f16(std::span<const float> x, std::span<uint16_t> out, const EncodeOptions& opt,
                ThreadPool* pool) {
  BITSMITH_ASSERT(x.size() == out.size());
  encode_float_array(kFloat16, x, out.data(), opt, pool);
}
void f16_to_f32(std::span<const uint16_t> codes, std::span<float> out, ThreadPool* pool) {
  decode_ieee16_array(kFloat16, codes, out, pool);
}

void f32_to_bf16(std::span<const float> x, std::span<uint16_t> out, const EncodeOptions& opt,
                 ThreadPool* pool) {
  BITSMITH_ASSERT(x.size() == out.size());
  encode_float_array(kBFloat16, x, out.data(), opt, pool);
}
void bf16_to_f32(std::span<const uint16_t> codes, std::span<float> out, ThreadPool* pool) {
  BITSMITH_ASSERT(codes.size() == out.size());
  for_chunks(pool, codes.size(), kGrain, [&](size_t b, size_t e) {
    detail::decode_bf16(codes.data() + b, out.data() + b, e - b);
  });
}

void f32_to_e4m3(std::span<const float> x, std::span<uint8_t> out, const EncodeOptions& opt,
                 ThreadPool* pool) {
  BITSMITH_ASSERT(x.size() == out.size());
  encode_float_array(kFloat8E4M3FN, x, out.data(), opt, pool);
}
void e4m3_to_f32(std::span<const uint8_t> codes, std::span<float> out, ThreadPool* pool) {
  decode_bytes(decode_table(kFloat8E4M3FN, 8, 1.0f), codes, out, pool);
}

void f32_to_e5m2(std::span<const float> x, std::span<uint8_t> out, const EncodeOptions& opt,
                 ThreadPool* pool) {
  BITSMITH_ASSERT(x.size() == out.size());
  encode_float_array(kFloat8E5M2, x, out.data(), opt, pool);
}
void e5m2_to_f32(std::span<const uint8_t> codes, std::span<float> out, ThreadPool* pool) {
  decode_bytes(decode_table(kFloat8E5M2, 8, 1.0f), codes, out, pool);
}

void f32_to_e2m1_packed(std::span<const float> x, std::span<uint8_t> packed,
                        const EncodeOptions& opt, ThreadPool* pool) {
  const detail::FloatEncodeParams p = detail::make_float_encode_params(kFloat4E2M1FN, opt);
  encode_nibbles(x, packed, opt.first_index, pool,
                 [&](const float* xb, uint8_t* codes, size_t n, uint64_t index0) {
                   detail::encode_float_u8(p, xb, codes, n, index0);
                 });
}
void e2m1_packed_to_f32(std::span<const uint8_t> packed, std::span<float> out, ThreadPool* pool) {
  decode_nibbles(decode_table(kFloat4E2M1FN, 4, 1.0f), packed, out, pool);
}
void f32_to_e2m1(std::span<const float> x, std::span<uint8_t> out, const EncodeOptions& opt,
                 ThreadPool* pool) {
  BITSMITH_ASSERT(x.size() == out.size());
  encode_float_array(kFloat4E2M1FN, x, out.data(), opt, pool);
}
void e2m1_to_f32(std::span<const uint8_t> codes, std::span<float> out, ThreadPool* pool) {
  decode_bytes(decode_table(kFloat4E2M1FN, 4, 1.0f), codes, out, pool);
}

void f32_to_int_codes(const IntFormat& f, std::span<const float> x, float scale,
                      std::span<uint8_t> codes, const EncodeOptions& opt, ThreadPool* pool) {
  BITSMITH_ASSERT(x.size() == codes.size());
  BITSMITH_ASSERT(f.bits >= 1 && f.bits <= 8);
  const detail::IntEncodeParams p = int_params(f, scale, opt);
  for_chunks(pool, x.size(), kGrain, [&](size_t b, size_t e) {
    detail::encode_int_u8(p, x.data() + b, codes.data() + b, e - b, opt.first_index + b);
  });
}
void int_codes_to_f32(const IntFormat& f, std::span<const uint8_t> codes, float scale,
                      std::span<float> out, ThreadPool* pool) {
  BITSMITH_ASSERT(f.bits >= 1 && f.bits <= 8);
  BITSMITH_ASSERT(codes.size() == out.size());
  for_chunks(pool, codes.size(), kGrain, [&](size_t b, size_t e) {
    detail::decode_int_u8(f.bits, f.is_signed, scale, codes.data() + b, out.data() + b, e - b);
  });
}

void f32_to_int8(std::span<const float> x, float scale, std::span<int8_t> out,
                 const EncodeOptions& opt, ThreadPool* pool) {
  // int8_t storage written through uint8_t (a character type may alias any object).
  f32_to_int_codes(kInt8, x, scale, {reinterpret_cast<uint8_t*>(out.data()), out.size()}, opt, pool);
}
void int8_to_f32(std::span<const int8_t> q, float scale, std::span<float> out, ThreadPool* pool) {
  int_codes_to_f32(kInt8, {reinterpret_cast<const uint8_t*>(q.data()), q.size()}, scale, out, pool);
}

void f32_to_int4_packed(std::span<const float> x, float scale, std::span<uint8_t> packed,
                        const EncodeOptions& opt, ThreadPool* pool) {
  const detail::IntEncodeParams p = int_params(kInt4, scale, opt);
  encode_nibbles(x, packed, opt.first_index, pool,
                 [&](const float* xb, uint8_t* codes, size_t n, uint64_t index0) {
                   detail::encode_int_u8(p, xb, codes, n, index0);
                 });
}
void int4_packed_to_f32(std::span<const uint8_t> packed, float scale, std::span<float> out,
                        ThreadPool* pool) {
  decode_nibbles(decode_table(kInt4, 4, scale), packed, out, pool);
}

Status encode_array(const Format& f, std::span<const float> x, std::span<uint8_t> codes,
                    const EncodeOptions& opt, ThreadPool* pool) {
  return encode_any(f, x, codes, opt, pool);
}
Status encode_array(const Format& f, std::span<const float> x, std::span<uint16_t> codes,
                    const EncodeOptions& opt, ThreadPool* pool) {
  return encode_any(f, x, codes, opt, pool);
}
Status encode_array(const Format& f, std::span<const float> x, std::span<uint32_t> codes,
                    const EncodeOptions& opt, ThreadPool* pool) {
  return encode_any(f, x, codes, opt, pool);
}
Status decode_array(const Format& f, std::span<const uint8_t> codes, std::span<float> out,
                    ThreadPool* pool) {
  return decode_any(f, codes, out, pool);
}
Status decode_array(const Format& f, std::span<const uint16_t> codes, std::span<float> out,
                    ThreadPool* pool) {
  return decode_any(f, codes, out, pool);
}
Status decode_array(const Format& f, std::span<const uint32_t> codes, std::span<float> out,
                    ThreadPool* pool) {
  return decode_any(f, codes, out, pool);
}

}  // namespace bitsmith::formats
