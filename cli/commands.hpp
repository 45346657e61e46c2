#pragma once
// One function per subcommand: each adds its CLI11 subcommand to `app`, with a callback that
// runs it against `io`. Defined in cli/<command>.cpp.
#include <CLI/CLI.hpp>

#include "cli/io.hpp"

namespace azhub::cli {

void add_sas_command(CLI::App& app, Io& io);
void add_service_command(CLI::App& app, Io& io);
void add_send_command(CLI::App& app, Io& io);
void add_listen_command(CLI::App& app, Io& io);
void add_twin_command(CLI::App& app, Io& io);
void add_method_command(CLI::App& app, Io& io);
void add_emulate_command(CLI::App& app, Io& io);

}  // namespace azhub::cli
