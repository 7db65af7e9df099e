// The .npy reader (`bitsmith error --input F.npy`): header dict, shape tuple, sizes.
#include "bitsmith/core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = bitsmith::parse_npy({data, size}, "fuzz.npy");
  if (t.ok() && t->nbytes() > 0) {
    volatile uint8_t sink = static_cast<const uint8_t*>(t->data())[t->nbytes() - 1];
    (void)sink;
  }
  return 0;
}
