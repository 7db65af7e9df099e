// bitsmith schemes: every quantization scheme the registry lists, with its traits.
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/quant/records.h"
#include "bitsmith/quant/scheme.h"
#include "command.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

using quant::block_text;

int run_schemes(bool json) {
  const auto schemes = quant::listed_schemes();
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const quant::Scheme* s : schemes) {
      list.push_back(quant::traits_record(s->traits()));
    }
    print_json({{"schemes", list}});
    return kExitOk;
  }
  Table table({"scheme", "element", "block", "scale", "bits/weight", "description"});
  for (const quant::Scheme* s : schemes) {
    const auto& t = s->traits();
    table.add({t.name, t.element_format, block_text(t), t.scale_format,
               fmt::format("{:.4g}", t.bits_per_weight), t.description});
  }
  std::fputs(table.render().c_str(), stdout);
  std::printf("\nAlso: int<b>_g<g>[_sym] for b in 2..8 and g in 16, 32, 64, 128, 256 or row.\n");
  return kExitOk;
}

std::function<int()> setup_schemes(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("schemes", "List the quantization schemes and their bits per weight");
  sub->add_flag("--json", *json, "One JSON document on stdout");
  return [json] { return run_schemes(*json); };
}

}  // namespace
BITSMITH_COMMAND("schemes", setup_schemes);
}  // namespace bitsmith::cli
