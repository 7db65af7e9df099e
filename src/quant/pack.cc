#include "pack.h"

#include <cstring>

#include "bitsmith/formats/codec.h"

namespace bitsmith::quant::detail {

BITSMITH_CPU_CLONES("avx2")
void pack_codes(const uint8_t* codes, int64_t n, int bits, uint8_t* out) {
  if (bits == 8) {
    std::memcpy(out, codes, static_cast<size_t>(n));
    return;
  }
  if (bits == 4) {
    const int64_t pairs = n / 2;
    for (int64_t j = 0; j < pairs; ++j) {
      out[j] = static_cast<uint8_t>((codes[2 * j] & 0x0F) | (codes[2 * j + 1] << 4));
    }
    if (n & 1) out[pairs] = codes[n - 1] & 0x0F;
    return;
  }
  // Any other width: a little-endian bit stream through a 64-bit accumulator.
  const uint32_t mask = (1u << bits) - 1u;
  uint64_t acc = 0;
  int filled = 0;
  uint8_t* o = out;
  for (int64_t i = 0; i < n; ++i) {
    acc |= static_cast<uint64_t>(codes[i] & mask) << filled;
    filled += bits;
    while (filled >= 8) {
      *o++ = static_cast<uint8_t>(acc);
      acc >>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) *o = static_cast<uint8_t>(acc);
}

BITSMITH_CPU_CLONES("avx2")
void unpack_codes(const uint8_t* in, int64_t n, int bits, uint8_t* codes) {
  if (bits == 8) {
    std::memcpy(codes, in, static_cast<size_t>(n));
    return;
  }
  if (bits == 4) {
    const int64_t pairs = n / 2;
    for (int64_t j = 0; j < pairs; ++j) {
      codes[2 * j] = in[j] & 0x0F;
      codes[2 * j + 1] = static_cast<uint8_t>(in[j] >> 4);
    }
    if (n & 1) codes[n - 1] = in[pairs] & 0x0F;
    return;
  }
  const uint32_t mask = (1u << bits) - 1u;
  uint64_t acc = 0;
  int filled = 0;
  const uint8_t* p = in;
  for (int64_t i = 0; i < n; ++i) {
    while (filled < bits) {
      acc |= static_cast<uint64_t>(*p++) << filled;
      filled += 8;
    }
    codes[i] = static_cast<uint8_t>(acc & mask);
    acc >>= bits;
    filled -= bits;
  }
}

void parallel_rows(ThreadPool* pool, int64_t rows, int64_t cols,
                   const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool& p = pool ? *pool : ThreadPool::global();
  // About 64K values per chunk: big enough that scheduling costs nothing, small enough that
  // a few hundred rows spread over every thread.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, cols));
  p.parallel_for(rows, grain, fn);
}

Status check_dequant_args(const Scheme& s, const QuantizedView& q, int64_t row_begin,
                          int64_t row_end) {
  BITSMITH_RETURN_IF_ERROR(s.check_shape(q.rows, q.cols));
  if (row_begin < 0 || row_end < row_begin || row_end > q.rows) {
    return invalid_argument("scheme {}: row range [{}, {}) outside 0..{}", s.name(), row_begin,
                            row_end, q.rows);
  }
  const uint64_t db = s.data_bytes(q.rows, q.cols), sb = s.scale_bytes(q.rows, q.cols),
                 zb = s.zero_bytes(q.rows, q.cols);
  if (q.data.size() < db || q.scales.size() < sb || q.zeros.size() < zb) {
    return corrupt_data("scheme {}: a {}x{} tensor needs {} data, {} scale and {} zero bytes; "
                        "got {}, {} and {}", s.name(), q.rows, q.cols, db, sb, zb, q.data.size(),
                        q.scales.size(), q.zeros.size());
  }
  return Status::Ok();
}

}  // namespace bitsmith::quant::detail
