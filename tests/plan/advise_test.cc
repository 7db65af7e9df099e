// The advisor: device table, model shapes, memory formulas, speed bounds and the choice.
#include "bitsmith/plan/advise.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bitsmith::plan {
namespace {

using CF = ComputeFormat;

TEST(DeviceTable, DenseFiguresAndNativeFormats) {
  for (const Device& d : device_profiles()) {
    EXPECT_GT(d.bytes, 0) << d.name;
    EXPECT_GT(d.bandwidth, 0) << d.name;
    EXPECT_GT(d.peak(CF::kFp16), 0) << d.name;
    EXPECT_GT(d.runtime_overhead, 0) << d.name;
  }
  // FP4 only on Blackwell; FP8 on Hopper, Ada and Blackwell but not Ampere or the CPU.
  for (const char* n : {"dgx-spark", "b200", "rtx-5090"}) EXPECT_TRUE(find_device(n)->native(CF::kFp4)) << n;
  for (const char* n : {"h100", "h200", "a100", "rtx-4090", "l40s", "cpu"}) EXPECT_FALSE(find_device(n)->native(CF::kFp4)) << n;
  for (const char* n : {"dgx-spark", "b200", "h100", "h200", "rtx-5090", "rtx-4090", "l40s"}) {
    EXPECT_TRUE(find_device(n)->native(CF::kFp8)) << n;
  }
  EXPECT_FALSE(find_device("a100")->native(CF::kFp8));
  EXPECT_FALSE(find_device("cpu")->native(CF::kFp8));
  // Dense = the datasheets' "with sparsity" figures halved: H100 SXM FP8 3,958 TFLOP/s sparse,
  // BF16 1,979; A100 BF16 624; HGX B200 FP4 18 PFLOP/s; DGX Spark FP4 1 PFLOP/s.
  EXPECT_NEAR(find_device("h100")->peak(CF::kFp8) * 2, 3958e12, 1e12);
  EXPECT_NEAR(find_device("h100")->peak(CF::kFp16) * 2, 1979e12, 1e12);
  EXPECT_NEAR(find_device("a100")->peak(CF::kFp16) * 2, 624e12, 1e12);
  EXPECT_NEAR(find_device("b200")->peak(CF::kFp4) * 2, 18e15, 1e12);
  EXPECT_NEAR(find_device("dgx-spark")->peak(CF::kFp4) * 2, 1e15, 1e12);
  EXPECT_DOUBLE_EQ(find_device("dgx-spark")->bytes, 128e9);
  EXPECT_DOUBLE_EQ(find_device("dgx-spark")->bandwidth, 273e9);
}

TEST(DeviceTable, UnknownNamesSuggest) {
  auto bad = find_device("h100-sxm");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("did you mean 'h100'"), std::string::npos) << bad.status().message();
  auto none = find_device("tpu-v5");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("dgx-spark"), std::string::npos);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("273GB/s"), 273e9);
  EXPECT_DOUBLE_EQ(*parse_bandwidth("3.35TB/s"), 3.35e12);
  EXPECT_FALSE(parse_bandwidth("-5GB/s").ok());
  EXPECT_FALSE(parse_bandwidth("fast").ok());
}

TEST(ModelShape, ReferenceShapesCountTheirParameters) {
  // Llama 3.1 8B and 70B have 8,030,261,248 and 70,553,706,496 parameters (their safetensors).
  auto s8 = shape_for_params(8e9);
  ASSERT_TRUE(s8.ok());
  EXPECT_EQ(s8->n_layers, 32);
  EXPECT_EQ(s8->hidden, 4096);
  EXPECT_EQ(s8->n_kv_heads, 8);
  EXPECT_DOUBLE_EQ(s8->params_from_shape(), 8030261248.0);
  EXPECT_DOUBLE_EQ(s8->params, 8e9);  // the given count is kept
  auto s70 = shape_for_params(70e9);
  ASSERT_TRUE(s70.ok());
  EXPECT_EQ(s70->n_layers, 80);
  EXPECT_EQ(s70->hidden, 8192);
  EXPECT_EQ(s70->n_kv_heads, 8);
  EXPECT_EQ(s70->head_dim, 128);
  EXPECT_DOUBLE_EQ(s70->params_from_shape(), 70553706496.0);
  // SmolLM2-135M: 134,515,008 parameters.
  EXPECT_DOUBLE_EQ(shape_for_params(135e6)->params_from_shape(), 134515008.0);
}

TEST(ModelShape, DerivedShapesMakeUpTheCount) {
  auto s = shape_for_params(13e9);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->source.find("derived"), std::string::npos);
  EXPECT_NEAR(s->params_from_shape() / 13e9, 1.0, 0.02);
  EXPECT_FALSE(shape_for_params(0).ok());
  LlamaHyperparameters hp;
  hp.dim = 64;
  EXPECT_FALSE(shape_from_hyperparameters(hp, 0, "x").ok());
}

TEST(Footprint, KvCacheIsExact) {
  const ModelShape s = *shape_for_params(70e9);
  // 2 (K, V) x 80 layers x 8 KV heads x 128 head dim x 4096 context x 3 batch x bytes.
  const double elems = 2.0 * 80 * 8 * 128 * 4096 * 3;
  EXPECT_DOUBLE_EQ(kv_cache_bytes(s, 4096, 3, KvCacheType::kFp16), elems * 2);
  EXPECT_DOUBLE_EQ(kv_cache_bytes(s, 4096, 3, KvCacheType::kFp8), elems);
  EXPECT_DOUBLE_EQ(kv_cache_bytes(s, 4096, 3, KvCacheType::kQ8_0), elems * 34 / 32);  // 8.5 bits
  EXPECT_FALSE(parse_kv_cache("int4").ok());
  EXPECT_EQ(*parse_kv_cache("q8_0"), KvCacheType::kQ8_0);
}

TEST(Footprint, LoraAndActivations) {
  // PEFT reports 41,943,040 trainable parameters for rank 16 on all linear layers of Llama 3 8B.
  const ModelShape s = *shape_for_params(8e9);
  EXPECT_DOUBLE_EQ(lora_adapter_params(s, 16), 41943040.0);
  // bf16 activations per token and layer: 2 x (6 x 4096 + 2 x 1024 + 4 x 14336) bytes.
  EXPECT_DOUBLE_EQ(training_activation_bytes_per_token_layer(s), 2.0 * (6 * 4096 + 2 * 1024 + 4 * 14336));
  const double full = training_activation_bytes(s, 2048, 2, false);
  const double ckpt = training_activation_bytes(s, 2048, 2, true);
  const double logits = 2048.0 * 2 * 128256 * 4;
  EXPECT_DOUBLE_EQ(full, 32 * 2048.0 * 2 * training_activation_bytes_per_token_layer(s) + logits);
  EXPECT_DOUBLE_EQ(ckpt, 32 * 2048.0 * 2 * 2 * 4096 + 2048.0 * 2 * training_activation_bytes_per_token_layer(s) + logits);
  EXPECT_LT(ckpt, full / 4);
}

AdviceRequest request(double params, const char* device, Task task = Task::kInference,
                      Priority priority = Priority::kBalanced) {
  AdviceRequest r;
  r.shape = *shape_for_params(params);
  r.device = *find_device(device);
  r.task = task;
  r.priority = priority;
  return r;
}

const Alternative& row(const Advice& a, const std::string& label) {
  auto it = std::find_if(a.alternatives.begin(), a.alternatives.end(),
                         [&](const Alternative& x) { return x.candidate.label == label; });
  EXPECT_NE(it, a.alternatives.end()) << label;
  return *it;
}

std::string chosen(const Advice& a) {
  return a.recommended < 0 ? "" : a.alternatives[static_cast<size_t>(a.recommended)].candidate.label;
}

// The seed course: 70B needs 140 GB in 16 bits and does not fit 128 GB; 4-bit formats fit with
// room for the KV cache; training needs several times the weight memory.
TEST(Advise, SeventyBillionOnDgxSpark) {
  auto a = advise(request(70e9, "dgx-spark"));
  ASSERT_TRUE(a.ok());
  const Alternative& bf16 = row(*a, "bf16");
  EXPECT_DOUBLE_EQ(bf16.weight_bytes, 140e9);
  EXPECT_FALSE(bf16.fits);
  for (const char* four : {"nvfp4", "mxfp4", "int4_g128", "q4_k"}) {
    const Alternative& r = row(*a, four);
    EXPECT_TRUE(r.fits) << four;
    EXPECT_GT(r.kv_cache_bytes, 1e9) << four;
    EXPECT_GT(r.headroom_bytes, 40e9) << four;  // room for a longer context
  }
  EXPECT_EQ(chosen(*a), "fp8_e4m3");  // balanced: 8-bit fits with headroom, native FP8 on GB10
  EXPECT_NE(a->reasoning.find("does not fit"), std::string::npos) << a->reasoning;

  auto training = advise(request(70e9, "dgx-spark", Task::kTraining));
  ASSERT_TRUE(training.ok());
  EXPECT_GE(training->alternatives[0].total_bytes, 8 * 140e9);  // 16 B/param = 8x the bf16 weights
  EXPECT_FALSE(training->alternatives[0].fits);
  EXPECT_EQ(training->recommended, -1);
  // NVIDIA sells the Spark for fine-tuning 70B models: QLoRA fits.
  auto qlora = advise(request(70e9, "dgx-spark", Task::kQlora));
  ASSERT_TRUE(qlora.ok());
  EXPECT_EQ(chosen(*qlora), "nf4");
  EXPECT_NEAR(qlora->alternatives[0].weight_bytes, 70e9 * 4.127 / 8, 0.01e9);
}

TEST(Advise, PriorityChangesTheChoice) {
  EXPECT_EQ(chosen(*advise(request(70e9, "dgx-spark", Task::kInference, Priority::kQuality))), "fp8_e4m3");
  // Memory: fewest bytes at 4 bits or more; mxfp4 and int4_g128 tie at 4.25, mxfp4 is native FP4.
  EXPECT_EQ(chosen(*advise(request(70e9, "dgx-spark", Task::kInference, Priority::kMemory))), "mxfp4");
  EXPECT_EQ(chosen(*advise(request(70e9, "h100", Task::kInference, Priority::kMemory))), "int4_g128");
  // 70B in 8 bits on an 80 GB H100 leaves under 10% free: balanced takes the best 4-bit one.
  EXPECT_EQ(chosen(*advise(request(70e9, "h100"))), "int4_g128");
  EXPECT_EQ(chosen(*advise(request(70e9, "b200"))), "fp8_e4m3");
  // 8B in 16 bits fits a 24 GB card: quality keeps it.
  EXPECT_EQ(chosen(*advise(request(8e9, "rtx-4090", Task::kInference, Priority::kQuality))), "bf16");
  // On a CPU llama.cpp's types come first.
  EXPECT_EQ(chosen(*advise(request(8e9, "cpu"))), "q8_0");
}

TEST(Advise, EmulatedFormatsAreFlagged) {
  auto h100 = advise(request(8e9, "h100"));
  EXPECT_EQ(row(*h100, "nvfp4").path, ExecPath::kEmulated);
  EXPECT_EQ(row(*h100, "fp8_e4m3").path, ExecPath::kNative);
  EXPECT_EQ(row(*h100, "int4_g128").path, ExecPath::kWeightOnly);
  EXPECT_EQ(row(*advise(request(8e9, "b200")), "nvfp4").path, ExecPath::kNative);
  auto a100 = advise(request(8e9, "a100"));
  EXPECT_EQ(row(*a100, "fp8_e4m3").path, ExecPath::kEmulated);
  EXPECT_EQ(row(*a100, "fp8_e4m3").runs_as, CF::kFp16);
  EXPECT_FALSE(a100->notes.empty());
}

TEST(Advise, RooflineBounds) {
  auto a = advise(request(70e9, "h100"));
  const Alternative& r = row(*a, "fp8_e4m3");
  // decode: bandwidth / (weights + KV cache) per step.
  EXPECT_DOUBLE_EQ(r.decode_tokens_per_s, 3.35e12 / (70e9 + r.kv_cache_bytes));
  // prefill: FP8 peak / (2 x params + 2 x layers x context x q_dim).
  EXPECT_DOUBLE_EQ(r.prefill_tokens_per_s, 1978.9e12 / (2 * 70e9 + 2.0 * 80 * 4096 * 8192));
  // Emulated nvfp4 computes at the fp16 rate (989.4 TFLOP/s), about half of fp8's.
  EXPECT_DOUBLE_EQ(row(*a, "nvfp4").prefill_tokens_per_s, 989.4e12 / (2 * 70e9 + 2.0 * 80 * 4096 * 8192));
  // Batch 4: four tokens per step.
  auto b = request(70e9, "h100");
  b.batch = 4;
  const Alternative& r4 = row(*advise(b), "fp8_e4m3");
  EXPECT_DOUBLE_EQ(r4.decode_tokens_per_s, 4 * 3.35e12 / (70e9 + r4.kv_cache_bytes));
}

TEST(Advise, CustomDevicesAndBadInput) {
  AdviceRequest r = request(70e9, "h100");
  r.device = custom_device("box", 128e9);
  auto a = advise(r);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(row(*a, "nvfp4").decode_tokens_per_s, 0);  // no bandwidth given: unknown
  EXPECT_FALSE(row(*a, "bf16").fits);
  r.context = 0;
  EXPECT_FALSE(advise(r).ok());
  r.context = 4096;
  r.device.bytes = 0;
  EXPECT_FALSE(advise(r).ok());
}

}  // namespace
}  // namespace bitsmith::plan
