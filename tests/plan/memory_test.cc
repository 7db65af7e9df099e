#include "bitsmith/plan/memory.h"

#include <gtest/gtest.h>

namespace bitsmith::plan {
namespace {

TEST(ParamCount, Suffixes) {
  EXPECT_DOUBLE_EQ(*parse_param_count("70e9"), 70e9);
  EXPECT_DOUBLE_EQ(*parse_param_count("70B"), 70e9);
  EXPECT_DOUBLE_EQ(*parse_param_count("7.2B"), 7.2e9);
  EXPECT_DOUBLE_EQ(*parse_param_count("135M"), 135e6);
  EXPECT_DOUBLE_EQ(*parse_param_count("1.5t"), 1.5e12);
  EXPECT_DOUBLE_EQ(*parse_param_count("260000"), 260000);
  for (const char* bad : {"", "B", "-7B", "7X", "nan", "0", "70", "405"}) {  // a bare 70 is not 70 parameters
    EXPECT_FALSE(parse_param_count(bad).ok()) << bad;
  }
}

TEST(Devices, NamedAndCustom) {
  EXPECT_DOUBLE_EQ(parse_device("h100")->bytes, 80e9);
  EXPECT_DOUBLE_EQ(parse_device("DGX-Spark")->bytes, 128e9);
  auto d = parse_device("my-gpu=48GiB");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->name, "my-gpu");
  EXPECT_DOUBLE_EQ(d->bytes, 48.0 * 1073741824.0);
  EXPECT_DOUBLE_EQ(parse_device("x=24")->bytes, 24e9);
  EXPECT_DOUBLE_EQ(parse_device("a100")->bytes, 80e9);
  EXPECT_FALSE(parse_device("a200").ok());
  EXPECT_FALSE(parse_device("=24GB").ok());
  EXPECT_FALSE(parse_device("x=24XB").ok());
}

TEST(PlanMemory, TrueBitsAndFits) {
  std::vector<const quant::Scheme*> schemes = {*quant::find_scheme("nvfp4"),
                                               *quant::find_scheme("mxfp4"),
                                               *quant::find_scheme("fp16"),
                                               *quant::find_scheme("int4_g128")};
  auto plan = plan_memory(70e9, schemes, default_devices());
  ASSERT_TRUE(plan.ok());
  // nvfp4: 4 + 8/16 = 4.5 bits -> 70e9 * 4.5 / 8 = 39.375 GB, naive 4 bits = 35 GB.
  EXPECT_DOUBLE_EQ(plan->rows[0].bytes, 39.375e9);
  EXPECT_DOUBLE_EQ(plan->rows[0].naive_bytes, 35e9);
  // mxfp4: 4 + 8/32 = 4.25 bits.
  EXPECT_DOUBLE_EQ(plan->rows[1].bytes, 70e9 * 4.25 / 8);
  // fp16: 140 GB fits none of dgx-spark 128, h100 80, rtx-4090 24 but fits h200 141.
  EXPECT_EQ(plan->rows[2].fits, (std::vector<bool>{false, false, true, false}));
  // int4_g128 with fp16 scale and zero: 4 + 32/128 = 4.25 bits.
  EXPECT_DOUBLE_EQ(plan->rows[3].bits_per_weight, 4.25);
  EXPECT_EQ(naive_bits(*schemes[3]), 4);
  EXPECT_FALSE(plan_memory(0, schemes, {}).ok());
}

}  // namespace
}  // namespace bitsmith::plan
