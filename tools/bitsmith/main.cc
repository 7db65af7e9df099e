// bitsmith: entry point. Parses the subcommand, runs it, maps failures to exit statuses.
#include <cstdio>
#include <exception>

#include "command.h"

namespace bitsmith::cli {
std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}
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
