#pragma once
// An in-process Proton client for the AMQP engine's unit tests (emulator/amqp_engine.*): a client
// connection wired to an AmqpEngine through memory, pumped both ways until both ends are quiet,
// and a Fixture with a hub, a device dev1 and the engine.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include "core/amqp.hpp"
#include "core/amqp_message.hpp"
#include "core/sas.hpp"
#include "emulator/amqp_engine.hpp"
#include "emulator/hub.hpp"
#include "emulator/store.hpp"
#include "fake_clock.hpp"
#include "fake_session.hpp"

namespace azhub::emulator::testing::amqp_client {

using namespace azhub::emulator;
namespace amqp = azhub::core::amqp;
using azhub::emulator::testing::FakeClock;
using azhub::emulator::testing::FakeSession;


constexpr std::string_view k_host = "hub.example";

inline std::string str(const char* s) { return s == nullptr ? std::string() : std::string(s); }


enum class Sasl { none, plain, anonymous };

// A Proton client connection wired to an AmqpEngine through memory.
class Client {
 public:
  struct Received {
    pn_delivery_t* delivery = nullptr;
    amqp::Message message;
  };

  Client(AmqpEngine& engine, Sasl sasl = Sasl::none, const std::string& user = {}, const std::string& password = {})
      : m_engine(engine) {
    REQUIRE(pn_connection_driver_init(&m_driver, nullptr, nullptr) == 0);
    if (sasl != Sasl::none) {
      pn_sasl_t* s = pn_sasl(m_driver.transport);
      pn_sasl_allowed_mechs(s, sasl == Sasl::plain ? "PLAIN" : "ANONYMOUS");
      pn_sasl_set_allow_insecure_mechs(s, true);
      if (sasl == Sasl::plain) {
        pn_connection_set_user(m_driver.connection, user.c_str());
        pn_connection_set_password(m_driver.connection, password.c_str());
      }
    }
    pn_connection_set_container(m_driver.connection, "test-client");
    pn_connection_set_hostname(m_driver.connection, std::string(k_host).c_str());
  }
  ~Client() { pn_connection_driver_destroy(&m_driver); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  pn_connection_t* connection() { return m_driver.connection; }
  pn_transport_t* transport() { return m_driver.transport; }
  // Every byte the client wrote to the engine (for the fuzz seed corpus).
  const std::string& wire() const { return m_wire; }

  // Moves bytes both ways until neither side has anything to say.
  void pump() {
    for (int round = 0; round < 10'000; ++round) {
      bool moved = false;
      const std::string from_engine = m_engine.take_output();
      if (!from_engine.empty()) {
        moved = true;
        feed_client(from_engine);
      }
      if (m_engine.output_closed() && !m_read_closed) {
        m_read_closed = true;
        moved = true;
        pn_connection_driver_read_close(&m_driver);
      }
      drain();
      std::string to_engine;
      for (;;) {
        const pn_bytes_t b = pn_connection_driver_write_buffer(&m_driver);
        if (b.size == 0) break;
        to_engine.append(b.start, b.size);
        pn_connection_driver_write_done(&m_driver, b.size);
        drain();
      }
      if (!to_engine.empty()) {
        moved = true;
        m_wire += to_engine;
        m_engine.input(to_engine);
      }
      if (pn_connection_driver_write_closed(&m_driver) && !m_write_closed) {
        m_write_closed = true;
        moved = true;
        m_engine.input_closed();
      }
      if (!moved) return;
    }
    FAIL("the AMQP exchange never went quiet");
  }

  // Opens the connection and one session.
  void open() {
    pn_connection_open(connection());
    m_session = pn_session(connection());
    pn_session_open(m_session);
    pump();
  }
  [[nodiscard]] bool remote_open() const {
    return (pn_connection_state(m_driver.connection) & PN_REMOTE_ACTIVE) != 0;
  }

  // A client sender link (the server receives) with `address` as target.
  pn_link_t* sender(const std::string& address) {
    pn_link_t* link = pn_sender(m_session, ("sender-" + std::to_string(m_next_link++)).c_str());
    pn_terminus_set_address(pn_link_target(link), address.c_str());
    pn_link_open(link);
    pump();
    return link;
  }
  // A client receiver link (the server sends) with `address` as source and `credit`.
  pn_link_t* receiver(const std::string& address, int credit) {
    pn_link_t* link = pn_receiver(m_session, ("receiver-" + std::to_string(m_next_link++)).c_str());
    pn_terminus_set_address(pn_link_source(link), address.c_str());
    pn_link_open(link);
    pn_link_flow(link, credit);
    pump();
    return link;
  }

  // A client receiver link on `address` whose source carries the Event Hubs selector filter
  // `selector` (the @azure/event-hubs form: symbol key, described(ulong, string) value).
  pn_link_t* receiver_with_filter(const std::string& address, int credit, const std::string& selector) {
    pn_link_t* link = pn_receiver(m_session, ("receiver-" + std::to_string(m_next_link++)).c_str());
    pn_terminus_set_address(pn_link_source(link), address.c_str());
    pn_data_t* filter = pn_terminus_filter(pn_link_source(link));
    pn_data_put_map(filter);
    pn_data_enter(filter);
    const std::string_view key = amqp::k_selector_filter;
    pn_data_put_symbol(filter, pn_bytes(key.size(), key.data()));
    pn_data_put_described(filter);
    pn_data_enter(filter);
    pn_data_put_ulong(filter, amqp::k_selector_filter_code);
    pn_data_put_string(filter, pn_bytes(selector.size(), selector.data()));
    pn_data_exit(filter);
    pn_data_exit(filter);
    pn_link_open(link);
    pn_link_flow(link, credit);
    pump();
    return link;
  }

  // Sends `message` unsettled on `link`; returns the delivery (its remote state after pump()).
  pn_delivery_t* send(pn_link_t* link, const amqp::Message& message) {
    return send_bytes(link, amqp::encode(message));
  }
  pn_delivery_t* send_bytes(pn_link_t* link, const std::string& bytes) {
    const std::string tag = std::to_string(m_next_tag++);
    pn_delivery_t* d = pn_delivery(link, pn_dtag(tag.data(), tag.size()));
    pn_link_send(link, bytes.data(), bytes.size());
    pn_link_advance(link);
    pump();
    return d;
  }

  // The messages that have arrived on `link`, complete, not yet taken.
  std::vector<Received> receive(pn_link_t* link) {
    std::vector<Received> out;
    for (;;) {
      pn_delivery_t* d = pn_link_current(link);
      if (d == nullptr || !pn_delivery_readable(d) || pn_delivery_partial(d)) break;
      std::string bytes;
      char buf[4096];
      for (;;) {
        const ssize_t n = pn_link_recv(link, buf, sizeof buf);
        if (n <= 0) break;
        bytes.append(buf, static_cast<std::size_t>(n));
      }
      pn_link_advance(link);
      out.push_back(Received{d, amqp::decode(bytes)});
    }
    return out;
  }
  // Settles a received delivery with `outcome` (PN_ACCEPTED, PN_RELEASED, ...).
  void settle(pn_delivery_t* d, std::uint64_t outcome) {
    pn_delivery_update(d, outcome);
    pn_delivery_settle(d);
    pump();
  }

  // Put-token on $cbs (attaching the $cbs links on first use); returns the reply.
  std::optional<amqp::Message> put_token(const std::string& token, std::string* request_id = nullptr) {
    if (m_cbs_sender == nullptr) {
      m_cbs_sender = sender("$cbs");
      m_cbs_receiver = receiver("$cbs", 10);
    }
    amqp::Message request = amqp::make_put_token(k_host, token, "cbs");
    if (request_id != nullptr) *request_id = std::get<std::string>(request.message_id);
    pn_delivery_t* d = send(m_cbs_sender, request);
    pn_delivery_settle(d);
    auto replies = receive(m_cbs_receiver);
    if (replies.empty()) return std::nullopt;
    REQUIRE(replies.size() == 1);
    return replies.front().message;
  }

  // Put-token on $cbs for `audience` (an Event Hubs token names sb://{host}/{entity}).
  std::optional<amqp::Message> put_token_for(const std::string& audience, const std::string& token) {
    if (m_cbs_sender == nullptr) {
      m_cbs_sender = sender("$cbs");
      m_cbs_receiver = receiver("$cbs", 10);
    }
    pn_delivery_t* d = send(m_cbs_sender, amqp::make_put_token(audience, token, "cbs"));
    pn_delivery_settle(d);
    auto replies = receive(m_cbs_receiver);
    if (replies.empty()) return std::nullopt;
    REQUIRE(replies.size() == 1);
    return replies.front().message;
  }

  // A request on $management (attaching its links on first use); returns the reply.
  std::optional<amqp::Message> management(amqp::Message request) {
    if (m_management_sender == nullptr) {
      m_management_sender = sender("$management");
      m_management_receiver = receiver("$management", 10);
    }
    request.reply_to = "mgmt-reply";
    if (std::holds_alternative<std::monostate>(request.message_id))
      request.message_id = std::string("mgmt-") + std::to_string(m_next_tag);
    pn_delivery_t* d = send(m_management_sender, request);
    pn_delivery_settle(d);
    auto replies = receive(m_management_receiver);
    if (replies.empty()) return std::nullopt;
    REQUIRE(replies.size() == 1);
    return replies.front().message;
  }

  std::string last_transport_error;

 private:
  void feed_client(std::string_view bytes) {
    while (!bytes.empty()) {
      pn_rwbytes_t buf = pn_connection_driver_read_buffer(&m_driver);
      if (buf.size == 0) {
        drain();
        buf = pn_connection_driver_read_buffer(&m_driver);
        if (buf.size == 0) return;  // the client takes no more
      }
      const std::size_t n = std::min(buf.size, bytes.size());
      std::copy_n(bytes.data(), n, buf.start);
      pn_connection_driver_read_done(&m_driver, n);
      bytes.remove_prefix(n);
      drain();
    }
  }
  void drain() {
    while (pn_event_t* e = pn_connection_driver_next_event(&m_driver)) {
      if (pn_event_type(e) == PN_TRANSPORT_ERROR) {
        pn_condition_t* c = pn_transport_condition(pn_event_transport(e));
        last_transport_error = str(pn_condition_get_name(c)) + ": " + str(pn_condition_get_description(c));
      }
    }
  }

  AmqpEngine& m_engine;
  pn_connection_driver_t m_driver{};
  pn_session_t* m_session = nullptr;
  pn_link_t* m_cbs_sender = nullptr;
  pn_link_t* m_cbs_receiver = nullptr;
  pn_link_t* m_management_sender = nullptr;
  pn_link_t* m_management_receiver = nullptr;
  int m_next_link = 1;
  int m_next_tag = 1;
  bool m_read_closed = false;
  bool m_write_closed = false;
  std::string m_wire;
};

inline std::string remote_condition(pn_link_t* link) { return str(pn_condition_get_name(pn_link_remote_condition(link))); }
inline bool remote_closed(pn_link_t* link) { return (pn_link_state(link) & PN_REMOTE_CLOSED) != 0; }
inline bool remote_open(pn_link_t* link) { return (pn_link_state(link) & PN_REMOTE_ACTIVE) != 0; }
inline std::string disposition_condition(pn_delivery_t* d) {
  return str(pn_condition_get_name(pn_disposition_condition(pn_delivery_remote(d))));
}

struct Fixture {
  std::unique_ptr<Store> store = make_memory_store();
  FakeClock clock;
  std::unique_ptr<Hub> hub;
  IdentityRecord dev1;
  bool woken = false;
  std::vector<std::string> logs;
  std::unique_ptr<AmqpEngine> engine;

  Fixture() {
    HubOptions o;
    o.host_name = std::string(k_host);
    hub = std::make_unique<Hub>(o, *store, clock);
    IdentityRecord r;
    r.key = {"dev1", {}};
    dev1 = hub->create_identity(r);
    AmqpEngineOptions options;
    options.peer = "test";
    options.transport = "amqp";
    options.log = [this](int, std::string_view message) { logs.emplace_back(message); };
    engine = std::make_unique<AmqpEngine>(*hub, clock, options, [this] { woken = true; });
  }

  // A token for `policy`, valid for `ttl_s`.
  std::string token(std::string_view policy = "iothubowner", std::int64_t ttl_s = 3600) const {
    const Policy* p = hub->find_policy(policy);
    REQUIRE(p != nullptr);
    return azhub::core::build_sas_token(k_host, p->primary_key, clock.now / 1000 + ttl_s, policy);
  }

  static amqp::Message c2d(std::string_view device, std::string body = "hello") {
    amqp::Message m;
    m.to = amqp::c2d_to(device);
    m.message_id = std::string("mid-1");
    m.body_kind = amqp::BodyKind::data;
    m.body = std::move(body);
    return m;
  }

  // A device connected over MQTT and subscribed to C2D.
  void online(FakeSession& s) {
    mqtt::Connect c;
    c.client_id = "dev1";
    c.username = std::string(k_host) + "/dev1/?api-version=2021-04-12";
    c.password = azhub::core::build_sas_token(azhub::core::device_resource_uri(k_host, "dev1", std::nullopt),
                                              dev1.primary_key, clock.now / 1000 + 7200);
    c.clean_session = true;
    REQUIRE(hub->connect(s, c, {}).code == mqtt::ConnectReturn::accepted);
    hub->handle_packet(s, mqtt::Subscribe{1, {{"devices/dev1/messages/devicebound/#", 1}}});
  }
};

inline void check_ok_reply(const std::optional<amqp::Message>& reply, const std::string& request_id) {
  REQUIRE(reply);
  CHECK(reply->correlation_id == amqp::Value(request_id));
  const auto parsed = amqp::parse_cbs_reply(*reply);
  REQUIRE(parsed);
  CHECK(parsed->status == 200);
  const amqp::Value* code = amqp::find(reply->application, amqp::k_cbs_status_code);
  REQUIRE(code != nullptr);
  CHECK(std::holds_alternative<amqp::Int>(*code));
}


}  // namespace azhub::emulator::testing::amqp_client
