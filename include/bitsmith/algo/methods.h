// Quantization methods over a whole model: rtn, gptq, awq, imatrix, hqq (DESIGN.md `Method`).
// prepare_method runs whatever needs calibration (GPTQ layer by layer, AWQ's scale and clip
// searches, the imatrix collection) and returns a PreparedModel: the model to write (AWQ folds
// its scales into the weights and norms, so the architecture is unchanged) and a per-tensor
// quantize function for io::quantize_model's TensorMethod hook.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/algo/calibration.h"
#include "bitsmith/algo/gptq.h"
#include "bitsmith/core/model.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::algo {

enum class Method : uint8_t { kRtn, kGptq, kAwq, kImatrix, kHqq, kQat };
Result<Method> parse_method(std::string_view name);
std::string_view method_name(Method m);
// Whether the method needs calibration text (gptq, awq, qat; imatrix unless a file is given).
bool method_needs_calibration(Method m);

// Quantization-aware fine-tuning (qat.cc, through train's trainer): the model is trained on the
// calibration segments with every planned tensor fake-quantized to its planned scheme
// (straight-through estimator), AdamW from the float weights, linear warm-up over the first
// tenth of the steps then cosine to lr / 10, no weight decay, gradient clipping at 1; then each
// tensor is written with its scheme's RTN, which is exactly what the training's forward ran.
// Zero (the defaults here) means "not given": the defaults below apply, and an option given
// with another method is an error.
struct QatOptions {
  int64_t steps = 0;    // optimizer steps (default kQatSteps)
  double lr = 0;        // peak learning rate (default kQatLr)
  int64_t batch = 0;    // calibration segments per step (default kQatBatch, at most the segments)
  bool distill = false; // loss: KL(P_float || P_quantized) on the same tokens, instead of cross-entropy
  bool given() const { return steps != 0 || lr != 0 || batch != 0 || distill; }
};
inline constexpr int64_t kQatSteps = 100;
inline constexpr double kQatLr = 3e-4;
inline constexpr int64_t kQatBatch = 4;

struct HqqOptions {
  float lp_norm = 0.7f;  // p of the proximal l_p shrink
  float beta = 10.0f;
  float kappa = 1.01f;
  int iters = 20;
};

// HQQ (mobiusml/hqq, optimize_weights_proximal_legacy) on an affine integer scheme (int<b>_g<g>,
// GPTQ's min/max initialisation): zero points optimized per group, scales kept; the result is
// packed in the scheme's layout with fp16 (possibly fractional) zero points.
// HQQ optimizes the zero points of affine integer grids (int<b>_g<g> with zero points) only.
bool hqq_supports(const quant::Scheme& scheme);
Result<quant::QuantizedTensor> hqq_quantize(const quant::Scheme& scheme, const float* w,
                                            int64_t rows, int64_t cols, const HqqOptions& opt);

struct AwqOptions {
  int grid = 20;              // alpha in {0, 1/20, ..., 19/20}
  int clip_grid = 20;         // shrink the max by i/20 ...
  double max_shrink = 0.5;    // ... for i < 20 * 0.5
  int64_t max_samples = 4096; // token rows per input used by the searches
};

struct MethodOptions {
  Method method = Method::kRtn;
  CalibrationOptions calib;
  GptqOptions gptq;
  std::string imatrix_path;  // --imatrix (method imatrix); empty = collect from --calib
  HqqOptions hqq;
  AwqOptions awq;
  QatOptions qat;
  // For tensors whose scheme has a global scale and whose engine fuses them with others
  // (io::fused_group_amax): the group's amax, so every method gives the group one global scale.
  std::map<std::string, float> shared_amax;
};

// The scheme planned for a tensor, or null when it stays as it is (norms, embeddings).
using SchemeFor = std::function<const quant::Scheme*(const std::string& name)>;

class PreparedModel {
 public:
  virtual ~PreparedModel() = default;
  // The model to quantize and write (the input itself, or AWQ's rescaled overlay).
  virtual const Model& model() const = 0;
  // Quantizes one weight as the method does; tensors the method does not cover (embeddings,
  // output, schemes it cannot use) get the scheme's RTN and a note.
  virtual Result<quant::QuantizedTensor> quantize(const std::string& name,
                                                  const quant::Scheme& scheme, const float* w,
                                                  int64_t rows, int64_t cols,
                                                  const quant::QuantizeOptions& opt) = 0;
  // What happened that the user should know: damp raised, fallbacks, forced static groups.
  virtual std::vector<std::string> notes() const = 0;
};

Result<std::unique_ptr<PreparedModel>> prepare_method(const Model& model, const SchemeFor& scheme_for,
                                                      const MethodOptions& opt);

// A method made ready for io::quantize_model: what `bitsmith quantize` and the Python package's
// quantize_model both write with. It must outlive the write (cfg points into it).
struct MethodWrite {
  std::unique_ptr<PreparedModel> prepared;   // null for rtn: nothing to prepare
  std::map<std::string, float> shared_amax;  // fused groups' amax (safetensors outputs)
  std::map<std::string, float> input_amax;   // static activation ranges (cfg.activations static)
  // The model to write: the input, or AWQ's rescaled overlay.
  const Model& model(const Model& input) const { return prepared ? prepared->model() : input; }
  std::vector<std::string> notes() const { return prepared ? prepared->notes() : std::vector<std::string>{}; }
};

// For a calibrated method (opt.method other than rtn): for a safetensors output the fused groups'
// amax (one nvfp4 global scale per group; handed to cfg as well unless AWQ rescales the weights),
// then prepare_method over the planned schemes, and the per-tensor hook installed in cfg (tensors
// a recipe rule puts on rtn stay RTN; HQQ marks fractional zero points). rtn: an empty MethodWrite.
// With cfg.activations static, every linear input's max |x| over opt.calib, measured on the model
// as written (AWQ's rescaled norms change its linears' inputs), unquantized, in one pass.
Result<std::unique_ptr<MethodWrite>> prepare_write(const Model& model, const std::vector<quant::TensorPlan>& plans,
                                                   MethodOptions opt, io::QuantizeConfig& cfg);

}  // namespace bitsmith::algo
