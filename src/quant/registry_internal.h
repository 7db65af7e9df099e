// How codec files contribute schemes to the registry. Registration is explicit (called from
// registry.cc on first use), not by static initializers, which a static library would drop.
#pragma once

#include <memory>
#include <vector>

#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant::detail {

struct SchemeList {
  std::vector<std::unique_ptr<Scheme>> owned;
  std::vector<const Scheme*> listed;
  void add(std::unique_ptr<Scheme> s, bool is_listed = true) {
    if (is_listed) listed.push_back(s.get());
    owned.push_back(std::move(s));
  }
};

void add_float_schemes(SchemeList& list);        // f32, fp16, bf16, fp8_* (float_schemes.cc)
void add_int_schemes(SchemeList& list);          // int8, int8_tensor, int4_g128[_sym] (int_schemes.cc)
void add_block_float_schemes(SchemeList& list);  // nvfp4, mx* (block_float_schemes.cc)
void add_gguf_schemes(SchemeList& list);         // q4_0 ... q6_k, iq4_nl (gguf_*.cc)

// The general integer form int<b>_g<g>[_sym]; group_size 0 = whole row. Owned by the caller.
std::unique_ptr<Scheme> make_int_group_scheme(int bits, int64_t group_size, bool symmetric);

}  // namespace bitsmith::quant::detail
