#include "pack_scheme.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "bitsmith/core/checked.h"
#include "bitsmith/formats/codec.h"
#include "group_quantizer_internal.h"
#include "nonfinite.h"
#include "pack.h"
#include "pack_kernels.h"

namespace bitsmith::quant::detail {

namespace {

// The reference packer: one bit at a time, so it shares nothing with pack_codes.
void pack_ref(const uint8_t* codes, int64_t n, int bits, uint8_t* out) {
  std::memset(out, 0, packed_bytes(n, bits));
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < bits; ++k) {
      const uint64_t bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(bits) + k;
      if ((codes[i] >> k) & 1) out[bit / 8] = static_cast<uint8_t>(out[bit / 8] | (1u << (bit % 8)));
    }
  }
}

float element_value(const SchemeSpec& s, uint32_t code) {
  const uint32_t mask = (1u << s.code_bits) - 1u;
  code &= mask;
  switch (s.elem) {
    case ElemKind::kE4M3: return static_cast<float>(formats::decode(formats::kFloat8E4M3FN, code));
    case ElemKind::kE5M2: return static_cast<float>(formats::decode(formats::kFloat8E5M2, code));
    case ElemKind::kE2M1: return static_cast<float>(formats::decode(formats::kFloat4E2M1FN, code));
    case ElemKind::kE3M2: return static_cast<float>(formats::decode(formats::kFloat6E3M2FN, code));
    case ElemKind::kE2M3: return static_cast<float>(formats::decode(formats::kFloat6E2M3FN, code));
    case ElemKind::kInt:
      return static_cast<float>(formats::decode(formats::IntFormat{s.code_bits, s.qmin < 0}, code));
  }
  return 0;
}

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

ScaledScheme::ScaledScheme(SchemeSpec spec) : spec_(std::move(spec)) {
  for (uint32_t c = 0; c < 256; ++c) lut_[c] = element_value(spec_, c);
}

int64_t ScaledScheme::block_len(int64_t cols) const {
  switch (spec_.traits.granularity) {
    case Granularity::kGroup:
    case Granularity::kBlock2D: return spec_.traits.block_cols;
    default: return cols;  // row and tensor: one block per row
  }
}

int ScaledScheme::scale_width() const { return rule_scale_width(spec_.rule); }

Status ScaledScheme::check_shape(int64_t rows, int64_t cols) const {
  if (rows < 0 || cols < 0) {
    return invalid_argument("scheme {}: negative shape {}x{}", name(), rows, cols);
  }
  if (!checked_mul(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)) ||
      static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) > (uint64_t{1} << 60)) {
    return invalid_argument("scheme {}: shape {}x{} is too large", name(), rows, cols);
  }
  const int64_t g = spec_.traits.block_cols;
  if (spec_.traits.granularity == Granularity::kGroup && cols % g != 0) {
    return invalid_argument(
        "scheme {}: row length {} is not a multiple of the block size {} (blocks run along "
        "the row; reshape or pick a scheme with a smaller group)",
        name(), cols, g);
  }
  return Status::Ok();
}

uint64_t ScaledScheme::data_bytes(int64_t rows, int64_t cols) const {
  return static_cast<uint64_t>(rows) * packed_bytes(cols, spec_.code_bits);
}

uint64_t ScaledScheme::scale_bytes(int64_t rows, int64_t cols) const {
  const auto& t = spec_.traits;
  if (t.granularity == Granularity::kTensor) return 0;  // in tensor_scale
  if (t.granularity == Granularity::kBlock2D) {
    return static_cast<uint64_t>(ceil_div(rows, t.block_rows) * ceil_div(cols, t.block_cols)) * 4;
  }
  const int64_t nb = cols == 0 ? 0 : ceil_div(cols, block_len(cols));
  return static_cast<uint64_t>(rows * nb) * static_cast<uint64_t>(scale_width());
}

uint64_t ScaledScheme::zero_bytes(int64_t rows, int64_t cols) const {
  const int64_t nb = cols == 0 ? 0 : ceil_div(cols, block_len(cols));
  return static_cast<uint64_t>(rows * nb) * static_cast<uint64_t>(rule_zero_width(spec_.rule));
}

Result<QuantizedTensor> ScaledScheme::quantize(const float* x, int64_t rows, int64_t cols,
                                               const QuantizeOptions& opt) const {
  return quantize_impl(x, rows, cols, opt, /*ref=*/false);
}

Result<QuantizedTensor> ScaledScheme::quantize_reference(const float* x, int64_t rows,
                                                         int64_t cols,
                                                         const QuantizeOptions& opt) const {
  return quantize_impl(x, rows, cols, opt, /*ref=*/true);
}

Result<std::unique_ptr<GroupQuantizer>> ScaledScheme::new_group_quantizer(
    const float* w, int64_t rows, int64_t cols, const QuantizeOptions& opt) const {
  return make_scaled_group_quantizer(*this, w, rows, cols, opt);
}

Result<QuantizedTensor> ScaledScheme::quantize_impl(const float* x, int64_t rows, int64_t cols,
                                                    const QuantizeOptions& opt, bool ref) const {
  BITSMITH_RETURN_IF_ERROR(check_shape(rows, cols));
  const int64_t n = rows * cols;
  if (opt.importance) {
    for (int64_t c = 0; c < cols; ++c) {
      if (!(opt.importance[c] >= 0.0f) || !std::isfinite(opt.importance[c])) {
        return invalid_argument("scheme {}: importance weight of column {} is {} (must be finite "
                                "and >= 0)", name(), c, opt.importance[c]);
      }
    }
  }
  std::vector<float> clean;
  const float* src = x;
  if (opt.allow_nonfinite && has_nonfinite(x, rows, cols, ref ? nullptr : opt.pool)) {
    clean = sanitize_nonfinite(x, n);
    src = clean.data();
  }
  QuantizedTensor q;
  q.scheme = this;
  q.rows = rows;
  q.cols = cols;
  q.data.resize(data_bytes(rows, cols));
  q.scales.resize(scale_bytes(rows, cols));
  q.zeros.resize(zero_bytes(rows, cols));

  RowCtx base;
  base.spec = &spec_;
  base.cols = cols;
  base.block = block_len(cols);
  base.importance = opt.importance;
  const auto gran = spec_.traits.granularity;
  ThreadPool* pool = opt.pool;

  // Tensor-level amax (per-tensor scales, nvfp4's second level). Max of |x| bits is exact, so
  // the threaded and scalar reductions agree.
  float tensor_d = 1.0f;
  if (gran == Granularity::kTensor || spec_.rule == ScaleRule::kNvfp4) {
    uint32_t amax_bits = 0;
    if (ref) {
      for (int64_t i = 0; i < n; ++i) {
        amax_bits = std::max(amax_bits, formats::float_to_bits(std::fabs(src[i])));
      }
    } else {
      std::atomic<uint32_t> m{0};
      parallel_rows(pool, rows, cols, [&](int64_t r0, int64_t r1) {
        const uint32_t v = max_abs_bits(src + r0 * cols, (r1 - r0) * cols);
        uint32_t cur = m.load();
        while (v > cur && !m.compare_exchange_weak(cur, v)) {
        }
      });
      amax_bits = m.load();
    }
    if (amax_bits >= kNonFiniteAbsBits) return find_nonfinite(x, rows, cols, name());
    if (spec_.rule == ScaleRule::kNvfp4 && std::isfinite(opt.shared_amax)) {
      amax_bits = std::max(amax_bits, formats::float_to_bits(std::fabs(opt.shared_amax)));  // a fused group's amax
    }
    const float amax = formats::bits_to_float(amax_bits);
    if (spec_.rule == ScaleRule::kNvfp4) {
      // S = amax / (6 * 448), the divisor ModelOpt uses (6 * 448 = 2688 is exact in float32).
      base.tensor_scale = amax / 2688.0f;
      base.six_s = 6.0f * base.tensor_scale;
      // Documented rule: a tensor whose amax is below 2^-126 quantizes to zeros, which keeps
      // s_b * S from underflowing to 0 (and x / 0 out of the codes).
      base.flush_zero = amax_bits < 0x00800000u;
      q.tensor_scale = base.tensor_scale;
    } else {
      tensor_d = amax / spec_.elem_max;
      if (tensor_d == 0.0f) tensor_d = 1.0f;  // all zero, or amax below elem_max * 2^-150
      q.tensor_scale = tensor_d;
      base.given = &tensor_d;
    }
  }

  // 2-D tiles (fp8_e4m3_block128): one float32 scale per tile, partial tiles at the edges.
  std::vector<float> tile_d;
  const int64_t tr = spec_.traits.block_rows, tc = spec_.traits.block_cols;
  const int64_t ntc = gran == Granularity::kBlock2D ? ceil_div(cols, tc) : 0;
  if (gran == Granularity::kBlock2D) {
    const int64_t ntr = ceil_div(rows, tr);
    std::vector<uint32_t> tile_amax(static_cast<size_t>(ntr * ntc), 0);
    auto tiles = [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        for (int64_t r = t * tr; r < std::min(rows, (t + 1) * tr); ++r) {
          for (int64_t j = 0; j < ntc; ++j) {
            const int64_t c0 = j * tc, len = std::min(tc, cols - c0);
            uint32_t& m = tile_amax[static_cast<size_t>(t * ntc + j)];
            m = std::max(m, max_abs_bits(src + r * cols + c0, len));
          }
        }
      }
    };
    if (ref) tiles(0, ntr);
    else (pool ? *pool : ThreadPool::global()).parallel_for(ntr, 1, tiles);
    tile_d.resize(tile_amax.size());
    for (size_t i = 0; i < tile_amax.size(); ++i) {
      if (tile_amax[i] >= kNonFiniteAbsBits) return find_nonfinite(x, rows, cols, name());
      float d = formats::bits_to_float(tile_amax[i]) / spec_.elem_max;
      tile_d[i] = d == 0.0f ? 1.0f : d;
    }
    std::memcpy(q.scales.data(), tile_d.data(), tile_d.size() * 4);
  }

  const RowQuantFn fn = select_row_quant(spec_.elem, spec_.rule, ref);
  if (!fn) return internal_error("scheme {}: no kernel for its element and scale rule", name());
  const uint64_t row_bytes = packed_bytes(cols, spec_.code_bits);
  const int64_t nb = cols == 0 ? 0 : ceil_div(cols, base.block);
  const int sw = scale_width(), zw = rule_zero_width(spec_.rule);
  std::atomic<bool> bad{false};
  auto run_rows = [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> codes(spec_.code_bits == 8 ? 0 : static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      RowCtx c = base;
      if (gran == Granularity::kBlock2D) c.given = tile_d.data() + (r / tr) * ntc;
      uint8_t* out = q.data.data() + r * row_bytes;
      uint8_t* cbuf = spec_.code_bits == 8 ? out : codes.data();
      if (!fn(src + r * cols, c, cbuf, q.scales.data() + r * nb * sw,
              q.zeros.data() + r * nb * zw)) {
        bad = true;
      }
      if (spec_.code_bits != 8) {
        if (ref) pack_ref(cbuf, cols, spec_.code_bits, out);
        else pack_codes(cbuf, cols, spec_.code_bits, out);
      }
    }
  };
  if (ref) run_rows(0, rows);
  else parallel_rows(pool, rows, cols, run_rows);
  if (bad) return find_nonfinite(x, rows, cols, name());
  return q;
}

Status ScaledScheme::dequantize_rows(const QuantizedView& q, int64_t row_begin, int64_t row_end,
                                     float* out) const {
  BITSMITH_RETURN_IF_ERROR(check_dequant_args(*this, q, row_begin, row_end));
  const int64_t cols = q.cols;
  RowCtx base;
  base.spec = &spec_;
  base.cols = cols;
  base.block = block_len(cols);
  base.tensor_scale = q.tensor_scale;
  const float tensor_d = q.tensor_scale;
  if (spec_.traits.granularity == Granularity::kTensor) base.given = &tensor_d;
  const int64_t tr = spec_.traits.block_rows, tc = spec_.traits.block_cols;
  const int64_t ntc = spec_.traits.granularity == Granularity::kBlock2D ? ceil_div(cols, tc) : 0;
  std::vector<float> tile_d(static_cast<size_t>(ceil_div(q.rows, tr) * ntc));
  if (!tile_d.empty()) std::memcpy(tile_d.data(), q.scales.data(), tile_d.size() * 4);
  const uint64_t row_bytes = packed_bytes(cols, spec_.code_bits);
  const int64_t nb = cols == 0 ? 0 : ceil_div(cols, base.block);
  const int sw = scale_width(), zw = rule_zero_width(spec_.rule);
  parallel_rows(nullptr, row_end - row_begin, cols, [&](int64_t i0, int64_t i1) {
    std::vector<uint8_t> codes(spec_.code_bits == 8 ? 0 : static_cast<size_t>(cols));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = row_begin + i;
      RowCtx c = base;
      if (!tile_d.empty()) c.given = tile_d.data() + (r / tr) * ntc;
      const uint8_t* in = q.data.data() + r * row_bytes;
      if (spec_.code_bits != 8) {
        unpack_codes(in, cols, spec_.code_bits, codes.data());
        in = codes.data();
      }
      dequant_row(in, q.scales.data() + r * nb * sw, q.zeros.data() + r * nb * zw, c, lut_,
                  out + i * cols);
    }
  });
  return Status::Ok();
}

}  // namespace bitsmith::quant::detail
