// bitsmith memory --params N | --model FILE: weight memory per scheme or recipe (true bits per
// weight vs naive bits) and which devices hold it. Recipes need --model: their bits depend on
// the model's shapes (which tensors a mix raises, which fall back).
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/io/model_file.h"
#include "bitsmith/plan/memory.h"
#include "bitsmith/plan/recipe.h"
#include "bitsmith/report/documents.h"
#include "command.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct MemoryOptions {
  std::string params, model;
  std::vector<std::string> schemes;
  std::vector<std::string> devices;
  bool json = false;
};

std::string gb(double bytes) { return fmt::format("{:.2f}", bytes / 1e9); }

int run_memory(const MemoryOptions& o) {
  if (o.params.empty() == o.model.empty()) throw UsageError("give --params N or --model FILE (one of them)");
  std::vector<plan::Device> devices;
  for (const auto& d : o.devices) {
    auto dev = plan::parse_device(d);
    if (!dev.ok()) throw UsageError(dev.status().message());
    devices.push_back(*dev);
  }
  if (devices.empty()) devices = plan::default_devices();
  Result<plan::MemoryPlan> plan = invalid_argument("no plan");
  if (!o.model.empty()) {
    std::vector<plan::Recipe> recipes;
    for (const auto& name : o.schemes) {
      auto r = plan::recipe_for_scheme_name(name);
      if (!r.ok()) throw UsageError(r.status().message());
      recipes.push_back(std::move(*r));
    }
    if (recipes.empty()) {
      for (const quant::Scheme* s : plan::default_memory_schemes()) recipes.push_back(*plan::Recipe::uniform(s->name()));
    }
    auto model = io::open_model(o.model, "");
    if (!model.ok()) {
      std::fprintf(stderr, "bitsmith memory: %s\n", model.status().to_string().c_str());
      return kExitFailed;
    }
    plan = plan::plan_memory_for_model(**model, recipes, devices);
    if (!plan.ok()) {
      std::fprintf(stderr, "bitsmith memory: %s\n", plan.status().to_string().c_str());
      return kExitFailed;
    }
  } else {
    auto params = plan::parse_param_count(o.params);
    if (!params.ok()) throw UsageError(params.status().message());
    std::vector<const quant::Scheme*> schemes;
    for (const auto& name : o.schemes) {
      auto s = quant::find_scheme(name);
      if (!s.ok() && plan::Recipe::is_named(name)) {
        throw UsageError(fmt::format("'{}' is a recipe: its bits per weight depend on the model's shapes (which tensors "
                                     "get more bits, which fall back); give --model FILE instead of --params", name));
      }
      if (!s.ok()) throw UsageError(s.status().message());
      schemes.push_back(*s);
    }
    if (schemes.empty()) schemes = plan::default_memory_schemes();
    plan = plan::plan_memory(*params, schemes, devices);
    if (!plan.ok()) throw UsageError(plan.status().message());
  }

  if (o.json) {
    print_json(plan::to_json(*plan));
    return kExitOk;
  }
  std::vector<std::string> header = {"scheme", "bits/weight", "naive bits", "GB", "naive GB"};
  for (const auto& d : plan->devices) header.push_back(fmt::format("{} ({:.0f} GB)", d.name, d.bytes / 1e9));
  Table t(header);
  for (const auto& r : plan->rows) {
    std::vector<std::string> row = {r.label, fmt::format("{:.4g}", r.bits_per_weight),
                                    fmt::format("{:g}", r.naive_bits), gb(r.bytes), gb(r.naive_bytes)};
    for (bool f : r.fits) row.push_back(f ? "fits" : "no");
    t.add(row);
  }
  if (o.model.empty()) {
    std::printf("Weights of a %s-parameter model (%.4g parameters); GB = 1e9 bytes.\n", o.params.c_str(), plan->params);
  } else {
    std::printf("Weights of %s (%.4g parameters) as quantize writes it; GB = 1e9 bytes.\n", o.model.c_str(),
                plan->params);
  }
  std::fputs(t.render().c_str(), stdout);
  std::printf("Weights only: KV cache, activations and runtime overhead need more.\n");
  return kExitOk;
}

std::function<int()> setup_memory(CLI::App& app) {
  auto o = std::make_shared<MemoryOptions>();
  auto* sub = app.add_subcommand("memory", "Weight memory per scheme and which devices it fits");
  sub->add_option("--params", o->params, "Parameter count: 70e9, 70B, 7.2B, 135M");
  sub->add_option("--model", o->model, "A model file: exact bytes per scheme or recipe as quantize writes it");
  sub->add_option("--schemes", o->schemes, "Comma-separated schemes, or recipes with --model (default: a comparison set)")
      ->delimiter(',');
  sub->add_option("--devices", o->devices,
                  "Comma-separated devices (default dgx-spark, h100, h200, rtx-4090): " + plan::known_device_names() +
                      ", or NAME=SIZE (48GB, 24GiB)")
      ->delimiter(',');
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  return [o] { return run_memory(*o); };
}

}  // namespace
BITSMITH_COMMAND("memory", setup_memory);
}  // namespace bitsmith::cli
