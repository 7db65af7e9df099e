// bitsmith formats [--json]            one row per element format and its properties
// bitsmith formats --probe X [--json]  how each format stores X: value, absolute, relative error
// bitsmith formats show FORMAT [--json] every code of a format of 8 bits or fewer
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/format.h"
#include "command.h"
#include "bitsmith/formats/records.h"
#include "json_out.h"
#include "table.h"

namespace bitsmith::cli {
namespace {

struct FormatsOptions {
  bool json = false;
  std::string probe;  // empty: list the formats
  std::string mode = "saturate";
  std::string show_format;
  bool show_json = false;
};

void emit(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

const formats::Format& format_or_usage_error(const std::string& name) {
  auto f = formats::find_format(name);
  if (!f.ok()) throw UsageError(f.status().message());
  return **f;
}

std::string join_aliases(const formats::Format& f) {
  std::string out;
  for (std::string_view a : f.aliases) out += (out.empty() ? "" : ",") + std::string(a);
  return out;
}

int list_formats(bool json) {
  nlohmann::json rows = nlohmann::json::array();
  Table t({"name", "aliases", "bits", "exp", "mant", "bias", "max", "min_normal", "min_subnormal",
           "epsilon", "finite_values", "inf", "nan"});
  for (const formats::Format& f : formats::all_formats()) {
    const formats::FormatProperties p = formats::properties(f);
    rows.push_back(formats::format_record(f));
    t.add({std::string(f.name), join_aliases(f), std::to_string(p.bits),
           std::to_string(p.exponent_bits), std::to_string(p.mantissa_bits), std::to_string(p.bias),
           format_number(p.max), format_number(p.min_normal), format_number(p.min_subnormal),
           format_number(p.epsilon), std::to_string(p.finite_values), p.has_inf ? "yes" : "no",
           p.has_nan ? "yes" : "no"});
  }
  if (json) {
    print_json({{"formats", rows}});
  } else {
    emit(t.render());
  }
  return kExitOk;
}

int probe_formats(const FormatsOptions& o) {
  const auto x = formats::parse_number(o.probe);
  if (!x.ok()) throw UsageError("--probe: " + x.status().message());
  const auto overflow = formats::parse_overflow(o.mode);
  if (!overflow.ok()) throw UsageError(overflow.status().message());
  const formats::EncodeOptions opt{formats::Rounding::kRne, *overflow};
  nlohmann::json results = nlohmann::json::array();
  Table t({"format", "code", "value", "abs_error", "rel_error"});
  for (const formats::Format& f : formats::all_formats()) {
    const formats::Probe p = formats::probe(f, *x, opt);
    results.push_back({{"format", f.name}, {"value", json_number(p.value)},
                       {"abs_error", json_number(p.abs_error)},
                       {"rel_error", json_number(p.rel_error)}});
    t.add({std::string(f.name), fmt::format("0x{:0{}X}", p.code, (f.bits() + 3) / 4),
           format_number(p.value), format_number(p.abs_error), format_number(p.rel_error)});
  }
  if (o.json) {
    print_json({{"input", json_number(*x)}, {"results", results}});
  } else {
    emit(fmt::format("How each format stores {} (round to nearest even, {}):\n",
                     format_number(*x), o.mode));
    emit(t.render());
  }
  return kExitOk;
}

// "0 0111 110": the sign, exponent and mantissa fields of a code, most significant bit first,
// a space between fields (empty fields are left out: e8m0 has no sign and no mantissa).
std::string field_bits(const formats::Format& f, uint32_t code) {
  const bool is_float = f.kind == formats::FormatKind::kFloat;
  const int sign = (is_float ? f.fp.is_signed : f.integer.is_signed) ? 1 : 0;
  const int exp = is_float ? f.fp.exponent_bits : 0;
  const int widths[3] = {sign, exp, f.bits() - sign - exp};
  std::string out;
  int bit = f.bits() - 1;
  for (int w : widths) {
    if (w == 0) continue;
    if (!out.empty()) out += ' ';
    for (int i = 0; i < w; ++i, --bit) out += ((code >> bit) & 1u) ? '1' : '0';
  }
  return out;
}

int show_format(const FormatsOptions& o) {
  const formats::Format& f = format_or_usage_error(o.show_format);
  if (f.bits() > 8) {
    throw UsageError(fmt::format("formats show lists formats of 8 bits or fewer; {} has {} ({} codes)",
                                 f.name, f.bits(), uint64_t{1} << f.bits()));
  }
  nlohmann::json codes = nlohmann::json::array();
  Table t({"code", "bits", "sign", "exponent", "mantissa", "value"});
  for (uint32_t c = 0; c < (1u << f.bits()); ++c) {
    const formats::CodeFields fields = formats::split_code(f, c);
    const double v = formats::decode(f, c);
    const std::string bits = field_bits(f, c);
    codes.push_back({{"code", c}, {"bits", bits}, {"sign", fields.sign},
                     {"exponent", fields.exponent}, {"mantissa", fields.mantissa},
                     {"value", json_number(v)}});
    t.add({fmt::format("0x{:02X}", c), bits, std::to_string(fields.sign),
           std::to_string(fields.exponent), std::to_string(fields.mantissa),
           v == 0 && std::signbit(v) ? "-0" : format_number(v)});
  }
  if (o.json || o.show_json) {
    print_json({{"format", f.name}, {"bits", f.bits()}, {"codes", codes}});
  } else {
    emit(fmt::format("{}: {} codes\n", f.name, 1u << f.bits()));
    emit(t.render());
  }
  return kExitOk;
}

std::function<int()> setup_formats(CLI::App& app) {
  auto o = std::make_shared<FormatsOptions>();
  auto* sub = app.add_subcommand(
      "formats", "List the element formats, probe how each stores a number, or show every code");
  sub->add_flag("--json", o->json, "One JSON document on stdout");
  sub->add_option("--probe", o->probe, "A number (decimal, hex float, inf, nan) to store in every format");
  sub->add_option("--mode", o->mode, "Overflow mode for --probe: saturate (default) or ieee");
  sub->require_subcommand(0, 1);
  auto* show = sub->add_subcommand("show", "Every code of a format of 8 bits or fewer, with its fields and value");
  show->add_option("format", o->show_format, "Format name or alias (e4m3, fp4, int4, ...)")->required();
  show->add_flag("--json", o->show_json, "One JSON document on stdout");
  return [o, show] {
    if (show->parsed()) return show_format(*o);
    if (!o->probe.empty()) return probe_formats(*o);
    return list_formats(o->json);
  };
}

}  // namespace
BITSMITH_COMMAND("formats", setup_formats);
}  // namespace bitsmith::cli
