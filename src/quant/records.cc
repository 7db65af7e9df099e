#include "bitsmith/quant/records.h"

#include <fmt/format.h>

namespace bitsmith::quant {

std::string block_text(const SchemeTraits& t) {
  switch (t.granularity) {
    case Granularity::kElement: return "-";
    case Granularity::kTensor: return "tensor";
    case Granularity::kRow: return "row";
    case Granularity::kGroup: return fmt::format("1x{}", t.block_cols);
    case Granularity::kBlock2D: return fmt::format("{}x{}", t.block_rows, t.block_cols);
    case Granularity::kGguf: return fmt::format("1x{} ({} B)", t.block_cols, t.bytes_per_block);
  }
  return "-";
}

nlohmann::json traits_record(const SchemeTraits& t) {
  nlohmann::json j = {{"name", t.name}, {"element_format", t.element_format}, {"scale_format", t.scale_format},
                      {"granularity", std::string(granularity_name(t.granularity))},
                      {"block_rows", t.block_rows}, {"block_cols", t.block_cols}, {"block", block_text(t)},
                      {"bits_per_weight", t.bits_per_weight}, {"symmetric", t.symmetric},
                      {"description", t.description}};
  if (t.gguf_type >= 0) {
    j["gguf_type"] = t.gguf_type;
    j["bytes_per_block"] = t.bytes_per_block;
  }
  return j;
}

nlohmann::json error_record(const Result<SchemeError>& r, const Scheme& s) {
  if (!r.ok()) return {{"scheme", s.name()}, {"error", r.status().to_string()}};
  const ErrorMetrics& m = r->metrics;
  nlohmann::json j = {{"scheme", s.name()}, {"bits_per_weight", r->bits_per_weight}, {"mse", m.mse},
                      {"rmse", m.rmse}, {"mean_abs_error", m.mean_abs_error}, {"max_abs_error", m.max_abs_error},
                      {"snr_db", m.snr_db}, {"cosine", m.cosine}};
  // The signed error x' - x, and the absolute error |x' - x| over [0, max] (the lab's figure).
  if (r->histogram) {
    j["histogram"] = {{"lo", r->histogram->lo}, {"hi", r->histogram->hi}, {"counts", r->histogram->counts}};
  }
  if (r->abs_histogram) {
    j["abs_histogram"] = {{"lo", r->abs_histogram->lo}, {"hi", r->abs_histogram->hi}, {"counts", r->abs_histogram->counts}};
  }
  return j;
}

}  // namespace bitsmith::quant
