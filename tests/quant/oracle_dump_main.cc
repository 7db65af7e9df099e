// quant_oracle_dump SCHEME IN.npy OUT_PREFIX [IMPORTANCE.npy]
// Quantizes a float32 .npy with a bitsmith scheme and writes what the Python oracles compare:
// OUT.data.npy, OUT.scales.npy, OUT.zeros.npy (uint8 bytes), OUT.tensor_scale.npy (float32[1])
// and OUT.deq.npy (float32, the dequantized array). Used by tests/quant/oracle_check.py.
#include <cstdio>
#include <vector>

#include "bitsmith/core/npy.h"
#include "bitsmith/quant/scheme.h"

using namespace bitsmith;

namespace {
Status write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  return write_npy(path, TensorView{DType::kU8, Shape{static_cast<int64_t>(b.size())}, b.data()});
}

Status run(int argc, char** argv) {
  BITSMITH_ASSIGN_OR_RETURN(const quant::Scheme* s, quant::find_scheme(argv[1]));
  BITSMITH_ASSIGN_OR_RETURN(Tensor x, read_npy(argv[2]));
  if (x.dtype() != DType::kF32 || x.shape().rank() != 2) {
    return invalid_argument("{}: expected a 2-D float32 array", argv[2]);
  }
  const std::string out = argv[3];
  quant::QuantizeOptions opt;
  Tensor w;
  if (argc > 4) {
    BITSMITH_ASSIGN_OR_RETURN(w, read_npy(argv[4]));
    opt.importance = w.as<float>().data();
  }
  const int64_t rows = x.shape()[0], cols = x.shape()[1];
  BITSMITH_ASSIGN_OR_RETURN(quant::QuantizedTensor q, s->quantize(x.as<float>().data(), rows, cols, opt));
  BITSMITH_RETURN_IF_ERROR(write_bytes(out + ".data.npy", q.data));
  BITSMITH_RETURN_IF_ERROR(write_bytes(out + ".scales.npy", q.scales));
  BITSMITH_RETURN_IF_ERROR(write_bytes(out + ".zeros.npy", q.zeros));
  BITSMITH_RETURN_IF_ERROR(
      write_npy(out + ".tensor_scale.npy", TensorView{DType::kF32, Shape{1}, &q.tensor_scale}));
  std::vector<float> deq(static_cast<size_t>(rows * cols));
  BITSMITH_RETURN_IF_ERROR(s->dequantize(q.view(), deq.data()));
  return write_npy(out + ".deq.npy", TensorView{DType::kF32, Shape{rows, cols}, deq.data()});
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: quant_oracle_dump SCHEME IN.npy OUT_PREFIX [IMPORTANCE.npy]\n");
    return 2;
  }
  const Status st = run(argc, argv);
  if (!st.ok()) {
    std::fprintf(stderr, "quant_oracle_dump: %s\n", st.to_string().c_str());
    return 1;
  }
  return 0;
}
