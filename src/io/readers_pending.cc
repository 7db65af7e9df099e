// Temporary: GGUF and safetensors readers land next (removed when they do).
#include "readers.h"
namespace bitsmith::io::detail {
Result<std::unique_ptr<FileModel>> read_safetensors_model(const std::string& path) {
  return unsupported("{}: safetensors reading is not implemented yet", path);
}
}  // namespace bitsmith::io::detail
