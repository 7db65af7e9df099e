// The library's JSON documents as Python objects (common.h: to_python).
#include <nlohmann/json.hpp>

#include <utility>
#include <vector>

#include "common.h"

namespace bitsmith::python {

nb::object to_python(const nlohmann::json& doc) {
  auto scalar = [](const nlohmann::json& j) -> nb::object {
    switch (j.type()) {
      case nlohmann::json::value_t::boolean: return nb::bool_(j.get<bool>());
      case nlohmann::json::value_t::number_integer: return nb::int_(j.get<int64_t>());
      case nlohmann::json::value_t::number_unsigned: return nb::int_(j.get<uint64_t>());
      case nlohmann::json::value_t::number_float: return nb::float_(j.get<double>());
      case nlohmann::json::value_t::string: return nb::str(j.get_ref<const std::string&>().c_str());
      default: return nb::none();
    }
  };
  // An explicit stack of (source, destination container): the documents are shallow, but nothing
  // here recurses on depth.
  struct Pending {
    const nlohmann::json* from;
    nb::object into;
  };
  auto container = [](const nlohmann::json& j) -> nb::object {
    return j.is_object() ? nb::object(nb::dict()) : nb::object(nb::list());
  };
  if (!doc.is_structured()) return scalar(doc);
  nb::object root = container(doc);
  std::vector<Pending> stack{{&doc, root}};
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    if (p.from->is_object()) {
      nb::dict d = nb::borrow<nb::dict>(p.into);
      for (const auto& [key, value] : p.from->items()) {
        nb::object v = value.is_structured() ? container(value) : scalar(value);
        d[nb::str(key.c_str())] = v;
        if (value.is_structured()) stack.push_back({&value, v});
      }
    } else {
      nb::list l = nb::borrow<nb::list>(p.into);
      for (const auto& value : *p.from) {
        nb::object v = value.is_structured() ? container(value) : scalar(value);
        l.append(v);
        if (value.is_structured()) stack.push_back({&value, v});
      }
    }
  }
  return root;
}

}  // namespace bitsmith::python
