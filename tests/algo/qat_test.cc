// quantize --method qat as a library call (QuantizeJob): the request's checks, and a short
// distilled run on stories260K whose written tensors are the scheme's RTN of the trained weights.
#include <gtest/gtest.h>

#include <filesystem>

#include "bitsmith/algo/quantize_file.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/plan/recipe.h"

namespace bitsmith::algo {
namespace {

std::string shared_path(const std::string& rel) { return std::string(BITSMITH_SHARED_DIR) + "/" + rel; }

QuantizeRequest request(const std::string& out, const std::string& scheme) {
  QuantizeRequest r;
  r.in = shared_path("models/stories260K/stories260K.bin");
  r.out = out;
  r.scheme = scheme;
  r.recipe = *plan::recipe_for_scheme_name(scheme);
  return r;
}

TEST(Qat, RequestChecks) {
  auto model = io::open_model(shared_path("models/stories260K/stories260K.bin"));
  if (!model.ok()) GTEST_SKIP() << "stories260K missing";
  const std::string out = ::testing::TempDir() + "/qat_never.gguf";
  auto expect_refused = [&](QuantizeRequest r, const std::string& words) {
    auto job = QuantizeJob::plan(**model, r);
    ASSERT_FALSE(job.ok()) << words;
    EXPECT_EQ(job.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(job.status().message().find(words), std::string::npos) << job.status().message();
  };
  QuantizeRequest r = request(out, "q4_0");
  r.qat.steps = 10;  // without --method qat
  expect_refused(r, "QAT options");
  r = request(out, "q4_0");
  r.method = "gptq", r.calib = shared_path("data/tinyshakespeare.txt"), r.qat.distill = true;
  expect_refused(r, "QAT options");
  r = request(out, "q4_0");
  r.method = "qat";  // no --calib
  expect_refused(r, "needs calibration text");
  r.calib = shared_path("data/tinyshakespeare.txt"), r.calib_seqlen = 1;
  expect_refused(r, "no token to predict");
  r.calib_seqlen = 64, r.qat.steps = 5, r.dry_run = true;
  auto job = QuantizeJob::plan(**model, r);
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  auto rep = job->run();
  ASSERT_TRUE(rep.ok());
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(to_json(*rep)["qat"]["steps"], 5);
}

TEST(Qat, ShortDistilledRunWritesTheSchemesRtnOfTrainedWeights) {
  auto model = io::open_model(shared_path("models/stories260K/stories260K.bin"));
  if (!model.ok()) GTEST_SKIP() << "stories260K missing";
  const std::string out = ::testing::TempDir() + "/qat_short.gguf";
  QuantizeRequest r = request(out, "q4_0");
  r.method = "qat", r.calib = shared_path("data/tinyshakespeare.txt");
  r.calib_samples = 8, r.calib_seqlen = 64, r.qat.steps = 4, r.qat.distill = true;
  auto job = QuantizeJob::plan(**model, r);
  ASSERT_TRUE(job.ok()) << job.status().to_string();
  auto rep = job->run();
  ASSERT_TRUE(rep.ok()) << rep.status().to_string();
  ASSERT_EQ(rep->method_notes.size(), 1u);
  EXPECT_NE(rep->method_notes[0].find("4 steps of 4 x 63 tokens (KL divergence"), std::string::npos)
      << rep->method_notes[0];
  auto written = io::open_model(out);
  ASSERT_TRUE(written.ok());
  // The weights moved (trained), so the written q4_0 blocks differ from RTN of the float model's.
  auto q = (*written)->load_f32("blk.0.attn_q.weight");
  auto f = (*model)->load_f32("blk.0.attn_q.weight");
  ASSERT_TRUE(q.ok() && f.ok());
  std::vector<float> rtn(static_cast<size_t>(f->shape().numel()));
  auto scheme = quant::find_scheme("q4_0");
  ASSERT_TRUE((*scheme)->fake_quantize(f->as<float>().data(), f->shape().rows(), f->shape().cols(), rtn.data()).ok());
  int64_t differ = 0;
  for (size_t i = 0; i < rtn.size(); ++i) differ += rtn[i] != q->as<float>()[i];
  EXPECT_GT(differ, 0);
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace bitsmith::algo
