// The per-format readers behind open_model (internal).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "bitsmith/io/model_file.h"

namespace bitsmith::io::detail {

// Why the first bytes cannot be a llama2.c header (empty when they can): every field in
// 1..kMaxLlama2cField (vocab_size may be negative: unshared classifier), dim a multiple of
// n_heads. Text read as seven int32 gives values near 10^9, so a text file fails here.
inline constexpr int64_t kMaxLlama2cField = int64_t{1} << 24;
std::string llama2c_header_problem(std::span<const uint8_t> bytes);

Result<std::unique_ptr<FileModel>> read_llama2c(const std::string& path,
                                                const std::string& tokenizer_path);
// Hyperparameters read from metadata (GGUF keys, config.json) bounded by what the file holds,
// before anything sizes per-layer state, activations or a KV cache from them: no negative
// size, n_layers at most the number of tensors, dim, hidden_dim, vocab_size and the attention
// widths at most the largest tensor's element count, everything within 2^32 - 1 (GGUF's u32).
Status check_hyperparameters(const FileModel& m);

Result<std::unique_ptr<FileModel>> read_gguf_model(const std::string& path);
Result<std::unique_ptr<FileModel>> read_safetensors_model(const std::string& path);

}  // namespace bitsmith::io::detail
