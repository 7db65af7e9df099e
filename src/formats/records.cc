#include "bitsmith/formats/records.h"

namespace bitsmith::formats {

nlohmann::json format_record(const Format& f) {
  const FormatProperties p = properties(f);
  nlohmann::json aliases = nlohmann::json::array();
  for (std::string_view a : f.aliases) aliases.push_back(a);
  return {{"name", f.name}, {"aliases", aliases}, {"bits", p.bits}, {"exponent_bits", p.exponent_bits},
          {"mantissa_bits", p.mantissa_bits}, {"bias", p.bias}, {"max", p.max}, {"min_normal", p.min_normal},
          {"min_subnormal", p.min_subnormal}, {"epsilon", p.epsilon}, {"finite_values", p.finite_values},
          {"has_inf", p.has_inf}, {"has_nan", p.has_nan}};
}

}  // namespace bitsmith::formats
