// `bitsmith advise` as a library call: the options as a person gives them (a parameter count, a
// config.json's hyperparameters or a model already read; a device name or a memory size; task,
// priority, context, schemes, measurements) turned into plan::advise's request, checked, and the
// advice with the JSON document the CLI prints and Python's bitsmith.advise() returns. Reading
// the files (the model, config.json, the measurements) is the caller's: plan does not read models.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitsmith/core/model.h"
#include "bitsmith/core/status.h"
#include "bitsmith/plan/advise.h"
#include "bitsmith/plan/devices.h"
#include "bitsmith/plan/sensitivity.h"

namespace bitsmith::plan {

struct AdviseOptions {
  // What the model is: exactly one of a parameter count ("70B"), a config.json's
  // hyperparameters, or a model file read by the caller (exact bits per weight, recipes).
  std::string params;
  std::optional<LlamaHyperparameters> hyperparameters;
  const Model* model = nullptr;
  std::string source;  // the file the hyperparameters or the model came from
  // The device: a profile name (NAME or NAME=SIZE) and/or a memory size, optional bandwidth.
  std::string device, memory, bandwidth;
  std::string task = "inference";
  // Unset: the default (balanced; fp16; 4096 or the model's shorter context; rank 16). Set for a
  // task it does not apply to: an error (it would do nothing).
  std::optional<std::string> priority, kv_cache;
  std::optional<int64_t> context, lora_rank;
  int64_t batch = 1;
  std::vector<std::string> schemes;  // schemes, nf4, named recipes (with a model); empty: the task's defaults
  // `bitsmith plan`'s measurements of this model: the planned mix is one more candidate.
  const Measurements* measurements = nullptr;
  std::string measurements_path;
};

// Invalid-argument errors are the options' (the CLI's usage errors); a config whose
// hyperparameters make no model is corrupt data.
Result<Advice> advise_with(const AdviseOptions& options);
// "70B parameters", "config.json (1.35e+08 parameters)": what the advice is about.
std::string advice_subject(const AdviseOptions& options, const Advice& advice);

// `bitsmith advise --json`'s document, and a device's record (`advise --list-devices --json`).
nlohmann::json to_json(const Advice& advice);
nlohmann::json device_record(const Device& device);

}  // namespace bitsmith::plan
