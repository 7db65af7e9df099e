#include "bitsmith/eval/text.h"

#include "bitsmith/core/text_file.h"

namespace bitsmith::eval {

Result<std::string> read_text(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(std::string text,
                            read_file_bounded(path, {.max_bytes = kMaxTextBytes, .reject_nul = true, .what = "text file"}));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) return invalid_argument("{}: the text file is empty", path);
  return text;
}

}  // namespace bitsmith::eval
