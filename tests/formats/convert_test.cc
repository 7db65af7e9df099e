// The array conversions (vectorized, threaded) against the scalar codec, byte for byte, on
// millions of random float32 bit patterns and on adversarial inputs: every code value of every
// small format, every midpoint and the float32s a few ulps either side, powers of two across
// the whole exponent range, subnormals, signed zeros, Inf and NaNs with payloads.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "bitsmith/formats/codec.h"
#include "bitsmith/formats/convert.h"

namespace bitsmith::formats {
namespace {

float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t to_bits(float f) { return std::bit_cast<uint32_t>(f); }

void add_with_neighbours(std::vector<float>& out, float v, int ulps = 3) {
  uint32_t u = to_bits(v);
  for (int64_t d = -ulps; d <= ulps; ++d) {
    const int64_t w = static_cast<int64_t>(u) + d;
    if (w >= 0 && w <= 0xFFFFFFFF) {
      out.push_back(from_bits(static_cast<uint32_t>(w)));
      out.push_back(-from_bits(static_cast<uint32_t>(w)));
    }
  }
}

// with_16bit: also every fp16/bf16 value and midpoint (1 ulp either side; ~1.5M inputs).
std::vector<float> adversarial_inputs(bool with_16bit) {
  std::vector<float> out;
  for (const Format& f : all_formats()) {
    if (f.kind != FormatKind::kFloat || f.bits() > (with_16bit ? 16 : 8)) continue;
    const int ulps = f.bits() > 8 ? 1 : 3;
    double prev = NAN;
    for (uint32_t c = 0; c < (1u << f.bits()); ++c) {
      const double v = decode(f, c);
      if (!std::isfinite(v) || (c > 0 && v <= prev)) {
        prev = NAN;  // codes run up per sign; restart the midpoint chain at each sign flip
        continue;
      }
      add_with_neighbours(out, static_cast<float>(v), ulps);
      if (!std::isnan(prev)) add_with_neighbours(out, static_cast<float>((prev + v) / 2), ulps);
      prev = v;
    }
    add_with_neighbours(out, static_cast<float>(2 * max_finite(f.fp)));
  }
  for (int e = -149; e <= 127; ++e) add_with_neighbours(out, std::ldexp(1.0f, e));
  // Specials: zeros, Inf, NaNs with payloads (quiet and signalling, both signs), denormals.
  const uint32_t specials[] = {0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000,
                               0xFFC00000, 0x7F800001, 0xFF800001, 0x7FBFFFFF, 0x7FC00001,
                               0xFFFFFFFF, 0x00000001, 0x807FFFFF, 0x00400000, 0x7F7FFFFF};
  for (uint32_t s : specials) out.push_back(from_bits(s));
  return out;
}

// Random bit patterns (every class of float32) and log-uniform values in the small formats'
// range, plus the adversarial set.
std::vector<float> test_inputs(size_t n_random, uint32_t seed) {
  std::vector<float> out = adversarial_inputs(/*with_16bit=*/true);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> expo(-30.0f, 20.0f);
  for (size_t i = 0; i < n_random; ++i) {
    out.push_back(i % 2 ? from_bits(static_cast<uint32_t>(rng()))
                        : ((rng() & 1) ? -1.0f : 1.0f) * std::exp2(expo(rng)));
  }
  return out;
}

const std::vector<float>& inputs() {
  static const std::vector<float> kInputs = test_inputs(2'000'000, 1234);
  return kInputs;
}
size_t adversarial_count() {
  static const size_t kCount = adversarial_inputs(true).size();
  return kCount;
}

std::vector<EncodeOptions> all_modes() {
  std::vector<EncodeOptions> modes;
  for (Rounding r : {Rounding::kRne, Rounding::kRtz, Rounding::kStochastic}) {
    for (Overflow o : {Overflow::kSaturate, Overflow::kIeee}) {
      modes.push_back(EncodeOptions{r, o, 99, 1000});
    }
  }
  return modes;
}

std::string mode_name(const EncodeOptions& opt) {
  return std::string(rounding_name(opt.rounding)) + "/" + std::string(overflow_name(opt.overflow));
}

template <typename Code>
void expect_codes_equal(const std::vector<Code>& got, const std::vector<Code>& want,
                        std::span<const float> x, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], want[i]) << what << " element " << i << " input bits 0x" << std::hex
                               << to_bits(x[i]);
  }
}

void expect_floats_identical(const std::vector<float>& got, const std::vector<float>& want,
                             const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(to_bits(got[i]), to_bits(want[i])) << what << " element " << i;
  }
}

// The scalar codec applied element by element: the definition of every array function.
template <typename Code>
std::vector<Code> scalar_encode(const FloatFormat& f, std::span<const float> x,
                                const EncodeOptions& opt) {
  std::vector<Code> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    out[i] = static_cast<Code>(encode(f, static_cast<double>(x[i]), opt, opt.first_index + i));
  }
  return out;
}

struct Fixture {
  ThreadPool one{1};
  ThreadPool many{4};  // more workers than this machine's cores: chunks interleave
};
Fixture& pools() {
  static Fixture f;
  return f;
}

template <typename Code, typename Fn>
void check_encoder(const FloatFormat& f, Fn fn, const std::string& name) {
  const std::vector<float>& x = inputs();
  for (const EncodeOptions& opt : all_modes()) {
    // Only rne/saturate, the quantizers' mode, gets the full random set; the others get the
    // adversarial part plus 300k random inputs, to keep the test a few seconds long.
    const size_t n = opt.rounding == Rounding::kRne && opt.overflow == Overflow::kSaturate
                         ? x.size()
                         : std::min(x.size(), adversarial_count() + 300'000);
    const std::span<const float> xs(x.data(), n);
    const std::vector<Code> want = scalar_encode<Code>(f, xs, opt);
    for (ThreadPool* pool : {&pools().one, &pools().many}) {
      std::vector<Code> got(n);
      fn(xs, std::span<Code>(got), opt, pool);
      expect_codes_equal(got, want, xs, name + " " + mode_name(opt));
    }
  }
}

TEST(Convert, F16EncodeMatchesScalar) { check_encoder<uint16_t>(kFloat16, [](auto x, auto o, auto& opt, auto* p) { f32_to_f16(x, o, opt, p); }, "f16"); }
TEST(Convert, Bf16EncodeMatchesScalar) { check_encoder<uint16_t>(kBFloat16, [](auto x, auto o, auto& opt, auto* p) { f32_to_bf16(x, o, opt, p); }, "bf16"); }
TEST(Convert, E4m3EncodeMatchesScalar) { check_encoder<uint8_t>(kFloat8E4M3FN, [](auto x, auto o, auto& opt, auto* p) { f32_to_e4m3(x, o, opt, p); }, "e4m3"); }
TEST(Convert, E5m2EncodeMatchesScalar) { check_encoder<uint8_t>(kFloat8E5M2, [](auto x, auto o, auto& opt, auto* p) { f32_to_e5m2(x, o, opt, p); }, "e5m2"); }
TEST(Convert, E2m1EncodeMatchesScalar) { check_encoder<uint8_t>(kFloat4E2M1FN, [](auto x, auto o, auto& opt, auto* p) { f32_to_e2m1(x, o, opt, p); }, "e2m1"); }

TEST(Convert, E2m1PackedMatchesScalar) {
  // Odd length: the last byte's high nibble must be 0.
  const std::span<const float> x(inputs().data(), 1'000'001);
  for (const EncodeOptions& opt : all_modes()) {
    const std::vector<uint8_t> codes = scalar_encode<uint8_t>(kFloat4E2M1FN, x, opt);
    std::vector<uint8_t> want((x.size() + 1) / 2, 0);
    for (size_t i = 0; i < x.size(); ++i) want[i / 2] |= static_cast<uint8_t>(codes[i] << (4 * (i % 2)));
    for (ThreadPool* pool : {&pools().one, &pools().many}) {
      std::vector<uint8_t> got(want.size(), 0xAA);
      f32_to_e2m1_packed(x, got, opt, pool);
      expect_codes_equal(got, want, x, "e2m1 packed " + mode_name(opt));
      std::vector<float> back(x.size());
      e2m1_packed_to_f32(got, back, pool);
      for (size_t i = 0; i < x.size(); i += 997) {
        ASSERT_EQ(to_bits(back[i]), to_bits(static_cast<float>(decode(kFloat4E2M1FN, codes[i]))));
      }
    }
  }
}

TEST(Convert, GenericEncodeArrayMatchesScalarForEveryFormat) {
  // Every format and mode: the small formats' adversarial set plus 50k random inputs.
  std::vector<float> xv = adversarial_inputs(/*with_16bit=*/false);
  xv.insert(xv.end(), inputs().end() - 50'000, inputs().end());
  const std::span<const float> x(xv);
  for (const Format& f : all_formats()) {
    for (const EncodeOptions& opt : all_modes()) {
      std::vector<uint32_t> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = encode(f, x[i], opt, opt.first_index + i);
      std::vector<uint32_t> got32(x.size());
      ASSERT_TRUE(encode_array(f, x, std::span<uint32_t>(got32), opt, &pools().many).ok());
      expect_codes_equal(got32, want, x, std::string(f.name) + " u32 " + mode_name(opt));
      if (f.bits() <= 16) {
        std::vector<uint16_t> got16(x.size());
        ASSERT_TRUE(encode_array(f, x, std::span<uint16_t>(got16), opt, &pools().many).ok());
        for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got16[i], want[i]) << f.name << " " << i;
      }
      if (f.bits() <= 8) {
        std::vector<uint8_t> got8(x.size());
        ASSERT_TRUE(encode_array(f, x, std::span<uint8_t>(got8), opt, &pools().many).ok());
        for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got8[i], want[i]) << f.name << " " << i;
      }
    }
  }
}

TEST(Convert, DecodeEveryCodeMatchesScalar) {
  for (const Format& f : all_formats()) {
    if (f.bits() > 16) continue;
    SCOPED_TRACE(f.name);
    // Every code, repeated past one chunk so threads split it.
    const size_t n = size_t{1} << 18;
    std::vector<uint32_t> codes32(n);
    std::vector<float> want(n);
    for (size_t i = 0; i < n; ++i) {
      codes32[i] = static_cast<uint32_t>(i) & ((1u << f.bits()) - 1u);
      want[i] = static_cast<float>(decode(f, codes32[i]));
    }
    std::vector<float> got(n);
    ASSERT_TRUE(decode_array(f, std::span<const uint32_t>(codes32), got, &pools().many).ok());
    expect_floats_identical(got, want, "u32");
    std::vector<uint16_t> codes16(codes32.begin(), codes32.end());
    ASSERT_TRUE(decode_array(f, std::span<const uint16_t>(codes16), got, &pools().many).ok());
    expect_floats_identical(got, want, "u16");
    if (f.bits() == 16 && f.name == "float16") f16_to_f32(codes16, got, &pools().one);
    if (f.bits() == 16 && f.name == "bfloat16") bf16_to_f32(codes16, got, &pools().one);
    expect_floats_identical(got, want, "named u16");
    if (f.bits() <= 8) {
      std::vector<uint8_t> codes8(codes32.begin(), codes32.end());
      ASSERT_TRUE(decode_array(f, std::span<const uint8_t>(codes8), got, &pools().one).ok());
      expect_floats_identical(got, want, "u8");
      if (f.name == "float8_e4m3fn") e4m3_to_f32(codes8, got, &pools().many);
      if (f.name == "float8_e5m2") e5m2_to_f32(codes8, got, &pools().many);
      if (f.name == "float4_e2m1fn") e2m1_to_f32(codes8, got, &pools().many);
      expect_floats_identical(got, want, "named u8");
      if (f.kind == FormatKind::kInt) {  // with a scale: float(q) * scale, a float32 multiply
        const float scale = 0.37f;
        std::vector<float> want_scaled(n);
        for (size_t i = 0; i < n; ++i) want_scaled[i] = want[i] * scale;
        int_codes_to_f32(f.integer, codes8, scale, got, &pools().many);
        expect_floats_identical(got, want_scaled, "int codes scaled");
      }
    }
  }
}

// int8 / int4 with a scale: q = encode(int, float(x / scale)), x' = float(q) * scale.
TEST(Convert, IntegersWithScaleMatchScalar) {
  const std::span<const float> x(inputs().data(), 500'001);
  const float scales[] = {1.0f, 0.0371f, 3.5e-3f, 1e-30f, 0.0f, -0.5f};
  for (const float scale : scales) {
    for (const EncodeOptions& opt : all_modes()) {
      if (opt.overflow == Overflow::kIeee) continue;  // integers always saturate
      const std::string what = mode_name(opt) + " scale " + std::to_string(scale);
      for (const IntFormat f : {IntFormat{8, true}, IntFormat{4, true}, IntFormat{2, false},
                                IntFormat{5, false}, IntFormat{3, true}}) {
        std::vector<uint8_t> want(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          want[i] = static_cast<uint8_t>(encode(f, static_cast<double>(x[i] / scale), opt, opt.first_index + i));
        }
        std::vector<uint8_t> got(x.size());
        f32_to_int_codes(f, x, scale, got, opt, &pools().many);
        expect_codes_equal(got, want, x, what + " int" + std::to_string(f.bits));
        if (f.bits == 8 && f.is_signed) {
          std::vector<int8_t> q(x.size());
          f32_to_int8(x, scale, q, opt, &pools().one);
          ASSERT_EQ(std::memcmp(q.data(), want.data(), q.size()), 0) << what;
          std::vector<float> back(x.size());
          int8_to_f32(q, scale, back, &pools().many);
          for (size_t i = 0; i < x.size(); i += 101) {
            ASSERT_EQ(to_bits(back[i]), to_bits(static_cast<float>(q[i]) * scale)) << i;
          }
        }
        if (f.bits == 4 && f.is_signed) {
          std::vector<uint8_t> packed((x.size() + 1) / 2, 0xAA), packed_want(packed.size(), 0);
          for (size_t i = 0; i < x.size(); ++i) packed_want[i / 2] |= static_cast<uint8_t>(want[i] << (4 * (i % 2)));
          f32_to_int4_packed(x, scale, packed, opt, &pools().many);
          expect_codes_equal(packed, packed_want, x, what + " int4 packed");
          std::vector<float> back(x.size());
          int4_packed_to_f32(packed, scale, back, &pools().one);
          for (size_t i = 0; i < x.size(); i += 101) {
            const float q = static_cast<float>(decode(f, want[i]));
            ASSERT_EQ(to_bits(back[i]), to_bits(q * scale)) << i;
          }
        }
      }
    }
  }
}

TEST(Convert, StochasticIndexFollowsFirstIndexNotChunking) {
  // Converting a tensor in two pieces with first_index set gives the bytes of one conversion.
  const std::span<const float> x(inputs().data(), 300'001);
  const EncodeOptions whole{Rounding::kStochastic, Overflow::kSaturate, 5, 0};
  std::vector<uint8_t> a(x.size()), b(x.size());
  f32_to_e4m3(x, a, whole, &pools().many);
  const size_t cut = 123'457;
  EncodeOptions second = whole;
  second.first_index = cut;
  f32_to_e4m3(x.first(cut), std::span(b).first(cut), whole, &pools().one);
  f32_to_e4m3(x.subspan(cut), std::span(b).subspan(cut), second, &pools().many);
  EXPECT_EQ(a, b);
}

TEST(Convert, GenericArraysRejectBadSizesAndNarrowCodes) {
  const std::vector<float> x(10, 1.0f);
  std::vector<uint8_t> short_codes(9);
  const Format& bf16 = *find_format("bf16").value();
  const Format& e4m3 = *find_format("e4m3").value();
  EXPECT_FALSE(encode_array(e4m3, x, std::span<uint8_t>(short_codes)).ok());
  std::vector<uint8_t> codes8(10);
  const Status narrow = encode_array(bf16, x, std::span<uint8_t>(codes8));
  ASSERT_FALSE(narrow.ok());
  EXPECT_NE(narrow.message().find("bfloat16"), std::string::npos);
  std::vector<float> out(3);
  EXPECT_FALSE(decode_array(e4m3, std::span<const uint8_t>(codes8), out).ok());
  // Empty arrays are fine.
  EXPECT_TRUE(encode_array(e4m3, {}, std::span<uint8_t>()).ok());
  f32_to_e2m1_packed({}, {});
}

}  // namespace
}  // namespace bitsmith::formats
