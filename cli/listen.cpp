// azhub listen: cloud-to-device messages as they arrive.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/connection_options.hpp"
#include "cli/output.hpp"
#include "cli/streaming.hpp"
#include "device/device_client.hpp"
#include "core/error.hpp"

namespace azhub::cli {

namespace {

using core::Error;
using core::ExitCode;

struct ListenOptions {
  DeviceConnectionOptions conn;
  StreamOptions stream;
};

void run_listen(const ListenOptions& opt, Io& io) {
  StopAfter stop(opt.stream, std::chrono::steady_clock::now());
  device::DeviceClient client(resolve_device_settings(opt.conn, io));
  client.want_c2d();
  client.connect();
  Output output(io);
  while (!stop.done()) {
    auto message = client.next_c2d(stop.deadline());
    if (!message) break;
    output.c2d(*message);
    stop.count_one();
  }
  // Whatever made the loop end (--count, --timeout, Ctrl-C), messages that already arrived were
  // acknowledged to the hub, which then forgets them: print every one ("at least --count").
  client.stop_receiving();
  while (auto message = client.next_c2d(std::chrono::steady_clock::now())) output.c2d(*message);
  if (client.interrupted()) {
    client.close(std::chrono::milliseconds(0));
    throw Error(ExitCode::interrupted, "interrupted");
  }
  client.close(std::chrono::milliseconds(0));
  if (stop.timed_out(std::chrono::steady_clock::now()))
    throw Error(ExitCode::timeout, stop.timeout_message("message", "messages"));
}

}  // namespace

void add_listen_command(CLI::App& app, Io& io) {
  auto opt = std::make_shared<ListenOptions>();
  CLI::App* cmd = app.add_subcommand("listen", "Print cloud-to-device messages as they arrive");
  add_stream_options(*cmd, opt->stream, "messages");
  add_device_connection_options(*cmd, opt->conn);
  cmd->callback([opt, &io] { run_listen(*opt, io); });
}

}  // namespace azhub::cli
