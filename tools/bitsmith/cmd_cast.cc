// bitsmith cast --to FORMAT [--mode saturate|ieee] [--rounding rne|rtz|stochastic] [--seed N]
//               [--json] [--] VALUE...
// The code and decoded value of each input in FORMAT. Negative numbers go after `--`; inf, -inf,
// nan and hex floats (0x1.8p1) parse. Stochastic rounding draws element i's random word from
// (seed, i), so the same command line always prints the same codes.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/format.h"
#include "command.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct CastOptions {
  std::string to;
  std::string mode = "saturate";
  std::string rounding = "rne";
  uint64_t seed = 0;
  bool json = false;
  std::vector<std::string> values;
};

template <typename T>
T value_or_usage_error(Result<T> r, std::string_view what) {
  if (!r.ok()) throw UsageError(fmt::format("{}: {}", what, r.status().message()));
  return std::move(r).value();
}

int run_cast(const CastOptions& o) {
  const formats::Format* f = value_or_usage_error(formats::find_format(o.to), "--to");
  formats::EncodeOptions opt;
  opt.overflow = value_or_usage_error(formats::parse_overflow(o.mode), "--mode");
  opt.rounding = value_or_usage_error(formats::parse_rounding(o.rounding), "--rounding");
  opt.seed = o.seed;
  std::vector<double> inputs;
  for (const std::string& v : o.values) inputs.push_back(value_or_usage_error(formats::parse_number(v), "VALUE"));

  nlohmann::json results = nlohmann::json::array();
  Table t({"input", "code", "bits", "value"});
  for (size_t i = 0; i < inputs.size(); ++i) {
    const uint32_t code = formats::encode(*f, inputs[i], opt, i);
    const double value = formats::decode(*f, code);
    results.push_back({{"input", json_number(inputs[i])}, {"code", code}, {"value", json_number(value)}});
    std::string bits;
    for (int b = f->bits() - 1; b >= 0; --b) bits += ((code >> b) & 1u) ? '1' : '0';
    t.add({o.values[i], fmt::format("0x{:0{}X}", code, (f->bits() + 3) / 4), bits,
           value == 0 && std::signbit(value) ? "-0" : format_number(value)});
  }
  if (o.json) {
    print_json({{"format", f->name}, {"mode", formats::overflow_name(opt.overflow)},
                {"rounding", formats::rounding_name(opt.rounding)}, {"results", results}});
  } else {
    std::string head = fmt::format("{} ({} bits), rounding {}, overflow {}", f->name, f->bits(),
                                   formats::rounding_name(opt.rounding), formats::overflow_name(opt.overflow));
    if (opt.rounding == formats::Rounding::kStochastic) head += fmt::format(", seed {}", opt.seed);
    const std::string table = t.render();
    std::string out = head + "\n" + table;
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return kExitOk;
}

std::function<int()> setup_cast(CLI::App& app) {
  auto o = std::make_shared<CastOptions>();
  auto* sub = app.add_subcommand("cast", "Encode numbers in a format: the code and the value it stores");
  sub->add_option("--to", o->to, "Target format (float8_e4m3fn, e4m3, bf16, fp4, int4, ...)")->required();
  sub->add_option("--mode", o->mode, "Overflow: saturate (clamp to +-max, default) or ieee (a plain cast)");
  sub->add_option("--rounding", o->rounding, "rne (default), rtz or stochastic");
  sub->add_option("--seed", o->seed, "Seed for stochastic rounding (default 0)");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  sub->add_option("values", o->values, "Numbers: decimal, hex float (0x1.8p1), inf, -inf, nan; put negatives after --")
      ->required();
  return [o] { return run_cast(*o); };
}

}  // namespace
BITSMITH_COMMAND("cast", setup_cast);
}  // namespace bitsmith::cli
