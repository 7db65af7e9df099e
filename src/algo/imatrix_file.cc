// llama.cpp's legacy imatrix .dat format (see calibration.h for the layout).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "bitsmith/algo/calibration.h"

namespace bitsmith::algo {

namespace {

bool read_i32(std::ifstream& in, int32_t* v) { return static_cast<bool>(in.read(reinterpret_cast<char*>(v), 4)); }
void write_i32(std::ofstream& out, int32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); }

}  // namespace

Result<ImatrixData> read_imatrix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("imatrix '{}': cannot open", path);
  char magic[4] = {};
  in.read(magic, 4);
  if (in && std::memcmp(magic, "GGUF", 4) == 0) {
    return unsupported("imatrix '{}': GGUF imatrix files are not read yet; convert with "
                       "llama-imatrix --output-format dat", path);
  }
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

Status write_imatrix(const std::string& path, const ImatrixData& d) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error("imatrix '{}': cannot create", path);
  write_i32(out, static_cast<int32_t>(d.values.size()));
  const int32_t ncall = std::max<int32_t>(d.chunks, 1);
  for (const auto& [name, v] : d.values) {
    write_i32(out, static_cast<int32_t>(name.size()));
    out.write(name.data(), static_cast<std::streamsize>(name.size()));
    write_i32(out, ncall);
    write_i32(out, static_cast<int32_t>(v.size()));
    std::vector<float> tmp(v);
    for (float& x : tmp) x *= static_cast<float>(ncall);
    out.write(reinterpret_cast<const char*>(tmp.data()), static_cast<std::streamsize>(tmp.size() * 4));
  }
  write_i32(out, d.chunks);
  write_i32(out, static_cast<int32_t>(d.dataset.size()));
  out.write(d.dataset.data(), static_cast<std::streamsize>(d.dataset.size()));
  out.flush();
  if (!out) return io_error("imatrix '{}': write failed", path);
  return Status::Ok();
}

ImatrixData imatrix_from_stats(const std::map<std::string, InputStats>& stats, int64_t n_layers,
                               int32_t chunks, const std::string& dataset) {
  ImatrixData d;
  d.chunks = chunks;
  d.dataset = dataset;
  for (int64_t l = 0; l < n_layers; ++l) {
    for (const auto& name : layer_linears(l)) {
      auto it = stats.find(input_key(name));
      if (it != stats.end()) d.values[name] = it->second.mean_sq();
    }
  }
  return d;
}

}  // namespace bitsmith::algo
