// Writes one batch's loss and every parameter gradient of a checkpoint, as the trainer computes
// them, for tests/oracles/llama_train_torch.py to recompute with PyTorch autograd and compare.
// Usage: train_grad_dump MODEL TOKENIZER OUT_DIR [batch seq]
//   OUT_DIR/tokens.npy, targets.npy ([batch, seq] ids as float32), grad.<name>.npy (float32), and one
//   JSON line on stdout: {"loss": L, "scored": N, "tensors": [names]}.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bitsmith/core/npy.h"
#include "bitsmith/io/model_file.h"
#include "bitsmith/train/backward.h"

using namespace bitsmith;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: train_grad_dump MODEL TOKENIZER OUT_DIR [batch seq]\n");
    return 2;
  }
  const std::string dir = argv[3];
  const int64_t batch = argc > 5 ? std::stoll(argv[4]) : 4, seq = argc > 5 ? std::stoll(argv[5]) : 64;
  auto model = io::open_model(argv[1], argv[2]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  auto w = train::Weights::load(**model);
  if (!w.ok()) {
    std::fprintf(stderr, "%s\n", w.status().to_string().c_str());
    return 1;
  }
  // Random tokens (seeded): the check is of the arithmetic, not of what the model predicts; a
  // few targets are -1 so unscored positions are exercised too.
  std::mt19937 rng(2024);
  const int64_t vocab = w->hparams().vocab_size;
  std::vector<int32_t> tk(static_cast<size_t>(batch * seq)), tg(tk.size());
  // Written as float32 .npy (core's writer holds F32/F16/U8; ids below 2^24 are exact).
  Tensor tokens(DType::kF32, {batch, seq}), targets(DType::kF32, {batch, seq});
  for (size_t i = 0; i < tk.size(); ++i) {
    tk[i] = static_cast<int32_t>(rng() % vocab);
    tg[i] = i % 17 == 5 ? -1 : static_cast<int32_t>(rng() % vocab);
    tokens.mutable_as<float>()[i] = static_cast<float>(tk[i]);
    targets.mutable_as<float>()[i] = static_cast<float>(tg[i]);
  }
  train::Weights g = w->zeros_like();
  auto r = train::loss_and_gradients(*w, train::Batch{tk, tg, batch, seq}, &g);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
    return 1;
  }
  Status st = write_npy(dir + "/tokens.npy", tokens.view());
  if (st.ok()) st = write_npy(dir + "/targets.npy", targets.view());
  std::string names;
  for (const auto& p : g.params()) {
    if (st.ok()) st = write_npy(dir + "/grad." + p.name + ".npy", p.value.view());
    names += (names.empty() ? "\"" : ", \"") + p.name + "\"";
  }
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.to_string().c_str());
    return 1;
  }
  std::printf("{\"loss\": %.9g, \"scored\": %lld, \"tensors\": [%s]}\n", r->loss, static_cast<long long>(r->scored),
              names.c_str());
  return 0;
}
