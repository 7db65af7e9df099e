// The activation-hook body shared by collect_inputs (whole-model passes) and LayerRunner (one
// layer at a time): per shared linear input, sums of x^2 and |x|, optionally sum x x^T, and up
// to max_samples token rows. Internal to src/algo.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bitsmith/algo/calibration.h"
#include "bitsmith/infer/engine.h"

namespace bitsmith::algo::detail {

class StatsCollector {
 public:
  explicit StatsCollector(CollectOptions opt) : opt_(opt) {}
  // The hook: records in.data under its input key (q/k/v and gate/up share one record, taken
  // from attn_q / ffn_gate). The first non-finite activation becomes error() and stops it.
  void add(const infer::LinearInput& in);
  const Status& error() const { return error_; }
  // Mirrors and scales the Hessians (2/n sum x x^T) and hands the statistics over.
  std::map<std::string, InputStats> finish();

 private:
  CollectOptions opt_;
  std::map<std::string, InputStats> stats_;
  Status error_;
  std::vector<double> xd_;
};

}  // namespace bitsmith::algo::detail
