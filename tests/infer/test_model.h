// Test helpers for infer/eval: MemoryModel holds named float32 tensors in memory, for
// synthetic models (shape errors, rope styles, biases, GQA); stories260K() opens the real
// checkpoint through io.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bitsmith/core/model.h"
#include "bitsmith/io/model_file.h"

namespace bitsmith::testing {

class MemoryModel : public Model {
 public:
  MemoryModel() = default;
  const std::string& path() const override { return path_; }
  std::string_view file_format() const override { return "memory"; }
  const LlamaHyperparameters& hyperparameters() const override { return hp_; }
  const Vocabulary& vocabulary() const override { return vocab_; }
  const std::vector<ModelTensorInfo>& tensors() const override { return infos_; }
  bool has_tensor(const std::string& name) const override { return data_.count(name) != 0; }
  Result<Tensor> load_f32(const std::string& name) const override {
    auto it = data_.find(name);
    if (it == data_.end()) return not_found("{}: no tensor '{}'", path_, name);
    Tensor t(DType::kF32, it->second.first);
    std::memcpy(t.mutable_data(), it->second.second.data(), t.nbytes());
    return t;
  }
  void add(const std::string& name, Shape shape, std::vector<float> values) {
    infos_.push_back({name, shape, "F32", values.size() * 4});
    data_[name] = {shape, std::move(values)};
  }
  std::vector<float>& values(const std::string& name) { return data_.at(name).second; }

  LlamaHyperparameters hp_;
  Vocabulary vocab_;
  std::string path_ = "memory";

 private:
  std::vector<ModelTensorInfo> infos_;
  std::map<std::string, std::pair<Shape, std::vector<float>>> data_;
};

inline std::string shared_path(const std::string& rel) {
  return std::string(BITSMITH_SHARED_DIR) + "/" + rel;
}

// stories260K with its tokenizer, opened once per test binary.
inline const Model& stories260k() {
  static std::unique_ptr<Model> m = [] {
    auto r = io::open_model(shared_path("models/stories260K/stories260K.bin"),
                            shared_path("models/stories260K/tok512.bin"));
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      std::abort();
    }
    return std::move(r).value();
  }();
  return *m;
}

}  // namespace bitsmith::testing
