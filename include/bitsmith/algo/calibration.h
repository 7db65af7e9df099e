// Calibration for the data-driven methods: token segments drawn from a text, activation
// statistics of every linear input gathered through the inference engine's hooks, a model
// overlay that stands in already-quantized (or AWQ-rescaled) layers for the originals, and
// llama.cpp's imatrix file format.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"

namespace bitsmith::algo {

// The most a calibration text may hold (WikiText-2's whole test set is 1.3 MB).
inline constexpr uint64_t kMaxCalibrationBytes = uint64_t{1} << 30;
// Calibration tokens over all segments (scored and fit), checked before any is drawn: 64x the
// writers' default of 128 x 512, and every token's hidden state is kept, so more cannot run.
inline constexpr int64_t kMaxCalibrationTokens = int64_t{1} << 22;

struct CalibrationOptions {
  std::string text_path;     // --calib FILE
  int64_t samples = 128;     // --calib-samples
  int64_t seqlen = 512;      // --calib-seqlen
  uint64_t seed = 0;         // --seed
};

// N segments of L consecutive tokens at random offsets of the tokenized text (GPTQ's sampling:
// offsets uniform in [0, tokens - L]; segments may overlap). Errors: unreadable file, a text
// of fewer than L tokens (the message says how many it has), a model without a vocabulary.
Result<std::vector<std::vector<int32_t>>> calibration_segments(const Model& model,
                                                               const CalibrationOptions& opt);

// Two disjoint sets of segments from one text, for costs measured on tokens the method's
// statistics never saw: `scored`, exactly the segments calibration_segments(opt) draws, and
// `fit`, fit_samples more of opt.seqlen tokens at further random offsets (the same generator,
// continued), none overlapping a scored segment (fit segments may overlap each other). Errors:
// those of calibration_segments, fit_samples < 1, and a text too short to place them apart (the
// message says how many tokens it has).
struct HeldOutSegments {
  std::vector<std::vector<int32_t>> scored, fit;
  std::vector<int64_t> scored_offsets, fit_offsets;  // each segment's first token in the text
};
Result<HeldOutSegments> held_out_segments(const Model& model, const CalibrationOptions& opt, int64_t fit_samples);

// Statistics of one linear input (cols features) over all calibration tokens.
struct InputStats {
  int64_t cols = 0;
  int64_t tokens = 0;
  std::vector<double> hessian;   // 2/n sum x x^T (cols x cols), when requested
  std::vector<double> sum_sq;    // sum x^2 per column
  std::vector<double> sum_abs;   // sum |x| per column
  std::vector<float> samples;    // up to max_samples token rows (AWQ), row-major
  float max_abs = 0;             // max |x| over every token and column (static activation scales)
  std::vector<float> mean_sq() const;
  std::vector<float> mean_abs() const;
};

struct CollectOptions {
  bool hessian = false;
  int64_t max_samples = 0;  // token rows kept per input
  int only_layer = -1;      // collect this layer only (-1: all)
  // Also the output head's input (the final-normed hidden states) under kHeadInputKey. It is
  // the input of the tied token_embd.weight too, when the model has no output.weight.
  bool head = false;
  // LayerRunner only: collect over its segments [first_segment, end_segment) (the others still
  // run when the layer's outputs move on), e.g. statistics from fit segments, none from held-out ones.
  size_t first_segment = 0;
  size_t end_segment = static_cast<size_t>(-1);
};

// The statistics key of the output head's input, and the weight it multiplies: output.weight,
// or token_embd.weight when the model ties its head to the embedding.
inline constexpr const char* kHeadInputKey = "output";
std::string head_weight_name(const Model& model);

// Input groups of a decoder layer: linears that share an input share its statistics.
// Keys: "blk.L.attn_in" (q, k, v), "blk.L.attn_output", "blk.L.ffn_in" (gate, up),
// "blk.L.ffn_down". Returns the key of a linear's canonical weight name, or "" for others.
std::string input_key(const std::string& weight_name);
// The linear weight names of layer l in processing order.
std::vector<std::string> layer_linears(int64_t l);

// Runs the segments through `model` (only its first `layers` decoder layers when > 0) and
// gathers per-input statistics. Errors: non-finite activations (naming layer and linear).
Result<std::map<std::string, InputStats>> collect_inputs(
    const Model& model, const std::vector<std::vector<int32_t>>& segments,
    const CollectOptions& opt, int64_t layers = 0);

// Static activation ranges (quantize --activations static): per linear weight of every layer
// (canonical name, e.g. blk.0.attn_q.weight), the max |x| of its input over all calibration
// tokens. Linears that share an input (q/k/v, gate/up: the groups serving engines fuse) get the
// same value, so a fused layer's input scales agree. Layers missing from `stats` are left out.
std::map<std::string, float> input_amax_from_stats(const std::map<std::string, InputStats>& stats, int64_t n_layers);
// input_amax_from_stats of one pass of `model` (unquantized) over the segments, one decoder layer
// at a time (LayerRunner::collect_and_advance: each layer's weights loaded once for all segments).
Result<std::map<std::string, float>> input_amax(const Model& model, const std::vector<std::vector<int32_t>>& segments);
// input_amax over the calibration segments of opt (calibration_segments). Errors: those of
// calibration_segments and of the layer runs (non-finite activations, missing tensors).
Result<std::map<std::string, float>> calibrate_input_amax(const Model& model, const CalibrationOptions& opt);

// A model with some tensors replaced (already-quantized or rescaled layers) and optionally fewer
// decoder layers (so a forward pass stops after the layer being calibrated).
class OverlayModel final : public Model {
 public:
  explicit OverlayModel(const Model& base) : base_(base), hp_(base.hyperparameters()) {}
  void set_layers(int64_t n) { hp_.n_layers = n; }
  void replace(const std::string& name, Tensor t) { replaced_[name] = std::make_shared<Tensor>(std::move(t)); }
  bool replaced(const std::string& name) const { return replaced_.count(name) != 0; }
  // Back to the base model's tensor (a layer the pipeline has finished with).
  void restore(const std::string& name) { replaced_.erase(name); }
  // Float32 bytes of the replacement tensors held.
  uint64_t replaced_bytes() const;

  const std::string& path() const override { return base_.path(); }
  std::string_view file_format() const override { return base_.file_format(); }
  const LlamaHyperparameters& hyperparameters() const override { return hp_; }
  const Vocabulary& vocabulary() const override { return base_.vocabulary(); }
  const std::vector<ModelTensorInfo>& tensors() const override { return base_.tensors(); }
  bool has_tensor(const std::string& name) const override { return base_.has_tensor(name); }
  Result<Tensor> load_f32(const std::string& name) const override;

 private:
  const Model& base_;
  LlamaHyperparameters hp_;
  std::map<std::string, std::shared_ptr<Tensor>> replaced_;
};

// Sequential calibration one decoder layer at a time (GPTQ's sequential mode, AWQ): the hidden
// states of every segment (segments x seqlen x dim floats) are kept between layers, so each
// layer runs twice in all (collect, then advance) instead of rerunning the layers before it:
// 2 L layer passes in place of L (L + 1) / 2 forward passes of growing depth. The model
// (usually an OverlayModel) is read when a layer runs, so replacing the current layer's
// tensors between collect() and advance() feeds the next layer the replaced layer's outputs.
class LayerRunner {
 public:
  // Embeds the segments; the current layer is 0. `model` must outlive the runner.
  static Result<std::unique_ptr<LayerRunner>> create(const Model& model,
                                                     const std::vector<std::vector<int32_t>>& segments);
  ~LayerRunner();
  int64_t layer() const { return layer_; }
  // Statistics of the current layer's linear inputs (opt.only_layer is ignored). Errors:
  // non-finite activations, tensors missing or of the wrong shape.
  Result<std::map<std::string, InputStats>> collect(const CollectOptions& opt);
  // Runs the current layer on the kept hidden states, which become the next layer's inputs.
  Status advance();
  // collect() and advance() in one run of the layer, for callers that replace nothing in between.
  Result<std::map<std::string, InputStats>> collect_and_advance(const CollectOptions& opt);
  // After the last layer (layer() == n_layers): statistics of the output head's input, the
  // final-normed hidden states, under kHeadInputKey (opt.head and opt.only_layer are ignored).
  Result<std::map<std::string, InputStats>> collect_head(const CollectOptions& opt);
  // The hidden states of one segment (seqlen x dim): the current layer's inputs.
  const std::vector<float>& hidden(size_t segment) const { return hidden_[segment]; }

 private:
  struct Impl;
  explicit LayerRunner(std::unique_ptr<Impl> impl);
  Result<std::map<std::string, InputStats>> run_collecting(const CollectOptions& opt, bool keep_outputs);
  std::unique_ptr<Impl> impl_;
  std::vector<std::vector<float>> hidden_;
  int64_t layer_ = 0;
};

// llama.cpp's imatrix: per linear weight (GGUF name, e.g. blk.0.attn_q.weight) the mean of x^2
// per input column. Two file formats, both read and written (llama.cpp reads both too):
//  - GGUF (llama-imatrix's default now; tools/imatrix/imatrix.cpp save_imatrix): general.type =
//    "imatrix", imatrix.datasets (string array), imatrix.chunk_count, imatrix.chunk_size (u32);
//    per weight two F32 arrays, "<name>.in_sum2" [nval, nmat] = sum of x^2 over the tokens seen
//    and "<name>.counts" [1, nmat] = tokens seen (nmat = 1 for a dense layer; experts are not read);
//  - legacy .dat (save_imatrix_legacy): i32 entries; per entry i32 name length, the name, i32
//    ncall, i32 nval, nval f32 = mean * ncall; then i32 chunk count and the dataset name.
struct ImatrixData {
  std::map<std::string, std::vector<float>> values;  // mean x^2
  int32_t chunks = 0;
  int32_t chunk_size = 0;  // tokens per chunk; 0 when unknown (a legacy file)
  std::string dataset;
};
enum class ImatrixFormat : uint8_t { kGguf, kDat };
// --output-format gguf|dat, else from the extension: ".dat" -> legacy, anything else -> GGUF
// (llama-imatrix's default).
Result<ImatrixFormat> imatrix_format_for(const std::string& path, const std::string& flag);
// Either format, told apart by the file's magic.
Result<ImatrixData> read_imatrix(const std::string& path);
// Atomic: a failed or killed run never leaves a truncated file where a good one was.
Status write_imatrix(const std::string& path, const ImatrixData& data, ImatrixFormat format);
// From collected statistics: every linear of every layer gets its input's mean x^2, and
// `head_weight` (head_weight_name; empty: none) the head input's, when the stats hold it
// (CollectOptions::head). llama-imatrix leaves the head out by default, and a tied head always
// (its get_rows use is not a matmul), though it is the most sensitive matrix of small models.
ImatrixData imatrix_from_stats(const std::map<std::string, InputStats>& stats, int64_t n_layers,
                               int32_t chunks, int32_t chunk_size, const std::string& dataset,
                               const std::string& head_weight = "");
// The imatrix of `model` over the segments (llama-imatrix's, plus the head's entry): what
// `bitsmith imatrix` writes and `--method imatrix` uses when no file is given.
Result<ImatrixData> collect_imatrix(const Model& model, const std::vector<std::vector<int32_t>>& segments,
                                    int32_t chunk_size, const std::string& dataset);

}  // namespace bitsmith::algo
