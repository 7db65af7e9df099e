// bitsmith schemes: every quantization scheme the registry lists, with its traits.
#include <fmt/format.h>

#include <cstdio>

#include "bitsmith/quant/scheme.h"
#include "command.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

std::string block_text(const quant::SchemeTraits& t) {
  using quant::Granularity;
  switch (t.granularity) {
    case Granularity::kElement: return "-";
    case Granularity::kTensor: return "tensor";
    case Granularity::kRow: return "row";
    case Granularity::kGroup: return fmt::format("1x{}", t.block_cols);
    case Granularity::kBlock2D: return fmt::format("{}x{}", t.block_rows, t.block_cols);
    case Granularity::kGguf: return fmt::format("1x{} ({} B)", t.block_cols, t.bytes_per_block);
  }
  return "-";
}

int run_schemes(bool json) {
  const auto schemes = quant::listed_schemes();
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const quant::Scheme* s : schemes) {
      const auto& t = s->traits();
      nlohmann::json j = {{"name", t.name}, {"element_format", t.element_format},
                          {"scale_format", t.scale_format},
                          {"granularity", std::string(quant::granularity_name(t.granularity))},
                          {"block_rows", t.block_rows}, {"block_cols", t.block_cols},
                          {"block", block_text(t)},
                          {"bits_per_weight", json_number(t.bits_per_weight)},
                          {"symmetric", t.symmetric}, {"description", t.description}};
      if (t.gguf_type >= 0) {
        j["gguf_type"] = t.gguf_type;
        j["bytes_per_block"] = t.bytes_per_block;
      }
      list.push_back(std::move(j));
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
