// azhub twin get | patch | watch: the device's view of its twin.
#include <istream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/connection_options.hpp"
#include "cli/output.hpp"
#include "cli/streaming.hpp"
#include "device/device_client.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/twin.hpp"

namespace azhub::cli {

namespace {

using core::Error;
using core::ExitCode;
using core::usage_error;

struct TwinOptions {
  DeviceConnectionOptions conn;
  std::string request_timeout = "30s";
  // patch
  std::optional<std::string> json;
  std::optional<std::string> file;
  // watch
  StreamOptions stream;
  bool full = false;
};

std::chrono::milliseconds request_timeout(const TwinOptions& opt) {
  return core::parse_duration(opt.request_timeout, "--request-timeout");
}

void finish(device::DeviceClient& client) {
  const bool interrupted = client.interrupted();
  client.close(std::chrono::milliseconds(0));
  if (interrupted) throw Error(ExitCode::interrupted, "interrupted");
}

void run_twin_get(const TwinOptions& opt, Io& io) {
  const auto timeout = request_timeout(opt);
  device::DeviceClient client(resolve_device_settings(opt.conn, io));
  client.want_twin();
  client.connect();
  Output(io).twin(client.get_twin(timeout));
  finish(client);
}

std::string read_patch_text(const TwinOptions& opt, Io& io, std::string& source) {
  if (opt.json && opt.file) throw usage_error("give the patch once: JSON or --file");
  if (opt.json) {
    source = "reported patch";
    return *opt.json;
  }
  if (opt.file) {
    source = fmt::format("reported patch in '{}'", *opt.file);
    return read_file_argument(*opt.file, "--file");
  }
  source = "reported patch on stdin";
  return std::string(std::istreambuf_iterator<char>(io.in), std::istreambuf_iterator<char>());
}

void run_twin_patch(const TwinOptions& opt, Io& io) {
  const auto timeout = request_timeout(opt);
  std::string source;
  const std::string text = read_patch_text(opt, io, source);
  const nlohmann::json patch = core::parse_json_object(text, source);
  core::validate_twin_patch(patch, source, core::limits::k_twin_reported_bytes);
  device::DeviceClient client(resolve_device_settings(opt.conn, io));
  client.want_twin();
  client.connect();
  Output(io).reported_version(client.patch_reported(patch, timeout));
  finish(client);
}

void run_twin_watch(const TwinOptions& opt, Io& io) {
  const auto timeout = request_timeout(opt);
  StopAfter stop(opt.stream, std::chrono::steady_clock::now());
  device::DeviceClient client(resolve_device_settings(opt.conn, io));
  client.want_desired();
  client.connect();
  Output output(io);
  // Subscribed before the GET, so nothing between the two is missed; patches at or below the
  // version the GET returned are dropped by the client (docs/protocol.md §7.3).
  const nlohmann::json twin = client.get_twin(timeout);
  if (opt.full) output.twin(twin);
  while (!stop.done()) {
    auto update = client.next_desired(stop.deadline());
    if (!update) break;
    output.desired(*update);
    stop.count_one();
  }
  // Patches that already arrived are printed too ("at least --count"), in order.
  client.stop_receiving();
  while (auto update = client.next_desired(std::chrono::steady_clock::now())) output.desired(*update);
  finish(client);
  if (stop.timed_out(std::chrono::steady_clock::now()))
    throw Error(ExitCode::timeout, stop.timeout_message("desired patch", "desired patches"));
}

}  // namespace

void add_twin_command(CLI::App& app, Io& io) {
  CLI::App* twin = app.add_subcommand("twin", "Read, patch and watch the device twin");
  twin->require_subcommand(1);

  auto get = std::make_shared<TwinOptions>();
  CLI::App* get_cmd = twin->add_subcommand("get", "Print the twin ({\"desired\":…,\"reported\":…})");
  get_cmd->add_option("--request-timeout", get->request_timeout, "How long to wait for the hub")
      ->type_name("DURATION");
  add_device_connection_options(*get_cmd, get->conn);
  get_cmd->callback([get, &io] { run_twin_get(*get, io); });

  auto patch = std::make_shared<TwinOptions>();
  CLI::App* patch_cmd = twin->add_subcommand(
      "patch", "Merge-patch the reported properties (JSON argument, --file, or stdin); prints the new version");
  patch_cmd->add_option("json", patch->json, "The patch, a JSON object")->type_name("JSON");
  patch_cmd->add_option("--file", patch->file, "Read the patch from FILE")->type_name("FILE");
  patch_cmd->add_option("--request-timeout", patch->request_timeout, "How long to wait for the hub")
      ->type_name("DURATION");
  add_device_connection_options(*patch_cmd, patch->conn);
  patch_cmd->callback([patch, &io] { run_twin_patch(*patch, io); });

  auto watch = std::make_shared<TwinOptions>();
  CLI::App* watch_cmd = twin->add_subcommand("watch", "Print desired-property patches as they arrive");
  add_stream_options(*watch_cmd, watch->stream, "patches");
  watch_cmd->add_flag("--full", watch->full, "Print the whole twin first");
  watch_cmd->add_option("--request-timeout", watch->request_timeout, "How long to wait for the hub")
      ->type_name("DURATION");
  add_device_connection_options(*watch_cmd, watch->conn);
  watch_cmd->callback([watch, &io] { run_twin_watch(*watch, io); });
}

}  // namespace azhub::cli
