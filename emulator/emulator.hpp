#pragma once
// The whole emulator assembled: state (SQLite in a state directory, or memory), TLS material,
// Hub, REST API and listeners on one io_context. `azhub emulate` is a thin wrapper around it.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/log.hpp"
#include "emulator/server.hpp"

namespace azhub::emulator {

struct EmulatorOptions {
  std::optional<std::filesystem::path> state_dir;  // nullopt = in memory (temporary TLS dir)
  std::string host_name = "localhost";
  std::vector<std::string> devices;                // registered (SAS) if missing
  std::vector<std::filesystem::path> client_cas;   // extra CAs for CA-signed X.509 devices
  ServerOptions server;
  Log log;
  // Group commit window (HubOptions::commit_delay); only a state directory has commits.
  std::chrono::milliseconds commit_delay{0};
};

struct ReadyInfo {
  std::string host_name;
  std::string service_connection_string;           // iothubowner
  std::string event_hubs_connection_string;        // the built-in endpoint, iothubowner (§15.7)
  std::filesystem::path ca_file;
  std::optional<std::filesystem::path> state_dir;
  BoundPorts ports;
  std::vector<std::pair<std::string, std::string>> devices;  // id, connection string
};

class Emulator {
 public:
  // Opens the state, creates certificates and devices, binds the ports. Throws Error.
  explicit Emulator(EmulatorOptions options);
  ~Emulator();  // removes the temporary TLS directory of an in-memory run
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  [[nodiscard]] const ReadyInfo& ready() const;
  // Serves until SIGINT or SIGTERM, then closes every connection and returns. Throws
  // Error(failure) if the state directory's store could not commit (nothing after the last
  // commit was acknowledged).
  void run();

 private:
  struct Parts;
  std::unique_ptr<Parts> m_parts;
};

// $XDG_STATE_HOME/azhub/emulator, else ~/.local/state/azhub/emulator. Throws Error(usage) if
// neither XDG_STATE_HOME nor HOME is set.
[[nodiscard]] std::filesystem::path default_state_dir(
    const std::function<std::optional<std::string>(std::string_view)>& env);

}  // namespace azhub::emulator
