#include "device/mqtt_connection.hpp"

#include <MQTTAsync.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "device/paho_environment.hpp"
#include "device/proxy_probe.hpp"

namespace azhub::device {

using core::Error;
using core::ExitCode;

namespace {
constexpr const char* k_system_ca_path = "/etc/ssl/certs";
}

// Paho-typed trampolines. Each one copies, queues and returns, and no exception crosses the C
// boundary (docs/conventions.md §3, §5): every body is wrapped in a catch-all, as Paho calls them
// from C. The only Paho call made from a callback is the telemetry outbox's next send from a
// publish's onSuccess (see mqtt_connection.hpp).
struct MqttConnection::Callbacks {
  static MqttEvent make(MqttEvent::Kind kind, std::uint64_t generation) {
    MqttEvent event;
    event.kind = kind;
    event.generation = generation;
    return event;
  }
  static CallbackContext& context(void* ctx) { return *static_cast<CallbackContext*>(ctx); }
  // Runs `fill` to build the event of a request's callback, then finishes the request. If
  // building throws (out of memory), the request is still finished, with a bare event.
  template <typename Fill>
  static void complete(void* ctx, MqttEvent::Kind kind, Fill&& fill) noexcept {
    auto& c = context(ctx);
    MqttEvent event;
    try {
      event = make(kind, c.generation);
      fill(event);
    } catch (...) {
      event = MqttEvent{};
      event.kind = kind;
      event.generation = c.generation;
    }
    c.self->finish_request(c, std::move(event));
  }
  static int failure_token(MQTTAsync_failureData* response) { return response != nullptr ? response->token : 0; }
  static std::string failure_text(MQTTAsync_failureData* response) {
    if (response == nullptr) return {};
    if (response->message != nullptr) return response->message;
    return describe(response->code);
  }

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
  static void connection_lost(void* ctx, char* cause) noexcept {
    auto* self = static_cast<MqttConnection*>(ctx);
    try {
      MqttEvent event = make(MqttEvent::Kind::connection_lost, self->m_generation.load());
      if (cause != nullptr) event.text = cause;
      self->push(std::move(event));
    } catch (...) {
      try {
        self->push(make(MqttEvent::Kind::connection_lost, self->m_generation.load()));
      } catch (...) {
        // Nothing left to report with; the next request fails as disconnected instead.
      }
    }
  }
  static void connect_success(void* ctx, MQTTAsync_successData* response) noexcept {
    complete(ctx, MqttEvent::Kind::connected, [&](MqttEvent& event) {
      if (response != nullptr) event.session_present = response->alt.connect.sessionPresent != 0;
    });
  }
  static void connect_failure(void* ctx, MQTTAsync_failureData* response) noexcept {
    complete(ctx, MqttEvent::Kind::connect_failed, [&](MqttEvent& event) {
      if (response == nullptr) return;
      // Paho reports a CONNACK refusal with its return code (1-5), anything else as a negative
      // MQTTASYNC_* code.
      if (response->code >= 1 && response->code <= 5) event.connack = static_cast<ConnackCode>(response->code);
      event.text = failure_text(response);
    });
  }
  static void disconnect_success(void* ctx, MQTTAsync_successData*) noexcept {
    complete(ctx, MqttEvent::Kind::disconnected, [](MqttEvent&) {});
  }
  static void disconnect_failure(void* ctx, MQTTAsync_failureData*) noexcept {
    complete(ctx, MqttEvent::Kind::disconnected, [](MqttEvent&) {});
  }
  static void publish_success(void* ctx, MQTTAsync_successData* response) noexcept {
    complete(ctx, MqttEvent::Kind::published, [&](MqttEvent& event) {
      event.token = response != nullptr ? response->token : 0;
    });
  }
  static void publish_failure(void* ctx, MQTTAsync_failureData* response) noexcept {
    complete(ctx, MqttEvent::Kind::publish_failed, [&](MqttEvent& event) {
      event.token = failure_token(response);
      event.text = failure_text(response);
    });
  }
  static void telemetry_success(void* ctx, MQTTAsync_successData*) noexcept {
    auto& slot = *static_cast<TelemetrySlot*>(ctx);
    // Copied first: once released, the slot's set may be freed by the owner's thread.
    MqttConnection* self = slot.self;
    const std::uint64_t generation = slot.generation;
    MqttEvent event;
    event.kind = MqttEvent::Kind::telemetry_sent;
    event.generation = generation;
    event.seq = slot.seq;
    self->release_slot(slot, std::move(event));
    // The window has room again: hand over the next message from here rather than waking the
    // owner's thread to do it.
    try {
      if (generation == self->m_generation.load()) self->send_telemetry(true);
    } catch (...) {
      // The owner's next send_telemetry() hands the outbox over instead.
    }
  }
  static void telemetry_failure(void* ctx, MQTTAsync_failureData*) noexcept {
    auto& slot = *static_cast<TelemetrySlot*>(ctx);
    MqttEvent event;
    event.kind = MqttEvent::Kind::telemetry_failed;
    event.generation = slot.generation;
    event.seq = slot.seq;
    slot.self->release_slot(slot, std::move(event));
  }
  static void subscribe_success(void* ctx, MQTTAsync_successData* response) noexcept {
    complete(ctx, MqttEvent::Kind::subscribed, [&](MqttEvent& event) {
      if (response == nullptr) return;
      event.token = response->token;
      event.refused = response->alt.qos == 0x80;
    });
  }
  static void subscribe_failure(void* ctx, MQTTAsync_failureData* response) noexcept {
    complete(ctx, MqttEvent::Kind::subscribe_failed, [&](MqttEvent& event) {
      event.token = failure_token(response);
      event.text = failure_text(response);
    });
  }
  // A retired handle's message callback (Paho requires one): frees and acknowledges.
  static int drop_message(void*, char* topic, int, MQTTAsync_message* message) noexcept {
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    return 1;
  }
  static void unsubscribe_success(void* ctx, MQTTAsync_successData* response) noexcept {
    complete(ctx, MqttEvent::Kind::unsubscribed, [&](MqttEvent& event) {
      if (response != nullptr) event.token = response->token;
    });
  }
  static void unsubscribe_failure(void* ctx, MQTTAsync_failureData* response) noexcept {
    complete(ctx, MqttEvent::Kind::unsubscribe_failed, [&](MqttEvent& event) {
      event.token = failure_token(response);
      event.text = failure_text(response);
    });
  }
};

void MqttConnection::HandleDeleter::operator()(void* handle) const noexcept {
  MQTTAsync h = handle;
  MQTTAsync_destroy(&h);
}

MqttConnection::MqttConnection(MqttSettings settings) : m_settings(std::move(settings)) {
  withhold_proxy_environment_from_paho();
  if (m_settings.proxy) m_proxy_option = core::format_proxy_authority(*m_settings.proxy);
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
  // Paho must not be destroyed with a connection up (or still being made): DISCONNECT first,
  // without waiting for in-flight work, and give its callback a moment to come.
  try {
    if (disconnect(std::chrono::milliseconds(0))) {
      std::unique_lock lock(m_mutex);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      CallbackContext* current = m_contexts.empty() ? nullptr : m_contexts.back().get();
      m_waiting = true;
      m_ready.wait_until(lock, deadline, [&] { return current == nullptr || current->outstanding == 0; });
      m_waiting = false;
    }
  } catch (...) {
  }
  // Destroying the handle stops Paho's callbacks for it before the queue and contexts go away.
  // But MQTTAsync_destroy of the last handle stops Paho's threads and sleeps in 100 ms steps
  // until they have: most of a one-shot command's wall time (bench/README.md). A handle that is
  // disconnected and owes no callback is retired instead: its callbacks are cleared, so Paho can
  // no longer call into this object, and it is freed with the process. It stays reachable, so
  // LeakSanitizer does not count it; a process makes one per DeviceClient, not per reconnect.
  if (m_handle && quiet_for_retirement() &&
      MQTTAsync_setCallbacks(m_handle.get(), nullptr, nullptr, &Callbacks::drop_message, nullptr) ==
          MQTTASYNC_SUCCESS) {
    static std::mutex retired_mutex;
    static auto* retired = new std::vector<void*>();  // never destroyed: reachable until exit
    std::lock_guard lock(retired_mutex);
    retired->push_back(m_handle.release());
    return;
  }
  m_handle.reset();
}

bool MqttConnection::quiet_for_retirement() {
  if (MQTTAsync_isConnected(m_handle.get()) != 0) return false;
  std::lock_guard lock(m_mutex);
  return std::all_of(m_contexts.begin(), m_contexts.end(),
                     [](const std::unique_ptr<CallbackContext>& c) { return c->outstanding == 0; }) &&
         std::all_of(m_slot_sets.begin(), m_slot_sets.end(),
                     [](const std::unique_ptr<SlotSet>& set) { return set->outstanding == 0; });
}

MqttConnection::CallbackContext* MqttConnection::begin_request() {
  std::lock_guard lock(m_mutex);
  if (m_contexts.empty()) return nullptr;
  CallbackContext* c = m_contexts.back().get();
  ++c->outstanding;  // before the Paho call: its callback can run before the call returns
  return c;
}

void MqttConnection::abandon_request(CallbackContext* c) {
  std::lock_guard lock(m_mutex);
  --c->outstanding;
}

void MqttConnection::finish_request(CallbackContext& c, MqttEvent&& event) noexcept {
  bool wake = false;
  {
    std::lock_guard lock(m_mutex);
    try {
      m_events.push_back(std::move(event));
      m_has_events.store(true, std::memory_order_release);
    } catch (...) {
      // Out of memory: the event is lost, but the count below must still drop.
    }
    --c.outstanding;  // the last touch of `c`: the owner may free it from here on
    wake = m_waiting;
  }
  if (wake) m_ready.notify_one();
}

void MqttConnection::collect() {
  const std::uint64_t current = m_generation.load();
  std::erase_if(m_contexts, [&](const std::unique_ptr<CallbackContext>& c) {
    return c->generation < current && c->outstanding == 0;
  });
  std::erase_if(m_slot_sets, [&](const std::unique_ptr<SlotSet>& set) {
    return set->generation < current && set->outstanding == 0;
  });
}

std::uint64_t MqttConnection::connect(ConnectRequest request) {
  const std::uint64_t generation = m_generation.load() + 1;
  m_generation.store(generation);
  CallbackContext* context = nullptr;
  {
    // A new connection starts with an empty outbox and fresh slots; the owner queues again
    // whatever the previous connection did not confirm.
    std::lock_guard lock(m_mutex);
    collect();
    m_contexts.push_back(std::make_unique<CallbackContext>(CallbackContext{this, generation, 1}));
    context = m_contexts.back().get();
    const auto n = static_cast<std::size_t>(m_settings.max_inflight);
    auto set = std::make_unique<SlotSet>();
    set->generation = generation;
    set->slots.resize(n);
    m_free_slots.clear();
    for (std::size_t i = 0; i < n; ++i) {
      set->slots[i] = TelemetrySlot{this, generation, 0, i, set.get()};
      m_free_slots.push_back(n - 1 - i);
    }
    m_slot_sets.push_back(std::move(set));
    m_outbox.clear();
  }
  m_username = std::move(request.username);
  m_password = std::move(request.password);

  MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
  opts.MQTTVersion = MQTTVERSION_3_1_1;
  opts.keepAliveInterval = request.keep_alive_s;
  opts.cleansession = 1;
  // Paho's own limit sits above the outbox's, so that Paho never refuses a telemetry publish
  // and control publishes (twin, method responses) still fit.
  opts.maxInflight = m_settings.max_inflight + 16;
  opts.connectTimeout = request.connect_timeout_s;
  opts.retryInterval = 0;
  opts.automaticReconnect = 0;
  opts.username = m_username.c_str();
  opts.password = m_password ? m_password->c_str() : nullptr;
  opts.onSuccess = &Callbacks::connect_success;
  opts.onFailure = &Callbacks::connect_failure;
  opts.context = context;
  // Always without a scheme: Paho strips only "https://" from httpsProxy and "http://" from
  // httpProxy, and looks up anything else as part of the host name (MQTTProtocol_setHTTPProxy).
  if (m_settings.proxy)
    (m_settings.tls ? opts.httpsProxy : opts.httpProxy) = m_proxy_option.c_str();

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
    abandon_request(context);
    MqttEvent event;
    event.kind = MqttEvent::Kind::connect_failed;
    event.generation = generation;
    event.text = describe(rc);
    push(std::move(event));
  }
  return generation;
}

bool MqttConnection::disconnect(std::chrono::milliseconds timeout) {
  MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
  opts.timeout = static_cast<int>(timeout.count());
  opts.onSuccess = &Callbacks::disconnect_success;
  opts.onFailure = &Callbacks::disconnect_failure;
  CallbackContext* context = begin_request();
  if (context == nullptr) return false;
  opts.context = context;
  if (MQTTAsync_disconnect(m_handle.get(), &opts) == MQTTASYNC_SUCCESS) return true;
  abandon_request(context);
  return false;
}

SendResult MqttConnection::classify(int rc) noexcept {
  switch (rc) {
    case MQTTASYNC_SUCCESS:
      return SendResult::ok;
    case MQTTASYNC_MAX_MESSAGES_INFLIGHT:  // maxInflight reached: after the next acknowledgement
    case MQTTASYNC_MAX_BUFFERED_MESSAGES:  // command queue full (createOptions.maxBufferedMessages)
    case MQTTASYNC_DISCONNECTED:           // a connection_lost event follows
    case MQTTASYNC_NO_MORE_MSGIDS:         // every packet id is in use until acknowledgements come
      return SendResult::busy;
    default:
      return SendResult::refused;
  }
}

SendResult MqttConnection::publish(std::string_view topic, std::string_view payload, int& token) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = &Callbacks::publish_success;
  opts.onFailure = &Callbacks::publish_failure;
  // Paho copies topic and payload before returning. It needs a NUL-terminated topic.
  const std::string topic_z(topic);
  CallbackContext* context = begin_request();
  if (context == nullptr) return SendResult::busy;
  opts.context = context;
  const int rc = MQTTAsync_send(m_handle.get(), topic_z.c_str(), static_cast<int>(payload.size()),
                                payload.data(), 0, 0, &opts);
  token = opts.token;
  if (rc != MQTTASYNC_SUCCESS) abandon_request(context);
  return classify(rc);
}

void MqttConnection::queue_telemetry(TelemetryPublish message) {
  std::lock_guard lock(m_mutex);
  m_outbox.push_back(std::move(message));
}

void MqttConnection::send_telemetry() { send_telemetry(false); }

void MqttConnection::send_telemetry(bool from_callback) {
  if (!from_callback) {
    // Nothing can go now (every slot is taken, or nothing is staged): leave the send lock to
    // the confirmation callbacks, which send the staged messages themselves when a slot frees.
    std::lock_guard lock(m_mutex);
    if (m_outbox.empty() || m_free_slots.empty()) return;
  }
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
      TelemetryPublish message;
      TelemetrySlot* slot = nullptr;
      {
        std::lock_guard lock(m_mutex);
        if (m_outbox.empty() || m_free_slots.empty() || m_slot_sets.empty()) break;
        message = std::move(m_outbox.front());
        m_outbox.pop_front();
        SlotSet& set = *m_slot_sets.back();
        slot = &set.slots[m_free_slots.back()];
        m_free_slots.pop_back();
        ++set.outstanding;  // before the send: its callback can run before MQTTAsync_send returns
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
        // line; the owner tries again on its next send_telemetry(). No callback will come for
        // the slot, so it is uncounted here (its set stays alive while counted).
        std::lock_guard lock(m_mutex);
        --slot->set->outstanding;
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

void MqttConnection::release_slot(TelemetrySlot& slot, MqttEvent&& event) noexcept {
  bool wake = false;
  const MqttEvent::Kind event_kind = event.kind;
  {
    std::lock_guard lock(m_mutex);
    const bool current = slot.generation == m_generation.load();
    try {
      m_events.push_back(std::move(event));
      m_has_events.store(true, std::memory_order_release);
    } catch (...) {
      // Out of memory: the confirmation is lost (the message is resent after the next drop).
    }
    if (current) {
      try {
        m_free_slots.push_back(slot.index);  // capacity is reserved: never allocates
      } catch (...) {
      }
    }
    // A confirmation of the current connection needs the owner's thread only once the outbox
    // runs low: the owner refills it (until then the confirmation callbacks send from it), and
    // a flush waits for the last confirmations, which come with the outbox empty. The others
    // are taken with the next wake: one wake per half outbox, not one per message
    // (bench/README.md). Failures and confirmations of an older connection always wake.
    const bool routine = event_kind == MqttEvent::Kind::telemetry_sent && current;
    const bool needed = !routine || m_outbox.size() <= static_cast<std::size_t>(m_settings.max_inflight) / 2;
    --slot.set->outstanding;  // the last touch of `slot`: its set may be freed from here on
    wake = m_waiting && needed;
  }
  if (wake) m_ready.notify_one();
}

SendResult MqttConnection::subscribe(const std::vector<std::string>& filters, int qos, int& token) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = &Callbacks::subscribe_success;
  opts.onFailure = &Callbacks::subscribe_failure;
  std::vector<char*> names;
  std::vector<int> qoses(filters.size(), qos);
  for (const auto& f : filters) names.push_back(const_cast<char*>(f.c_str()));
  CallbackContext* context = begin_request();
  if (context == nullptr) return SendResult::busy;
  opts.context = context;
  const int rc = MQTTAsync_subscribeMany(m_handle.get(), static_cast<int>(names.size()),
                                         names.data(), qoses.data(), &opts);
  token = opts.token;
  if (rc != MQTTASYNC_SUCCESS) abandon_request(context);
  return classify(rc);
}

SendResult MqttConnection::unsubscribe(const std::vector<std::string>& filters, int& token) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess = &Callbacks::unsubscribe_success;
  opts.onFailure = &Callbacks::unsubscribe_failure;
  std::vector<char*> names;
  for (const auto& f : filters) names.push_back(const_cast<char*>(f.c_str()));
  CallbackContext* context = begin_request();
  if (context == nullptr) return SendResult::busy;
  opts.context = context;
  const int rc =
      MQTTAsync_unsubscribeMany(m_handle.get(), static_cast<int>(names.size()), names.data(), &opts);
  token = opts.token;
  if (rc != MQTTASYNC_SUCCESS) abandon_request(context);
  return classify(rc);
}

void MqttConnection::push(MqttEvent event) {
  bool wake = false;
  {
    std::lock_guard lock(m_mutex);
    m_events.push_back(std::move(event));
    m_has_events.store(true, std::memory_order_release);
    wake = m_waiting;
  }
  // Only wake a consumer that sleeps: a busy consumer drains the whole queue on its next take,
  // and skipping the notify saves a futex call per event (bench/README.md).
  if (wake) m_ready.notify_one();
}

std::size_t MqttConnection::take_events(std::vector<MqttEvent>& out,
                                        std::chrono::steady_clock::time_point deadline) {
  if (!m_has_events.load(std::memory_order_acquire) && deadline <= std::chrono::steady_clock::now()) return 0;
  std::unique_lock lock(m_mutex);
  if (m_events.empty()) {
    m_waiting = true;
    m_ready.wait_until(lock, deadline, [&] { return !m_events.empty(); });
    m_waiting = false;
  }
  const std::size_t n = m_events.size();
  const std::size_t first = out.size();
  for (auto& event : m_events) out.push_back(std::move(event));
  m_events.clear();
  m_has_events.store(false, std::memory_order_release);
  collect();
  lock.unlock();
  if (m_settings.proxy) {
    // Paho reports any refusal of its CONNECT as a bare failure: ask the proxy what it said.
    for (std::size_t i = first; i < out.size(); ++i) {
      if (out[i].kind != MqttEvent::Kind::connect_failed || out[i].connack) continue;
      if (auto why = probe_proxy_tunnel(*m_settings.proxy, m_settings.target_host,
                                        m_settings.target_port, std::chrono::seconds(5)))
        out[i].text = std::move(*why);
    }
  }
  return n;
}

std::string MqttConnection::describe(int code) {
  if (code >= 1 && code <= 5) return refusal_text(static_cast<ConnackCode>(code));
  const char* text = MQTTAsync_strerror(code);
  return text != nullptr ? std::string(text) : fmt::format("MQTT error {}", code);
}

}  // namespace azhub::device
