// The optimizer state file beside a checkpoint, and the loss curve as JSON/CSV.
//
// Layout of OUT.trainstate: "BSTRAIN1", a little-endian uint64 header length, the JSON header,
// zero padding to a multiple of 4, then per tensor (in Weights order) its AdamW first moment and
// second moment as float32.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/json_guard.h"
#include "bitsmith/core/mapped_file.h"
#include "bitsmith/train/trainer.h"
#include "bitsmith/core/hashing.h"

namespace bitsmith::train {

namespace {

constexpr char kMagic[8] = {'B', 'S', 'T', 'R', 'A', 'I', 'N', '1'};

nlohmann::json point_json(const CurvePoint& p) {
  nlohmann::json j = {{"step", p.step}, {"loss", p.loss}, {"lr", p.lr}, {"grad_norm", p.grad_norm},
                      {"tokens_per_s", p.tokens_per_s}, {"seconds", p.seconds}};
  j["val_loss"] = p.val_loss >= 0 ? nlohmann::json(p.val_loss) : nlohmann::json(nullptr);
  return j;
}

std::vector<int64_t> dims_of(const Param& p) {
  const auto d = p.value.shape().dims();
  return {d.begin(), d.end()};
}

}  // namespace

uint64_t weights_hash(const Weights& w) {
  uint64_t h = kFnvBasis;
  for (const auto& p : w.params()) h = fnv1a(p.value.data(), p.value.nbytes(), h);
  return h;
}

std::string curve_json(const std::vector<CurvePoint>& curve) {
  nlohmann::json pts = nlohmann::json::array();
  for (const auto& p : curve) pts.push_back(point_json(p));
  return nlohmann::json{{"points", pts}}.dump(1) + "\n";
}

std::string curve_csv(const std::vector<CurvePoint>& curve) {
  std::string out = "step,loss,lr,grad_norm,tokens_per_s,seconds,val_loss\n";
  for (const auto& p : curve) {
    out += fmt::format("{},{:.6f},{:.6g},{:.6g},{:.1f},{:.3f},{}\n", p.step, p.loss, p.lr, p.grad_norm, p.tokens_per_s,
                       p.seconds, p.val_loss >= 0 ? fmt::format("{:.6f}", p.val_loss) : std::string());
  }
  return out;
}

Status write_train_state(const std::string& path, const TrainState& state) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& p : state.weights.params()) tensors.push_back({{"name", p.name}, {"shape", dims_of(p)}});
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& p : state.curve) curve.push_back(point_json(p));
  const AdamWOptions& o = state.optimizer.options();
  const nlohmann::json header = {{"format", "bitsmith-trainstate"}, {"version", 1}, {"step", state.step},
                                 {"weights_hash", fmt::format("{:016x}", weights_hash(state.weights))},
                                 {"adamw", {{"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps},
                                            {"weight_decay", o.weight_decay}}},
                                 {"tensors", tensors}, {"curve", curve}};
  std::string text = header.dump();
  text.resize((text.size() + 3) / 4 * 4, ' ');
  BITSMITH_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  const uint64_t len = text.size();
  BITSMITH_RETURN_IF_ERROR(f.write(kMagic, sizeof(kMagic)));
  BITSMITH_RETURN_IF_ERROR(f.write(&len, sizeof(len)));
  BITSMITH_RETURN_IF_ERROR(f.write(text));
  const Weights* moments[2] = {&state.optimizer.first_moment(), &state.optimizer.second_moment()};
  for (size_t pi = 0; pi < state.weights.params().size(); ++pi) {
    for (const Weights* m : moments) {
      const Param& p = m->params()[pi];
      BITSMITH_RETURN_IF_ERROR(f.write(p.value.data(), p.value.nbytes()));
    }
  }
  return f.commit();
}

namespace {
Status read_state(const std::string& path, TrainState& state) {
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  const uint8_t* b = file->data();
  const uint64_t size = file->size();
  uint64_t len = 0;
  if (size < 16 || std::memcmp(b, kMagic, 8) != 0) {
    return corrupt_data("{}: not a bitsmith train state (no BSTRAIN1 magic at offset 0)", path);
  }
  std::memcpy(&len, b + 8, 8);
  if (len > size - 16) return corrupt_data("{}: header length {} at offset 8 runs past the end ({} bytes)", path, len, size);
  const std::string_view text(reinterpret_cast<const char*>(b + 16), static_cast<size_t>(len));
  BITSMITH_RETURN_IF_ERROR(check_json_depth(text, path, 16));
  nlohmann::json h = nlohmann::json::parse(text, nullptr, false);
  if (h.is_discarded() || !h.is_object() || h.value("format", "") != "bitsmith-trainstate") {
    return corrupt_data("{}: the header at offset 16 is not a bitsmith-trainstate JSON object", path);
  }
  const Weights& w = state.weights;
  const auto& tensors = h["tensors"];
  if (!tensors.is_array() || tensors.size() != w.params().size()) {
    return invalid_argument("{}: holds the state of {} tensors, the model has {}: another architecture", path,
                            tensors.is_array() ? tensors.size() : 0, w.params().size());
  }
  uint64_t need = 16 + len;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Param& p = w.params()[i];
    if (!tensors[i].is_object() || tensors[i].value("name", "") != p.name ||
        tensors[i].value("shape", std::vector<int64_t>{}) != dims_of(p)) {
      return invalid_argument("{}: tensor {} is {} {}, the model has {} {}: another architecture", path, i,
                              tensors[i].is_object() ? tensors[i].value("name", "?") : "?",
                              tensors[i].is_object() && tensors[i].contains("shape") ? tensors[i]["shape"].dump() : "?",
                              p.name, p.value.shape().to_string());
    }
    need += 2 * p.value.nbytes();
  }
  if (need != size) return corrupt_data("{}: {} bytes, the header calls for {}", path, size, need);
  const std::string hash = fmt::format("{:016x}", weights_hash(w));
  if (h.value("weights_hash", "") != hash) {
    return invalid_argument("{}: belongs to other weights (hash {}, the model's is {}): resume from the checkpoint it "
                            "was written with",
                            path, h.value("weights_hash", "?"), hash);
  }
  const auto step = h.value("step", int64_t{-1});
  if (step < 0) return corrupt_data("{}: no step count in the header", path);
  uint64_t off = 16 + len;
  Weights* moments[2] = {&state.optimizer.first_moment(), &state.optimizer.second_moment()};
  for (size_t pi = 0; pi < w.params().size(); ++pi) {
    for (Weights* m : moments) {
      Param& p = m->params()[pi];
      std::memcpy(p.data(), b + off, p.value.nbytes());
      off += p.value.nbytes();
    }
  }
  state.step = step;
  state.curve.clear();
  if (h.contains("curve") && h["curve"].is_array()) {
    for (const auto& j : h["curve"]) {
      if (!j.is_object()) continue;
      CurvePoint p;
      p.step = j.value("step", int64_t{0});
      p.loss = j.value("loss", 0.0);
      p.lr = j.value("lr", 0.0);
      p.grad_norm = j.value("grad_norm", 0.0);
      p.tokens_per_s = j.value("tokens_per_s", 0.0);
      p.seconds = j.value("seconds", 0.0);
      p.val_loss = j.contains("val_loss") && j["val_loss"].is_number() ? j["val_loss"].get<double>() : -1.0;
      state.curve.push_back(p);
    }
  }
  return Status::Ok();
}

}  // namespace

Status read_train_state(const std::string& path, TrainState& state) {
  try {  // nlohmann's accessors throw on a value of the wrong type: a corrupt header, not a crash
    return read_state(path, state);
  } catch (const nlohmann::json::exception& e) {
    return corrupt_data("{}: malformed header: {}", path, e.what());
  }
}

}  // namespace bitsmith::train
