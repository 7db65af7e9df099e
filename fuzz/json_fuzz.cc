// The JSON parsers on their own: the first byte picks config.json, tokenizer.json, or a
// safetensors header (the rest of the input, given an 8-byte length prefix here so every input
// reaches the JSON; the bitsmith.quantization metadata inside it is parsed too).
#include <cstring>
#include <string>
#include <vector>

#include "bitsmith/io/safetensors.h"
#include "bitsmith/io/tokenizer_files.h"
#include "st_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto hp = bitsmith::io::parse_hf_config(text, "config.json");
      (void)hp;
      break;
    }
    case 1: {
      auto v = bitsmith::io::parse_hf_tokenizer(text, "tokenizer.json");
      (void)v;
      break;
    }
    default: {
      std::vector<uint8_t> file(8 + text.size());
      const uint64_t n = text.size();
      std::memcpy(file.data(), &n, 8);
      std::memcpy(file.data() + 8, text.data(), text.size());
      auto f = bitsmith::io::parse_safetensors(file, "fuzz.safetensors");
      if (f.ok()) {
        std::map<std::string, bitsmith::io::detail::st_layout::Entry> schemes;
        auto st = bitsmith::io::detail::st_layout::parse_metadata(f->metadata, "fuzz.safetensors", &schemes);
        (void)st;
      }
    }
  }
  return 0;
}
