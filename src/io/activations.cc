// Which tensors of a plan get activation quantization in a safetensors output (quantize.h,
// Activations), and the checks that refuse an --activations that would do nothing.
#include "bitsmith/core/tensor_names.h"
#include "bitsmith/io/quantize.h"

namespace bitsmith::io {

Result<Activations> parse_activations(std::string_view name) {
  if (name == "none") return Activations::kNone;
  if (name == "dynamic") return Activations::kDynamic;
  if (name == "static") return Activations::kStatic;
  return invalid_argument("unknown activation quantization '{}' (none, dynamic, static)", name);
}

std::string_view activations_name(Activations a) {
  switch (a) {
    case Activations::kNone: return "none";
    case Activations::kDynamic: return "dynamic";
    case Activations::kStatic: return "static";
  }
  return "none";
}

bool quantizes_activations(const std::string& name, const quant::Scheme& scheme, Activations mode) {
  const TensorName n = parse_tensor_name(name);
  if (mode == Activations::kNone || n.layer < 0 || !n.is_weight() || !is_block_linear(n.category)) return false;
  const std::string& s = scheme.name();
  // vLLM: CompressedTensorsW8A8Fp8 takes a static per-tensor or a dynamic per-token input with
  // tensor or channel weights; block weights run with dynamic per-group-of-128 inputs only;
  // CompressedTensorsW4A4Fp4 needs input_global_scale (a dynamic-only nvfp4 input has no scheme).
  if (s == "fp8_e4m3" || s == "fp8_e4m3_channel") return true;
  if (s == "fp8_e4m3_block128") return mode == Activations::kDynamic;
  if (s == "nvfp4") return mode == Activations::kStatic;
  return false;
}

Status check_activations(const std::vector<quant::TensorPlan>& plans, OutputFormat format, Activations mode) {
  if (mode == Activations::kNone) return Status::Ok();
  const std::string_view m = activations_name(mode);
  if (format != OutputFormat::kSafetensors) {
    return invalid_argument("--activations {}: GGUF files hold no activation scales (write safetensors)", m);
  }
  const char* can = mode == Activations::kStatic ? "fp8_e4m3, fp8_e4m3_channel or nvfp4"
                                                 : "fp8_e4m3, fp8_e4m3_channel or fp8_e4m3_block128";
  // Every quantized linear of the blocks, or none would run as the option says: a W4A16 layer
  // between W8A8 ones is no recipe a serving engine expects from this option.
  size_t carriers = 0;
  for (const auto& p : plans) {
    if (p.scheme == nullptr || !is_block_linear(tensor_category(p.name)) || !parse_tensor_name(p.name).is_weight()) continue;
    const std::string& s = p.scheme->name();
    if (s == "f32" || s == "fp16" || s == "bf16") continue;  // stays unquantized, inputs too
    if (!quantizes_activations(p.name, *p.scheme, mode)) {
      return invalid_argument("--activations {}: '{}' is planned as {}, which cannot carry {} activation quantization "
                              "(that needs {}; a --rule can keep it in bf16)", m, p.name, s, m, can);
    }
    // compressed-tensors and vLLM split each input row into groups of 128: no partial group.
    if (s == "fp8_e4m3_block128" && p.shape.cols() % 128 != 0) {
      return invalid_argument("--activations dynamic: '{}' has rows of {}, not a multiple of the 128 values per "
                              "activation group of fp8_e4m3_block128", p.name, p.shape.cols());
    }
    ++carriers;
  }
  if (carriers == 0) return invalid_argument("--activations {}: no linear is quantized (that needs {})", m, can);
  return Status::Ok();
}

}  // namespace bitsmith::io
