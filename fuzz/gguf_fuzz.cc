// GGUF reader: header, metadata, tensor infos, the llama/tokenizer mapping, dequantization.
#include "fuzz_file.h"
#include "readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = bitsmith::io::detail::read_gguf_model(bitsmith::fuzz::as_file(data, size));
  if (m.ok()) bitsmith::fuzz::touch_tensors(**m);
  return 0;
}
