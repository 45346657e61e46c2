#include "device/device_client.hpp"

#include <algorithm>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/json_text.hpp"
#include "device/mqtt_connection.hpp"
#include "core/error.hpp"
#include "core/topics.hpp"

namespace azhub::device {

using core::Error;
using core::ExitCode;
using namespace std::chrono_literals;

namespace {
// How often a waiting call looks at the Ctrl-C flag.
constexpr auto k_interrupt_poll = 100ms;

bool retryable_connect_failure(const std::optional<ConnackCode>& connack) {
  // No CONNACK is a transport failure (TCP refused, TLS, timeout): the hub may be back soon.
  // So is "server unavailable". The other refusals will not change by retrying.
  return !connack || *connack == ConnackCode::server_unavailable;
}

// The failure text of a connect_failed event: the transport's, else the CONNACK's.
std::string failure_text(const MqttEvent& event) {
  if (!event.text.empty()) return event.text;
  return event.connack ? refusal_text(*event.connack) : std::string("connection failed");
}
}  // namespace

std::string server_uri(const DeviceSettings& s) {
  if (s.transport == Transport::websocket)
    return fmt::format("{}://{}:{}{}", s.tls ? "wss" : "ws", s.connect_host, s.port, core::k_websocket_path);
  return fmt::format("{}://{}:{}", s.tls ? "ssl" : "tcp", s.connect_host, s.port);
}

DeviceClient::DeviceClient(DeviceSettings settings) : DeviceClient(std::move(settings), nullptr) {}

DeviceClient::DeviceClient(DeviceSettings settings, std::unique_ptr<MqttTransport> transport)
    : m_settings(std::move(settings)),
      m_conn(std::move(transport)),
      m_backoff(m_settings.backoff_initial, m_settings.backoff_max),
      m_window(2 * std::max<std::size_t>(m_settings.window, 1)) {
  if (!m_settings.steady_now) m_settings.steady_now = [] { return Clock::now(); };
  if (!m_settings.now_unix_ms)
    m_settings.now_unix_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  if (!m_settings.jitter) m_settings.jitter = [] { return 0.5; };
  if (m_conn) return;
  MqttSettings mqtt;
  mqtt.server_uri = server_uri(m_settings);
  mqtt.client_id = core::mqtt_client_id(m_settings.identity);
  mqtt.tls = m_settings.tls;
  mqtt.ca_file = m_settings.ca_file;
  mqtt.cert_file = m_settings.cert_file;
  mqtt.cert_key_file = m_settings.cert_key_file;
  mqtt.proxy = m_settings.proxy;
  mqtt.target_host = m_settings.connect_host;
  mqtt.target_port = m_settings.port;
  mqtt.max_inflight = static_cast<int>(std::clamp<std::size_t>(m_settings.window, 1, 65000));
  m_conn = std::make_unique<MqttConnection>(std::move(mqtt));
}

DeviceClient::~DeviceClient() {
  try {
    if (m_state != State::closed) close(0ms);
  } catch (...) {
  }
}

std::string DeviceClient::where() const {
  return fmt::format("{}:{}", m_settings.connect_host, m_settings.port);
}

void DeviceClient::trace(int level, std::string_view message) const {
  if (m_settings.trace) m_settings.trace(level, message);
}

// --- connection life cycle -------------------------------------------------------------------

void DeviceClient::start_connect() {
  const std::int64_t now_ms = m_settings.now_unix_ms();
  Credential credential = m_settings.credentials ? m_settings.credentials(now_ms) : Credential{};
  m_renew_at.reset();
  m_renewable = credential.renewable;
  if (credential.expiry && credential.renewable) {
    const std::int64_t renew_ms = renewal_time_ms(now_ms, *credential.expiry);
    m_renew_at = now() + std::chrono::milliseconds(std::max<std::int64_t>(renew_ms - now_ms, 1000));
    trace(2, fmt::format("token expires at {} (in {} ms); renewing in {} ms", *credential.expiry,
                         *credential.expiry * 1000 - now_ms, renew_ms - now_ms));
  }
  const std::string username = core::mqtt_username(
      m_settings.identity, m_settings.product,
      m_settings.model_id ? std::optional<std::string_view>(*m_settings.model_id) : std::nullopt);
  trace(2, fmt::format(
               "connecting to {} as {}{}", server_uri(m_settings), username,
               m_settings.proxy ? " through proxy " + core::proxy_display(*m_settings.proxy) : ""));
  m_state = State::connecting;
  m_generation = m_conn->connect(ConnectRequest{
      username, std::move(credential.password), m_settings.keep_alive_s,
      static_cast<int>(std::max<long long>(
          1, std::chrono::duration_cast<std::chrono::seconds>(m_settings.connect_timeout).count()))});
}

void DeviceClient::connect() {
  start_connect();
  while (m_state != State::ready) {
    if (!m_fatal.empty()) throw Error(ExitCode::connect, m_fatal);
    if (interrupted()) throw Error(ExitCode::interrupted, "interrupted while connecting");
    if (m_state == State::backing_off && m_connections == 0) {
      // The first connect fails fast: a wrong port or a stopped hub is a usage problem, not a drop.
      throw Error(ExitCode::connect, m_fatal.empty() ? fmt::format("could not connect to {}", where()) : m_fatal);
    }
    pump(std::nullopt);
  }
}

void DeviceClient::on_ready() {
  m_state = State::ready;
  m_backoff.reset();
  // Twin requests are QoS 0: any that were waiting when the connection dropped are asked again,
  // first and once each (a copy still queued from before the drop is replaced).
  std::erase_if(m_control, [](const ControlPublish& p) { return !p.twin_rid.empty(); });
  std::vector<ControlPublish> again;
  for (const auto& [rid, request] : m_requests.pending())
    again.push_back(ControlPublish{request.topic, request.payload, rid});
  m_control.insert(m_control.begin(), std::make_move_iterator(again.begin()),
                   std::make_move_iterator(again.end()));
  if (m_want_desired && m_connections > 1) {
    // Desired patches are not queued for offline devices (docs/protocol.md §7.3): re-read the
    // twin, report what changed meanwhile, and drop notifications at or below that version.
    m_resync_rid = start_twin_request("", m_settings.connect_timeout);
  }
  send_pending();
}

void DeviceClient::on_lost(std::string_view why) {
  const std::size_t resend = m_window.requeue_all();
  m_control_tokens.clear();
  const auto delay = m_backoff.next(m_settings.jitter());
  m_retry_at = now() + delay;
  m_state = State::backing_off;
  trace(1, fmt::format("connection to {} lost ({}); {} message(s) to resend; reconnecting in {} ms",
                       where(), why.empty() ? "no reason given" : why, resend, delay.count()));
}

void DeviceClient::finish_renewal() {
  m_window.requeue_all();
  m_control_tokens.clear();
  start_connect();
}

void DeviceClient::handle(MqttEvent& event) {
  using Kind = MqttEvent::Kind;
  if (event.kind == Kind::message) {
    handle_message(event);
    return;
  }
  // Completions of an earlier connection refer to tokens that may have been reused since.
  if (event.generation != m_generation) return;
  switch (event.kind) {
    case Kind::connected: {
      ++m_connections;
      m_refusals = 0;
      trace(1, fmt::format("connected to {} (connection {})", where(), m_connections));
      std::vector<std::string> filters;
      m_receive_filters.clear();
      if (m_want_c2d && !m_settings.identity.module_id)
        m_receive_filters.push_back(core::build_c2d_subscription(m_settings.identity.device_id));
      if (m_want_desired) m_receive_filters.emplace_back(core::k_twin_desired_filter);
      if (m_want_methods) m_receive_filters.emplace_back(core::k_method_filter);
      filters = m_receive_filters;
      if (m_want_twin) filters.emplace_back(core::k_twin_response_filter);
      if (filters.empty()) {
        on_ready();
      } else {
        m_state = State::subscribing;
        if (m_conn->subscribe(filters, 1, m_subscribe_token) != SendResult::ok) on_lost("subscribe refused");
      }
      break;
    }
    case Kind::connect_failed: {
      const bool not_authorized = event.connack == ConnackCode::not_authorized;
      if (m_state == State::connecting && m_connections == 0) {
        m_fatal = not_authorized ? fmt::format("could not connect to {}: not authorized (CONNACK 5): "
                                               "the hub refused the key, token or certificate",
                                               where())
                                 : fmt::format("could not connect to {}: {}", where(), failure_text(event));
        m_state = State::backing_off;
      } else if (not_authorized && m_renewable && ++m_refusals < 3) {
        // A token made a moment ago can still arrive late (slow reconnect, clock steps): a
        // fresh one is made for the next attempt. Three refusals in a row are final.
        on_lost("not authorized (CONNACK 5)");
      } else if (!retryable_connect_failure(event.connack)) {
        m_fatal = fmt::format("reconnecting to {}: {}", where(),
                              not_authorized ? "not authorized (CONNACK 5)" : refusal_text(*event.connack));
        m_fatal_code = static_cast<int>(*event.connack);
      } else {
        on_lost(failure_text(event));
      }
      break;
    }
    case Kind::connection_lost:
      if (m_state == State::ready || m_state == State::subscribing) on_lost(event.text);
      if (m_state == State::renewing) finish_renewal();
      break;
    case Kind::disconnected:
      if (m_state == State::renewing) finish_renewal();
      break;
    case Kind::published:
    case Kind::publish_failed:
      if (auto it = std::find(m_control_tokens.begin(), m_control_tokens.end(), event.token);
          it != m_control_tokens.end())
        m_control_tokens.erase(it);
      break;
    case Kind::telemetry_failed:
      m_window.fail(event.seq);
      break;
    case Kind::telemetry_sent:
      if (auto message = m_window.acknowledge(event.seq)) {
        const auto it = m_enqueued_at.find(message->seq);
        TelemetryAck ack{message->seq, Clock::duration{}, message->attempts};
        if (it != m_enqueued_at.end()) {
          ack.latency = now() - it->second;
          m_enqueued_at.erase(it);
        }
        if (m_ack_handler) m_ack_handler(ack);
      }
      break;
    case Kind::subscribed:
      if (event.token == m_subscribe_token && m_state == State::subscribing) {
        if (event.refused) {
          m_fatal = "the hub refused the subscriptions";
          m_fatal_code = -1;
        } else {
          on_ready();
        }
      }
      break;
    case Kind::subscribe_failed:
      if (m_state == State::subscribing) on_lost("subscribe failed");
      break;
    case Kind::unsubscribed:
    case Kind::unsubscribe_failed:
      if (event.token == m_unsubscribe_token) m_unsubscribed = true;
      break;
    case Kind::message:
      break;
  }
}

void DeviceClient::handle_message(MqttEvent& event) {
  try {
    if (auto c2d = core::parse_c2d_topic(event.topic)) {
      if (const auto& mid = c2d->properties.system.message_id; mid && !m_seen_c2d.insert(*mid)) {
        trace(1, fmt::format("dropped a redelivery of C2D message {}", *mid));
        return;
      }
      m_c2d.push_back(ReceivedC2dMessage{std::move(event.payload), std::move(c2d->properties)});
      return;
    }
    if (auto response = core::parse_twin_response_topic(event.topic)) {
      if (!m_requests.complete(response->rid)) return;  // late answer to an expired request
      if (response->rid == m_resync_rid) {
        m_resync_rid.clear();
        if (response->status == 200) {
          auto doc = core::parse_json(event.payload);
          if (doc.is_object() && doc.contains("desired") && doc["desired"].is_object()) {
            const std::int64_t version = doc["desired"].value("$version", std::int64_t{0});
            if (version > m_desired_version) {
              m_desired_version = version;
              m_desired.push_back(DesiredUpdate{version, doc["desired"], true});
            }
          }
        }
        return;
      }
      m_twin_results[response->rid] = TwinResult{response->status, response->version,
                                                 std::move(event.payload), {}};
      return;
    }
    if (auto version = core::parse_twin_desired_topic(event.topic)) {
      if (*version <= m_desired_version) return;  // already reported (resync, docs/protocol.md §7.3)
      auto patch = core::parse_json(event.payload);
      if (patch.is_discarded()) {
        trace(1, "dropped a desired patch that is not JSON");
        return;
      }
      m_desired_version = *version;
      m_desired.push_back(DesiredUpdate{*version, std::move(patch), false});
      return;
    }
    if (auto method = core::parse_method_request_topic(event.topic)) {
      m_methods.push_back(IncomingMethodCall{std::move(method->name), std::move(method->rid),
                                     std::move(event.payload)});
      return;
    }
    trace(1, fmt::format("ignored a message on an unexpected topic: {}", event.topic));
  } catch (const Error& e) {
    trace(1, fmt::format("ignored a malformed message ({})", e.what()));
  }
}

// --- the pump ----------------------------------------------------------------------------------

void DeviceClient::pump(Deadline deadline) {
  auto wake = now() + k_interrupt_poll;
  if (deadline && *deadline < wake) wake = *deadline;
  if (m_state == State::backing_off && m_retry_at < wake) wake = m_retry_at;
  if (m_state == State::ready && m_renew_at && *m_renew_at < wake) wake = *m_renew_at;
  if (m_state == State::renewing && m_renewal_deadline < wake) wake = m_renewal_deadline;
  if (auto next = m_requests.next_deadline(); next && *next < wake) wake = *next;

  m_events.clear();
  m_conn->take_events(m_events, wake);
  const bool had_events = !m_events.empty();
  for (auto& event : m_events) handle(event);
  m_events.clear();
  if (!m_fatal.empty() && m_connections > 0)
    throw Error(m_fatal_code == -1 ? ExitCode::failure : ExitCode::connect, m_fatal);
  run_timers();
  // With no event since the last pump nothing the transport holds has changed.
  send_pending(had_events);
}

void DeviceClient::run_timers() {
  const auto current = now();
  if (m_state == State::backing_off && m_connections > 0 && current >= m_retry_at) start_connect();
  if (m_state == State::ready && m_renew_at && current >= *m_renew_at) {
    // Tokens cannot be refreshed in-band over MQTT (docs/protocol.md §2.2): reconnect with a
    // new one before the hub closes the connection at `se`. First stop sending and let the
    // window drain, so that the reconnect resends as little as possible.
    trace(1, "renewing the SAS token: reconnecting");
    m_state = State::renewing;
    m_renew_at.reset();
    m_renewal_deadline = current + 1s;
    m_disconnect_sent = false;
  }
  if (m_state == State::renewing && !m_disconnect_sent &&
      ((m_window.in_flight() == 0 && m_control_tokens.empty()) || current >= m_renewal_deadline)) {
    // Paho's DISCONNECT with a timeout can wait for the hub to close the connection; the window
    // is already drained, so disconnect at once.
    m_disconnect_sent = true;
    m_renewal_deadline = current + 2s;
    if (!m_conn->disconnect(0ms)) finish_renewal();
  } else if (m_state == State::renewing && m_disconnect_sent && current >= m_renewal_deadline) {
    trace(1, "no answer to DISCONNECT; reconnecting anyway");
    finish_renewal();
  }
  for (auto& rid : m_requests.expire(current)) m_expired_rids.push_back(std::move(rid));
}

void DeviceClient::send_pending(bool nudge) {
  if (m_state != State::ready) return;
  while (!m_control.empty()) {
    int token = 0;
    const SendResult result = m_conn->publish(m_control.front().topic, m_control.front().payload, token);
    if (result == SendResult::busy) return;  // first in line again on the next pump
    if (result == SendResult::ok) {
      m_control_tokens.push_back(token);
    } else {
      report_refused(m_control.front());
    }
    m_control.pop_front();
  }
  bool staged = false;
  while (m_window.can_send()) {
    const Outgoing& next = m_window.front();
    m_conn->queue_telemetry(TelemetryPublish{next.seq, next.topic, next.payload, next.qos});
    m_window.mark_sent(next.seq);
    staged = true;
  }
  if (staged || nudge) m_conn->send_telemetry();
}

void DeviceClient::report_refused(const ControlPublish& publish) {
  // Asking again would be refused again (a bad topic or option, not a full queue): the waiting
  // caller learns it now instead of at its timeout.
  const std::string why = fmt::format("the MQTT client refused to publish on {}", publish.topic);
  if (publish.twin_rid.empty()) {
    trace(0, fmt::format("warning: a method response could not be sent: {}", why));
    return;
  }
  if (!m_requests.complete(publish.twin_rid)) return;  // already answered or expired
  if (publish.twin_rid == m_resync_rid) {
    m_resync_rid.clear();
    trace(0, fmt::format("warning: could not re-read the twin after reconnecting: {}", why));
    return;
  }
  m_twin_results[publish.twin_rid] = TwinResult{0, std::nullopt, {}, why};
}

// --- telemetry -----------------------------------------------------------------------------------

std::uint64_t DeviceClient::send_telemetry(const core::MessageProperties& properties,
                                           std::string body, int qos) {
  const std::uint64_t seq = m_next_seq++;
  Outgoing message{seq, core::build_telemetry_topic(m_settings.identity, properties),
                   std::move(body), qos, 0};
  m_enqueued_at.emplace(seq, now());
  m_window.enqueue(std::move(message));
  // Per message only when the window has room (a full window opens on a pump's events).
  if (m_window.can_send() || !m_control.empty()) send_pending(false);
  // Keep at most one window's worth queued behind the window, so memory stays bounded.
  while (m_window.queued() > m_window.capacity()) {
    if (interrupted()) return seq;
    pump(std::nullopt);
  }
  // Drain acknowledgements that are already there without waiting.
  if (m_window.in_flight() >= m_window.capacity() / 2) pump(now());
  return seq;
}

bool DeviceClient::flush(Deadline deadline) {
  while (!m_window.idle()) {
    if (interrupted()) return false;
    if (deadline && now() >= *deadline) return false;
    pump(deadline);
  }
  return true;
}

void DeviceClient::wait_until(Clock::time_point until) {
  while (now() < until && !interrupted()) pump(until);
}

std::size_t DeviceClient::unacknowledged() const noexcept {
  return m_window.in_flight() + m_window.queued();
}

// --- C2D, twin, methods ----------------------------------------------------------------------

template <typename Queue>
static auto wait_for(Queue& queue, DeviceClient::Deadline deadline, const std::function<bool()>& stop,
                     const std::function<std::chrono::steady_clock::time_point()>& now,
                     const std::function<void(DeviceClient::Deadline)>& pump_once)
    -> std::optional<typename Queue::value_type> {
  while (queue.empty()) {
    if (stop()) return std::nullopt;
    if (deadline && now() >= *deadline) return std::nullopt;
    pump_once(deadline);
  }
  auto item = std::move(queue.front());
  queue.pop_front();
  return item;
}

std::optional<ReceivedC2dMessage> DeviceClient::next_c2d(Deadline deadline) {
  return wait_for(m_c2d, deadline, [this] { return interrupted(); }, m_settings.steady_now,
                  [this](Deadline d) { pump(d); });
}

std::optional<DesiredUpdate> DeviceClient::next_desired(Deadline deadline) {
  return wait_for(m_desired, deadline, [this] { return interrupted(); }, m_settings.steady_now,
                  [this](Deadline d) { pump(d); });
}

std::optional<IncomingMethodCall> DeviceClient::next_method(Deadline deadline) {
  return wait_for(m_methods, deadline, [this] { return interrupted(); }, m_settings.steady_now,
                  [this](Deadline d) { pump(d); });
}

void DeviceClient::respond_method(const std::string& rid, int status, std::string payload) {
  m_control.push_back(ControlPublish{core::build_method_response_topic(status, rid), std::move(payload), {}});
  send_pending();
  pump(now());
}

std::string DeviceClient::start_twin_request(std::string payload, std::chrono::milliseconds timeout) {
  const std::string rid = m_requests.next_rid();
  std::string topic = payload.empty() ? core::build_twin_get_topic(rid)
                                      : core::build_twin_patch_reported_topic(rid);
  m_requests.add(PendingRequest{rid, topic, payload, now() + timeout});
  m_control.push_back(ControlPublish{std::move(topic), std::move(payload), rid});
  send_pending();
  return rid;
}

DeviceClient::TwinResult DeviceClient::await_twin(const std::string& rid, std::string_view what) {
  for (;;) {
    if (auto it = m_twin_results.find(rid); it != m_twin_results.end()) {
      TwinResult result = std::move(it->second);
      m_twin_results.erase(it);
      if (!result.error.empty()) throw Error(ExitCode::failure, fmt::format("{}: {}", what, result.error));
      if (result.status >= 300) {
        std::string detail;
        auto body = core::parse_json(result.payload);
        if (body.is_object() && body.contains("message") && body["message"].is_string())
          detail = ": " + body["message"].get<std::string>();
        throw Error(ExitCode::failure, fmt::format("{}: the hub answered {}{}", what, result.status, detail));
      }
      return result;
    }
    if (auto it = std::find(m_expired_rids.begin(), m_expired_rids.end(), rid); it != m_expired_rids.end()) {
      m_expired_rids.erase(it);
      throw Error(ExitCode::timeout, fmt::format("{}: no answer from the hub in time", what));
    }
    if (interrupted()) throw Error(ExitCode::interrupted, fmt::format("{}: interrupted", what));
    pump(std::nullopt);
  }
}

nlohmann::json DeviceClient::get_twin(std::chrono::milliseconds timeout) {
  const std::string rid = start_twin_request("", timeout);
  TwinResult result = await_twin(rid, "twin get");
  auto doc = core::parse_json(result.payload);
  if (!doc.is_object()) throw Error(ExitCode::failure, "twin get: the hub's answer is not a JSON object");
  if (m_want_desired && doc.contains("desired") && doc["desired"].is_object())
    m_desired_version = std::max(m_desired_version, doc["desired"].value("$version", std::int64_t{0}));
  return doc;
}

std::int64_t DeviceClient::patch_reported(const nlohmann::json& patch, std::chrono::milliseconds timeout) {
  const std::string rid = start_twin_request(patch.dump(), timeout);
  TwinResult result = await_twin(rid, "twin patch");
  return result.version.value_or(0);
}

bool DeviceClient::stop_receiving() {
  m_want_c2d = m_want_methods = m_want_desired = false;  // reconnects subscribe to none of them
  const auto deadline = now() + (interrupted() ? 500ms : 5s);
  // A SUBACK or a renewal in progress settles first: then the connection either has the
  // subscriptions (ready) or is gone, and whatever it delivered is queued.
  while ((m_state == State::subscribing || m_state == State::renewing) && now() < deadline)
    pump(deadline);
  if (m_state != State::ready || m_receive_filters.empty()) {
    m_receive_filters.clear();
    return m_state != State::subscribing && m_state != State::renewing;
  }
  m_unsubscribed = false;
  if (m_conn->unsubscribe(m_receive_filters, m_unsubscribe_token) != SendResult::ok) return false;
  const std::uint64_t generation = m_generation;
  while (!m_unsubscribed && now() < deadline && m_state == State::ready && m_generation == generation)
    pump(deadline);
  m_receive_filters.clear();
  if (!m_unsubscribed) trace(1, "no UNSUBACK from the hub in time");
  // A lost connection delivered all it could: the hub redelivers what it was not acknowledged for.
  return m_unsubscribed || m_state != State::ready;
}

void DeviceClient::close(std::chrono::milliseconds grace) {
  if (m_state == State::closed) return;
  if (m_state == State::ready && grace > 0ms) {
    const auto deadline = now() + grace;
    // Telemetry in flight, and method responses and other QoS 0 publishes not yet written, go
    // out before the DISCONNECT (Paho may put the DISCONNECT ahead of queued publishes).
    send_pending();
    while ((!m_window.idle() || !m_control.empty() || !m_control_tokens.empty()) &&
           now() < deadline && m_state == State::ready)
      pump(deadline);
  }
  const bool was_up = m_state == State::ready || m_state == State::subscribing;
  m_state = State::closed;
  if (was_up && m_conn->disconnect(500ms)) {
    const auto deadline = now() + 1s;
    std::vector<MqttEvent> events;
    while (now() < deadline) {
      m_conn->take_events(events, deadline);
      if (std::any_of(events.begin(), events.end(), [&](const MqttEvent& e) {
            return e.kind == MqttEvent::Kind::disconnected && e.generation == m_generation;
          }))
        break;
      events.clear();
    }
  }
}

}  // namespace azhub::device
