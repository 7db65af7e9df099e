// GroupQuantizer for ScaledScheme (int groups, int8, fp8 tensor/channel/tile, nvfp4, MX): the
// group's parameters come from the scheme's own row kernel run on the supplied values, so they
// are the bytes Scheme::quantize would store for those values; columns are then encoded with the
// row kernels' element encoder on the grid those bytes define (pack_kernels.h, stored_grid).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "bitsmith/quant/group_quantizer.h"
#include "group_quantizer_internal.h"
#include "pack.h"
#include "pack_kernels.h"
#include "pack_scheme.h"

namespace bitsmith::quant::detail {

namespace {

// Integer elements on integral zero points, one grid per value: the row kernels' encoder
// (encode_elem<kInt>: round half even of x / d clamped to [lo, hi], plus z), inlined.
BITSMITH_CPU_CLONES("avx2")
void encode_int_rows(const BlockGrid* __restrict grids, const float* __restrict x, int64_t n,
                     const float* __restrict lut, uint8_t* __restrict codes,
                     float* __restrict out) {
  for (int64_t r = 0; r < n; ++r) {
    const BlockGrid g = grids[r];
    const auto code =
        static_cast<uint8_t>(fast_round_clamp(x[r] / g.d, g.lo, g.hi) + static_cast<int32_t>(g.z));
    codes[r] = code;
    out[r] = (lut[code] - g.z) * g.d;
  }
}

class ScaledGroupQuantizer final : public GroupQuantizer {
 public:
  ScaledGroupQuantizer(const ScaledScheme& s, int64_t rows, int64_t cols, int64_t group)
      : GroupQuantizer(rows, cols, group), s_(s), sp_(s.spec()) {}

  Status init(const float* w, const QuantizeOptions& opt) {
    pool_ = opt.pool;
    const auto gran = sp_.traits.granularity;
    nb_ = cols_ / group_;
    sw_ = rule_scale_width(sp_.rule);
    zw_ = rule_zero_width(sp_.rule);
    codes_.assign(static_cast<size_t>(rows_ * cols_), 0);
    scales_.assign(static_cast<size_t>(rows_ * nb_ * sw_), 0);
    zeros_.assign(static_cast<size_t>(rows_ * nb_ * zw_), 0);
    grids_.assign(static_cast<size_t>(rows_ * nb_), BlockGrid{});
    chosen_.assign(static_cast<size_t>(nb_), false);
    fractional_z_.assign(static_cast<size_t>(nb_), false);
    base_.spec = &sp_;
    base_.cols = group_;
    base_.block = group_;
    if (sp_.rule == ScaleRule::kNvfp4) {
      // The second-level scale is a tensor property: fixed from the original weights, as the
      // scheme computes it (S = amax / (6 * 448)); block scales follow the updated values.
      float amax = 0;
      for (int64_t i = 0; i < rows_ * cols_; ++i) amax = std::max(amax, std::fabs(w[i]));
      if (std::isfinite(opt.shared_amax)) amax = std::max(amax, std::fabs(opt.shared_amax));  // a fused group's
      base_.tensor_scale = amax / 2688.0f;
      base_.six_s = 6.0f * base_.tensor_scale;
      base_.flush_zero = formats::float_to_bits(amax) < 0x00800000u;
    }
    if (gran == Granularity::kBlock2D) {
      tile_rows_ = sp_.traits.block_rows;
      tile_d_.assign(static_cast<size_t>(((rows_ + tile_rows_ - 1) / tile_rows_) * nb_), 1.0f);
    }
    return Status::Ok();
  }

  Status choose_params(int64_t gi, const float* values, const float* importance) override {
    if (gi < 0 || gi >= nb_) return invalid_argument("group {} outside 0..{}", gi, nb_ - 1);
    const auto gran = sp_.traits.granularity;
    if (gran == Granularity::kTensor || gran == Granularity::kBlock2D) return choose_given(gi, values);
    const RowQuantFn fn = select_row_quant(sp_.elem, sp_.rule, /*ref=*/false);
    if (!fn) return internal_error("scheme {}: no row kernel", s_.name());
    RowCtx c = base_;
    c.importance = importance;
    // Rows are independent (each writes its own scale, zero and grid): chunks on the pool.
    std::atomic<int64_t> bad{rows_};  // the first row with a non-finite value
    auto rows_fn = [&](int64_t r0, int64_t r1) {
      std::vector<uint8_t> tmp(static_cast<size_t>(group_));
      for (int64_t r = r0; r < r1; ++r) {
        uint8_t* sc = scales_.data() + (r * nb_ + gi) * sw_;
        uint8_t* zc = zeros_.data() + (r * nb_ + gi) * zw_;
        if (!fn(values + r * group_, c, tmp.data(), sc, zc)) {
          int64_t cur = bad.load();
          while (r < cur && !bad.compare_exchange_weak(cur, r)) {
          }
          return;
        }
        grids_[static_cast<size_t>(gi * rows_ + r)] = stored_grid(base_, sc, zc, 0);
      }
    };
    ThreadPool* pool = pool_ ? pool_ : &ThreadPool::global();
    pool->parallel_for(rows_, std::max<int64_t>(1, 16384 / group_), rows_fn);
    if (bad.load() < rows_) {
      return invalid_argument("scheme {}: non-finite value in row {} of group {}", s_.name(),
                              bad.load(), gi);
    }
    chosen_[static_cast<size_t>(gi)] = true;
    fractional_z_[static_cast<size_t>(gi)] = false;
    return Status::Ok();
  }

  Status set_affine_params(int64_t gi, const float* scale, const float* zero) override {
    if (sp_.rule != ScaleRule::kIntAsymF16) return GroupQuantizer::set_affine_params(gi, scale, zero);
    if (gi < 0 || gi >= nb_) return invalid_argument("group {} outside 0..{}", gi, nb_ - 1);
    fractional_z_[static_cast<size_t>(gi)] = true;  // until every row is checked
    bool fractional = false;
    for (int64_t r = 0; r < rows_; ++r) {
      if (!std::isfinite(scale[r]) || !(scale[r] > 0) || !std::isfinite(zero[r])) {
        return invalid_argument("scheme {}: scale {} / zero {} of row {} group {}", s_.name(),
                                scale[r], zero[r], r, gi);
      }
      uint16_t hs = formats::fp32_to_fp16<formats::Overflow::kSaturate>(scale[r]), hz = formats::fp32_to_fp16<formats::Overflow::kSaturate>(zero[r]);
      if (hs == 0) hs = 0x0001;  // below fp16's range: its smallest subnormal, as the rule does
      std::memcpy(scales_.data() + (r * nb_ + gi) * 2, &hs, 2);
      std::memcpy(zeros_.data() + (r * nb_ + gi) * 2, &hz, 2);
      const BlockGrid& g = grids_[static_cast<size_t>(gi * rows_ + r)] =
          stored_grid(base_, scales_.data() + r * nb_ * 2, zeros_.data() + r * nb_ * 2, gi);
      if (g.z != std::nearbyint(g.z)) fractional = true;
    }
    fractional_z_[static_cast<size_t>(gi)] = fractional;
    chosen_[static_cast<size_t>(gi)] = true;
    return Status::Ok();
  }

  void quantize_column(int64_t col, const float* values, float* out) override {
    quantize_column_rows(col, 0, rows_, values, out);
  }

  // Codes are kept column-major (codes_[col * rows + r]) and grids group-major, so a column's
  // rows are contiguous; finish() transposes the codes.
  void quantize_column_rows(int64_t col, int64_t r0, int64_t r1, const float* values,
                            float* out) override {
    const int64_t gi = col / group_;
    const BlockGrid* grids = grids_.data() + gi * rows_;
    uint8_t* codes = codes_.data() + col * rows_;
    const float* lut = s_.code_values();
    if (sp_.elem == ElemKind::kInt && !fractional_z_[static_cast<size_t>(gi)]) {
      encode_int_rows(grids + r0, values, r1 - r0, lut, codes + r0, out);
      return;
    }
    const bool affine = sp_.rule == ScaleRule::kIntAsymF16;
    for (int64_t r = r0; r < r1; ++r) {
      const BlockGrid& g = grids[r];
      const float x = values[r - r0];
      uint8_t code;
      if (affine && g.z != std::nearbyint(g.z)) {
        // A fractional zero point (HQQ): round after adding it.
        const float v = std::nearbyint(x / g.d + g.z);
        code = static_cast<uint8_t>(std::min(std::max(v, 0.0f), static_cast<float>(sp_.qmax)));
      } else {
        encode_on_grid(sp_.elem, &x, 1, g, &code);
      }
      codes[r] = code;
      out[r - r0] = (lut[code] - g.z) * g.d;
    }
  }

  Result<QuantizedTensor> finish() override {
    for (int64_t gi = 0; gi < nb_; ++gi) {
      if (!chosen_[static_cast<size_t>(gi)]) {
        return internal_error("scheme {}: group {} has no parameters", s_.name(), gi);
      }
    }
    QuantizedTensor q;
    q.scheme = &s_;
    q.rows = rows_;
    q.cols = cols_;
    q.data.resize(s_.data_bytes(rows_, cols_));
    q.zeros = zeros_;
    const auto gran = sp_.traits.granularity;
    if (gran == Granularity::kTensor) {
      q.tensor_scale = tensor_d_;
    } else if (gran == Granularity::kBlock2D) {
      q.scales.resize(tile_d_.size() * 4);
      std::memcpy(q.scales.data(), tile_d_.data(), q.scales.size());
    } else {
      q.scales = scales_;
      if (sp_.rule == ScaleRule::kNvfp4) q.tensor_scale = base_.tensor_scale;
    }
    const uint64_t row_bytes = packed_bytes(cols_, sp_.code_bits);
    constexpr int64_t kTile = 16;  // rows transposed at a time (column-major codes -> rows)
    std::vector<uint8_t> tile(static_cast<size_t>(kTile * cols_));
    for (int64_t r0 = 0; r0 < rows_; r0 += kTile) {
      const int64_t n = std::min(kTile, rows_ - r0);
      for (int64_t c = 0; c < cols_; ++c) {
        const uint8_t* src = codes_.data() + c * rows_ + r0;
        for (int64_t i = 0; i < n; ++i) tile[static_cast<size_t>(i * cols_ + c)] = src[i];
      }
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* c = tile.data() + i * cols_;
        uint8_t* o = q.data.data() + (r0 + i) * row_bytes;
        if (sp_.code_bits == 8) std::memcpy(o, c, static_cast<size_t>(cols_));
        else pack_codes(c, cols_, sp_.code_bits, o);
      }
    }
    return q;
  }

 private:
  // Tensor and 2-D tile scales: d = amax / element max over the rows of the tile (all rows for
  // a tensor), a zero amax giving 1, as ScaledScheme::quantize computes them.
  Status choose_given(int64_t gi, const float* values) {
    const bool tensor = sp_.traits.granularity == Granularity::kTensor;
    const int64_t tr = tensor ? rows_ : tile_rows_;
    for (int64_t t0 = 0; t0 < rows_; t0 += tr) {
      const int64_t t1 = std::min(rows_, t0 + tr);
      uint32_t amax_bits = 0;
      for (int64_t i = t0 * group_; i < t1 * group_; ++i) {
        amax_bits = std::max(amax_bits, formats::float_to_bits(values[i]) & 0x7FFFFFFFu);
      }
      if (amax_bits >= kNonFiniteAbsBits) {
        return invalid_argument("scheme {}: non-finite value in rows {}..{} of group {}",
                                s_.name(), t0, t1 - 1, gi);
      }
      float d = formats::bits_to_float(amax_bits) / sp_.elem_max;
      if (d == 0.0f) d = 1.0f;
      if (tensor) tensor_d_ = d;
      else tile_d_[static_cast<size_t>((t0 / tr) * nb_ + gi)] = d;
      BlockGrid g;
      g.d = d;
      g.lo = static_cast<float>(sp_.qmin);
      g.hi = static_cast<float>(sp_.qmax);
      for (int64_t r = t0; r < t1; ++r) grids_[static_cast<size_t>(gi * rows_ + r)] = g;
    }
    chosen_[static_cast<size_t>(gi)] = true;
    return Status::Ok();
  }

  const ScaledScheme& s_;
  const SchemeSpec& sp_;
  ThreadPool* pool_ = nullptr;
  int64_t nb_ = 0, tile_rows_ = 1;
  int sw_ = 0, zw_ = 0;
  RowCtx base_;
  std::vector<uint8_t> codes_, scales_, zeros_;
  std::vector<BlockGrid> grids_;
  std::vector<bool> chosen_;
  std::vector<bool> fractional_z_;  // a group with a fractional zero point (HQQ)
  std::vector<float> tile_d_;
  float tensor_d_ = 1.0f;
};

}  // namespace

Result<std::unique_ptr<GroupQuantizer>> make_scaled_group_quantizer(const ScaledScheme& s,
                                                                    const float* w, int64_t rows,
                                                                    int64_t cols,
                                                                    const QuantizeOptions& opt) {
  const int64_t group = s.values_per_block(cols);
  if (group <= 0 || cols % group != 0) {
    return unsupported("scheme {}: row length {} is not a multiple of its block of {} values",
                       s.name(), cols, group);
  }
  auto q = std::make_unique<ScaledGroupQuantizer>(s, rows, cols, group);
  BITSMITH_RETURN_IF_ERROR(q->init(w, opt));
  return std::unique_ptr<GroupQuantizer>(std::move(q));
}

}  // namespace bitsmith::quant::detail
