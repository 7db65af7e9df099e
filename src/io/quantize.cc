// quantize_model: plan each tensor's scheme (recipe, rules, the F32 rule for 1-D tensors and
// norms, llama.cpp's fallbacks), then stream: load one tensor (zero-copy for F32 sources),
// reorder q/k rows when the rotary convention changes, quantize, hand it to the writer, release
// the source pages.
#include <chrono>
#include <cmath>
#include <regex>

#include "bitsmith/io/model_file.h"
#include "bitsmith/io/quantize.h"
#include "bitsmith/io/safetensors.h"
#include "writers.h"

namespace bitsmith::io {
namespace {

bool is_gguf_storable(const quant::Scheme& s) { return gguf_type_of(s) >= 0; }

Result<const quant::Scheme*> scheme(std::string_view name) { return quant::find_scheme(name); }

// llama.cpp's use_more_bits (llama-quant.cpp): first and last eighth of the layers, and every
// third layer in between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

int64_t layer_of(const std::string& name) {
  if (!name.starts_with("blk.")) return -1;
  return std::strtoll(name.c_str() + 4, nullptr, 10);
}

// The recipe's choice for a 2-D weight before shape checks (llama.cpp llama_tensor_get_type).
std::string recipe_choice(const std::string& name, const std::string& base, const LlamaHyperparameters& hp,
                          bool gguf_base, bool tied) {
  const bool is_output = name == "output.weight" || (tied && name == "token_embd.weight");
  std::string s = base;
  if (base == "q4_k_m" || base == "q5_k_m") s = base == "q4_k_m" ? "q4_k" : "q5_k";
  if (gguf_base && is_output) return s == "q8_0" ? "q8_0" : "q6_k";  // nx % 256 checked by the fallback
  if (base == "q4_k_m" || base == "q5_k_m") {
    const int64_t l = layer_of(name);
    if ((name.ends_with("attn_v.weight") || name.ends_with("ffn_down.weight")) && l >= 0 && use_more_bits(l, hp.n_layers)) {
      return "q6_k";
    }
  }
  return s;
}

// llama.cpp's fallback for a block-256 type whose rows do not fit (llama-quant.cpp).
std::string gguf_fallback(const std::string& s) {
  if (s == "q2_k" || s == "q3_k") return "q4_0";
  if (s == "q4_k") return "q5_0";
  if (s == "q5_k") return "q5_1";
  if (s == "q6_k") return "q8_0";
  return "";
}

// The listed scheme nearest in bits per weight (ties: more bits) that fits rows x cols and the
// output format; fp16 when nothing quantized fits.
Result<const quant::Scheme*> nearest_fitting(const quant::Scheme& want, int64_t rows, int64_t cols, OutputFormat fmt) {
  const quant::Scheme* best = nullptr;
  for (const quant::Scheme* s : quant::listed_schemes()) {
    if (s->traits().granularity == quant::Granularity::kElement) continue;
    if (fmt == OutputFormat::kGguf && !is_gguf_storable(*s)) continue;
    if (!s->check_shape(rows, cols).ok()) continue;
    auto dist = [&](const quant::Scheme* x) { return std::abs(x->traits().bits_per_weight - want.traits().bits_per_weight); };
    if (!best || dist(s) < dist(best) ||
        (dist(s) == dist(best) && s->traits().bits_per_weight > best->traits().bits_per_weight)) {
      best = s;
    }
  }
  if (best) return best;
  return scheme("fp16");
}

Result<TensorPlan> plan_one(const ModelTensorInfo& t, const Model& m, const QuantizeConfig& c,
                            const std::vector<std::pair<std::regex, const quant::Scheme*>>& rules, bool recipe) {
  TensorPlan p;
  p.name = t.name;
  p.shape = t.shape;
  const int64_t rows = t.shape.rows(), cols = t.shape.cols();
  if (t.shape.rank() < 2 || t.name.find("norm") != std::string::npos) {
    BITSMITH_ASSIGN_OR_RETURN(p.scheme, scheme("f32"));
    p.reason = t.shape.rank() < 2 ? "vector (1-D)" : "norm";
    return p;
  }
  for (const auto& [re, s] : rules) {
    if (std::regex_search(t.name, re)) {
      p.scheme = s;
      p.reason = "rule";
      break;
    }
  }
  if (!p.scheme) {
    const std::string& base = c.scheme;
    BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* b, scheme(recipe ? (base == "q4_k_m" ? "q4_k" : "q5_k") : base));
    const bool gguf_base = b->traits().gguf_type >= 0;
    const bool is_embed = t.name == "token_embd.weight" || t.name == "output.weight";
    if (!gguf_base && is_embed && b->traits().granularity != quant::Granularity::kElement) {
      // Serving engines keep embeddings and the output head unquantized for these schemes
      // (compressed-tensors lists lm_head in "ignore"); bf16 unless a rule says otherwise.
      BITSMITH_ASSIGN_OR_RETURN(p.scheme, scheme(c.format == OutputFormat::kGguf ? "fp16" : "bf16"));
      p.reason = "embedding/output";
    } else {
      const std::string choice = b->traits().granularity == quant::Granularity::kElement
                                     ? b->name() : recipe_choice(t.name, base, m.hyperparameters(), gguf_base,
                                                                 m.hyperparameters().tied_embeddings);
      BITSMITH_ASSIGN_OR_RETURN(p.scheme, scheme(choice));
      p.reason = choice == b->name() ? "" : "recipe";
    }
  }
  if (c.format == OutputFormat::kGguf && !is_gguf_storable(*p.scheme)) {
    return invalid_argument("scheme {} (tensor '{}') has no GGUF type; write safetensors or pick a GGUF scheme",
                            p.scheme->name(), t.name);
  }
  Status fits = p.scheme->check_shape(rows, cols);
  if (!fits.ok()) {
    p.requested = p.scheme->name();
    const std::string fb = gguf_fallback(p.scheme->name());
    const quant::Scheme* next = nullptr;
    if (!fb.empty()) {
      BITSMITH_ASSIGN_OR_RETURN(next, scheme(fb));
      if (!next->check_shape(rows, cols).ok()) next = nullptr;
    }
    if (!next) {
      if (p.scheme->traits().gguf_type >= 0) {
        BITSMITH_ASSIGN_OR_RETURN(next, scheme("fp16"));  // llama.cpp's last resort
      } else {
        BITSMITH_ASSIGN_OR_RETURN(next, nearest_fitting(*p.scheme, rows, cols, c.format));
      }
    }
    p.reason = fmt::format("fallback: row length {} does not fit {}", cols, p.requested);
    p.scheme = next;
  }
  return p;
}

bool needs_rope_permute(const std::string& name, const LlamaHyperparameters& hp, OutputFormat f) {
  if (!name.ends_with("attn_q.weight") && !name.ends_with("attn_k.weight")) return false;
  if (f == OutputFormat::kGguf) return hp.rope_style == RopeStyle::kHalfSplit && hp.architecture == "llama";
  return hp.rope_style == RopeStyle::kInterleaved;
}

}  // namespace

int gguf_type_of(const quant::Scheme& s) {
  if (s.traits().gguf_type >= 0) return s.traits().gguf_type;
  if (s.name() == "f32") return 0;
  if (s.name() == "fp16") return 1;
  if (s.name() == "bf16") return 30;
  return -1;
}

Result<std::vector<TensorPlan>> plan_quantization(const Model& model, const QuantizeConfig& config) {
  const bool recipe = config.scheme == "q4_k_m" || config.scheme == "q5_k_m";
  if (!recipe) BITSMITH_RETURN_IF_ERROR(scheme(config.scheme).status());
  std::vector<std::pair<std::regex, const quant::Scheme*>> rules;
  for (const auto& [re, s] : config.rules) {
    BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* sc, scheme(s));
    try {
      rules.emplace_back(std::regex(re), sc);
    } catch (const std::regex_error& e) {
      return invalid_argument("rule '{}={}': bad regular expression: {}", re, s, e.what());
    }
  }
  std::vector<TensorPlan> plans;
  for (const auto& t : model.tensors()) {
    auto p = plan_one(t, model, config, rules, recipe);
    if (!p.ok()) return p.status().with_context(model.path());
    plans.push_back(std::move(*p));
  }
  return plans;
}

Result<QuantizeReport> quantize_model(const Model& model, const std::string& out, const QuantizeConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  BITSMITH_RETURN_IF_ERROR(check_output_spares_inputs(model, out, config.format));
  BITSMITH_ASSIGN_OR_RETURN(std::vector<TensorPlan> plans, plan_quantization(model, config));
  const auto* file_model = dynamic_cast<const FileModel*>(&model);
  const LlamaHyperparameters& hp = model.hyperparameters();
  QuantizeReport report;
  std::map<std::string, uint64_t> in_bytes;
  for (const auto& t : model.tensors()) {
    in_bytes[t.name] = t.bytes;
    report.input_bytes += t.bytes;
  }
  std::map<std::string, float> shared_amax;
  if (config.format == OutputFormat::kSafetensors) {
    BITSMITH_ASSIGN_OR_RETURN(shared_amax, fused_group_amax(model, plans));
  }
  uint64_t done_bytes = 0;
  auto produce = [&](size_t i) -> Result<quant::QuantizedTensor> {
    const TensorPlan& p = plans[i];
    quant::QuantizeOptions options = config.options;
    if (auto it = shared_amax.find(p.name); it != shared_amax.end()) options.shared_amax = it->second;
    BITSMITH_ASSIGN_OR_RETURN(Tensor w, model.load_f32(p.name));
    const float* x = w.as<float>().data();
    Tensor permuted;
    if (needs_rope_permute(p.name, hp, config.format)) {
      const int64_t heads = p.name.ends_with("attn_q.weight") ? hp.n_heads : hp.n_kv_heads;
      if (heads <= 0 || hp.head_dim % 2 != 0 || p.shape.rows() != heads * hp.head_dim) {
        return invalid_argument("{}: cannot reorder rotary rows of '{}' {} for {} heads of {}", model.path(), p.name,
                                p.shape.to_string(), heads, hp.head_dim);
      }
      permuted = Tensor(DType::kF32, p.shape);
      permute_rope_rows(x, permuted.mutable_as<float>().data(), heads, hp.head_dim, p.shape.cols(),
                        config.format == OutputFormat::kGguf);
      x = permuted.as<float>().data();
    }
    Result<quant::QuantizedTensor> q = config.method && p.scheme->traits().granularity != quant::Granularity::kElement
                                           ? config.method(p, x, options)
                                           : p.scheme->quantize(x, p.shape.rows(), p.shape.cols(), options);
    if (!q.ok()) return q.status().with_context(fmt::format("{}: tensor '{}' ({})", model.path(), p.name, p.scheme->name()));
    if (file_model) file_model->release(p.name);
    TensorReport r{p, in_bytes[p.name], q->total_bytes() + (q->tensor_scale != 1.0f ? 4u : 0u)};
    report.tensors.push_back(r);
    done_bytes += r.input_bytes;
    if (config.progress) {
      config.progress({i + 1, plans.size(), p.name, done_bytes, report.input_bytes,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
    }
    return q;
  };
  if (config.format == OutputFormat::kGguf) {
    report.output = out;
    BITSMITH_RETURN_IF_ERROR(detail::write_gguf(model, plans, out, produce, &report.output_bytes));
  } else {
    BITSMITH_RETURN_IF_ERROR(detail::write_safetensors(model, plans, out, produce, &report.output, &report.extra_files,
                                                       &report.output_bytes, {config.fractional_zero_points}));
  }
  uint64_t tensor_bytes = 0;
  for (const auto& t : report.tensors) {
    report.parameters += static_cast<uint64_t>(t.plan.shape.numel());
    tensor_bytes += t.output_bytes;
    if (!t.plan.requested.empty()) ++report.fallbacks;
  }
  report.bits_per_weight = report.parameters ? 8.0 * static_cast<double>(tensor_bytes) / static_cast<double>(report.parameters) : 0;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace bitsmith::io
