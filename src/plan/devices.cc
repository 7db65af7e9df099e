// The device table. Figures are the vendors' datasheet numbers for DENSE math: NVIDIA's
// datasheets list tensor throughput "with sparsity" (2:4 structured), which is twice the dense
// figure; every tensor number below is that sparse figure halved, the derivation written beside it.
// GeForce cards are listed with FP32 accumulation (what LLM GEMMs use; their FP16-accumulate rate
// is twice that). Capacities are decimal bytes as sold (80 GB = 80e9 bytes).
#include "bitsmith/plan/devices.h"

#include <cctype>

#include "bitsmith/core/ascii.h"
#include "bitsmith/plan/memory.h"

namespace bitsmith::plan {

namespace {

constexpr double T = 1e12;  // tera
constexpr double kGpuRuntimeOverhead = 1e9;  // CUDA context with cuBLAS handles and workspaces
                                             // (0.3-0.6 GB in PyTorch/vLLM) plus allocator slack

// Peak dense FLOP/s in ComputeFormat order: fp32, tf32, fp16/bf16, fp8, fp6, int8, fp4.
using Peaks = std::array<double, kComputeFormatCount>;

std::vector<Device> build_profiles() {
  std::vector<Device> d;
  // NVIDIA DGX Spark (GB10 Grace Blackwell, sm_121): 128 GB LPDDR5x unified memory at 273 GB/s;
  // "up to 1 PFLOP FP4 with sparsity" -> 500 TFLOP/s dense FP4; FP32 31 TFLOP/s (Hot Chips 2025).
  // NVIDIA publishes no other tensor rates: FP8/FP6/INT8 = FP4 / 2 = 250, FP16 = FP8 / 2 = 125,
  // TF32 = FP16 / 2 = 62.5 (each precision step halves the rate on Blackwell tensor cores; derived,
  // not datasheet). The OS shares the pool: overhead = 1 GB CUDA + ~4 GB DGX OS (assumed).
  d.push_back({"dgx-spark", "NVIDIA DGX Spark, GB10 (Blackwell), 128 GB unified LPDDR5x", 128e9, 273e9,
               Peaks{31 * T, 62.5 * T, 125 * T, 250 * T, 250 * T, 250 * T, 500 * T}, 5e9, true, false});
  // NVIDIA HGX B200, per GPU (datasheet, sparse figures halved): FP4 18 PF -> 9; FP8/FP6 9 -> 4.5;
  // INT8 9 POPS -> 4.5; FP16/BF16 4.5 -> 2.25; TF32 2.2 -> 1.1; FP32 75 TF; 180 GB HBM3e, 7.7 TB/s.
  d.push_back({"b200", "NVIDIA B200 (HGX, Blackwell), 180 GB HBM3e", 180e9, 7.7e12,
               Peaks{75 * T, 1100 * T, 2250 * T, 4500 * T, 4500 * T, 4500 * T, 9000 * T}, kGpuRuntimeOverhead,
               false, false});
  // NVIDIA H200 SXM (datasheet): 141 GB HBM3e, 4.8 TB/s; the same GH100 compute as the H100 SXM.
  d.push_back({"h200", "NVIDIA H200 SXM (Hopper), 141 GB HBM3e", 141e9, 4.8e12,
               Peaks{67 * T, 494.7 * T, 989.4 * T, 1978.9 * T, 0, 1978.9 * T, 0}, kGpuRuntimeOverhead, false, false});
  // NVIDIA H100 SXM5 80GB (datasheet, sparse halved): FP8 3958 -> 1979; INT8 3958 TOPS -> 1979;
  // FP16/BF16 1979 -> 989.4; TF32 989 -> 494.7; FP32 67 TF; 80 GB HBM3, 3.35 TB/s. No FP4/FP6.
  d.push_back({"h100", "NVIDIA H100 SXM5 (Hopper), 80 GB HBM3", 80e9, 3.35e12,
               Peaks{67 * T, 494.7 * T, 989.4 * T, 1978.9 * T, 0, 1978.9 * T, 0}, kGpuRuntimeOverhead, false, false});
  // NVIDIA A100 80GB SXM (datasheet, sparse halved): FP16/BF16 624 -> 312; TF32 312 -> 156;
  // INT8 1248 TOPS -> 624; FP32 19.5 TF; 80 GB HBM2e, 2,039 GB/s. Ampere has no FP8 and no FP4.
  d.push_back({"a100", "NVIDIA A100 SXM (Ampere), 80 GB HBM2e", 80e9, 2.039e12,
               Peaks{19.5 * T, 156 * T, 312 * T, 0, 0, 624 * T, 0}, kGpuRuntimeOverhead, false, false});
  // NVIDIA GeForce RTX 5090 (GB202, sm_120): 32 GB GDDR7, 1,792 GB/s; FP32 104.8 TF; "3,352 AI
  // TOPS" = FP4 sparse -> 1676 dense; FP8 with FP32 accumulate 419, FP16 209.5, INT8 838 TOPS
  // (Blackwell GeForce whitepaper, dense); TF32 = FP32 rate.
  d.push_back({"rtx-5090", "NVIDIA GeForce RTX 5090 (Blackwell), 32 GB GDDR7", 32e9, 1.792e12,
               Peaks{104.8 * T, 104.8 * T, 209.5 * T, 419 * T, 419 * T, 838 * T, 1676 * T}, kGpuRuntimeOverhead,
               false, false});
  // NVIDIA GeForce RTX 4090 (AD102, Ada whitepaper, dense, FP32 accumulate): FP16 165.2, FP8 330.3,
  // INT8 660.6 TOPS, TF32 82.6, FP32 82.6 TF; 24 GB GDDR6X, 1,008 GB/s. Ada has FP8, no FP4.
  d.push_back({"rtx-4090", "NVIDIA GeForce RTX 4090 (Ada), 24 GB GDDR6X", 24e9, 1.008e12,
               Peaks{82.6 * T, 82.6 * T, 165.2 * T, 330.3 * T, 0, 660.6 * T, 0}, kGpuRuntimeOverhead, false, false});
  // NVIDIA L40S (datasheet, sparse halved): FP8 1466 -> 733; INT8 1466 TOPS -> 733; FP16/BF16
  // 733 -> 362; TF32 366 -> 183; FP32 91.6 TF; 48 GB GDDR6, 864 GB/s.
  d.push_back({"l40s", "NVIDIA L40S (Ada), 48 GB GDDR6", 48e9, 864e9,
               Peaks{91.6 * T, 183 * T, 362 * T, 733 * T, 0, 733 * T, 0}, kGpuRuntimeOverhead, false, false});
  // A desktop CPU: 16-core Zen 4 (Ryzen 9 7950X class) with 64 GB dual-channel DDR5-5600:
  // 2 channels x 8 B x 5.6e9 transfers/s = 89.6 GB/s. FP32: 16 cores x 2 FMA pipes x 8 lanes
  // (256-bit) x 2 FLOP x 4.5 GHz = 2.3 TFLOP/s; BF16 dot products (AVX512_BF16) twice that, 4.6;
  // INT8 VNNI (4 MACs per 32-bit lane) four times, 9.2 TOPS. No FP8/FP4 units. Overhead: the OS
  // and runtime, 2 GB (assumed).
  d.push_back({"cpu", "Desktop CPU: 16-core Zen 4, 64 GB dual-channel DDR5-5600", 64e9, 89.6e9,
               Peaks{2.304 * T, 0, 4.608 * T, 0, 0, 9.216 * T, 0}, 2e9, true, true});
  return d;
}


}  // namespace

std::string_view compute_format_name(ComputeFormat f) {
  switch (f) {
    case ComputeFormat::kFp32: return "fp32";
    case ComputeFormat::kTf32: return "tf32";
    case ComputeFormat::kFp16: return "fp16";
    case ComputeFormat::kFp8: return "fp8";
    case ComputeFormat::kFp6: return "fp6";
    case ComputeFormat::kInt8: return "int8";
    case ComputeFormat::kFp4: return "fp4";
  }
  return "?";
}

const std::vector<Device>& device_profiles() {
  static const std::vector<Device> profiles = build_profiles();
  return profiles;
}

std::string known_device_names() {
  std::string out;
  for (const Device& d : device_profiles()) out += (out.empty() ? "" : ", ") + d.name;
  return out;
}

std::vector<Device> default_devices() {
  std::vector<Device> out;
  for (const char* n : {"dgx-spark", "h100", "h200", "rtx-4090"}) out.push_back(*find_device(n));
  return out;
}

Result<Device> find_device(std::string_view name) {
  const std::string key = ascii_lower(name);
  for (const Device& d : device_profiles()) {
    if (d.name == key) return d;
  }
  // A near miss ("h100-sxm", "4090") names the profile it contains or is contained in.
  for (const Device& d : device_profiles()) {
    if (!key.empty() && (key.find(d.name) != std::string::npos || d.name.find(key) != std::string::npos)) {
      return invalid_argument("unknown device '{}'; did you mean '{}'? (known: {}; or NAME=SIZE such as my-gpu=48GB)",
                              name, d.name, known_device_names());
    }
  }
  return invalid_argument("unknown device '{}' (known: {}; or NAME=SIZE such as my-gpu=48GB)", name,
                          known_device_names());
}

Device custom_device(std::string name, double bytes) {
  Device d;
  d.name = std::move(name);
  d.description = "user-given";
  d.bytes = bytes;
  d.runtime_overhead = kGpuRuntimeOverhead;
  return d;
}

Result<Device> parse_device(std::string_view spec) {
  const auto eq = spec.find('=');
  if (eq == std::string_view::npos) return find_device(spec);
  if (eq == 0) return invalid_argument("device '{}': empty name before '='", spec);
  BITSMITH_ASSIGN_OR_RETURN(double bytes, parse_size_bytes(spec.substr(eq + 1)));
  return custom_device(std::string(spec.substr(0, eq)), bytes);
}

Result<double> parse_bandwidth(std::string_view text) {
  std::string t = ascii_lower(text);
  if (t.ends_with("/s")) t.resize(t.size() - 2);
  auto bytes = parse_size_bytes(t);
  if (!bytes.ok()) return invalid_argument("bandwidth '{}': {} (e.g. 273GB/s, 3.35TB/s)", text, bytes.status().message());
  return *bytes;
}

}  // namespace bitsmith::plan
