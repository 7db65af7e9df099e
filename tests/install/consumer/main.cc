// Uses the installed library: encodes a few numbers in FP8 E4M3 and quantizes one row of 32
// weights to q8_0, and checks the bytes against values derived here by hand.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/format.h"
#include "bitsmith/quant/scheme.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  using namespace bitsmith;
  // E4M3 (bias 7): 1.0 = 0 0111 000 = 0x38; 448 = (1 + 6/8) * 2^8 = 0 1111 110 = 0x7E;
  // -0.5 = 1 0110 000 = 0xB0.
  auto e4m3 = formats::find_format("e4m3");
  expect(e4m3.ok(), "find_format(e4m3)");
  if (!e4m3.ok()) return 1;
  expect(formats::encode(**e4m3, 1.0) == 0x38, "e4m3 code of 1.0 is 0x38");
  expect(formats::encode(**e4m3, 448.0) == 0x7E, "e4m3 code of 448 is 0x7E");
  expect(formats::encode(**e4m3, -0.5) == 0xB0, "e4m3 code of -0.5 is 0xB0");

  // q8_0: one block of 32 = a float16 scale d = amax / 127, then 32 int8 codes round(x / d).
  auto q8 = quant::find_scheme("q8_0");
  expect(q8.ok(), "find_scheme(q8_0)");
  if (!q8.ok()) return 1;
  std::vector<float> w(32);
  for (int i = 0; i < 32; ++i) w[static_cast<size_t>(i)] = std::sin(0.7f * static_cast<float>(i));
  auto q = (*q8)->quantize(w.data(), 1, 32);
  expect(q.ok(), "q8_0 quantize");
  if (!q.ok()) return 1;
  expect(q->data.size() == 34, "q8_0 block is 34 bytes");
  float amax = 0;
  for (float x : w) amax = std::max(amax, std::fabs(x));
  const float id = 127.0f / amax;
  int code_mismatches = 0;
  for (int i = 0; i < 32; ++i) {
    const auto expected = static_cast<int8_t>(std::lround(w[static_cast<size_t>(i)] * id));
    int8_t got = 0;
    std::memcpy(&got, q->data.data() + 2 + i, 1);
    if (std::abs(got - expected) > 1) ++code_mismatches;  // 1: the fp16 rounding of d
  }
  expect(code_mismatches == 0, "q8_0 codes are round(x * 127 / amax)");
  std::vector<float> back(32);
  expect((*q8)->dequantize(q->view(), back.data()).ok(), "q8_0 dequantize");
  for (int i = 0; i < 32; ++i) {
    if (std::fabs(back[static_cast<size_t>(i)] - w[static_cast<size_t>(i)]) > amax / 127.0f) {
      expect(false, "q8_0 round trip within one step");
      break;
    }
  }
  if (failures == 0) std::printf("consumer: ok (e4m3 codes, q8_0 block of %zu bytes)\n", q->data.size());
  return failures == 0 ? 0 : 1;
}
