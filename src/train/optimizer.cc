#include "bitsmith/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace bitsmith::train {

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (step >= total) return min_lr;
  const double span = static_cast<double>(std::max<int64_t>(1, total - warmup));
  const double progress = static_cast<double>(step - warmup) / span;
  constexpr double kPi = 3.14159265358979323846;
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(kPi * progress));
}

AdamW::AdamW(const Weights& like, AdamWOptions o) : o_(o), m_(like.zeros_like()), v_(like.zeros_like()) {}

void AdamW::step(Weights& w, const Weights& grads, double lr, int64_t t) {
  const double c1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t));
  const double c2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t));
  const auto b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
  for (size_t pi = 0; pi < w.params().size(); ++pi) {
    Param& p = w.params()[pi];
    const float* g = grads.params()[pi].data();
    float* m = m_.params()[pi].data();
    float* v = v_.params()[pi].data();
    const bool decay = p.value.shape().rank() == 2;
    const auto lr_f = static_cast<float>(lr);
    const auto wd = static_cast<float>(decay ? lr * o_.weight_decay : 0.0);
    const auto inv_c1 = static_cast<float>(1.0 / c1), inv_c2 = static_cast<float>(1.0 / c2);
    const auto eps = static_cast<float>(o_.eps);
    float* x = p.data();
    for (int64_t i = 0; i < p.numel(); ++i) {
      m[i] = b1 * m[i] + (1.0f - b1) * g[i];
      v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
      const float mh = m[i] * inv_c1, vh = v[i] * inv_c2;
      x[i] -= lr_f * mh / (std::sqrt(vh) + eps) + wd * x[i];
    }
  }
}

double clip_grad_norm(Weights& grads, double max_norm) {
  double ss = 0;
  for (const auto& p : grads.params()) {
    for (int64_t i = 0; i < p.numel(); ++i) ss += static_cast<double>(p.data()[i]) * p.data()[i];
  }
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const auto s = static_cast<float>(max_norm / norm);
    for (auto& p : grads.params()) {
      for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] *= s;
    }
  }
  return norm;
}

std::string first_non_finite(const Weights& w) {
  for (const auto& p : w.params()) {
    for (int64_t i = 0; i < p.numel(); ++i) {
      if (!std::isfinite(p.data()[i])) return fmt::format("{}[{}]", p.name, i);
    }
  }
  return "";
}

}  // namespace bitsmith::train
