// Quantization schemes: a float32 matrix [rows x cols] to packed codes plus scales, and back.
// One registry of schemes (DESIGN.md convention 5) drives the CLI, the tests and the benchmarks:
// a new scheme is one registry entry plus its codec.
//
// Layout conventions shared by every scheme (the io writers rely on them):
//   - rows x cols is row-major; cols is the reduction dimension (a linear layer's input), and
//     groups/blocks run along it.
//   - QuantizedTensor::data holds element codes, row after row. Sub-byte codes are packed two
//     (4-bit) or more per byte, low bits first, each row starting on a byte boundary.
//     GGUF block types keep ggml's exact block bytes in `data` (scales inside the blocks) and
//     leave `scales`/`zeros` empty.
//   - `scales` holds the block/group/row scales in the scheme's scale format, row-major over
//     [rows / block_rows][cols / block_cols]; `zeros` the zero points likewise (asymmetric ints).
//   - `tensor_scale` is the second-level float32 scale (nvfp4; per-tensor fp8/int8), else 1.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"
#include "bitsmith/core/thread_pool.h"
#include "bitsmith/formats/codec.h"

namespace bitsmith::quant {

class Scheme;
class GroupQuantizer;  // group_quantizer.h

enum class Granularity : uint8_t {
  kElement,  // plain cast, no scale (fp16, bf16, f32)
  kTensor,   // one scale for the whole tensor
  kRow,      // one scale per row (output channel)
  kGroup,    // one scale per group of block_cols values along the row
  kBlock2D,  // one scale per block_rows x block_cols tile
  kGguf,     // a ggml block type: scales live inside ggml's packed blocks
};

std::string_view granularity_name(Granularity g);

struct SchemeTraits {
  std::string name;            // the CLI's name: "nvfp4", "int4_g128", "q4_k"
  std::string element_format;  // "float4_e2m1fn", "int4", "uint4", ... (formats module names)
  std::string scale_format;    // "float8_e4m3fn", "float8_e8m0fnu", "float16", "float32", "none"
  Granularity granularity = Granularity::kElement;
  int64_t block_rows = 1;      // rows per scale block (128 for fp8_e4m3_block128)
  int64_t block_cols = 1;      // values per block/group along the row; 0 = the whole row
  uint64_t bytes_per_block = 0;  // ggml block bytes for GGUF types (e.g. q4_0: 18); else 0
  double bits_per_weight = 0;  // everything counted: codes, scales, zero points (not the one
                               // per-tensor float32, which is negligible and noted as such)
  bool symmetric = true;       // integer schemes: false when a zero point is stored
  int gguf_type = -1;          // ggml type id (GGML_TYPE_*) when the scheme is a GGUF block type
  bool global_scale = false;   // a second-level float32 scale from the tensor's amax (nvfp4),
                               // which QuantizeOptions::shared_amax can widen to a fused group's
  std::string description;     // one line for `bitsmith schemes`
};

struct QuantizeOptions {
  // Optional per-column importance (length cols), e.g. imatrix mean x^2 or a GPTQ/AWQ weight;
  // schemes that search their scales weight the error by it; null = uniform.
  const float* importance = nullptr;
  // Non-finite input is an error naming row and column, unless this is set; then NaN/Inf are
  // replaced by 0 / +-max before quantizing (documented in docs/schemes.md).
  bool allow_nonfinite = false;
  // nvfp4's global (second-level) scale: when > 0, derived from max(this, the tensor's own amax)
  // instead of the tensor's own. Serving engines fuse q/k/v and gate/up into one matrix with one
  // global scale (vLLM keeps a single weight_global_scale per fused layer), so the projections of
  // a fused group must be quantized with the group's amax. (vLLM requantizes per-tensor fp8 of
  // fused layers to their max scale itself.)
  float shared_amax = 0.0f;
  ThreadPool* pool = nullptr;  // null = ThreadPool::global()
};

// Non-owning view of a quantized tensor, e.g. straight over a memory-mapped GGUF file.
struct QuantizedView {
  const Scheme* scheme = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  std::span<const uint8_t> data;
  std::span<const uint8_t> scales;
  std::span<const uint8_t> zeros;
  float tensor_scale = 1.0f;
};

struct QuantizedTensor {
  const Scheme* scheme = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> data;
  std::vector<uint8_t> scales;
  std::vector<uint8_t> zeros;
  float tensor_scale = 1.0f;

  QuantizedView view() const { return {scheme, rows, cols, data, scales, zeros, tensor_scale}; }
  uint64_t total_bytes() const { return data.size() + scales.size() + zeros.size(); }
};

class Scheme {
 public:
  virtual ~Scheme() = default;
  virtual const SchemeTraits& traits() const = 0;
  const std::string& name() const { return traits().name; }

  // Whether rows x cols can use this scheme; the error says why (e.g. "row length 100 is not a
  // multiple of the block size 32").
  virtual Status check_shape(int64_t rows, int64_t cols) const = 0;
  // Byte sizes of data, scales and zeros for rows x cols (shape already checked).
  virtual uint64_t data_bytes(int64_t rows, int64_t cols) const = 0;
  virtual uint64_t scale_bytes(int64_t rows, int64_t cols) const = 0;
  virtual uint64_t zero_bytes(int64_t /*rows*/, int64_t /*cols*/) const { return 0; }

  virtual Result<QuantizedTensor> quantize(const float* x, int64_t rows, int64_t cols,
                                           const QuantizeOptions& opt = {}) const = 0;
  // The scalar reference quantizer (one thread, no SIMD, the generic formats codec, a
  // bit-by-bit packer; ggml's `_ref` for GGUF types): the definition of the scheme's bytes.
  // quantize() must give the same bytes (DESIGN.md convention 4); tests compare the two for
  // every listed scheme. Fails like quantize() (shape, non-finite input).
  virtual Result<QuantizedTensor> quantize_reference(const float* x, int64_t rows, int64_t cols,
                                                     const QuantizeOptions& opt = {}) const = 0;
  // Dequantizes rows [row_begin, row_end) into out (row_end - row_begin) x cols floats.
  virtual Status dequantize_rows(const QuantizedView& q, int64_t row_begin, int64_t row_end,
                                 float* out) const = 0;
  Status dequantize(const QuantizedView& q, float* out) const {
    return dequantize_rows(q, 0, q.rows, out);
  }
  // Quantize then dequantize (out may alias x). The default goes through quantize();
  // schemes override it with a fused path that gives the same floats.
  virtual Status fake_quantize(const float* x, int64_t rows, int64_t cols, float* out,
                               const QuantizeOptions& opt = {}) const;

  // The scheme's GroupQuantizer for error-feedback methods (group_quantizer.h), if it has a
  // quantization grid (plain casts do not). Callers use quant::make_group_quantizer, which
  // checks the shape and the weights first and then calls this.
  virtual bool has_group_quantizer() const { return false; }
  virtual Result<std::unique_ptr<GroupQuantizer>> new_group_quantizer(
      const float* w, int64_t rows, int64_t cols, const QuantizeOptions& opt) const;
};

// The registry. `find_scheme` also parses the general integer form int<b>_g<g>[_sym]
// (b in 2..8, g in 16, 32, 64, 128, 256 or "row") and returns a scheme that lives for the
// whole program. Names are case-insensitive.
Result<const Scheme*> find_scheme(std::string_view name);
// Schemes listed by `bitsmith schemes` and covered by the tests and benchmarks, in order.
std::vector<const Scheme*> listed_schemes();
// The scheme for a ggml type id (GGML_TYPE_*), for reading GGUF files.
Result<const Scheme*> find_scheme_by_gguf_type(int gguf_type);
// The ggml type id that stores a scheme in GGUF (the block types, and f32/fp16/bf16); -1 when
// GGUF cannot hold it (nvfp4, int4_g128, ...). Shared by the GGUF writer and the planner.
int gguf_type_of(const Scheme& s);

}  // namespace bitsmith::quant
