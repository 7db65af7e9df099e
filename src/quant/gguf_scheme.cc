// The Scheme every GGUF block type shares: shape rules, input checks, threading over rows and
// the registry entries. The per-type row kernels live in gguf_legacy.cc, gguf_kquants.cc and
// gguf_iq4.cc.
#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>

#include "bitsmith/core/checked.h"
#include "gguf_common.h"
#include "group_quantizer_internal.h"
#include "registry_internal.h"

namespace bitsmith::quant::gguf {
namespace {

// The first failure across worker threads, chosen by (row, col) so that the message does not
// depend on which thread got there first.
class FirstError {
 public:
  void record(int64_t row, int64_t col, Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!has_ || row < row_ || (row == row_ && col < col_)) {
      has_ = true;
      row_ = row;
      col_ = col;
      status_ = std::move(s);
    }
    failed_.store(true, std::memory_order_relaxed);
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  Status status() const { return status_; }

 private:
  std::mutex mu_;
  bool has_ = false;
  int64_t row_ = 0, col_ = 0;
  Status status_;
  std::atomic<bool> failed_{false};
};

// True when no value of the row is Inf or NaN (exponent bits all ones): a branch-free scan
// the compiler vectorizes, so the common case costs a fraction of the quantizer.
bool row_is_finite(const float* row, int64_t n) {
  uint32_t bad = 0;
  for (int64_t c = 0; c < n; ++c) {
    uint32_t u;
    std::memcpy(&u, row + c, 4);
    bad |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

class GgufScheme final : public Scheme {
 public:
  explicit GgufScheme(const GgufKernels& k) : k_(k) {}

  const SchemeTraits& traits() const override { return k_.traits; }

  Status check_shape(int64_t rows, int64_t cols) const override {
    const int64_t b = k_.traits.block_cols;
    if (rows < 0 || cols < 0) {
      return invalid_argument("{}: negative shape {}x{}", name(), rows, cols);
    }
    if (cols % b != 0) {
      return invalid_argument("{}: row length {} is not a multiple of the block size {}{}", name(),
                              cols, b, b == kQK_K ? " (K-quants need rows of 256*n values)" : "");
    }
    auto bytes = checked_mul(static_cast<uint64_t>(rows), static_cast<uint64_t>(cols / b));
    if (!bytes || !checked_mul(*bytes, k_.traits.bytes_per_block)) {
      return invalid_argument("{}: shape {}x{} overflows the byte count", name(), rows, cols);
    }
    return Status::Ok();
  }

  uint64_t data_bytes(int64_t rows, int64_t cols) const override {
    return static_cast<uint64_t>(rows) * row_bytes(cols);
  }
  uint64_t scale_bytes(int64_t, int64_t) const override { return 0; }

  Result<QuantizedTensor> quantize(const float* x, int64_t rows, int64_t cols,
                                   const QuantizeOptions& opt) const override {
    return run(x, rows, cols, opt, /*fast=*/true);
  }
  // One thread, the type's scalar _ref row kernel: the definition of the bytes.
  Result<QuantizedTensor> quantize_reference(const float* x, int64_t rows, int64_t cols,
                                             const QuantizeOptions& opt) const override {
    return run(x, rows, cols, opt, /*fast=*/false);
  }

  bool has_group_quantizer() const override { return k_.set_code != nullptr; }
  Result<std::unique_ptr<GroupQuantizer>> new_group_quantizer(
      const float* /*w*/, int64_t rows, int64_t cols, const QuantizeOptions& opt) const override {
    if (!has_group_quantizer()) return Scheme::new_group_quantizer(nullptr, rows, cols, opt);
    return detail::make_gguf_group_quantizer(*this, k_, rows, cols, opt);
  }

  Result<QuantizedTensor> run(const float* x, int64_t rows, int64_t cols,
                              const QuantizeOptions& opt, bool fast) const;

  Status dequantize_rows(const QuantizedView& q, int64_t row_begin, int64_t row_end,
                         float* out) const override {
    BITSMITH_RETURN_IF_ERROR(check_shape(q.rows, q.cols));
    if (row_begin < 0 || row_end > q.rows || row_begin > row_end) {
      return invalid_argument("{}: row range [{}, {}) outside 0..{}", name(), row_begin, row_end,
                              q.rows);
    }
    if (q.data.size() != data_bytes(q.rows, q.cols)) {
      return invalid_argument("{}: {} data bytes for {}x{}, expected {}", name(), q.data.size(),
                              q.rows, q.cols, data_bytes(q.rows, q.cols));
    }
    const int64_t cols = q.cols;
    const uint64_t rb = row_bytes(cols);
    const uint8_t* data = q.data.data();
    const DequantizeRowFn deq = k_.dequantize;
    ThreadPool::global().parallel_for(row_end - row_begin, grain(cols), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        deq(data + static_cast<uint64_t>(row_begin + r) * rb, cols,
            out + static_cast<size_t>(r) * static_cast<size_t>(cols));
      }
    });
    return Status::Ok();
  }

 private:
  uint64_t row_bytes(int64_t cols) const {
    return static_cast<uint64_t>(cols / k_.traits.block_cols) * k_.traits.bytes_per_block;
  }
  // Rows per task: about 64K values, so small rows are not one task each.
  static int64_t grain(int64_t cols) {
    return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, cols));
  }

  // Quantizes one row (already checked or cleaned) and checks its fp16 scales for overflow.
  void quantize_row(const float* x, int64_t r, int64_t cols, const float* imp, uint8_t* out,
                    bool fast, FirstError& err) const;

  GgufKernels k_;
};

void GgufScheme::quantize_row(const float* x, int64_t r, int64_t cols, const float* imp,
                              uint8_t* out, bool fast, FirstError& err) const {
  (fast ? k_.quantize_fast : k_.quantize_ref)(x, cols, imp, out);
  const int64_t nb = cols / k_.traits.block_cols;
  for (int64_t b = 0; b < nb; ++b) {
    for (int off : k_.scale_offsets) {
      if (off < 0) continue;
      uint16_t h;
      std::memcpy(&h, out + static_cast<uint64_t>(b) * k_.traits.bytes_per_block + off, 2);
      if ((h & 0x7fffu) >= 0x7c00u) {
        err.record(r, b * k_.traits.block_cols,
                   out_of_range("{}: row {} block {} (columns {}..{}): block scale overflows "
                                "float16; values this large cannot be stored in {}",
                                name(), r, b, b * k_.traits.block_cols,
                                (b + 1) * k_.traits.block_cols - 1, name()));
        return;
      }
    }
  }
}

Result<QuantizedTensor> GgufScheme::run(const float* x, int64_t rows, int64_t cols,
                                        const QuantizeOptions& opt, bool fast) const {
  BITSMITH_RETURN_IF_ERROR(check_shape(rows, cols));
  if (opt.importance) {
    for (int64_t c = 0; c < cols; ++c) {
      const float w = opt.importance[c];
      if (!std::isfinite(w) || w < 0) {
        return invalid_argument("{}: importance[{}] = {} (must be finite and >= 0)", name(), c, w);
      }
    }
  }
  QuantizedTensor q;
  q.scheme = this;
  q.rows = rows;
  q.cols = cols;
  q.data.assign(data_bytes(rows, cols), 0);
  if (rows == 0 || cols == 0) return q;

  FirstError err;
  const uint64_t rb = row_bytes(cols);
  auto work = [&](int64_t b, int64_t e) {
    std::vector<float> clean;
    for (int64_t r = b; r < e && !err.failed(); ++r) {
      const float* row = x + static_cast<size_t>(r) * static_cast<size_t>(cols);
      if (row_is_finite(row, cols)) {
        quantize_row(row, r, cols, opt.importance, q.data.data() + static_cast<uint64_t>(r) * rb,
                     fast, err);
        continue;
      }
      int64_t bad = -1;
      float finite_amax = 0;
      for (int64_t c = 0; c < cols; ++c) {
        if (!std::isfinite(row[c])) {
          if (bad < 0) bad = c;
        } else {
          finite_amax = std::max(finite_amax, std::fabs(row[c]));
        }
      }
      if (!opt.allow_nonfinite) {
        err.record(r, bad, out_of_range("{}: non-finite value {} at row {}, column {}", name(),
                                        row[bad], r, bad));
        return;
      }
      {
        // --allow-nonfinite: NaN -> 0 and +-Inf -> +-(largest finite magnitude of the row), so
        // one bad value does not blow up the block scale (docs/gguf_types.md).
        clean.assign(row, row + cols);
        for (float& v : clean) {
          if (std::isnan(v)) v = 0;
          else if (std::isinf(v)) v = std::copysign(finite_amax, v);
        }
        row = clean.data();
      }
      quantize_row(row, r, cols, opt.importance, q.data.data() + static_cast<uint64_t>(r) * rb,
                   fast, err);
    }
  };
  if (fast) {
    ThreadPool* pool = opt.pool ? opt.pool : &ThreadPool::global();
    pool->parallel_for(rows, grain(cols), work);
  } else {
    work(0, rows);
  }
  if (err.failed()) return err.status();
  return q;
}

}  // namespace

std::unique_ptr<Scheme> make_gguf_scheme(const GgufKernels& k) {
  return std::make_unique<GgufScheme>(k);
}

}  // namespace bitsmith::quant::gguf

namespace bitsmith::quant::detail {

void add_gguf_schemes(SchemeList& list) {
  std::vector<gguf::GgufKernels> kernels;
  gguf::append_legacy_kernels(kernels);
  gguf::append_kquant_kernels(kernels);
  gguf::append_nonlinear_kernels(kernels);
  gguf::append_mxfp4_kernels(kernels);
  for (const auto& k : kernels) list.add(gguf::make_gguf_scheme(k));
}

}  // namespace bitsmith::quant::detail
