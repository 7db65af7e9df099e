// llama.cpp's imatrix files, GGUF and legacy .dat (see calibration.h for both layouts).
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "bitsmith/algo/calibration.h"
#include "bitsmith/core/atomic_file.h"
#include "bitsmith/core/mapped_file.h"
#include "bitsmith/io/gguf.h"

namespace bitsmith::algo {

namespace {

bool read_i32(std::ifstream& in, int32_t* v) { return static_cast<bool>(in.read(reinterpret_cast<char*>(v), 4)); }

}  // namespace

namespace {

// GGUF imatrix (llama-imatrix's default format): "<name>.in_sum2" / "<name>.counts" pairs.
Result<ImatrixData> read_imatrix_gguf(const std::string& path) {
  BITSMITH_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  BITSMITH_ASSIGN_OR_RETURN(io::GgufFile g, io::parse_gguf(file->bytes(), path));
  ImatrixData d;
  if (const io::GgufValue* v = g.find("imatrix.chunk_count"); v && v->is_integer()) {
    d.chunks = static_cast<int32_t>(std::min<uint64_t>(v->u, INT32_MAX));
  }
  if (const io::GgufValue* v = g.find("imatrix.chunk_size"); v && v->is_integer()) {
    d.chunk_size = static_cast<int32_t>(std::min<uint64_t>(v->u, INT32_MAX));
  }
  if (const io::GgufValue* v = g.find("imatrix.datasets"); v && v->type == io::GgufType::kArray) {
    for (const auto& e : v->array) d.dataset += (d.dataset.empty() ? "" : ",") + e.s;
  }
  std::map<std::string, std::pair<const io::GgufTensorInfo*, const io::GgufTensorInfo*>> pairs;
  for (const auto& t : g.tensors) {
    if (t.name.ends_with(".in_sum2")) pairs[t.name.substr(0, t.name.size() - 8)].first = &t;
    else if (t.name.ends_with(".counts")) pairs[t.name.substr(0, t.name.size() - 7)].second = &t;
  }
  auto floats = [&](const io::GgufTensorInfo& t) {
    const float* p = reinterpret_cast<const float*>(file->data() + g.data_offset + t.offset);
    return std::vector<float>(p, p + t.size / 4);
  };
  for (const auto& [name, st] : pairs) {
    const auto [sums, counts] = st;
    if (!sums || !counts) return corrupt_data("imatrix '{}': '{}' has sums without counts or counts without sums", path, name);
    if (sums->type != 0 || counts->type != 0) return corrupt_data("imatrix '{}': '{}' must be F32", path, name);
    const int64_t nmat = sums->ne.size() > 1 ? sums->ne[1] : 1;
    if (nmat != 1 || counts->size != 4) {
      return unsupported("imatrix '{}': '{}' holds {} matrices (mixture-of-experts layers are not supported)", path,
                         name, nmat);
    }
    const float count = floats(*counts)[0];
    if (!std::isfinite(count) || count < 0) return corrupt_data("imatrix '{}': '{}' has count {}", path, name, count);
    std::vector<float> v = floats(*sums);
    if (count == 0) {  // never reached by the calibration text: uniform weights, as llama-quantize does
      std::fill(v.begin(), v.end(), 1.0f);
      d.values[name] = std::move(v);
      continue;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] /= count;
      if (!std::isfinite(v[i]) || v[i] < 0) return corrupt_data("imatrix '{}': '{}'[{}] = {}", path, name, i, v[i]);
    }
    d.values[name] = std::move(v);
  }
  if (d.values.empty()) return corrupt_data("imatrix '{}': a GGUF file with no imatrix entries", path);
  return d;
}

}  // namespace

Result<ImatrixFormat> imatrix_format_for(const std::string& path, const std::string& flag) {
  if (flag == "gguf") return ImatrixFormat::kGguf;
  if (flag == "dat") return ImatrixFormat::kDat;
  if (!flag.empty()) return invalid_argument("unknown imatrix format '{}' (gguf or dat)", flag);
  return path.ends_with(".dat") ? ImatrixFormat::kDat : ImatrixFormat::kGguf;
}

Result<ImatrixData> read_imatrix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("imatrix '{}': cannot open", path);
  char magic[4] = {};
  in.read(magic, 4);
  if (in && std::memcmp(magic, "GGUF", 4) == 0) return read_imatrix_gguf(path);
  in.clear();
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(std::max<std::streamoff>(0, in.tellg()));
  in.seekg(0);
  ImatrixData d;
  int32_t n = 0;
  if (!read_i32(in, &n) || n < 0 || n > 1000000) return corrupt_data("imatrix '{}': bad entry count {}", path, n);
  for (int32_t e = 0; e < n; ++e) {
    int32_t len = 0, ncall = 0, nval = 0;
    if (!read_i32(in, &len) || len <= 0 || len > 4096) return corrupt_data("imatrix '{}': entry {}: bad name length {}", path, e, len);
    std::string name(static_cast<size_t>(len), '\0');
    if (!in.read(name.data(), len) || !read_i32(in, &ncall) || !read_i32(in, &nval) || nval < 0 ||
        nval > (1 << 28)) {
      return corrupt_data("imatrix '{}': entry {} truncated or bad", path, e);
    }
    // Bounded by the bytes left before allocating: a hostile count cannot ask for a gigabyte.
    const auto at = static_cast<uint64_t>(std::max<std::streamoff>(0, in.tellg()));
    if (static_cast<uint64_t>(nval) * 4 > file_size - std::min(at, file_size)) {
      return corrupt_data("imatrix '{}': entry '{}' claims {} values past the end of the file (offset {})", path, name,
                          nval, at);
    }
    std::vector<float> v(static_cast<size_t>(nval));
    if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(nval) * 4)) {
      return corrupt_data("imatrix '{}': entry '{}' truncated ({} values)", path, name, nval);
    }
    // Stored as mean * ncall (llama.cpp divides by ncall when loading).
    if (ncall > 0) for (float& x : v) x /= static_cast<float>(ncall);
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i]) || v[i] < 0) return corrupt_data("imatrix '{}': '{}'[{}] = {}", path, name, i, v[i]);
    }
    d.values[name] = std::move(v);
  }
  // Optional trailer: chunk count and dataset name.
  int32_t chunks = 0, dlen = 0;
  if (read_i32(in, &chunks)) {
    d.chunks = chunks;
    if (read_i32(in, &dlen) && dlen > 0 && dlen < 65536) {
      d.dataset.resize(static_cast<size_t>(dlen));
      in.read(d.dataset.data(), dlen);
    }
  }
  return d;
}

namespace {

std::string legacy_bytes(const ImatrixData& d) {
  std::string bytes;
  auto put_i32 = [&](int32_t v) { bytes.append(reinterpret_cast<const char*>(&v), 4); };
  put_i32(static_cast<int32_t>(d.values.size()));
  const int32_t ncall = std::max<int32_t>(d.chunks, 1);
  for (const auto& [name, v] : d.values) {
    put_i32(static_cast<int32_t>(name.size()));
    bytes += name;
    put_i32(ncall);
    put_i32(static_cast<int32_t>(v.size()));
    for (float x : v) {
      const float stored = x * static_cast<float>(ncall);  // llama.cpp stores mean * ncall
      bytes.append(reinterpret_cast<const char*>(&stored), 4);
    }
  }
  put_i32(d.chunks);
  put_i32(static_cast<int32_t>(d.dataset.size()));
  bytes += d.dataset;
  return bytes;
}

Status write_imatrix_gguf(const std::string& path, const ImatrixData& d) {
  // Sums over the tokens seen, as llama-imatrix keeps them: mean * tokens. Without a chunk size
  // (data read from a legacy file) the chunk count stands in, as llama.cpp's legacy loader does.
  const float tokens = static_cast<float>(int64_t{std::max(d.chunks, 1)} * std::max(d.chunk_size, 1));
  std::vector<std::pair<std::string, io::GgufValue>> kv = {
      {"general.type", io::GgufValue::str("imatrix")},
      {"imatrix.datasets", io::GgufValue::arr(io::GgufType::kString, {io::GgufValue::str(d.dataset)})},
      {"imatrix.chunk_count", io::GgufValue::u32(static_cast<uint32_t>(std::max(d.chunks, 0)))},
      {"imatrix.chunk_size", io::GgufValue::u32(static_cast<uint32_t>(std::max(d.chunk_size, 0)))}};
  std::vector<io::GgufF32Array> arrays;
  for (const auto& [name, v] : d.values) {  // std::map: sorted names, as llama-imatrix writes them
    io::GgufF32Array sums{name + ".in_sum2", {static_cast<int64_t>(v.size()), 1}, v};
    for (float& x : sums.data) x *= tokens;
    arrays.push_back(std::move(sums));
    arrays.push_back({name + ".counts", {1, 1}, {tokens}});
  }
  return io::write_gguf_arrays(path, kv, arrays);
}

}  // namespace

Status write_imatrix(const std::string& path, const ImatrixData& d, ImatrixFormat format) {
  if (format == ImatrixFormat::kGguf) return write_imatrix_gguf(path, d);
  return write_file_atomic(path, legacy_bytes(d));
}

ImatrixData imatrix_from_stats(const std::map<std::string, InputStats>& stats, int64_t n_layers,
                               int32_t chunks, int32_t chunk_size, const std::string& dataset,
                               const std::string& head_weight) {
  ImatrixData d;
  d.chunks = chunks;
  d.chunk_size = chunk_size;
  d.dataset = dataset;
  for (int64_t l = 0; l < n_layers; ++l) {
    for (const auto& name : layer_linears(l)) {
      auto it = stats.find(input_key(name));
      if (it != stats.end()) d.values[name] = it->second.mean_sq();
    }
  }
  if (!head_weight.empty()) {
    if (auto it = stats.find(kHeadInputKey); it != stats.end()) d.values[head_weight] = it->second.mean_sq();
  }
  return d;
}

}  // namespace bitsmith::algo
