// What the planner knows about each tensor: for every way it could be stored (a candidate
// scheme, or llama.cpp's fallback where the rows do not fit), its bytes and measured quality
// costs. algo measures (algo/sensitivity.h: it runs the model); plan allocates (allocate.h).
// Measurements are a JSON file, written after every layer, so a killed run continues where
// it stopped and a finished one is reused by later `bitsmith plan` calls with other budgets.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/quant/scheme.h"
#include "bitsmith/quant/tensor_plan.h"

namespace bitsmith::plan {

inline constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

// One way to store one tensor.
struct CandidateCost {
  std::string scheme;     // what the tensor is stored in
  std::string requested;  // the candidate asked for; differs when llama.cpp's fallback applied
  uint64_t bytes = 0;     // stored bytes, scales and zero points included
  // Exact cost: mean KL(P_ref || P) per calibration token, in nats, of the model with only this
  // tensor quantized this way (every other tensor as stored), and its standard error.
  double kld = kNotMeasured;
  double kld_se = kNotMeasured;
  // Hybrid measurements: this kld was not run but estimated from the tensor's exactly measured
  // option (its smallest) scaled by the ratio of the proxies, kld_o = kld_0 * proxy_o / proxy_0
  // (for small perturbations the KL divergence is quadratic in the output error, as the proxy).
  bool kld_estimated = false;
  // Fast proxy from the same pass: the mean over calibration tokens of ||(W - Q(W)) x||^2, the
  // squared error of the layer's output under the calibration inputs (tr(dW H dW^T) / 2 with
  // H = 2/n sum x x^T). For the embedding, the mean ||E[t] - Q(E)[t]||^2 over the tokens seen.
  double proxy = kNotMeasured;
};

struct TensorCosts {
  std::string name;
  int64_t rows = 0, cols = 0;
  bool measured = false;
  std::vector<CandidateCost> options;  // distinct schemes, ascending bytes
};

// What makes two measurements comparable: a cache is reused only when all of it is equal.
struct MeasureConfig {
  std::string model;          // path as given
  uint64_t model_params = 0;  // fingerprint of the model: parameters and tensor count
  uint64_t model_tensors = 0;
  std::string format;         // "gguf" or "safetensors": what the options must be storable in
  std::string method;         // rtn, imatrix, gptq
  std::vector<std::string> method_options;  // gptq: "act-order", "weighted-params" (costs depend on them)
  std::vector<std::string> candidates;
  std::string calib;          // calibration text path
  int64_t samples = 0, seqlen = 0;
  uint64_t seed = 0;
  // Held-out segments the method's statistics came from (0: from the scored segments themselves).
  int64_t fit_samples = 0;
  // Which costs: "exact" (the KLD of every option), "hybrid" (the KLD of each tensor's smallest
  // option, the others scaled by the proxy: one run per tensor instead of one per option),
  // "proxy" (the proxy only, one pass).
  std::string costs = "exact";
  bool operator==(const MeasureConfig&) const = default;
};

// "exact", "hybrid" or "proxy"; an error naming the three otherwise.
Status check_costs_mode(std::string_view mode);

struct Measurements {
  MeasureConfig config;
  uint64_t fixed_bytes = 0;   // tensors no plan chooses for (norms and vectors, kept F32)
  uint64_t fixed_params = 0;
  int64_t calib_tokens = 0;   // tokens the costs are averaged over
  std::vector<TensorCosts> tensors;

  bool complete() const;
  uint64_t total_params() const;
  // Smallest and largest bytes of the whole model over the options (fixed tensors included).
  uint64_t min_bytes() const;
  uint64_t max_bytes() const;

  std::string to_json() const;
  static Result<Measurements> from_json(std::string_view text, std::string_view origin);
  static Result<Measurements> load(const std::string& path);
  Status save(const std::string& path) const;  // atomic
};

// The options of one matrix in `format`: each candidate, or llama.cpp's fallback (then the
// nearest fitting scheme) where its rows do not fit; in GGUF only ggml types. Distinct schemes,
// ascending bytes. Errors: no candidate storable in the format.
Result<std::vector<CandidateCost>> candidate_options(const ModelTensorInfo& tensor,
                                                     std::span<const quant::Scheme* const> candidates,
                                                     quant::OutputFormat format);

// The planned tensors of `model` (every matrix: block linears, embedding, output) with their
// options, not yet measured, and the fixed rest. Errors: unknown candidates, none fitting.
Result<Measurements> plan_measurements(const Model& model, MeasureConfig config);

// Planning on tensors the file stores quantized already measures re-quantization: an error
// naming one of them unless `allow`.
Status check_not_requantized(const Model& model, const Measurements& m, bool allow);

// Spearman's rank correlation (average ranks for ties) of two equally long series; NaN when
// fewer than 3 pairs or a series is constant.
double rank_correlation(std::span<const double> a, std::span<const double> b);

// How well the proxy orders the options as the exact cost does, over every measured
// (tensor, option) pair with both costs (the proxy's units differ between layers, so the global
// figure is the one that matters to an allocation across tensors).
struct ProxyAgreement {
  int64_t pairs = 0;
  double spearman = kNotMeasured;
};
ProxyAgreement proxy_agreement(const Measurements& m);

}  // namespace bitsmith::plan
