// Device profiles as data: one table of memory capacity, memory bandwidth, dense peak throughput
// per compute format, and which formats the hardware multiplies natively. `memory` shows which
// devices hold a model's weights; `advise` adds KV cache, activations and roofline speed bounds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bitsmith/core/status.h"

namespace bitsmith::plan {

// What the tensor cores (or a CPU's SIMD units) multiply. fp16 stands for bf16 too (same rate
// on every device in the table); int8 is in OP/s.
enum class ComputeFormat : uint8_t { kFp32, kTf32, kFp16, kFp8, kFp6, kInt8, kFp4 };
inline constexpr size_t kComputeFormatCount = 7;
std::string_view compute_format_name(ComputeFormat f);

struct Device {
  std::string name;         // "h100"
  std::string description;  // "NVIDIA H100 SXM5 80GB (Hopper)"
  double bytes = 0;         // memory capacity, decimal bytes as sold
  double bandwidth = 0;     // memory bandwidth, bytes/s; 0 = unknown
  // Dense (not 2:4 sparse) peak FLOP/s per ComputeFormat; 0 = the hardware lacks that format.
  std::array<double, kComputeFormatCount> peak_flops{};
  // Bytes the runtime holds before the first model byte (CUDA context, library workspaces,
  // allocator slack; on unified memory also the OS).
  double runtime_overhead = 0;
  bool unified_memory = false;  // CPU and GPU share one pool (dgx-spark, a CPU's RAM)
  bool cpu = false;             // a CPU: llama.cpp's kernels are the runtime

  double peak(ComputeFormat f) const { return peak_flops[static_cast<size_t>(f)]; }
  bool native(ComputeFormat f) const { return peak(f) > 0; }
  bool has_compute_figures() const { return peak(ComputeFormat::kFp16) > 0 || peak(ComputeFormat::kFp32) > 0; }
};

// Every profile in the table, in a fixed order.
const std::vector<Device>& device_profiles();
// "dgx-spark, b200, h200, ..." for messages and help.
std::string known_device_names();
// The columns `bitsmith memory` shows when no device is named.
std::vector<Device> default_devices();
// A device from the table (case-insensitive), or an error listing the known names.
Result<Device> find_device(std::string_view name);
// A known device name, or NAME=SIZE for any other ("my-gpu=48GB": memory only, no speed figures).
Result<Device> parse_device(std::string_view spec);
// "273GB/s", "3.35TB/s", "273" (GB/s) -> bytes/s.
Result<double> parse_bandwidth(std::string_view text);

// A device the user described with sizes alone (runtime overhead as for a GPU).
Device custom_device(std::string name, double bytes);

}  // namespace bitsmith::plan
