// Subcommand registry: each subcommand lives in its own file (cmd_<name>.cc) and registers itself
// with BITSMITH_COMMAND. Exit status: 0 success, 1 the work failed, 2 bad usage.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bitsmith/core/status.h"

namespace bitsmith::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// A subcommand adds itself to `app` and stores a runner to call if it was chosen.
struct CommandSpec {
  std::string name;
  std::function<std::function<int()>(CLI::App& app)> setup;
};

// An integer option's lower bound, with a plain message ("--ctx must be at least 1").
inline CLI::Validator at_least(long long lo, std::string note = "") {
  return CLI::Validator(
      [lo, note](std::string& v) -> std::string {
        long long x = 0;
        try {
          x = std::stoll(v);
        } catch (...) {
          return "'" + v + "' is not an integer";
        }
        return x >= lo ? std::string() : "must be at least " + std::to_string(lo) + note + ", not " + v;
      },
      "");
}

std::vector<CommandSpec>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(CommandSpec spec) { command_registry().push_back(std::move(spec)); }
};

#define BITSMITH_COMMAND(name, setup_fn) \
  static ::bitsmith::cli::CommandRegistrar bitsmith_cmd_registrar_##setup_fn({name, setup_fn})

// Thrown by a runner for bad usage found after parsing (unknown format name, bad number);
// main prints its message on one line and exits with status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A library call that checks a request against the model it opened (--ctx beyond the model's
// context, a --rule that matches nothing) says so with an invalid-argument status whose message
// starts with the option's name: that is bad usage (exit 2); any other failure is the work's
// (exit 1). Prints the one line either way.
inline int fail_with(const char* command, const Status& st) {
  const bool usage = st.code() == StatusCode::kInvalidArgument && st.message().starts_with("--");
  std::fprintf(stderr, "bitsmith %s: %s\n", command, st.to_string().c_str());
  return usage ? kExitUsage : kExitFailed;
}

}  // namespace bitsmith::cli
