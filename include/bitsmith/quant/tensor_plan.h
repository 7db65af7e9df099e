// The finished per-tensor plan: which scheme each tensor of a model is stored in, and why. The
// planner (plan::Recipe::resolve) produces it; the writers (io::quantize_model) and the
// fake-quant evaluator (eval) consume it, so what eval scores is exactly what quantize writes.
// It lives in quant so that io and eval see it without depending on plan.
#pragma once

#include <cstdint>
#include <string>

#include "bitsmith/core/tensor.h"
#include "bitsmith/quant/scheme.h"

namespace bitsmith::quant {

// The file a plan is for: GGUF holds only ggml types (and f32/fp16/bf16); safetensors any scheme.
enum class OutputFormat : uint8_t { kGguf, kSafetensors };

struct TensorPlan {
  std::string name;        // canonical
  Shape shape;
  const Scheme* scheme = nullptr;
  std::string requested;   // what the recipe/rule asked for, when a fallback replaced it
  std::string reason;      // why it has this scheme ("1-D", "norm", "rule ...", "fallback: ...")
  std::string method;      // a per-tensor method the recipe asked for ("" = the command's)
};

}  // namespace bitsmith::quant
