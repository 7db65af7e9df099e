// GroupQuantizer for GGUF block types: a group is one ggml block (32 values, 256 for K-quants).
// Its parameters are the block the scheme's own quantizer (search included, importance
// included) writes for the supplied values; its grid, the value of every code at every position,
// is read back through the scheme's dequantizer with every code of the block set to the same
// value (so no decoding rule is restated here); a column is encoded as the nearest grid value.
// Each type's kernel entry (gguf_*.cc) says how many codes it has and how to write one back.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <list>
#include <vector>

#include "bitsmith/formats/float_bits.h"
#include "bitsmith/quant/group_quantizer.h"
#include "group_quantizer_internal.h"

namespace bitsmith::quant::detail {

namespace {

class GgufGroupQuantizer final : public GroupQuantizer {
 public:
  GgufGroupQuantizer(const Scheme& s, const gguf::GgufKernels& k, int64_t rows, int64_t cols, int64_t group,
                     const QuantizeOptions& opt)
      : GroupQuantizer(rows, cols, group), s_(s), ncodes_(k.ncodes), set_code_(k.set_code), pool_(opt.pool) {
    if (k.linear_fp16_params && k.scale_offsets[0] >= 0) {
      param_offsets_[0] = k.scale_offsets[0];
      param_offsets_[1] = k.scale_offsets[1];
      nparams_ = k.scale_offsets[1] >= 0 ? 2 : 1;
    }
    bpb_ = static_cast<int64_t>(s.traits().bytes_per_block);
    nb_ = cols / group;
    blocks_.assign(static_cast<size_t>(rows * nb_ * bpb_), 0);
    codes_.assign(static_cast<size_t>(rows * cols), 0);
    chosen_.assign(static_cast<size_t>(nb_), false);
    // Grids of the most recent groups, within ~256 MB (GPTQ in column order needs one).
    const int64_t per = rows * group * ncodes_ * 4;
    max_cached_ = std::max<int64_t>(1, (int64_t{256} << 20) / std::max<int64_t>(per, 1));
  }

  Status choose_params(int64_t gi, const float* values, const float* importance) override {
    if (gi < 0 || gi >= nb_) return invalid_argument("group {} outside 0..{}", gi, nb_ - 1);
    QuantizeOptions o;
    o.importance = importance;
    o.pool = pool_;
    BITSMITH_ASSIGN_OR_RETURN(QuantizedTensor q, s_.quantize(values, rows_, group_, o));
    for (int64_t r = 0; r < rows_; ++r) {
      std::memcpy(blocks_.data() + (r * nb_ + gi) * bpb_, q.data.data() + r * bpb_,
                  static_cast<size_t>(bpb_));
    }
    chosen_[static_cast<size_t>(gi)] = true;
    cache_.remove_if([gi](const Grid& g) { return g.group == gi; });
    prepared_ = nullptr;
    prepared_group_ = -1;
    return Status::Ok();
  }

  void quantize_column(int64_t col, const float* values, float* out) override {
    prepare_column(col);
    quantize_column_rows(col, 0, rows_, values, out);
  }

  void prepare_column(int64_t col) override {
    prepared_ = grid(col / group_);
    prepared_group_ = col / group_;
  }

  // After prepare_column(col): reads the cached grid only, so disjoint row ranges may run
  // concurrently.
  void quantize_column_rows(int64_t col, int64_t r0, int64_t r1, const float* values,
                            float* out) override {
    const int64_t gi = col / group_, j = col % group_;
    if (prepared_group_ != gi) prepare_column(col);
    const Grid* g = prepared_;
    const int nc = ncodes_;
    for (int64_t r = r0; r < r1; ++r) {
      const float* gv = g ? g->values.data() + (r * group_ + j) * nc : nullptr;
      int best = 0;
      float best_err = INFINITY;
      const float v = values[r - r0];
      for (int c = 0; c < nc && gv; ++c) {
        const float e = std::fabs(v - gv[c]);
        if (e < best_err) {
          best_err = e;
          best = c;
        }
      }
      codes_[static_cast<size_t>(r * cols_ + col)] = static_cast<uint8_t>(best);
      out[r - r0] = gv ? gv[best] : 0.0f;
    }
  }

  int linear_params() const override { return nparams_; }

  Status linear_basis(float* g, float* d, float* m) const override {
    if (nparams_ == 0) return GroupQuantizer::linear_basis(g, d, m);
    // g(code) at each position: a block with d = 1, m = 0 and every code c, dequantized.
    std::vector<float> table(static_cast<size_t>(ncodes_ * group_));
    std::vector<uint8_t> blk(static_cast<size_t>(bpb_));
    for (int c = 0; c < ncodes_; ++c) {
      std::fill(blk.begin(), blk.end(), 0);
      put_fp16(blk.data(), 0, 1.0f);
      for (int j = 0; j < group_; ++j) set_code_(blk.data(), j, static_cast<uint32_t>(c));
      QuantizedView v{&s_, 1, group_, blk, {}, {}, 1.0f};
      BITSMITH_RETURN_IF_ERROR(s_.dequantize(v, table.data() + c * group_));
    }
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t c = 0; c < cols_; ++c) {
        const size_t i = static_cast<size_t>(r * cols_ + c);
        g[i] = table[static_cast<size_t>(codes_[i] * group_ + c % group_)];
      }
      for (int64_t gi = 0; gi < nb_; ++gi) {
        const uint8_t* b = blocks_.data() + (r * nb_ + gi) * bpb_;
        d[r * nb_ + gi] = get_fp16(b, 0);
        m[r * nb_ + gi] = nparams_ == 2 ? get_fp16(b, 1) : 0.0f;
      }
    }
    return Status::Ok();
  }

  Status set_linear_params(float* d, float* m) override {
    if (nparams_ == 0) return GroupQuantizer::set_linear_params(d, m);
    for (int64_t i = 0; i < rows_ * nb_; ++i) {
      uint8_t* b = blocks_.data() + i * bpb_;
      put_fp16(b, 0, d[i]);
      d[i] = get_fp16(b, 0);
      if (nparams_ == 2) {
        put_fp16(b, 1, m[i]);
        m[i] = get_fp16(b, 1);
      }
    }
    cache_.clear();  // the grids were read through the old parameters
    prepared_ = nullptr;
    prepared_group_ = -1;
    return Status::Ok();
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
    q.data = blocks_;
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t c = 0; c < cols_; ++c) {
        uint8_t* blk = q.data.data() + (r * nb_ + c / group_) * bpb_;
        set_code_(blk, static_cast<int>(c % group_), codes_[static_cast<size_t>(r * cols_ + c)]);
      }
    }
    return q;
  }

 private:
  struct Grid {
    int64_t group;
    std::vector<float> values;  // [row][position][code]
  };

  // The grid of group gi: the group's blocks with every code set to c, dequantized, for each c.
  const Grid* grid(int64_t gi) {
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
      if (it->group == gi) {
        cache_.splice(cache_.begin(), cache_, it);
        return &cache_.front();
      }
    }
    if (!chosen_[static_cast<size_t>(gi)]) return nullptr;
    const int nc = ncodes_;
    Grid g{gi, std::vector<float>(static_cast<size_t>(rows_ * group_ * nc))};
    std::vector<uint8_t> blk(static_cast<size_t>(rows_ * bpb_));
    std::vector<float> deq(static_cast<size_t>(rows_ * group_));
    for (int c = 0; c < nc; ++c) {
      for (int64_t r = 0; r < rows_; ++r) {
        uint8_t* b = blk.data() + r * bpb_;
        std::memcpy(b, blocks_.data() + (r * nb_ + gi) * bpb_, static_cast<size_t>(bpb_));
        for (int j = 0; j < group_; ++j) set_code_(b, j, static_cast<uint32_t>(c));
      }
      QuantizedView v{&s_, rows_, group_, blk, {}, {}, 1.0f};
      if (!s_.dequantize(v, deq.data()).ok()) return nullptr;  // shapes checked at creation
      for (int64_t i = 0; i < rows_ * group_; ++i) {
        g.values[static_cast<size_t>(i * nc + c)] = deq[static_cast<size_t>(i)];
      }
    }
    cache_.push_front(std::move(g));
    prepared_ = nullptr;  // the list may drop the grid it points to
    prepared_group_ = -1;
    while (static_cast<int64_t>(cache_.size()) > max_cached_) cache_.pop_back();
    return &cache_.front();
  }

  // The fp16 parameter p (0: d, 1: m) of a block.
  float get_fp16(const uint8_t* blk, int p) const {
    uint16_t h;
    std::memcpy(&h, blk + param_offsets_[p], sizeof h);
    return formats::fp16_to_fp32(h);
  }
  void put_fp16(uint8_t* blk, int p, float v) const {
    const uint16_t h = formats::fp32_to_fp16(v);
    std::memcpy(blk + param_offsets_[p], &h, sizeof h);
  }

  const Scheme& s_;
  int nparams_ = 0, param_offsets_[2] = {-1, -1};
  int ncodes_;
  gguf::SetCodeFn set_code_;
  ThreadPool* pool_;
  int64_t bpb_ = 0, nb_ = 0, max_cached_ = 1;
  std::vector<uint8_t> blocks_, codes_;
  std::vector<bool> chosen_;
  std::list<Grid> cache_;
  const Grid* prepared_ = nullptr;  // the grid of group prepared_group_ (prepare_column)
  int64_t prepared_group_ = -1;
};

}  // namespace

Result<std::unique_ptr<GroupQuantizer>> make_gguf_group_quantizer(const Scheme& s, const gguf::GgufKernels& k,
                                                                  int64_t rows, int64_t cols,
                                                                  const QuantizeOptions& opt) {
  const int64_t group = s.traits().block_cols;
  if (group <= 0 || cols % group != 0) {
    return unsupported("scheme {}: row length {} is not a multiple of {}", s.name(), cols, group);
  }
  return std::unique_ptr<GroupQuantizer>(new GgufGroupQuantizer(s, k, rows, cols, group, opt));
}

}  // namespace bitsmith::quant::detail
