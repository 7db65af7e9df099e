// GGUF -> Model: hyperparameters from the {arch}.* keys, the vocabulary from tokenizer.ggml.*,
// tensors located in the data section (plain types zero-copy, block types through the scheme
// registry, dequantized on demand).
#include <algorithm>

#include "bitsmith/io/gguf.h"
#include "readers.h"

namespace bitsmith::io::detail {
namespace {

Result<int64_t> get_int(const GgufFile& g, const std::string& path, const std::string& key, int64_t def, bool required) {
  const GgufValue* v = g.find(key);
  if (!v) {
    if (required) return not_found("{}: missing metadata key '{}'", path, key);
    return def;
  }
  if (!v->is_integer()) return corrupt_data("{}: '{}' should be an integer, got {} {}", path, key, gguf_type_name(v->type), v->summary());
  return v->i;
}

double get_float(const GgufFile& g, const std::string& key, double def) {
  const GgufValue* v = g.find(key);
  if (!v) return def;
  return v->is_float() ? v->f : v->is_integer() ? static_cast<double>(v->i) : def;
}

Status read_vocabulary(const GgufFile& g, const std::string& path, int64_t n_vocab_hint, Vocabulary* out) {
  const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
  if (!tokens) return Status::Ok();
  if (tokens->type != GgufType::kArray || tokens->array_type != GgufType::kString) {
    return corrupt_data("{}: tokenizer.ggml.tokens must be an array of strings", path);
  }
  Vocabulary v;
  if (const GgufValue* m = g.find("tokenizer.ggml.model"); m && m->type == GgufType::kString) v.model = m->s;
  const size_t n = tokens->array.size();
  for (const auto& t : tokens->array) v.tokens.push_back(t.s);
  v.scores.assign(n, 0.0f);
  v.types.assign(n, TokenType::kNormal);
  if (const GgufValue* s = g.find("tokenizer.ggml.scores")) {
    if (s->type != GgufType::kArray || s->array.size() != n || !(s->array_type == GgufType::kF32)) {
      return corrupt_data("{}: tokenizer.ggml.scores must be {} f32 values", path, n);
    }
    for (size_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(s->array[i].f);
  }
  if (const GgufValue* t = g.find("tokenizer.ggml.token_type")) {
    if (t->type != GgufType::kArray || t->array.size() != n || (!t->array.empty() && !t->array[0].is_integer())) {
      return corrupt_data("{}: tokenizer.ggml.token_type must be {} integers", path, n);
    }
    for (size_t i = 0; i < n; ++i) v.types[i] = static_cast<TokenType>(t->array[i].i);
  }
  if (const GgufValue* m = g.find("tokenizer.ggml.merges")) {
    if (m->type != GgufType::kArray || m->array_type != GgufType::kString) {
      return corrupt_data("{}: tokenizer.ggml.merges must be an array of strings", path);
    }
    for (const auto& s : m->array) v.merges.push_back(s.s);
  }
  if (const GgufValue* p = g.find("tokenizer.ggml.pre"); p && p->type == GgufType::kString) v.pre = p->s;
  auto id = [&](const char* key, int32_t def) -> Result<int32_t> {
    BITSMITH_ASSIGN_OR_RETURN(int64_t x, get_int(g, path, key, def, false));
    if (x < 0 || x >= static_cast<int64_t>(n)) return corrupt_data("{}: {} = {} is outside the vocabulary of {}", path, key, x, n);
    return static_cast<int32_t>(x);
  };
  BITSMITH_ASSIGN_OR_RETURN(v.bos_id, id("tokenizer.ggml.bos_token_id", n > 1 ? 1 : 0));
  BITSMITH_ASSIGN_OR_RETURN(v.eos_id, id("tokenizer.ggml.eos_token_id", n > 2 ? 2 : 0));
  BITSMITH_ASSIGN_OR_RETURN(v.unk_id, id("tokenizer.ggml.unknown_token_id", 0));
  if (const GgufValue* b = g.find("tokenizer.ggml.add_bos_token"); b && b->type == GgufType::kBool) v.add_bos = b->u != 0;
  else v.add_bos = v.model == "llama";
  if (const GgufValue* b = g.find("tokenizer.ggml.add_eos_token"); b && b->type == GgufType::kBool) v.add_eos = b->u != 0;
  if (const GgufValue* b = g.find("tokenizer.ggml.add_space_prefix"); b && b->type == GgufType::kBool) {
    v.add_space_prefix = b->u != 0 ? 1 : 0;
  }
  if (const GgufValue* c = g.find("tokenizer.chat_template"); c && c->type == GgufType::kString) v.chat_template = c->s;
  if (g.find("tokenizer.ggml.padding_token_id")) {
    BITSMITH_ASSIGN_OR_RETURN(v.pad_id, id("tokenizer.ggml.padding_token_id", 0));
  }
  (void)n_vocab_hint;
  *out = std::move(v);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<FileModel>> read_gguf_model(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  BITSMITH_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(file->bytes(), path));
  auto m = std::make_unique<FileModel>(path, FileFormat::kGguf);
  for (const auto& [k, v] : g.metadata) {
    if (k.starts_with("tokenizer.ggml.") && v.type == GgufType::kArray) continue;  // summarized below
    m->mutable_metadata()[k] = v.summary();
  }
  for (const auto& t : g.tensors) {
    TensorSource s;
    std::vector<int64_t> dims(t.ne.rbegin(), t.ne.rend());  // GGUF lists innermost first
    BITSMITH_ASSIGN_OR_RETURN(s.shape, Shape::from(dims));
    s.data = {file, g.data_offset + t.offset, t.size};
    switch (t.type) {
      case 0: s.dtype = DType::kF32; break;
      case 1: s.dtype = DType::kF16; break;
      case 30: s.dtype = DType::kBF16; break;
      case 24: s.dtype = DType::kI8; break;
      case 25: s.dtype = DType::kI16; break;
      case 26: s.dtype = DType::kI32; break;
      case 27: s.dtype = DType::kI64; break;
      case 28: s.dtype = DType::kF64; break;
      default: {
        auto scheme = quant::find_scheme_by_gguf_type(t.type);
        if (scheme.ok()) {
          // The registry's block size must agree with ggml's table before its decoder reads.
          const quant::Scheme* q = *scheme;
          if (!q->check_shape(s.shape.rows(), s.shape.cols()).ok() || q->data_bytes(s.shape.rows(), s.shape.cols()) != t.size) {
            return corrupt_data("{}: tensor '{}' of type {} has shape {} that scheme {} cannot decode", path, t.name,
                                ggml_type_info(t.type)->name, s.shape.to_string(), q->name());
          }
          s.scheme = q;
        } else {
          s.storage_name = ggml_type_info(t.type)->name;  // listed; load_f32 reports it
        }
      }
    }
    BITSMITH_RETURN_IF_ERROR(m->add_tensor(t.name, std::move(s)));
  }

  LlamaHyperparameters& hp = m->mutable_hyperparameters();
  const GgufValue* arch = g.find("general.architecture");
  if (!arch || arch->type != GgufType::kString) return not_found("{}: missing string key 'general.architecture'", path);
  hp.architecture = arch->s;
  if (const GgufValue* name = g.find("general.name"); name && name->type == GgufType::kString) hp.name = name->s;
  const std::string a = arch->s + ".";
  BITSMITH_ASSIGN_OR_RETURN(hp.dim, get_int(g, path, a + "embedding_length", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.hidden_dim, get_int(g, path, a + "feed_forward_length", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.n_layers, get_int(g, path, a + "block_count", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.n_heads, get_int(g, path, a + "attention.head_count", 0, true));
  BITSMITH_ASSIGN_OR_RETURN(hp.n_kv_heads, get_int(g, path, a + "attention.head_count_kv", hp.n_heads, false));
  BITSMITH_ASSIGN_OR_RETURN(hp.context_length, get_int(g, path, a + "context_length", 0, false));
  if (hp.dim <= 0 || hp.n_heads <= 0 || hp.n_layers < 0 || hp.n_kv_heads <= 0 || hp.dim % hp.n_heads != 0) {
    return corrupt_data("{}: inconsistent hyperparameters: embedding_length {}, head_count {}, head_count_kv {}, "
                        "block_count {}", path, hp.dim, hp.n_heads, hp.n_kv_heads, hp.n_layers);
  }
  BITSMITH_ASSIGN_OR_RETURN(hp.head_dim, get_int(g, path, a + "attention.key_length", hp.dim / hp.n_heads, false));
  hp.rms_norm_eps = get_float(g, a + "attention.layer_norm_rms_epsilon", 1e-5);
  hp.rope_theta = get_float(g, a + "rope.freq_base", 10000.0);
  // llama.cpp's rope type per architecture: llama-like models rotate adjacent pairs (the HF
  // converter permutes q/k for them); qwen2/phi3/gemma-style models rotate half-split ("neox").
  static const char* kNeox[] = {"qwen2", "qwen3", "qwen2moe", "phi2", "phi3", "gemma", "gemma2", "gemma3",
                                "stablelm", "gptneox", "falcon", "starcoder2", "olmo2"};
  hp.rope_style = std::find(std::begin(kNeox), std::end(kNeox), hp.architecture) != std::end(kNeox)
                      ? RopeStyle::kHalfSplit : RopeStyle::kInterleaved;
  hp.tied_embeddings = !m->has_tensor("output.weight");
  hp.qkv_bias = m->has_tensor("blk.0.attn_q.bias");
  if (const TensorSource* e = m->source("token_embd.weight")) hp.vocab_size = e->shape[0];
  BITSMITH_ASSIGN_OR_RETURN(hp.vocab_size, get_int(g, path, a + "vocab_size", hp.vocab_size, false));
  BITSMITH_RETURN_IF_ERROR(read_vocabulary(g, path, hp.vocab_size, &m->mutable_vocabulary()));
  if (hp.vocab_size == 0) hp.vocab_size = static_cast<int64_t>(m->vocabulary().tokens.size());
  BITSMITH_RETURN_IF_ERROR(check_hyperparameters(*m));
  return m;
}

}  // namespace bitsmith::io::detail
