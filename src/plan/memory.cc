#include "bitsmith/plan/memory.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include "bitsmith/core/ascii.h"
#include "bitsmith/formats/format.h"

namespace bitsmith::plan {

namespace {


// Splits "7.2B" into 7.2 and "b"; the number must be finite and positive. (Out-parameters:
// GCC 12 warns spuriously about a string moved out of a Result.)
Status number_and_suffix(std::string_view text, std::string_view what, double* out,
                         std::string* suffix_out) {
  const std::string t = ascii_lower(text);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr == t.data()) {
    return invalid_argument("{} '{}' is not a number", what, text);
  }
  if (!std::isfinite(v) || v <= 0) return invalid_argument("{} '{}' must be positive", what, text);
  std::string suffix(ptr, t.data() + t.size());
  while (!suffix.empty() && suffix.front() == ' ') suffix.erase(suffix.begin());
  *out = v;
  *suffix_out = suffix;
  return Status::Ok();
}

}  // namespace

Result<double> parse_param_count(std::string_view text) {
  double v = 0;
  std::string suf;
  BITSMITH_RETURN_IF_ERROR(number_and_suffix(text, "parameter count", &v, &suf));
  if (suf.empty()) {
    // "70" is almost surely 70B, and reading it as 70 parameters prints a silent nonsense table:
    // a bare number is a full count only from ten thousand up (stories260K has 260,000).
    if (v < 1e4) {
      return invalid_argument("parameter count '{}' has no unit: did you mean {}B? (give K, M, B or T, or a full "
                              "count such as 70e9)", text, text);
    }
    return v;
  }
  if (suf == "k") return v * 1e3;
  if (suf == "m") return v * 1e6;
  if (suf == "b" || suf == "g") return v * 1e9;
  if (suf == "t") return v * 1e12;
  return invalid_argument("parameter count '{}': unknown suffix '{}' (use K, M, B or T, or 70e9)",
                          text, suf);
}

Result<double> parse_size_bytes(std::string_view text) {
  double v = 0;
  std::string suf;
  BITSMITH_RETURN_IF_ERROR(number_and_suffix(text, "memory size", &v, &suf));
  if (suf.empty() || suf == "gb" || suf == "g") return v * 1e9;
  if (suf == "mb" || suf == "m") return v * 1e6;
  if (suf == "tb" || suf == "t") return v * 1e12;
  if (suf == "gib") return v * 1073741824.0;  // 2^30
  if (suf == "mib") return v * 1048576.0;     // 2^20
  if (suf == "tib") return v * 1099511627776.0;  // 2^40
  return invalid_argument("memory size '{}': unknown unit '{}' (GB, GiB, TB, MB)", text, suf);
}

double naive_bits(const quant::Scheme& s) {
  const auto& t = s.traits();
  if (auto f = formats::find_format(t.element_format); f.ok()) return (*f)->bits();
  // GGUF element names ("iq4_nl_grid", "q6"): the first number is the nominal width.
  for (size_t i = 0; i < t.element_format.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(t.element_format[i]))) {
      return t.element_format[i] - '0';
    }
  }
  return std::floor(t.bits_per_weight);
}

std::vector<const quant::Scheme*> default_memory_schemes() {
  std::vector<const quant::Scheme*> out;
  for (const char* n : {"bf16", "fp8_e4m3", "int8", "mxfp8_e4m3", "q8_0", "mxfp6_e3m2", "q6_k",
                        "int4_g128", "int4_g128_sym", "nvfp4", "mxfp4", "q4_0", "q4_k",
                        "q3_k", "q2_k"}) {
    if (auto s = quant::find_scheme(n); s.ok()) out.push_back(*s);
  }
  return out;
}

nlohmann::json to_json(const MemoryPlan& plan) {
  nlohmann::json devs = nlohmann::json::array(), rows = nlohmann::json::array();
  for (const auto& d : plan.devices) devs.push_back({{"name", d.name}, {"bytes", d.bytes}});
  for (const auto& r : plan.rows) {
    nlohmann::json fits = nlohmann::json::object();
    for (size_t i = 0; i < plan.devices.size(); ++i) fits[plan.devices[i].name] = static_cast<bool>(r.fits[i]);
    rows.push_back({{"scheme", r.label}, {"bits_per_weight", r.bits_per_weight}, {"naive_bits", r.naive_bits},
                    {"bytes", r.bytes}, {"naive_bytes", r.naive_bytes}, {"fits", fits}});
  }
  return {{"params", plan.params}, {"devices", devs}, {"results", rows},
          {"note", "weights only; KV cache and activations need more"}};
}

Result<MemoryPlan> plan_memory(double params, std::span<const quant::Scheme* const> schemes,
                               std::vector<Device> devices) {
  if (!std::isfinite(params) || params <= 0) {
    return invalid_argument("parameter count must be positive, got {}", params);
  }
  MemoryPlan plan;
  plan.params = params;
  plan.devices = std::move(devices);
  for (const quant::Scheme* s : schemes) {
    MemoryRow row;
    row.label = s->name();
    row.scheme = s;
    row.bits_per_weight = s->traits().bits_per_weight;
    row.naive_bits = naive_bits(*s);
    row.bytes = params * row.bits_per_weight / 8.0;
    row.naive_bytes = params * row.naive_bits / 8.0;
    for (const Device& d : plan.devices) row.fits.push_back(row.bytes <= d.bytes);
    plan.rows.push_back(std::move(row));
  }
  return plan;
}

Result<MemoryPlan> plan_memory_for_model(const Model& model, std::span<const Recipe> recipes,
                                         std::vector<Device> devices) {
  MemoryPlan plan;
  for (const auto& t : model.tensors()) plan.params += static_cast<double>(t.shape.numel());
  if (plan.params <= 0) return invalid_argument("{}: the model has no parameters", model.path());
  plan.devices = std::move(devices);
  for (const Recipe& r : recipes) {
    BITSMITH_ASSIGN_OR_RETURN(auto plans, r.resolve(model, r.preferred_format()));
    MemoryRow row;
    row.label = r.name;
    BITSMITH_ASSIGN_OR_RETURN(row.scheme, quant::find_scheme(r.base));
    row.bits_per_weight = plan_bits_per_weight(plans);
    row.naive_bits = naive_bits(*row.scheme);
    row.bytes = plan.params * row.bits_per_weight / 8.0;
    row.naive_bytes = plan.params * row.naive_bits / 8.0;
    for (const Device& d : plan.devices) row.fits.push_back(row.bytes <= d.bytes);
    plan.rows.push_back(std::move(row));
  }
  return plan;
}

}  // namespace bitsmith::plan
