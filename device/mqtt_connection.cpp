#include "device/mqtt_connection.hpp"

#include <MQTTAsync.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace azhub::device {

using core::Error;
using core::ExitCode;

namespace {
constexpr const char* k_system_ca_path = "/etc/ssl/certs";
}

// Paho-typed trampolines. Each one copies, queues and returns, and no exception crosses the C
// boundary (docs/conventions.md §3, §5). The only Paho call made from a callback is the telemetry
// outbox's next send from a publish's onSuccess (see mqtt_connection.hpp).
struct MqttConnection::Callbacks {
  static MqttEvent make(MqttEvent::Kind kind, std::uint64_t generation) {
    MqttEvent event;
    event.kind = kind;
    event.generation = generation;
    return event;
  }
  static CallbackContext& context(void* ctx) { return *static_cast<CallbackContext*>(ctx); }

  static int message_arrived(void* ctx, char* topic, int topic_len, MQTTAsync_message* m) {
    auto* self = static_cast<MqttConnection*>(ctx);
    try {
      MqttEvent event = make(MqttEvent::Kind::message, self->m_generation.load());
      event.topic.assign(topic, topic_len > 0 ? static_cast<std::size_t>(topic_len) : std::strlen(topic));
      if (m->payloadlen > 0)
        event.payload.assign(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen));
      event.qos = m->qos;
      event.dup = m->dup != 0;
      self->push(std::move(event));
    } catch (...) {
      // Out of memory: drop the message rather than unwind through Paho. Not acknowledging
      // (return 0) would make Paho call us again forever.
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
  }
  static void connection_lost(void* ctx, char* cause) {
    auto* self = static_cast<MqttConnection*>(ctx);
    MqttEvent event = make(MqttEvent::Kind::connection_lost, self->m_generation.load());
    if (cause != nullptr) event.topic = cause;
    self->push(std::move(event));
  }
  static void connect_success(void* ctx, MQTTAsync_successData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::connected, c.generation);
    if (response != nullptr) event.session_present = response->alt.connect.sessionPresent != 0;
    c.self->push(std::move(event));
  }
  static void connect_failure(void* ctx, MQTTAsync_failureData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::connect_failed, c.generation);
    if (response != nullptr) {
      event.code = response->code;
      if (response->message != nullptr) event.topic = response->message;
    }
    c.self->push(std::move(event));
  }
  static void disconnect_success(void* ctx, MQTTAsync_successData*) {
    auto& c = context(ctx);
    c.self->push(make(MqttEvent::Kind::disconnected, c.generation));
  }
  static void disconnect_failure(void* ctx, MQTTAsync_failureData*) {
    auto& c = context(ctx);
    c.self->push(make(MqttEvent::Kind::disconnected, c.generation));
  }
  static void publish_success(void* ctx, MQTTAsync_successData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::published, c.generation);
    event.token = response != nullptr ? response->token : 0;
    c.self->push(std::move(event));
  }
  static void publish_failure(void* ctx, MQTTAsync_failureData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::publish_failed, c.generation);
    if (response != nullptr) {
      event.token = response->token;
      event.code = response->code;
    }
    c.self->push(std::move(event));
  }
  static void telemetry_success(void* ctx, MQTTAsync_successData*) {
    auto& slot = *static_cast<TelemetrySlot*>(ctx);
    MqttEvent event = make(MqttEvent::Kind::telemetry_sent, slot.generation);
    event.seq = slot.seq;
    slot.self->release_slot(slot, std::move(event));
    // The window has room again: hand over the next message from here rather than waking the
    // owner's thread to do it.
    if (slot.generation == slot.self->m_generation.load()) slot.self->send_telemetry(true);
  }
  static void telemetry_failure(void* ctx, MQTTAsync_failureData* response) {
    auto& slot = *static_cast<TelemetrySlot*>(ctx);
    MqttEvent event = make(MqttEvent::Kind::telemetry_failed, slot.generation);
    event.seq = slot.seq;
    if (response != nullptr) event.code = response->code;
    slot.self->release_slot(slot, std::move(event));
  }
  static void subscribe_success(void* ctx, MQTTAsync_successData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::subscribed, c.generation);
    if (response != nullptr) {
      event.token = response->token;
      event.code = response->alt.qos;
    }
    c.self->push(std::move(event));
  }
  static void subscribe_failure(void* ctx, MQTTAsync_failureData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::subscribe_failed, c.generation);
    if (response != nullptr) {
      event.token = response->token;
      event.code = response->code;
    }
    c.self->push(std::move(event));
  }
  static void unsubscribe_success(void* ctx, MQTTAsync_successData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::unsubscribed, c.generation);
    if (response != nullptr) event.token = response->token;
    c.self->push(std::move(event));
  }
  static void unsubscribe_failure(void* ctx, MQTTAsync_failureData* response) {
    auto& c = context(ctx);
    MqttEvent event = make(MqttEvent::Kind::unsubscribe_failed, c.generation);
    if (response != nullptr) {
      event.token = response->token;
      event.code = response->code;
    }
    c.self->push(std::move(event));
  }
};

void MqttConnection::HandleDeleter::operator()(void* handle) const noexcept {
  MQTTAsync h = handle;
  MQTTAsync_destroy(&h);
}

MqttConnection::MqttConnection(MqttSettings settings) : m_settings(std::move(settings)) {
  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = MQTTVERSION_3_1_1;
  // Paho counts publishes it has not written yet against this limit even while connected
  // (default 100); the window above bounds them instead.
  create.maxBufferedMessages = std::max(m_settings.max_inflight + 16, 100);
  MQTTAsync handle = nullptr;
  const int rc = MQTTAsync_createWithOptions(&handle, m_settings.server_uri.c_str(),
                                             m_settings.client_id.c_str(),
                                             MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS)
    throw Error(ExitCode::usage, fmt::format("MQTT client for {}: {}", m_settings.server_uri, describe(rc)));
  m_handle.reset(handle);
  MQTTAsync_setCallbacks(handle, this, &Callbacks::connection_lost, &Callbacks::message_arrived,
                         nullptr);
  if (m_settings.tls && ::access(k_system_ca_path, R_OK) == 0) m_ca_path = k_system_ca_path;
}

MqttConnection::~MqttConnection() {
  // Destroying the handle stops Paho's threads before the queue and contexts go away.
  m_handle.reset();
}

std::uint64_t MqttConnection::connect(std::string username, std::optional<std::string> password,
                                      int keep_alive_s, int connect_timeout_s) {
  const std::uint64_t generation = m_generation.load() + 1;
  m_generation.store(generation);
  m_contexts.push_back(std::make_unique<CallbackContext>(CallbackContext{this, generation}));
  {
    // A new connection starts with an empty outbox and fresh slots; the owner queues again
    // whatever the previous connection did not confirm.
    std::lock_guard lock(m_mutex);
    const auto n = static_cast<std::size_t>(m_settings.max_inflight);
    auto slots = std::make_unique<std::vector<TelemetrySlot>>(n);
    m_free_slots.clear();
    for (std::size_t i = 0; i < n; ++i) {
      (*slots)[i] = TelemetrySlot{this, generation, 0, i};
      m_free_slots.push_back(n - 1 - i);
    }
    m_slot_sets.push_back(std::move(slots));
    m_outbox.clear();
  }
  m_username = std::move(username);
  m_password = std::move(password);

  MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
  opts.MQTTVersion = MQTTVERSION_3_1_1;
  opts.keepAliveInterval = keep_alive_s;
  opts.cleansession = 1;
  // Paho's own limit sits above the outbox's, so that Paho never refuses a telemetry publish
  // and control publishes (twin, method responses) still fit.
  opts.maxInflight = m_settings.max_inflight + 16;
  opts.connectTimeout = connect_timeout_s;
  opts.retryInterval = 0;
  opts.automaticReconnect = 0;
  opts.username = m_username.c_str();
  opts.password = m_password ? m_password->c_str() : nullptr;
  opts.onSuccess = &Callbacks::connect_success;
  opts.onFailure = &Callbacks::connect_failure;
  opts.context = m_contexts.back().get();
  if (m_settings.https_proxy) opts.httpsProxy = m_settings.https_proxy->c_str();

  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  if (m_settings.tls) {
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1;  // host name check
    ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
    // Paho loads either the given files or the default store, not both; naming the system
    // directory as CApath keeps the system roots when --ca-file adds one.
    if (m_settings.ca_file) {
      ssl.trustStore = m_settings.ca_file->c_str();
      if (!m_ca_path.empty()) ssl.CApath = m_ca_path.c_str();
    }
    if (m_settings.cert_file) ssl.keyStore = m_settings.cert_file->c_str();
    if (m_settings.cert_key_file) ssl.privateKey = m_settings.cert_key_file->c_str();
    opts.ssl = &ssl;
  }
  const int rc = MQTTAsync_connect(m_handle.get(), &opts);
  if (rc != MQTTASYNC_SUCCESS) {
    MqttEvent event;
    event.kind = MqttEvent::Kind::connect_failed;
    event.generation = generation;
    event.code = rc;
    event.topic = describe(rc);
    push(std::move(event));
  }
  return generation;
}

bool MqttConnection::disconnect(std::chrono::milliseconds timeout) {
  MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
  opts.timeout = static_cast<int>(timeout.count());
  opts.onSuccess = &Callbacks::disconnect_success;
  opts.onFailure = &Callbacks::disconnect_failure;
  opts.context = m_contexts.empty() ? nullptr : m_contexts.back().get();
  if (opts.context == nullptr) return false;
  return MQTTAsync_disconnect(m_handle.get(), &opts) == MQTTASYNC_SUCCESS;
}

int MqttConnection::publish(std::string_view topic, std::string_view payload, int qos, int& token) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = &Callbacks::publish_success;
  opts.onFailure = &Callbacks::publish_failure;
  opts.context = m_contexts.empty() ? nullptr : m_contexts.back().get();
  if (opts.context == nullptr) return MQTTASYNC_DISCONNECTED;
  // Paho copies topic and payload before returning. It needs a NUL-terminated topic.
  const std::string topic_z(topic);
  const int rc = MQTTAsync_send(m_handle.get(), topic_z.c_str(), static_cast<int>(payload.size()),
                                payload.data(), qos, 0, &opts);
  token = opts.token;
  return rc;
}

void MqttConnection::queue_telemetry(Telemetry message) {
  std::lock_guard lock(m_mutex);
  m_outbox.push_back(std::move(message));
}

void MqttConnection::send_telemetry() { send_telemetry(false); }

void MqttConnection::send_telemetry(bool from_callback) {
  for (;;) {
    std::unique_lock send_lock(m_send_mutex, std::defer_lock);
    // A callback never waits for the owner's thread: that thread may be inside MQTTAsync_send
    // waiting for a Paho lock the callback's thread holds. If the lock is taken, its holder
    // looks at the outbox again after letting go (below), so nothing is left behind.
    if (from_callback) {
      if (!send_lock.try_lock()) return;
    } else {
      send_lock.lock();
    }
    bool refused = false;
    for (;;) {
      Telemetry message;
      TelemetrySlot* slot = nullptr;
      {
        std::lock_guard lock(m_mutex);
        if (m_outbox.empty() || m_free_slots.empty() || m_slot_sets.empty()) break;
        message = std::move(m_outbox.front());
        m_outbox.pop_front();
        slot = &(*m_slot_sets.back())[m_free_slots.back()];
        m_free_slots.pop_back();
        slot->seq = message.seq;
      }
      MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
      opts.onSuccess = &Callbacks::telemetry_success;
      opts.onFailure = &Callbacks::telemetry_failure;
      opts.context = slot;
      const int rc = MQTTAsync_send(m_handle.get(), message.topic.c_str(),
                                    static_cast<int>(message.payload.size()), message.payload.data(),
                                    message.qos, 0, &opts);
      if (rc != MQTTASYNC_SUCCESS) {
        // Not connected (a connection_lost event follows) or Paho is full: keep it first in
        // line; the owner tries again on its next send_telemetry().
        std::lock_guard lock(m_mutex);
        if (slot->generation == m_generation.load()) {
          m_outbox.push_front(std::move(message));
          m_free_slots.push_back(slot->index);
        }
        refused = true;
        break;
      }
    }
    send_lock.unlock();
    if (refused) return;
    std::lock_guard lock(m_mutex);
    if (m_outbox.empty() || m_free_slots.empty()) return;
  }
}

void MqttConnection::release_slot(const TelemetrySlot& slot, MqttEvent event) {
  bool wake = false;
  {
    std::lock_guard lock(m_mutex);
    m_events.push_back(std::move(event));
    if (slot.generation == m_generation.load()) m_free_slots.push_back(slot.index);
    wake = m_waiting;
  }
  if (wake) m_ready.notify_one();
}

int MqttConnection::subscribe(const std::vector<std::string>& filters, int qos, int& token) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = &Callbacks::subscribe_success;
  opts.onFailure = &Callbacks::subscribe_failure;
  opts.context = m_contexts.empty() ? nullptr : m_contexts.back().get();
  if (opts.context == nullptr) return MQTTASYNC_DISCONNECTED;
  std::vector<char*> names;
  std::vector<int> qoses(filters.size(), qos);
  for (const auto& f : filters) names.push_back(const_cast<char*>(f.c_str()));
  const int rc = MQTTAsync_subscribeMany(m_handle.get(), static_cast<int>(names.size()),
                                         names.data(), qoses.data(), &opts);
  token = opts.token;
  return rc;
}

int MqttConnection::unsubscribe(const std::vector<std::string>& filters, int& token) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = &Callbacks::unsubscribe_success;
  opts.onFailure = &Callbacks::unsubscribe_failure;
  opts.context = m_contexts.empty() ? nullptr : m_contexts.back().get();
  if (opts.context == nullptr) return MQTTASYNC_DISCONNECTED;
  std::vector<char*> names;
  for (const auto& f : filters) names.push_back(const_cast<char*>(f.c_str()));
  const int rc =
      MQTTAsync_unsubscribeMany(m_handle.get(), static_cast<int>(names.size()), names.data(), &opts);
  token = opts.token;
  return rc;
}

void MqttConnection::push(MqttEvent event) {
  bool wake = false;
  {
    std::lock_guard lock(m_mutex);
    m_events.push_back(std::move(event));
    wake = m_waiting;
  }
  // Only wake a consumer that sleeps: a busy consumer drains the whole queue on its next take,
  // and skipping the notify saves a futex call per event (bench/README.md).
  if (wake) m_ready.notify_one();
}

std::size_t MqttConnection::take_events(std::vector<MqttEvent>& out,
                                        std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(m_mutex);
  if (m_events.empty()) {
    m_waiting = true;
    m_ready.wait_until(lock, deadline, [&] { return !m_events.empty(); });
    m_waiting = false;
  }
  const std::size_t n = m_events.size();
  for (auto& event : m_events) out.push_back(std::move(event));
  m_events.clear();
  return n;
}

std::string MqttConnection::describe(int code) {
  if (code >= 1 && code <= 5) {
    static constexpr const char* k_connack[] = {"", "unacceptable protocol version",
                                                "identifier rejected", "server unavailable",
                                                "bad user name or password", "not authorized"};
    return fmt::format("connection refused: {} (CONNACK {})", k_connack[code], code);
  }
  const char* text = MQTTAsync_strerror(code);
  return text != nullptr ? std::string(text) : fmt::format("MQTT error {}", code);
}

}  // namespace azhub::device
