// GroupQuantizer for GGUF block types: a group is one ggml block (32 values, 256 for K-quants).
// Its parameters are the block the scheme's own quantizer (search included, importance
// included) writes for the supplied values; its grid, the value of every code at every position,
// is read back through the scheme's dequantizer with every code of the block set to the same
// value (so no decoding rule is restated here); a column is encoded as the nearest grid value.
// Only the code bits of each layout are described here (ggml-common.h), to write the codes back.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <list>
#include <vector>

#include "bitsmith/quant/gguf_blocks.h"
#include "bitsmith/quant/group_quantizer.h"
#include "group_quantizer_internal.h"

namespace bitsmith::quant::detail {

namespace {

using gguf::GgmlType;

// Where the code of element j lives in a block. Codes are "indices" 0..ncodes-1; for q8_0 the
// stored int8 is index - 127 (ggml writes -127..127 only).
struct CodeLayout {
  int type;
  int ncodes;
  int low_off;    // 4-bit / 2-bit / 8-bit field array
  int high_off;   // extra high bits (q5_*: 32-bit word; q3_K hmask; q5_K qh; q6_K qh); -1 none
};

// Nibble blocks of 32 (q4_0, q4_1, q5_*, iq4_nl): byte j % 16, low nibble for j < 16.
void set_nibble32(uint8_t* qs, int j, uint32_t v) {
  uint8_t& b = qs[j % 16];
  b = j < 16 ? static_cast<uint8_t>((b & 0xF0) | (v & 0xF))
             : static_cast<uint8_t>((b & 0x0F) | ((v & 0xF) << 4));
}
void set_bit(uint8_t* bits, int i, uint32_t v) {
  bits[i / 8] = static_cast<uint8_t>((bits[i / 8] & ~(1u << (i % 8))) | ((v & 1u) << (i % 8)));
}

void set_code(const CodeLayout& L, uint8_t* blk, int j, uint32_t c) {
  uint8_t* lo = blk + L.low_off;
  switch (L.type) {
    case gguf::kQ4_0:
    case gguf::kQ4_1:
    case gguf::kIQ4_NL: set_nibble32(lo, j, c); return;
    case gguf::kQ5_0:
    case gguf::kQ5_1:
      set_nibble32(lo, j, c);
      set_bit(blk + L.high_off, j, c >> 4);  // bit j of the little-endian qh word
      return;
    case gguf::kQ8_0: lo[j] = static_cast<uint8_t>(static_cast<int8_t>(static_cast<int>(c) - 127)); return;
    case gguf::kQ2_K:
    case gguf::kQ3_K: {
      // Element 128n + 32k + l: 2 bits at shift 2k of qs[32n + l] (q3_K: high bit 4n + k of
      // hmask[l]).
      const int n = j / 128, k = (j % 128) / 32, l = j % 32;
      uint8_t& b = lo[32 * n + l];
      b = static_cast<uint8_t>((b & ~(3u << (2 * k))) | ((c & 3u) << (2 * k)));
      if (L.type == gguf::kQ3_K) {
        uint8_t& h = blk[L.high_off + l];
        const int bit = 4 * n + k;
        h = static_cast<uint8_t>((h & ~(1u << bit)) | (((c >> 2) & 1u) << bit));
      }
      return;
    }
    case gguf::kQ4_K:
    case gguf::kQ5_K: {
      // Chunk c of 64: qs[32c + l] low nibble = element 64c + l, high nibble = 64c + 32 + l;
      // q5_K's fifth bit is bit 2c (first half) or 2c + 1 (second half) of qh[l].
      const int ch = j / 64, half = (j % 64) / 32, l = j % 32;
      uint8_t& b = lo[32 * ch + l];
      b = half == 0 ? static_cast<uint8_t>((b & 0xF0) | (c & 0xF))
                    : static_cast<uint8_t>((b & 0x0F) | ((c & 0xF) << 4));
      if (L.type == gguf::kQ5_K) {
        uint8_t& h = blk[L.high_off + l];
        const int bit = 2 * ch + half;
        h = static_cast<uint8_t>((h & ~(1u << bit)) | (((c >> 4) & 1u) << bit));
      }
      return;
    }
    case gguf::kQ6_K: {
      // Element 128n + 32k + l: low 4 bits in ql[64n + l + 32 (k odd)] (high nibble for k >= 2),
      // high 2 bits at shift 2k of qh[32n + l].
      const int n = j / 128, k = (j % 128) / 32, l = j % 32;
      uint8_t& b = lo[64 * n + l + (k & 1) * 32];
      b = k < 2 ? static_cast<uint8_t>((b & 0xF0) | (c & 0xF))
                : static_cast<uint8_t>((b & 0x0F) | ((c & 0xF) << 4));
      uint8_t& h = blk[L.high_off + 32 * n + l];
      h = static_cast<uint8_t>((h & ~(3u << (2 * k))) | (((c >> 4) & 3u) << (2 * k)));
      return;
    }
    default: return;
  }
}

bool find_layout(int type, CodeLayout* out) {
  static const CodeLayout kLayouts[] = {
      {gguf::kQ4_0, 16, offsetof(gguf::BlockQ4_0, qs), -1},
      {gguf::kQ4_1, 16, offsetof(gguf::BlockQ4_1, qs), -1},
      {gguf::kQ5_0, 32, offsetof(gguf::BlockQ5_0, qs), offsetof(gguf::BlockQ5_0, qh)},
      {gguf::kQ5_1, 32, offsetof(gguf::BlockQ5_1, qs), offsetof(gguf::BlockQ5_1, qh)},
      {gguf::kQ8_0, 255, offsetof(gguf::BlockQ8_0, qs), -1},
      {gguf::kIQ4_NL, 16, offsetof(gguf::BlockIQ4_NL, qs), -1},
      {gguf::kQ2_K, 4, offsetof(gguf::BlockQ2_K, qs), -1},
      {gguf::kQ3_K, 8, offsetof(gguf::BlockQ3_K, qs), offsetof(gguf::BlockQ3_K, hmask)},
      {gguf::kQ4_K, 16, offsetof(gguf::BlockQ4_K, qs), -1},
      {gguf::kQ5_K, 32, offsetof(gguf::BlockQ5_K, qs), offsetof(gguf::BlockQ5_K, qh)},
      {gguf::kQ6_K, 64, offsetof(gguf::BlockQ6_K, ql), offsetof(gguf::BlockQ6_K, qh)},
  };
  for (const CodeLayout& l : kLayouts) {
    if (l.type == type) {
      *out = l;
      return true;
    }
  }
  return false;
}

class GgufGroupQuantizer final : public GroupQuantizer {
 public:
  GgufGroupQuantizer(const Scheme& s, const CodeLayout& L, int64_t rows, int64_t cols,
                     int64_t group, const QuantizeOptions& opt)
      : GroupQuantizer(rows, cols, group), s_(s), L_(L), pool_(opt.pool) {
    bpb_ = static_cast<int64_t>(s.traits().bytes_per_block);
    nb_ = cols / group;
    blocks_.assign(static_cast<size_t>(rows * nb_ * bpb_), 0);
    codes_.assign(static_cast<size_t>(rows * cols), 0);
    chosen_.assign(static_cast<size_t>(nb_), false);
    // Grids of the most recent groups, within ~256 MB (GPTQ in column order needs one).
    const int64_t per = rows * group * L.ncodes * 4;
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
    const int nc = L_.ncodes;
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
        set_code(L_, blk, static_cast<int>(c % group_), codes_[static_cast<size_t>(r * cols_ + c)]);
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
    const int nc = L_.ncodes;
    Grid g{gi, std::vector<float>(static_cast<size_t>(rows_ * group_ * nc))};
    std::vector<uint8_t> blk(static_cast<size_t>(rows_ * bpb_));
    std::vector<float> deq(static_cast<size_t>(rows_ * group_));
    for (int c = 0; c < nc; ++c) {
      for (int64_t r = 0; r < rows_; ++r) {
        uint8_t* b = blk.data() + r * bpb_;
        std::memcpy(b, blocks_.data() + (r * nb_ + gi) * bpb_, static_cast<size_t>(bpb_));
        for (int j = 0; j < group_; ++j) set_code(L_, b, j, static_cast<uint32_t>(c));
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

  const Scheme& s_;
  CodeLayout L_;
  ThreadPool* pool_;
  int64_t bpb_ = 0, nb_ = 0, max_cached_ = 1;
  std::vector<uint8_t> blocks_, codes_;
  std::vector<bool> chosen_;
  std::list<Grid> cache_;
  const Grid* prepared_ = nullptr;  // the grid of group prepared_group_ (prepare_column)
  int64_t prepared_group_ = -1;
};

}  // namespace

bool gguf_has_code_layout(int gguf_type) {
  CodeLayout l;
  return find_layout(gguf_type, &l);
}

Result<std::unique_ptr<GroupQuantizer>> make_gguf_group_quantizer(const Scheme& s, int64_t rows,
                                                                  int64_t cols,
                                                                  const QuantizeOptions& opt) {
  CodeLayout L;
  if (!find_layout(s.traits().gguf_type, &L)) {
    return unsupported("scheme {}: no code layout for error-feedback methods", s.name());
  }
  const int64_t group = s.traits().block_cols;
  if (group <= 0 || cols % group != 0) {
    return unsupported("scheme {}: row length {} is not a multiple of {}", s.name(), cols, group);
  }
  return std::unique_ptr<GroupQuantizer>(new GgufGroupQuantizer(s, L, rows, cols, group, opt));
}

}  // namespace bitsmith::quant::detail
