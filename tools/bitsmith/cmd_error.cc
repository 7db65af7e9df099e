// bitsmith error: error metrics of each scheme on a real array (.npy) or synthetic weights.
// Without input it reproduces the lab: N(0,1) weights, seed 42, shape 40x256 (10,240 weights:
// the lab's 10,000 rounded up to a shape every block scheme fits, K-quants' 256 included).
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/core/npy.h"
#include "bitsmith/quant/metrics.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/report/documents.h"
#include "command.h"
#include "bitsmith/quant/records.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct ErrorOptions {
  std::vector<std::string> schemes;
  std::string input;
  std::string synthetic = "normal";
  std::string shape = "40x256";
  uint64_t seed = 42;
  int histogram = 0;
  bool allow_nonfinite = false;
  bool json = false;
};

// The lab's comparison: 16-bit, FP8, INT8, INT4, NVFP4, MX, and GGUF's everyday types.
const char* const kDefaultSchemes[] = {"fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8",
                                       "int4_g128", "int4_g128_sym", "nvfp4", "mxfp4",
                                       "mxfp6_e3m2", "mxfp8_e4m3", "mxint8", "q8_0", "q4_0",
                                       "q4_k"};

std::pair<int64_t, int64_t> parse_shape(const std::string& s) {
  const auto x = s.find('x');
  try {
    if (x != std::string::npos) {
      size_t p1 = 0, p2 = 0;
      const long long r = std::stoll(s.substr(0, x), &p1), c = std::stoll(s.substr(x + 1), &p2);
      if (p1 == x && p2 == s.size() - x - 1 && r > 0 && c > 0 && r * c <= (1ll << 31)) return {r, c};
    }
  } catch (const std::exception&) {
  }
  throw UsageError(fmt::format("--shape '{}': expected ROWSxCOLS, e.g. 40x256", s));
}

std::vector<const quant::Scheme*> pick_schemes(const std::vector<std::string>& names) {
  std::vector<const quant::Scheme*> out;
  if (names.size() == 1 && names[0] == "all") return quant::listed_schemes();
  if (names.empty()) {
    for (const char* n : kDefaultSchemes) {
      if (auto s = quant::find_scheme(n); s.ok()) out.push_back(*s);
    }
    return out;
  }
  for (const auto& n : names) {
    auto s = quant::find_scheme(n);
    if (!s.ok() && plan::Recipe::is_named(n)) {
      // A recipe mixes schemes per tensor (by name, layer and shape): one array has no name.
      throw UsageError(fmt::format("'{}' is a recipe (llama.cpp's per-tensor mix over {} and more), not one scheme; "
                                   "`error` measures one scheme on one array: name the schemes instead, or use "
                                   "`bitsmith quantize --recipe {} --dry-run` to see the mix",
                                   n, plan::Recipe::named(n)->base, n));
    }
    if (!s.ok()) throw UsageError(s.status().message());
    out.push_back(*s);
  }
  return out;
}

int run_error(const ErrorOptions& o) {
  if (o.histogram < 0 || o.histogram > 10000) throw UsageError("--histogram: 0..10000 bins");
  const auto schemes = pick_schemes(o.schemes);
  std::vector<float> x;
  int64_t rows = 0, cols = 0;
  nlohmann::json input;
  if (!o.input.empty()) {
    auto t = read_npy(o.input);
    if (!t.ok()) {
      std::fprintf(stderr, "bitsmith error: %s\n", t.status().to_string().c_str());
      return kExitFailed;
    }
    auto v = quant::to_float32(*t);
    if (!v.ok()) {
      std::fprintf(stderr, "bitsmith error: %s: %s\n", o.input.c_str(), v.status().to_string().c_str());
      return kExitFailed;
    }
    x = std::move(*v);
    cols = t->shape().cols();
    rows = t->shape().rows();
    input = {{"file", o.input}, {"dtype", std::string(dtype_name(t->dtype()))},
             {"shape", {rows, cols}}};
  } else {
    std::tie(rows, cols) = parse_shape(o.shape);
    auto v = quant::synthetic_weights(o.synthetic, rows * cols, o.seed);
    if (!v.ok()) throw UsageError(v.status().message());
    x = std::move(*v);
    input = {{"synthetic", o.synthetic}, {"seed", o.seed}, {"shape", {rows, cols}}};
  }
  quant::QuantizeOptions qopt;
  qopt.allow_nonfinite = o.allow_nonfinite;
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::string> headers = {"scheme", "bits/weight", "MSE", "RMSE", "mean |err|",
                                      "max |err|", "SNR dB", "cosine"};
  Table table(headers);
  std::vector<quant::SchemeError> done;
  int status = kExitOk;
  for (const quant::Scheme* s : schemes) {
    auto r = quant::evaluate_scheme(*s, x.data(), rows, cols, o.histogram, qopt);
    if (!r.ok()) {
      std::fprintf(stderr, "bitsmith error: %s\n", r.status().to_string().c_str());
      results.push_back(quant::error_record(r, *s));
      table.add({s->name(), "-", "-", "-", "-", "-", "-", r.status().message()});
      status = kExitFailed;
      continue;
    }
    results.push_back(quant::error_record(r, *s));
    const auto& m = r->metrics;
    table.add({s->name(), fmt::format("{:.4g}", r->bits_per_weight), fmt::format("{:.4g}", m.mse),
               fmt::format("{:.4g}", m.rmse), fmt::format("{:.4g}", m.mean_abs_error),
               fmt::format("{:.4g}", m.max_abs_error), fmt::format("{:.2f}", m.snr_db),
               fmt::format("{:.6f}", m.cosine)});
    done.push_back(std::move(*r));
  }
  if (o.json) {
    print_json({{"input", input}, {"results", results}});
    return status;
  }
  if (o.input.empty()) {
    std::printf("%s weights, seed %llu, shape %lldx%lld\n", o.synthetic.c_str(),
                static_cast<unsigned long long>(o.seed), static_cast<long long>(rows),
                static_cast<long long>(cols));
  } else {
    std::printf("%s, %lldx%lld\n", o.input.c_str(), static_cast<long long>(rows),
                static_cast<long long>(cols));
  }
  std::fputs(table.render().c_str(), stdout);
  for (const auto& r : done) {
    if (!r.histogram) continue;
    const auto& h = *r.histogram;
    std::printf("\nerror histogram of %s (x' - x), %zu bins over [%g, %g]:\n",
                r.scheme->name().c_str(), h.counts.size(), h.lo, h.hi);
    const double w = h.counts.empty() ? 0 : (h.hi - h.lo) / static_cast<double>(h.counts.size());
    uint64_t peak = 1;
    for (uint64_t c : h.counts) peak = std::max(peak, c);
    for (size_t i = 0; i < h.counts.size(); ++i) {
      const int bar = static_cast<int>(40.0 * static_cast<double>(h.counts[i]) / static_cast<double>(peak));
      std::printf("  %+11.4g %8llu %s\n", h.lo + w * static_cast<double>(i),
                  static_cast<unsigned long long>(h.counts[i]), std::string(static_cast<size_t>(bar), '#').c_str());
    }
  }
  return status;
}

std::function<int()> setup_error(CLI::App& app) {
  auto o = std::make_shared<ErrorOptions>();
  auto* sub = app.add_subcommand("error", "Quantization error of schemes on an array or synthetic weights");
  sub->add_option("--scheme", o->schemes,
                  "Comma-separated schemes, or 'all' (default: fp16 ... q4_k, the lab's comparison)")
      ->delimiter(',');
  auto* in = sub->add_option("--input", o->input, ".npy array (float32 or float16, 1-D or 2-D)");
  auto* syn = sub->add_option("--synthetic", o->synthetic, "normal, laplace, student_t or uniform")
                  ->capture_default_str();
  auto* shp = sub->add_option("--shape", o->shape, "ROWSxCOLS of synthetic weights")->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of synthetic weights")->capture_default_str();
  sub->add_option("--histogram", o->histogram, "Also give each scheme's error histogram with BINS bins");
  sub->add_flag("--allow-nonfinite", o->allow_nonfinite,
                "Map NaN to 0 and +-Inf to the largest finite magnitude instead of failing");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  in->excludes(syn);
  in->excludes(shp);
  return [o] { return run_error(*o); };
}

}  // namespace
BITSMITH_COMMAND("error", setup_error);
}  // namespace bitsmith::cli
