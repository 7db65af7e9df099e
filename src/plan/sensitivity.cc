// Measurements (sensitivity.h): the tensors a plan chooses for, their options, and the JSON
// cache `bitsmith plan` resumes from.
#include "bitsmith/plan/sensitivity.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/json_guard.h"
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/core/text_file.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::plan {
namespace {

using nlohmann::json;
using quant::OutputFormat;
using quant::Scheme;

constexpr int kFileVersion = 1;

uint64_t stored_bytes(const Scheme& s, int64_t rows, int64_t cols) {
  return s.data_bytes(rows, cols) + s.scale_bytes(rows, cols) + s.zero_bytes(rows, cols);
}

// A matrix some plan chooses a scheme for; everything else (norms, vectors) stays F32.
bool planned(const ModelTensorInfo& t) {
  return t.shape.rank() >= 2 && tensor_category(t.name) != TensorCategory::kNorm;
}

// JSON has no NaN: an unmeasured cost is null.
json number_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

Result<double> read_cost(const json& j, const char* key, std::string_view where) {
  if (!j.contains(key) || j[key].is_null()) return kNotMeasured;
  if (!j[key].is_number()) return invalid_argument("{}: '{}' must be a number or null", where, key);
  return j[key].get<double>();
}

template <typename T>
Result<T> read_field(const json& j, const char* key, std::string_view where) {
  if (!j.contains(key)) return invalid_argument("{}: '{}' is missing", where, key);
  try {
    return j[key].get<T>();
  } catch (const json::exception&) {
    return invalid_argument("{}: '{}' has the wrong type", where, key);
  }
}

}  // namespace

Status check_costs_mode(std::string_view mode) {
  if (mode == "exact" || mode == "hybrid" || mode == "proxy") return Status::Ok();
  return invalid_argument("unknown costs '{}' (exact, hybrid, proxy)", mode);
}

bool Measurements::complete() const {
  return std::all_of(tensors.begin(), tensors.end(), [](const TensorCosts& t) { return t.measured; });
}

uint64_t Measurements::total_params() const {
  uint64_t p = fixed_params;
  for (const auto& t : tensors) p += static_cast<uint64_t>(t.rows * t.cols);
  return p;
}

uint64_t Measurements::min_bytes() const {
  uint64_t b = fixed_bytes;
  for (const auto& t : tensors) b += t.options.empty() ? 0 : t.options.front().bytes;
  return b;
}

uint64_t Measurements::max_bytes() const {
  uint64_t b = fixed_bytes;
  for (const auto& t : tensors) b += t.options.empty() ? 0 : t.options.back().bytes;
  return b;
}

Result<std::vector<CandidateCost>> candidate_options(const ModelTensorInfo& tensor,
                                                     std::span<const Scheme* const> candidates,
                                                     OutputFormat format) {
  const int64_t rows = tensor.shape.rows(), cols = tensor.shape.cols();
  std::vector<CandidateCost> out;
  std::set<std::string> seen;
  for (const Scheme* c : candidates) {
    if (format == OutputFormat::kGguf && quant::gguf_type_of(*c) < 0) continue;
    const Scheme* s = c;
    if (!c->check_shape(rows, cols).ok()) {
      BITSMITH_ASSIGN_OR_RETURN(s, fallback_scheme(*c, rows, cols, format));
    }
    if (!seen.insert(std::string(s->name())).second) continue;
    CandidateCost o;
    o.scheme = s->name();
    o.requested = c->name();
    o.bytes = stored_bytes(*s, rows, cols);
    out.push_back(std::move(o));
  }
  if (out.empty()) {
    return invalid_argument("{}: none of the candidates can be stored in {}", tensor.name,
                            format == OutputFormat::kGguf ? "GGUF" : "safetensors");
  }
  std::stable_sort(out.begin(), out.end(), [](const CandidateCost& a, const CandidateCost& b) { return a.bytes < b.bytes; });
  return out;
}

Result<Measurements> plan_measurements(const Model& model, MeasureConfig config) {
  if (config.candidates.empty()) return invalid_argument("plan: no candidate schemes");
  std::vector<const Scheme*> cands;
  for (const auto& name : config.candidates) {
    BITSMITH_ASSIGN_OR_RETURN(const Scheme* s, quant::find_scheme(name));
    cands.push_back(s);
  }
  const OutputFormat format = config.format == "gguf" ? OutputFormat::kGguf : OutputFormat::kSafetensors;
  Measurements m;
  config.model_params = config.model_tensors = 0;
  for (const auto& t : model.tensors()) {
    config.model_params += static_cast<uint64_t>(t.shape.numel());
    ++config.model_tensors;
    if (!planned(t)) {
      m.fixed_params += static_cast<uint64_t>(t.shape.numel());
      m.fixed_bytes += 4 * static_cast<uint64_t>(t.shape.numel());
      continue;
    }
    TensorCosts tc;
    tc.name = t.name;
    tc.rows = t.shape.rows();
    tc.cols = t.shape.cols();
    auto options = candidate_options(t, cands, format);
    if (!options.ok()) return options.status().with_context(model.path());
    tc.options = std::move(*options);
    m.tensors.push_back(std::move(tc));
  }
  m.config = std::move(config);
  return m;
}

Status check_not_requantized(const Model& model, const Measurements& m, bool allow) {
  if (allow) return Status::Ok();
  std::vector<quant::TensorPlan> first;
  for (const auto& t : m.tensors) {
    auto scheme = quant::find_scheme(t.options.front().scheme);
    if (!scheme.ok()) return scheme.status();
    quant::TensorPlan p;
    p.name = t.name;
    p.scheme = *scheme;
    first.push_back(p);
  }
  const std::vector<std::string> again = Recipe::requantized(model, first);
  if (again.empty()) return Status::Ok();
  return invalid_argument("{}: {} tensor(s) are stored quantized already (e.g. '{}'); planning on them measures "
                          "re-quantization: use the original weights, or give --allow-requantize",
                          model.path(), again.size(), again.front());
}

std::string Measurements::to_json() const {
  json ts = json::array();
  for (const auto& t : tensors) {
    json os = json::array();
    for (const auto& o : t.options) {
      os.push_back({{"scheme", o.scheme}, {"requested", o.requested}, {"bytes", o.bytes},
                    {"kld", number_or_null(o.kld)}, {"kld_se", number_or_null(o.kld_se)}, {"kld_estimated", o.kld_estimated},
                    {"proxy", number_or_null(o.proxy)}});
    }
    ts.push_back({{"name", t.name}, {"rows", t.rows}, {"cols", t.cols}, {"measured", t.measured}, {"options", os}});
  }
  const MeasureConfig& c = config;
  json doc = {{"bitsmith_measurements", kFileVersion},
              {"config", {{"model", c.model}, {"model_params", c.model_params}, {"model_tensors", c.model_tensors},
                          {"format", c.format}, {"method", c.method},
                          {"method_options", c.method_options}, {"candidates", c.candidates},
                          {"calib", c.calib}, {"samples", c.samples}, {"seqlen", c.seqlen}, {"seed", c.seed},
                          {"fit_samples", c.fit_samples}, {"costs", c.costs}}},
              {"complete", complete()},
              {"fixed_bytes", fixed_bytes},
              {"fixed_params", fixed_params},
              {"calib_tokens", calib_tokens},
              {"tensors", ts}};
  return doc.dump(1) + "\n";
}

Result<Measurements> Measurements::from_json(std::string_view text, std::string_view origin) {
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, origin));
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    return invalid_argument("{}: not valid JSON: {}", origin, e.what());
  }
  if (!doc.is_object() || !doc.contains("bitsmith_measurements")) {
    return invalid_argument("{}: not a bitsmith measurements file", origin);
  }
  BITSMITH_ASSIGN_OR_RETURN(int version, read_field<int>(doc, "bitsmith_measurements", origin));
  if (version != kFileVersion) return invalid_argument("{}: measurements version {} (this bitsmith reads {})", origin, version, kFileVersion);
  if (!doc.contains("config") || !doc["config"].is_object()) return invalid_argument("{}: 'config' is missing", origin);
  const json& c = doc["config"];
  const std::string where = fmt::format("{}: config", origin);
  Measurements m;
  BITSMITH_ASSIGN_OR_RETURN(m.config.model, read_field<std::string>(c, "model", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.model_params, read_field<uint64_t>(c, "model_params", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.model_tensors, read_field<uint64_t>(c, "model_tensors", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.format, read_field<std::string>(c, "format", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.method, read_field<std::string>(c, "method", where));
  // Absent in files from before it was recorded: read as none.
  if (c.contains("method_options")) {
    BITSMITH_ASSIGN_OR_RETURN(m.config.method_options, read_field<std::vector<std::string>>(c, "method_options", where));
  }
  BITSMITH_ASSIGN_OR_RETURN(m.config.candidates, read_field<std::vector<std::string>>(c, "candidates", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.calib, read_field<std::string>(c, "calib", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.samples, read_field<int64_t>(c, "samples", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.seqlen, read_field<int64_t>(c, "seqlen", where));
  BITSMITH_ASSIGN_OR_RETURN(m.config.seed, read_field<uint64_t>(c, "seed", where));
  if (c.contains("fit_samples")) {  // absent before held-out fitting: none
    BITSMITH_ASSIGN_OR_RETURN(m.config.fit_samples, read_field<int64_t>(c, "fit_samples", where));
    if (m.config.fit_samples < 0) return invalid_argument("{}: fit_samples {} is negative", where, m.config.fit_samples);
  }
  BITSMITH_ASSIGN_OR_RETURN(m.config.costs, read_field<std::string>(c, "costs", where));
  BITSMITH_RETURN_IF_ERROR(check_costs_mode(m.config.costs).with_context(where));
  BITSMITH_ASSIGN_OR_RETURN(m.fixed_bytes, read_field<uint64_t>(doc, "fixed_bytes", origin));
  BITSMITH_ASSIGN_OR_RETURN(m.fixed_params, read_field<uint64_t>(doc, "fixed_params", origin));
  BITSMITH_ASSIGN_OR_RETURN(m.calib_tokens, read_field<int64_t>(doc, "calib_tokens", origin));
  if (!doc.contains("tensors") || !doc["tensors"].is_array()) return invalid_argument("{}: 'tensors' must be an array", origin);
  for (size_t i = 0; i < doc["tensors"].size(); ++i) {
    const json& t = doc["tensors"][i];
    const std::string tw = fmt::format("{}: tensor {}", origin, i);
    if (!t.is_object()) return invalid_argument("{}: must be an object", tw);
    TensorCosts tc;
    BITSMITH_ASSIGN_OR_RETURN(tc.name, read_field<std::string>(t, "name", tw));
    BITSMITH_ASSIGN_OR_RETURN(tc.rows, read_field<int64_t>(t, "rows", tw));
    BITSMITH_ASSIGN_OR_RETURN(tc.cols, read_field<int64_t>(t, "cols", tw));
    BITSMITH_ASSIGN_OR_RETURN(tc.measured, read_field<bool>(t, "measured", tw));
    if (tc.rows <= 0 || tc.cols <= 0 || tc.rows > (int64_t{1} << 40) / tc.cols) {
      return invalid_argument("{}: shape {} x {} out of range", tw, tc.rows, tc.cols);
    }
    if (!t.contains("options") || !t["options"].is_array() || t["options"].empty()) {
      return invalid_argument("{}: 'options' must be a non-empty array", tw);
    }
    for (size_t k = 0; k < t["options"].size(); ++k) {
      const json& o = t["options"][k];
      const std::string ow = fmt::format("{} option {}", tw, k);
      if (!o.is_object()) return invalid_argument("{}: must be an object", ow);
      CandidateCost cc;
      BITSMITH_ASSIGN_OR_RETURN(cc.scheme, read_field<std::string>(o, "scheme", ow));
      BITSMITH_ASSIGN_OR_RETURN(cc.requested, read_field<std::string>(o, "requested", ow));
      BITSMITH_ASSIGN_OR_RETURN(cc.bytes, read_field<uint64_t>(o, "bytes", ow));
      BITSMITH_ASSIGN_OR_RETURN(cc.kld, read_cost(o, "kld", ow));
      BITSMITH_ASSIGN_OR_RETURN(cc.kld_se, read_cost(o, "kld_se", ow));
      BITSMITH_ASSIGN_OR_RETURN(cc.proxy, read_cost(o, "proxy", ow));
      if (o.contains("kld_estimated")) {
        BITSMITH_ASSIGN_OR_RETURN(cc.kld_estimated, read_field<bool>(o, "kld_estimated", ow));
      }
      if (!quant::find_scheme(cc.scheme).ok()) return invalid_argument("{}: unknown scheme '{}'", ow, cc.scheme);
      tc.options.push_back(std::move(cc));
    }
    m.tensors.push_back(std::move(tc));
  }
  return m;
}

namespace {
std::vector<double> ranks(std::span<const double> x) {
  std::vector<size_t> idx(x.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && x[idx[j + 1]] == x[idx[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = 0.5 * static_cast<double>(i + j);  // average rank of the tie
    i = j + 1;
  }
  return r;
}
}  // namespace

double rank_correlation(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size() || a.size() < 3) return kNotMeasured;
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < ra.size(); ++i) { ma += ra[i]; mb += rb[i]; }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : kNotMeasured;
}

ProxyAgreement proxy_agreement(const Measurements& m) {
  std::vector<double> exact, proxy;
  for (const auto& t : m.tensors) {
    for (const auto& o : t.options) {
      if (std::isfinite(o.kld) && !o.kld_estimated && std::isfinite(o.proxy)) {
        exact.push_back(o.kld);
        proxy.push_back(o.proxy);
      }
    }
  }
  ProxyAgreement a;
  a.pairs = static_cast<int64_t>(exact.size());
  a.spearman = rank_correlation(exact, proxy);
  return a;
}

Result<Measurements> Measurements::load(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(std::string text,
                            read_file_bounded(path, {.max_bytes = kMaxPlanFileBytes, .what = "measurements file"}));
  return from_json(text, path);
}

Status Measurements::save(const std::string& path) const { return write_file_atomic(path, to_json()); }

}  // namespace bitsmith::plan
