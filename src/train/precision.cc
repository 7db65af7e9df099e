#include "bitsmith/train/precision.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>

#include "bitsmith/train/casts.h"
#include "bitsmith/core/hashing.h"

namespace bitsmith::train {

namespace {

enum class Kind : uint8_t { kBf16, kFp8Current, kFp8Delayed, kMxfp8, kNvfp4 };

struct NamedKind {
  std::string_view name;
  Kind kind;
};
constexpr NamedKind kRecipes[] = {{"bf16", Kind::kBf16},
                                  {"fp8-current", Kind::kFp8Current},
                                  {"fp8-delayed", Kind::kFp8Delayed},
                                  {"mxfp8", Kind::kMxfp8},
                                  {"nvfp4", Kind::kNvfp4}};

bool is_grad(Operand op) { return op == Operand::kDgradGrad || op == Operand::kWgradGrad; }
bool is_wgrad(Operand op) { return op == Operand::kWgradGrad || op == Operand::kWgradInput; }
// Blocks run along the stored rows for the forward operands and dY of dX = dY W; along the
// columns (the reduction over output features or tokens) for the others.
bool along_rows(Operand op) {
  return op == Operand::kForwardInput || op == Operand::kForwardWeight || op == Operand::kDgradGrad;
}

// Transformer Engine's delayed scaling for one tensor: the scale of step t comes from the amax
// of the H steps before it.
struct Delayed {
  std::deque<float> history;
  float pending = 0;  // this step's amax so far
  bool seen = false;  // a cast this step
  float scale = 1.0f; // TE starts from 1 until the history holds an amax
};

class Recipe final : public PrecisionRecipe {
 public:
  Recipe(std::string_view name, Kind kind, const RecipeOptions& o) : name_(name), kind_(kind), o_(o) {}
  std::string_view name() const override { return name_; }
  const std::map<std::string, CastStats>& stats() const override { return stats_; }
  bool applies(const LinearId&) const override { return true; }
  void set_recording(bool on) override { recording_ = on; }
  void begin_step(int64_t step) override;
  Status cast(const LinearId& id, Operand op, float* data, int64_t rows, int64_t cols, bool recompute) override;
  void set_layers(int64_t n) { n_layers_ = n; }

 private:
  Result<CastCount> cast_kind(const LinearId& id, Operand op, const std::string& key, float* data, int64_t rows,
                              int64_t cols, bool record);
  std::string name_;
  Kind kind_;
  RecipeOptions o_;
  int64_t step_ = 0, n_layers_ = -1;
  bool recording_ = true;
  std::map<std::string, CastStats> stats_;
  std::map<std::string, Delayed> delayed_;
};

void Recipe::begin_step(int64_t step) {
  step_ = step;
  for (auto& [key, d] : delayed_) {
    if (!d.seen) continue;
    d.history.push_back(d.pending);
    while (static_cast<int64_t>(d.history.size()) > o_.amax_history) d.history.pop_front();
    d.pending = 0;
    d.seen = false;
    const float amax = *std::max_element(d.history.begin(), d.history.end());
    const bool grad = key.ends_with("grad_grad");
    if (amax > 0) d.scale = std::ldexp(amax, o_.margin) / fp8_max(grad ? Fp8::kE5M2 : Fp8::kE4M3);
    CastStats& st = stats_[key];
    st.amax_history.assign(d.history.begin(), d.history.end());
  }
}

Result<CastCount> Recipe::cast_kind(const LinearId& id, Operand op, const std::string& key, float* data, int64_t rows,
                                    int64_t cols, bool record) {
  const int64_t n = rows * cols;
  // bf16 everywhere for the bf16 recipe; the output head of every recipe, and nvfp4's last
  // keep_last layers, stay in bf16 (the higher precision these recipes keep).
  const bool kept = id.layer < 0 || (kind_ == Kind::kNvfp4 && n_layers_ > 0 && id.layer >= n_layers_ - o_.keep_last);
  if (kind_ == Kind::kBf16 || kept) return cast_bf16(data, n);
  const Fp8 f = is_grad(op) ? Fp8::kE5M2 : Fp8::kE4M3;
  switch (kind_) {
    case Kind::kFp8Current: {
      const float amax = amax_of(data, n);
      return cast_fp8(data, n, f, amax > 0 ? amax / fp8_max(f) : 1.0f);
    }
    case Kind::kFp8Delayed: {
      Delayed& d = delayed_[key];
      CastCount c = cast_fp8(data, n, f, d.scale);
      if (record) {
        d.pending = std::max(d.pending, c.amax);
        d.seen = true;
      }
      return c;
    }
    case Kind::kMxfp8:
    case Kind::kNvfp4: {
      const bool rows_dir = along_rows(op);
      if (kind_ == Kind::kNvfp4 && is_wgrad(op)) {
        // Both inputs of dW = dY^T X over the tokens (the rows): the same transform per step.
        random_hadamard_rows(data, rows, cols, o_.seed ^ (static_cast<uint64_t>(step_) * kGolden));
      }
      int64_t r = rows, c = cols;
      if (!rows_dir) {
        transpose(data, rows, cols);
        std::swap(r, c);
      }
      Result<CastCount> out = kind_ == Kind::kMxfp8
                                  ? cast_mxfp8(data, r, c)
                                  : cast_nvfp4(data, r, c, is_grad(op) ? formats::Rounding::kStochastic : formats::Rounding::kRne,
                                               o_.seed ^ fnv1a(key) ^ (static_cast<uint64_t>(step_) << 32));
      if (!rows_dir) transpose(data, r, c);
      return out;
    }
    case Kind::kBf16:
      break;
  }
  return cast_bf16(data, n);
}

Status Recipe::cast(const LinearId& id, Operand op, float* data, int64_t rows, int64_t cols, bool recompute) {
  const std::string key = fmt::format("{}/{}", id.name, operand_name(op));
  // A recomputed forward repeats casts already recorded; evaluation records nothing.
  const bool record = recording_ && !recompute;
  BITSMITH_ASSIGN_OR_RETURN(CastCount c, cast_kind(id, op, key, data, rows, cols, record));
  if (record) {
    CastStats& st = stats_[key];
    st.values += static_cast<uint64_t>(rows * cols);
    st.overflows += c.overflows;
    st.underflows += c.underflows;
    st.casts += 1;
    st.last_amax = c.amax;
    if (kind_ == Kind::kFp8Delayed) {
      st.last_scale = delayed_[key].scale;
    } else if (kind_ == Kind::kFp8Current) {
      st.last_scale = c.amax > 0 ? c.amax / fp8_max(is_grad(op) ? Fp8::kE5M2 : Fp8::kE4M3) : 1.0f;
    }
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string_view> recipe_names() {
  std::vector<std::string_view> names{"fp32"};
  for (const auto& r : kRecipes) names.push_back(r.name);
  return names;
}

Result<std::unique_ptr<PrecisionRecipe>> make_recipe(std::string_view name, const RecipeOptions& o, int64_t n_layers) {
  if (name == "fp32") return std::unique_ptr<PrecisionRecipe>();
  if (o.amax_history < 1) return invalid_argument("amax history length {} must be at least 1", o.amax_history);
  if (o.keep_last < 0) return invalid_argument("keep_last {} must not be negative", o.keep_last);
  for (const auto& r : kRecipes) {
    if (r.name == name) {
      auto recipe = std::make_unique<Recipe>(r.name, r.kind, o);
      recipe->set_layers(n_layers);
      return std::unique_ptr<PrecisionRecipe>(std::move(recipe));
    }
  }
  return invalid_argument("unknown training recipe '{}' (known: {})", name, fmt::join(recipe_names(), ", "));
}

}  // namespace bitsmith::train
