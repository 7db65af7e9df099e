// llama2.c checkpoints (Karpathy's "version 0" export: seven int32 then float32 arrays) and their
// tokenizer.bin. Layout in REFERENCE.md 3.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "bitsmith/core/checked.h"
#include "bitsmith/io/tokenizer_files.h"
#include "byte_reader.h"
#include "readers.h"

namespace bitsmith::io {

void convert_llama2c_vocabulary(Vocabulary& v) {
  v.model = "llama";
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    std::string& t = v.tokens[i];
    if (i == 0) { t = "<unk>"; v.types[i] = TokenType::kUnknown; continue; }
    if (i == 1) { t = "<s>"; v.types[i] = TokenType::kControl; continue; }
    if (i == 2) { t = "</s>"; v.types[i] = TokenType::kControl; continue; }
    // "<0xAB>": one raw byte (SentencePiece byte fallback).
    if (t.size() == 6 && t.starts_with("<0x") && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
        std::isxdigit(static_cast<unsigned char>(t[4]))) {
      v.types[i] = TokenType::kByte;
      continue;
    }
    std::string out;
    for (char c : t) {
      if (c == ' ') out += "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space
      else out += c;
    }
    t = std::move(out);
  }
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  v.add_bos = true;
}

Result<Vocabulary> parse_llama2c_tokenizer(std::span<const uint8_t> bytes, std::string_view name,
                                           int64_t vocab_size) {
  detail::ByteReader r(bytes, name);
  int32_t max_len = 0;
  BITSMITH_RETURN_IF_ERROR(r.read(&max_len, "max_token_length"));
  if (max_len < 0) return corrupt_data("{}: negative max_token_length {}", name, max_len);
  if (vocab_size <= 0) return invalid_argument("{}: vocabulary size {} must be positive", name, vocab_size);
  // Each token takes at least 8 bytes, which bounds a hostile count before any allocation.
  if (static_cast<uint64_t>(vocab_size) > r.remaining() / 8) {
    return corrupt_data("{}: {} tokens cannot fit in the {} bytes left", name, vocab_size, r.remaining());
  }
  Vocabulary v;
  v.tokens.reserve(static_cast<size_t>(vocab_size));
  for (int64_t i = 0; i < vocab_size; ++i) {
    float score = 0;
    int32_t len = 0;
    auto what = fmt::format("token {}", i);
    BITSMITH_RETURN_IF_ERROR(r.read(&score, what));
    BITSMITH_RETURN_IF_ERROR(r.read(&len, what));
    if (len < 0) return corrupt_data("{}: token {} at offset {} has negative length {}", name, i, r.offset() - 4, len);
    std::span<const uint8_t> text;
    BITSMITH_RETURN_IF_ERROR(r.bytes(static_cast<uint64_t>(len), &text, what));
    v.tokens.emplace_back(reinterpret_cast<const char*>(text.data()), text.size());
    v.scores.push_back(score);
  }
  if (r.remaining() != 0) {
    return corrupt_data("{}: {} trailing bytes after {} tokens at offset {}", name, r.remaining(), vocab_size, r.offset());
  }
  convert_llama2c_vocabulary(v);
  return v;
}

Result<Vocabulary> read_llama2c_tokenizer(const std::string& path, int64_t vocab_size) {
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  return parse_llama2c_tokenizer(file->bytes(), path, vocab_size);
}

namespace detail {

std::string llama2c_header_problem(std::span<const uint8_t> bytes) {
  static const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  if (bytes.size() < 28) return fmt::format("{} bytes are too few for a llama2.c header (28)", bytes.size());
  int32_t h[7];
  std::memcpy(h, bytes.data(), sizeof(h));
  for (int i = 0; i < 7; ++i) {
    const int64_t v = i == 5 ? std::abs(static_cast<int64_t>(h[i])) : h[i];
    if (v < 1 || v > kMaxLlama2cField) {
      return fmt::format("llama2.c header field {} = {} is outside 1..{}", names[i], h[i], kMaxLlama2cField);
    }
  }
  if (h[0] % h[3] != 0) return fmt::format("llama2.c header dim {} is not a multiple of n_heads {}", h[0], h[3]);
  return "";
}

namespace {

// tokenizer.bin, else the first tok*.bin (sorted) beside the checkpoint; "" when none.
std::string find_tokenizer_beside(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (fs::is_regular_file(dir / "tokenizer.bin", ec)) return (dir / "tokenizer.bin").string();
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto n = e.path().filename().string();
    if (n.starts_with("tok") && n.ends_with(".bin") && e.is_regular_file(ec)) found.push_back(e.path().string());
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? "" : found.front();
}

}  // namespace

Result<std::unique_ptr<FileModel>> read_llama2c(const std::string& path,
                                                const std::string& tokenizer_path) {
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  ByteReader r(file->bytes(), path);
  int32_t h[7];
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) BITSMITH_RETURN_IF_ERROR(r.read(&h[i], names[i]));
  const bool shared = h[5] > 0;
  const int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4],
                vocab = h[5] > 0 ? h[5] : -static_cast<int64_t>(h[5]), seq = h[6];
  for (int i = 0; i < 7; ++i) {
    int64_t v = i == 5 ? vocab : h[i];
    if (v <= 0) return corrupt_data("{}: header field {} = {} must be positive", path, names[i], h[i]);
    // Bounded before the per-layer loops below build names and sources for every layer.
    if (v > kMaxLlama2cField) return corrupt_data("{}: header field {} = {} exceeds {}", path, names[i], h[i], kMaxLlama2cField);
  }
  if (dim % heads != 0) return corrupt_data("{}: dim {} is not a multiple of n_heads {}", path, dim, heads);
  if (heads % kv_heads != 0) return corrupt_data("{}: n_heads {} is not a multiple of n_kv_heads {}", path, heads, kv_heads);
  const int64_t head_dim = dim / heads;
  if (head_dim % 2 != 0) return corrupt_data("{}: head size {} is odd", path, head_dim);
  const int64_t kv_dim = head_dim * kv_heads;

  auto m = std::make_unique<FileModel>(path, FileFormat::kLlama2c);
  uint64_t offset = r.offset();
  // Every array is float32; sizes are checked so a hostile header cannot wrap them.
  auto add = [&](const std::string& name, Shape shape) -> Status {
    auto n = checked_product(shape.dims());
    auto bytes = n ? checked_mul(*n, 4) : std::nullopt;
    auto end = bytes ? checked_add(offset, *bytes) : std::nullopt;
    if (!end) return corrupt_data("{}: tensor '{}' {} overflows 64-bit sizes", path, name, shape.to_string());
    if (*end > file->size()) {
      return corrupt_data("{}: truncated: tensor '{}' {} needs bytes [{}, {}) but the file has {}", path, name,
                          shape.to_string(), offset, *end, file->size());
    }
    TensorSource s;
    s.shape = shape;
    s.dtype = DType::kF32;
    s.data = {file, offset, *bytes};
    offset = *end;
    if (name.empty()) return Status::Ok();  // skipped arrays (RoPE tables) are not weights
    return m->add_tensor(name, std::move(s));
  };
  // Per-layer arrays are stored stacked over layers: [n_layers, ...].
  auto add_layers = [&](const char* base, Shape per_layer) -> Status {
    for (int64_t l = 0; l < layers; ++l) {
      BITSMITH_RETURN_IF_ERROR(add(fmt::format("blk.{}.{}.weight", l, base), per_layer));
    }
    return Status::Ok();
  };
  BITSMITH_RETURN_IF_ERROR(add("token_embd.weight", {vocab, dim}));
  BITSMITH_RETURN_IF_ERROR(add_layers("attn_norm", {dim}));
  BITSMITH_RETURN_IF_ERROR(add_layers("attn_q", {dim, dim}));
  BITSMITH_RETURN_IF_ERROR(add_layers("attn_k", {kv_dim, dim}));
  BITSMITH_RETURN_IF_ERROR(add_layers("attn_v", {kv_dim, dim}));
  BITSMITH_RETURN_IF_ERROR(add_layers("attn_output", {dim, dim}));
  BITSMITH_RETURN_IF_ERROR(add_layers("ffn_norm", {dim}));
  BITSMITH_RETURN_IF_ERROR(add_layers("ffn_gate", {hidden, dim}));   // w1
  BITSMITH_RETURN_IF_ERROR(add_layers("ffn_down", {dim, hidden}));   // w2
  BITSMITH_RETURN_IF_ERROR(add_layers("ffn_up", {hidden, dim}));     // w3
  BITSMITH_RETURN_IF_ERROR(add("output_norm.weight", {dim}));
  BITSMITH_RETURN_IF_ERROR(add("", {seq, head_dim / 2}));  // freq_cis_real: recomputed, not a weight
  BITSMITH_RETURN_IF_ERROR(add("", {seq, head_dim / 2}));  // freq_cis_imag
  if (!shared) BITSMITH_RETURN_IF_ERROR(add("output.weight", {vocab, dim}));
  if (offset != file->size()) {
    return corrupt_data("{}: {} trailing bytes after the last tensor at offset {} (header says dim {}, "
                        "{} layers, vocab {})", path, file->size() - offset, offset, dim, layers, h[5]);
  }

  LlamaHyperparameters& hp = m->mutable_hyperparameters();
  hp.architecture = "llama";
  hp.dim = dim;
  hp.hidden_dim = hidden;
  hp.n_layers = layers;
  hp.n_heads = heads;
  hp.n_kv_heads = kv_heads;
  hp.head_dim = head_dim;
  hp.vocab_size = vocab;
  hp.context_length = seq;
  hp.rms_norm_eps = 1e-5;  // llama2.c run.c
  hp.rope_theta = 10000.0;
  hp.rope_style = RopeStyle::kInterleaved;
  hp.tied_embeddings = shared;

  std::string tok = tokenizer_path.empty() ? find_tokenizer_beside(path) : tokenizer_path;
  if (!tok.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(m->mutable_vocabulary(), read_llama2c_tokenizer(tok, vocab));
    m->mutable_metadata()["tokenizer.file"] = tok;
  }
  return m;
}

}  // namespace detail
}  // namespace bitsmith::io
