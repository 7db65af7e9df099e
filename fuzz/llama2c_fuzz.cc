// llama2.c checkpoint reader and, for inputs whose first byte is odd, the tokenizer.bin parser
// (vocabulary size from the second byte).
#include "bitsmith/io/tokenizer_files.h"
#include "fuzz_file.h"
#include "readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 2 && (data[0] & 1)) {
    auto v = bitsmith::io::parse_llama2c_tokenizer({data + 2, size - 2}, "fuzz", 1 + data[1]);
    (void)v;
    return 0;
  }
  // No tokenizer given: the reader looks beside the file, in /proc/self/fd, and finds none.
  auto m = bitsmith::io::detail::read_llama2c(bitsmith::fuzz::as_file(data, size), "");
  if (m.ok()) bitsmith::fuzz::touch_tensors(**m);
  return 0;
}
