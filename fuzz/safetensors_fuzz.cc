// safetensors reader (header JSON, entries, quantized layouts) and, for inputs starting with
// '{', the tokenizer.json parser.
#include "bitsmith/io/tokenizer_files.h"
#include "fuzz_file.h"
#include "readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == '{') {
    auto v = bitsmith::io::parse_hf_tokenizer({reinterpret_cast<const char*>(data), size}, "fuzz");
    (void)v;
    return 0;
  }
  auto m = bitsmith::io::detail::read_safetensors_model(bitsmith::fuzz::as_file(data, size));
  if (m.ok()) bitsmith::fuzz::touch_tensors(**m);
  return 0;
}
