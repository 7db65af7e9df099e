// The per-format readers behind open_model (internal).
#pragma once

#include <memory>
#include <string>

#include "bitsmith/io/model_file.h"

namespace bitsmith::io::detail {

Result<std::unique_ptr<FileModel>> read_llama2c(const std::string& path,
                                                const std::string& tokenizer_path);
Result<std::unique_ptr<FileModel>> read_gguf_model(const std::string& path);
Result<std::unique_ptr<FileModel>> read_safetensors_model(const std::string& path);

}  // namespace bitsmith::io::detail
