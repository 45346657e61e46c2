#include "emulator/emulator.hpp"

#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <fmt/format.h>

#include "core/amqp.hpp"
#include "core/connection_string.hpp"
#include "core/error.hpp"
#include "emulator/certificates.hpp"
#include "emulator/clock.hpp"
#include "emulator/hub.hpp"
#include "emulator/rest_server.hpp"
#include "emulator/store.hpp"

namespace azhub::emulator {

struct Emulator::Parts {
  EmulatorOptions options;
  boost::asio::io_context io{1};
  std::unique_ptr<Store> store;
  std::unique_ptr<Clock> clock;
  std::unique_ptr<Hub> hub;
  std::unique_ptr<RestServer> rest;
  boost::asio::ssl::context tls{boost::asio::ssl::context::tls_server};
  std::unique_ptr<Server> server;
  // Installed before the ready line is printed, so a SIGTERM right after it is not lost.
  std::optional<boost::asio::signal_set> signals;
  std::optional<std::filesystem::path> temp_dir;
  ReadyInfo ready;
  std::optional<std::string> store_failure;  // the store could not commit: run() fails
};

namespace {

std::filesystem::path make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "azhub-emulator-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr)
    throw core::Error(core::ExitCode::failure, "cannot create a temporary directory for the TLS files");
  return pattern;
}

}  // namespace

std::filesystem::path default_state_dir(
    const std::function<std::optional<std::string>(std::string_view)>& env) {
  if (auto xdg = env("XDG_STATE_HOME"); xdg && !xdg->empty())
    return std::filesystem::path(*xdg) / "azhub" / "emulator";
  if (auto home = env("HOME"); home && !home->empty())
    return std::filesystem::path(*home) / ".local" / "state" / "azhub" / "emulator";
  throw core::usage_error("--state-dir: neither XDG_STATE_HOME nor HOME is set; pass --state-dir or --in-memory");
}

Emulator::Emulator(EmulatorOptions options) : m_parts(std::make_unique<Parts>()) {
  Parts& p = *m_parts;
  p.options = std::move(options);
  auto log = p.options.log;
  std::filesystem::path tls_dir;
  if (p.options.state_dir) {
    std::error_code ec;
    std::filesystem::create_directories(*p.options.state_dir, ec);
    if (ec)
      throw core::Error(core::ExitCode::failure,
                        fmt::format("--state-dir: cannot create {}: {}", p.options.state_dir->string(), ec.message()));
    p.options.state_dir = std::filesystem::absolute(*p.options.state_dir);
    p.store = make_sqlite_store(*p.options.state_dir);
    tls_dir = *p.options.state_dir;
  } else {
    p.store = make_memory_store();
    p.temp_dir = make_temp_dir();
    tls_dir = *p.temp_dir;
  }
  CertificateFiles files = ensure_certificates(tls_dir, p.options.host_name);
  configure_server_tls(p.tls, files, p.options.client_cas);

  p.clock = make_asio_clock(p.io);
  HubOptions hub_options;
  hub_options.host_name = p.options.host_name;
  hub_options.log = log;
  hub_options.commit_delay = p.options.commit_delay;
  Parts* self = &p;
  hub_options.on_store_failure = [self](std::string_view why) {
    // Nothing since the last commit is durable and nothing waiting for it was sent: stop at
    // once, so no connection acknowledges anything more.
    self->store_failure = std::string(why);
    if (self->server) self->server->stop();
    self->io.stop();
  };
  p.hub = std::make_unique<Hub>(hub_options, *p.store, *p.clock);

  ReadyInfo& r = p.ready;
  r.host_name = p.options.host_name;
  r.ca_file = std::filesystem::absolute(files.ca_cert);
  r.state_dir = p.options.state_dir;
  const Policy* owner = p.hub->find_policy("iothubowner");
  core::ConnectionString service;
  service.kind = core::ConnectionString::Kind::service;
  service.host_name = r.host_name;
  service.shared_access_key_name = owner->name;
  service.shared_access_key = owner->primary_key;
  r.service_connection_string = core::format_connection_string(service);
  r.event_hubs_connection_string = core::amqp::event_hubs_connection_string(
      r.host_name, core::amqp::event_hub_name(r.host_name), owner->name, owner->primary_key);
  for (const auto& id : p.options.devices) {
    IdentityKey key{id, {}};
    auto existing = p.hub->get_identity(key);
    if (!existing) {
      IdentityRecord record;
      record.key = key;
      existing = p.hub->create_identity(record);
    }
    if (existing->auth_type != AuthType::sas)
      throw core::usage_error(fmt::format("--device {}: exists and does not use SAS authentication", id));
    core::ConnectionString cs;
    cs.kind = core::ConnectionString::Kind::device;
    cs.host_name = r.host_name;
    cs.device_id = id;
    cs.shared_access_key = existing->primary_key;
    r.devices.emplace_back(id, core::format_connection_string(cs));
  }

  // The ready line names these devices and keys: they are durable before it is printed.
  p.store->commit();

  RestServerOptions rest_options;
  rest_options.log = log;
  p.rest = std::make_unique<RestServer>(*p.hub, *p.clock, rest_options);
  p.server = std::make_unique<Server>(p.io, *p.hub, *p.clock, p.rest.get(), p.tls, p.options.server);
  r.ports = p.server->listen();

  p.signals.emplace(p.io, SIGINT, SIGTERM);
  Parts* parts = &p;
  p.signals->async_wait([parts](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    parts->options.log(1, "emulator: signal {}, shutting down", signal);
    parts->server->stop();
    // Connections close asynchronously; give their handlers one pass, then stop outright so a
    // stuck peer cannot hold the process.
    boost::asio::post(parts->io, [parts] { boost::asio::post(parts->io, [parts] { parts->io.stop(); }); });
  });
}

Emulator::~Emulator() {
  Parts& p = *m_parts;
  // Connections and timers go before the hub and store they point into.
  p.signals.reset();
  p.server.reset();
  p.rest.reset();
  p.hub.reset();
  p.clock.reset();
  p.store.reset();
  if (p.temp_dir) {
    std::error_code ignored;
    std::filesystem::remove_all(*p.temp_dir, ignored);
  }
}

const ReadyInfo& Emulator::ready() const { return m_parts->ready; }

void Emulator::run() {
  m_parts->io.run();
  if (m_parts->store_failure)
    throw core::Error(core::ExitCode::failure, fmt::format("emulator stopped: {}", *m_parts->store_failure));
}

}  // namespace azhub::emulator
