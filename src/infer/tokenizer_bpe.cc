#include "tokenizer_internal.h"

namespace bitsmith::infer::detail {

Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(const Vocabulary& vocab) {
  return unsupported("tokenizer model '{}': byte-level BPE is not implemented yet", vocab.model);
}

}  // namespace bitsmith::infer::detail
