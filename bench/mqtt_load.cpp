// azhub_mqtt_load: an MQTT 3.1.1 over TLS load generator for bench/emulator_bench.sh.
//
// It drives any MQTT broker with the packets an IoT Hub device sends, so the same binary and
// the same bytes measure `azhub emulate` and a peer broker (mosquitto) side by side:
//   CONNECT   ClientId {device}, Username {host}/{device}/?api-version=.., Password = SAS token
//             (docs/protocol.md §2-3; a broker that ignores credentials just accepts them)
//   PUBLISH   QoS 1 to devices/{device}/messages/events/ with a fixed-size payload (§4)
//
// Modes:
//   publish  every device connects; once all are connected the clock starts, each device
//            publishes --messages QoS 1 messages keeping up to --inflight unacknowledged,
//            and the clock stops at the last PUBACK. Prints one JSON result line.
//   idle     opens --devices connections (at most --connect-concurrency handshakes at once),
//            prints {"event":"connected",..} once every CONNACK arrived, then holds them idle
//            until SIGTERM/SIGINT or --timeout.
//
// Devices come from --connection-strings FILE (one device connection string per line, as
// `azhub emulate --device` prints them); line i is device i. One thread, one io_context.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>
#include <sys/resource.h>

#include "core/connection_string.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/properties.hpp"
#include "core/sas.hpp"
#include "core/topics.hpp"

namespace azhub::bench {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct LoadOptions {
  std::string mode = "publish";
  std::string host = "127.0.0.1";
  std::uint16_t port = 8883;
  std::string ca_file;
  std::string sni = "localhost";
  std::string connection_strings;
  int devices = 50;
  int messages = 200;
  int payload = 100;
  int inflight = 10;
  int connect_concurrency = 64;
  int keep_alive = 600;
  int timeout = 120;
};

struct Device {
  std::string client_id;
  std::string username;
  std::string password;
  std::string topic;
};

// --- MQTT 3.1.1 encoding (only what a device sends) ------------------------------------------

void put_remaining_length(std::string& out, std::size_t n) {
  do {
    auto byte = static_cast<unsigned char>(n % 128);
    n /= 128;
    if (n > 0) byte = static_cast<unsigned char>(byte | 0x80);
    out.push_back(static_cast<char>(byte));
  } while (n > 0);
}

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_string(std::string& out, std::string_view s) {
  put_u16(out, s.size());
  out.append(s);
}

std::string encode_connect(const Device& d, int keep_alive) {
  std::string body;
  put_string(body, "MQTT");
  body.push_back(4);                           // protocol level 3.1.1
  body.push_back(static_cast<char>(0xC0));     // username + password, CleanSession=0 as the SDKs
  put_u16(body, static_cast<std::size_t>(keep_alive));
  put_string(body, d.client_id);
  put_string(body, d.username);
  put_string(body, d.password);
  std::string out(1, static_cast<char>(0x10));
  put_remaining_length(out, body.size());
  return out + body;
}

void append_publish_qos1(std::string& out, std::string_view topic, std::uint16_t packet_id,
                         std::string_view payload) {
  out.push_back(static_cast<char>(0x32));
  put_remaining_length(out, 2 + topic.size() + 2 + payload.size());
  put_string(out, topic);
  put_u16(out, packet_id);
  out.append(payload);
}

// A payload of exactly `size` bytes: a small JSON object padded with a filler string.
std::string make_payload(int size, int device, int seq) {
  std::string head = fmt::format(R"({{"device":{},"seq":{},"pad":")", device, seq);
  std::string tail = "\"}";
  auto want = static_cast<std::size_t>(std::max(size, 0));
  if (head.size() + tail.size() >= want) return head.substr(0, want);
  return head + std::string(want - head.size() - tail.size(), 'x') + tail;
}

// User + system CPU seconds of this process so far.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(usage.ru_utime) + tv(usage.ru_stime);
}

// --- one device connection -------------------------------------------------------------------

class Run;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Run& run, asio::io_context& io, ssl::context& tls, int index, const Device& device);
  void start(const tcp::endpoint& endpoint);
  void start_publishing();
  void close();
  [[nodiscard]] const std::string& tls_description() const { return m_tls; }

 private:
  void fail(std::string_view phase, const boost::system::error_code& ec);
  void fail(std::string_view phase, const std::string& what);
  void read_more();
  void on_packet(unsigned char first, std::string_view body);
  void fill_window();
  void flush();

  Run& m_run;
  ssl::stream<tcp::socket> m_stream;
  int m_index;
  const Device& m_device;
  std::array<char, 16384> m_chunk{};
  std::string m_in;
  std::string m_pending;  // packets waiting for the write in flight to finish
  std::string m_writing;
  bool m_write_in_flight = false;
  bool m_connected = false;
  bool m_closed = false;
  int m_sent = 0;
  int m_acked = 0;
  std::unordered_map<std::uint16_t, Clock::time_point> m_sent_at;
  std::string m_tls;
};

// --- the whole run ---------------------------------------------------------------------------

class Run {
 public:
  Run(const LoadOptions& opt, std::vector<Device> devices)
      : m_opt(opt), m_devices(std::move(devices)), m_tls(ssl::context::tls_client),
        m_deadline(m_io), m_signals(m_io, SIGINT, SIGTERM) {}

  int execute();

  // Called by connections.
  [[nodiscard]] const LoadOptions& options() const { return m_opt; }
  void on_connected(int index);
  void on_acked(Clock::duration latency);
  void on_device_done();
  void on_failure(const std::string& message);
  [[nodiscard]] bool stopping() const { return m_stopping; }

 private:
  void connect_next();
  void finish(int exit_code);
  void print_publish_result();

  const LoadOptions& m_opt;
  std::vector<Device> m_devices;
  asio::io_context m_io{1};
  ssl::context m_tls;
  asio::steady_timer m_deadline;
  asio::signal_set m_signals;
  tcp::endpoint m_endpoint;
  std::vector<std::shared_ptr<Connection>> m_connections;
  int m_next_to_connect = 0;
  int m_connecting = 0;
  int m_connected = 0;
  int m_done = 0;
  std::vector<double> m_latencies_ms;
  Clock::time_point m_started = Clock::now();
  Clock::time_point m_all_connected;
  Clock::time_point m_finished;
  double m_cpu_at_start = 0;  // generator CPU when publishing started
  double m_cpu_at_finish = 0;
  bool m_stopping = false;
  int m_exit_code = 0;
  std::optional<std::string> m_failure;
};

Connection::Connection(Run& run, asio::io_context& io, ssl::context& tls, int index, const Device& device)
    : m_run(run), m_stream(io, tls), m_index(index), m_device(device) {}

void Connection::fail(std::string_view phase, const boost::system::error_code& ec) {
  fail(phase, ec.message());
}

void Connection::fail(std::string_view phase, const std::string& what) {
  if (m_closed || m_run.stopping()) return;
  m_run.on_failure(fmt::format("device {} ({}): {}: {}", m_index, m_device.client_id, phase, what));
}

void Connection::start(const tcp::endpoint& endpoint) {
  // SNI and host-name verification as a device SDK does.
  SSL_set_tlsext_host_name(m_stream.native_handle(), m_run.options().sni.c_str());
  m_stream.set_verify_callback(ssl::host_name_verification(m_run.options().sni));
  auto self = shared_from_this();
  m_stream.lowest_layer().async_connect(endpoint, [self](const boost::system::error_code& ec) {
    if (ec) return self->fail("TCP connect", ec);
    boost::system::error_code ignored;
    self->m_stream.lowest_layer().set_option(tcp::no_delay(true), ignored);
    self->m_stream.async_handshake(ssl::stream_base::client, [self](const boost::system::error_code& hs) {
      if (hs) return self->fail("TLS handshake", hs);
      SSL* ssl = self->m_stream.native_handle();
      self->m_tls = fmt::format("{} {}", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
      self->m_pending = encode_connect(self->m_device, self->m_run.options().keep_alive);
      self->flush();
      self->read_more();
    });
  });
}

void Connection::read_more() {
  auto self = shared_from_this();
  m_stream.async_read_some(asio::buffer(m_chunk), [self](const boost::system::error_code& ec, std::size_t n) {
    if (ec) return self->fail(self->m_connected ? "read" : "waiting for CONNACK", ec);
    self->m_in.append(self->m_chunk.data(), n);
    // Split complete packets: fixed header byte, remaining length (1-4 bytes), body.
    std::size_t pos = 0;
    for (;;) {
      if (self->m_in.size() - pos < 2) break;
      std::size_t len = 0;
      std::size_t i = pos + 1;
      int shift = 0;
      bool complete = false;
      while (i < self->m_in.size() && shift <= 21) {
        auto b = static_cast<unsigned char>(self->m_in[i++]);
        len |= static_cast<std::size_t>(b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) == 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (shift > 21) return self->fail("read", "malformed remaining length");
        break;
      }
      if (self->m_in.size() - i < len) break;
      self->on_packet(static_cast<unsigned char>(self->m_in[pos]), std::string_view(self->m_in).substr(i, len));
      if (self->m_closed) return;
      pos = i + len;
    }
    self->m_in.erase(0, pos);
    self->read_more();
  });
}

void Connection::on_packet(unsigned char first, std::string_view body) {
  switch (first >> 4) {
    case 2: {  // CONNACK
      if (body.size() != 2) return fail("CONNACK", "malformed");
      if (body[1] != 0) return fail("CONNACK", fmt::format("refused, return code {}", static_cast<int>(body[1])));
      m_connected = true;
      m_run.on_connected(m_index);
      return;
    }
    case 4: {  // PUBACK
      if (body.size() != 2) return fail("PUBACK", "malformed");
      auto id = static_cast<std::uint16_t>((static_cast<unsigned char>(body[0]) << 8) |
                                           static_cast<unsigned char>(body[1]));
      auto it = m_sent_at.find(id);
      if (it == m_sent_at.end()) return fail("PUBACK", fmt::format("unknown packet id {}", id));
      m_run.on_acked(Clock::now() - it->second);
      m_sent_at.erase(it);
      ++m_acked;
      if (m_acked == m_run.options().messages) {
        m_run.on_device_done();
        return;
      }
      fill_window();
      return;
    }
    case 13:  // PINGRESP
      return;
    default:
      return fail("read", fmt::format("unexpected packet type {}", first >> 4));
  }
}

void Connection::start_publishing() { fill_window(); }

void Connection::fill_window() {
  const auto& opt = m_run.options();
  while (m_sent < opt.messages && static_cast<int>(m_sent_at.size()) < opt.inflight) {
    auto id = static_cast<std::uint16_t>(m_sent % 65535 + 1);
    append_publish_qos1(m_pending, m_device.topic, id, make_payload(opt.payload, m_index, m_sent));
    m_sent_at.emplace(id, Clock::now());
    ++m_sent;
  }
  flush();
}

// One write in flight; packets queued meanwhile go out together in the next write.
void Connection::flush() {
  if (m_write_in_flight || m_pending.empty() || m_closed) return;
  m_writing.swap(m_pending);
  m_pending.clear();
  m_write_in_flight = true;
  auto self = shared_from_this();
  asio::async_write(m_stream, asio::buffer(m_writing), [self](const boost::system::error_code& ec, std::size_t) {
    self->m_write_in_flight = false;
    if (ec) return self->fail("write", ec);
    self->m_writing.clear();
    self->flush();
  });
}

void Connection::close() {
  if (m_closed) return;
  m_closed = true;
  // A plain TCP close, as a device that stops abruptly: both servers treat it the same way,
  // and the run is over, so nothing waits for a TLS close_notify or a DISCONNECT.
  boost::system::error_code ignored;
  m_stream.lowest_layer().close(ignored);
}

// --- Run ---------------------------------------------------------------------------------------

void Run::on_connected(int /*index*/) {
  --m_connecting;
  ++m_connected;
  if (m_connected == static_cast<int>(m_devices.size())) {
    m_all_connected = Clock::now();
    m_cpu_at_start = cpu_seconds();
    if (m_opt.mode == "publish") {
      for (auto& c : m_connections) c->start_publishing();
    } else {
      nlohmann::json line = {{"event", "connected"},
                             {"connections", m_connected},
                             {"connect_seconds", std::chrono::duration<double>(m_all_connected - m_started).count()},
                             {"tls", m_connections.front()->tls_description()}};
      std::cout << line.dump() << '\n' << std::flush;
    }
    return;
  }
  connect_next();
}

void Run::on_acked(Clock::duration latency) {
  m_latencies_ms.push_back(std::chrono::duration<double, std::milli>(latency).count());
}

void Run::on_device_done() {
  if (++m_done == static_cast<int>(m_devices.size())) {
    m_finished = Clock::now();
    m_cpu_at_finish = cpu_seconds();
    print_publish_result();
    finish(0);
  }
}

void Run::on_failure(const std::string& message) {
  if (m_stopping) return;
  m_failure = message;
  finish(1);
}

void Run::connect_next() {
  while (m_next_to_connect < static_cast<int>(m_devices.size()) && m_connecting < m_opt.connect_concurrency) {
    int i = m_next_to_connect++;
    ++m_connecting;
    auto c = std::make_shared<Connection>(*this, m_io, m_tls, i, m_devices[static_cast<std::size_t>(i)]);
    m_connections.push_back(c);
    c->start(m_endpoint);
  }
}

void Run::finish(int exit_code) {
  if (m_stopping) return;
  m_stopping = true;
  m_exit_code = exit_code;
  for (auto& c : m_connections) c->close();
  m_deadline.cancel();
  m_signals.cancel();
}

void Run::print_publish_result() {
  std::sort(m_latencies_ms.begin(), m_latencies_ms.end());
  auto pct = [this](double p) {
    if (m_latencies_ms.empty()) return 0.0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(m_latencies_ms.size() - 1));
    return m_latencies_ms[i];
  };
  double seconds = std::chrono::duration<double>(m_finished - m_all_connected).count();
  auto total = static_cast<double>(m_devices.size()) * m_opt.messages;
  nlohmann::json line = {
      {"event", "result"},
      {"mode", "publish"},
      {"devices", m_devices.size()},
      {"messages_per_device", m_opt.messages},
      {"messages", static_cast<std::int64_t>(total)},
      {"payload_bytes", m_opt.payload},
      {"inflight", m_opt.inflight},
      {"connect_seconds", std::chrono::duration<double>(m_all_connected - m_started).count()},
      {"publish_seconds", seconds},
      {"messages_per_second", seconds > 0 ? total / seconds : 0.0},
      {"puback_latency_ms", {{"p50", pct(0.5)}, {"p99", pct(0.99)}, {"max", pct(1.0)}}},
      // Near publish_seconds means the generator, not the server, set the pace.
      {"generator_cpu_seconds", m_cpu_at_finish - m_cpu_at_start},
      {"tls", m_connections.front()->tls_description()}};
  std::cout << line.dump() << '\n' << std::flush;
}

int Run::execute() {
  m_tls.set_verify_mode(ssl::verify_peer);
  m_tls.load_verify_file(m_opt.ca_file);
  m_endpoint = tcp::endpoint(asio::ip::make_address(m_opt.host), m_opt.port);
  m_deadline.expires_after(std::chrono::seconds(m_opt.timeout));
  m_deadline.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (m_opt.mode == "idle" && m_connected == static_cast<int>(m_devices.size())) return finish(0);
    m_failure = fmt::format("timed out after {} s ({} of {} connected, {} of {} devices done)", m_opt.timeout,
                            m_connected, m_devices.size(), m_done, m_devices.size());
    finish(4);
  });
  m_signals.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (m_opt.mode == "idle" && m_connected == static_cast<int>(m_devices.size())) return finish(0);
    m_failure = "interrupted";
    finish(130);
  });
  connect_next();
  m_io.run();
  if (m_failure) std::cerr << "azhub_mqtt_load: error: " << *m_failure << '\n';
  return m_exit_code;
}

// --- devices -----------------------------------------------------------------------------------

std::vector<Device> load_devices(const LoadOptions& opt) {
  std::ifstream in(opt.connection_strings);
  if (!in) throw core::Error(core::ExitCode::usage, fmt::format("cannot read {}", opt.connection_strings));
  auto expiry = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count() + opt.timeout + 3600;
  std::vector<Device> devices;
  std::string line;
  int line_no = 0;
  while (static_cast<int>(devices.size()) < opt.devices && std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto cs = core::parse_connection_string(line);
    if (!cs.device_id || !cs.shared_access_key || cs.module_id)
      throw core::Error(core::ExitCode::usage,
                        fmt::format("{} line {}: not a device connection string with a SharedAccessKey",
                                    opt.connection_strings, line_no));
    core::Identity id{cs.host_name, *cs.device_id, std::nullopt};
    Device d;
    d.client_id = core::mqtt_client_id(id);
    d.username = core::mqtt_username(id, "azhub-mqtt-load/0.1");
    d.password = core::build_sas_token(core::device_resource_uri(id.host, id.device_id), *cs.shared_access_key, expiry);
    d.topic = core::build_telemetry_topic(id, core::MessageProperties{});
    devices.push_back(std::move(d));
  }
  if (static_cast<int>(devices.size()) < opt.devices)
    throw core::Error(core::ExitCode::usage, fmt::format("{} has {} device connection strings, --devices wants {}",
                                                          opt.connection_strings, devices.size(), opt.devices));
  return devices;
}

int run_main(int argc, char** argv) {
  LoadOptions opt;
  CLI::App app{"MQTT over TLS load generator for bench/emulator_bench.sh"};
  app.add_option("--mode", opt.mode, "publish or idle")->check(CLI::IsMember({"publish", "idle"}));
  app.add_option("--host", opt.host, "Address to connect to (default 127.0.0.1)");
  app.add_option("--port", opt.port, "MQTT over TLS port")->required();
  app.add_option("--ca-file", opt.ca_file, "CA certificate (PEM) that signed the server's")->required()
      ->check(CLI::ExistingFile);
  app.add_option("--sni", opt.sni, "TLS server name sent and verified (default localhost)");
  app.add_option("--connection-strings", opt.connection_strings, "File with one device connection string per line")
      ->required()->check(CLI::ExistingFile);
  app.add_option("--devices", opt.devices, "Concurrent devices (default 50)")->check(CLI::Range(1, 100000));
  app.add_option("--messages", opt.messages, "QoS 1 messages per device (publish mode, default 200)")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--payload", opt.payload, "Payload bytes (default 100)")->check(CLI::Range(0, 262144));
  app.add_option("--inflight", opt.inflight, "Unacknowledged messages per device (default 10)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--connect-concurrency", opt.connect_concurrency, "Handshakes at once (default 64)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--keep-alive", opt.keep_alive, "MQTT keep-alive seconds (default 600)")->check(CLI::Range(0, 65535));
  app.add_option("--timeout", opt.timeout, "Give up after this many seconds (default 120); idle mode holds until then")
      ->check(CLI::Range(1, 86400));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "azhub_mqtt_load: error: " << e.what() << '\n';
    return 2;
  }
  try {
    Run run(opt, load_devices(opt));
    return run.execute();
  } catch (const core::Error& e) {
    std::cerr << "azhub_mqtt_load: error: " << e.what() << '\n';
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "azhub_mqtt_load: error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace azhub::bench

int main(int argc, char** argv) { return azhub::bench::run_main(argc, argv); }
