// bitsmith: entry point. Parses the subcommand, runs it, maps failures to exit statuses.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string_view>
#include <vector>

#include "command.h"

namespace bitsmith::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

namespace {
// Levenshtein distance, for "did you mean" (names are a few letters; O(n*m) is nothing).
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace
}  // namespace bitsmith::cli

int main(int argc, char** argv) {
  using namespace bitsmith::cli;
  CLI::App app{"bitsmith: quantize language models, bit for bit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bitsmith 0.1.0");
  std::vector<std::function<int()>> runners;
  std::vector<CLI::App*> subs;
  for (auto& spec : command_registry()) {
    runners.push_back(spec.setup(app));
  }
  // A first word that is no command: name the nearest instead of CLI11's "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    const std::string_view word = argv[1];
    std::string best;
    size_t best_d = SIZE_MAX;
    bool known = false;
    for (const auto& spec : command_registry()) {
      known = known || spec.name == word;
      const size_t d = edit_distance(word, spec.name);
      if (d < best_d) best_d = d, best = spec.name;
    }
    if (!known) {
      if (best_d <= std::max<size_t>(2, word.size() / 3)) {
        std::fprintf(stderr, "bitsmith: unknown command '%s'; did you mean '%s'? (see --help)\n", argv[1], best.c_str());
      } else {
        std::fprintf(stderr, "bitsmith: unknown command '%s' (see --help for the commands)\n", argv[1]);
      }
      return kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "bitsmith: %s (see --help)\n", e.what());
    return kExitUsage;
  }
  try {
    auto chosen = app.get_subcommands();
    for (size_t i = 0; i < command_registry().size(); ++i) {
      if (app.got_subcommand(command_registry()[i].name)) return runners[i]();
    }
  } catch (const UsageError& e) {
    std::fprintf(stderr, "bitsmith: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bitsmith: %s\n", e.what());
    return kExitFailed;
  }
  return kExitUsage;
}
