#include "service/amqp_client.hpp"

#include <array>
#include <deque>
#include <map>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>
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
#include "core/hub_errors.hpp"
#include "core/topics.hpp"
#include "service/tls_connection.hpp"

namespace azhub::service {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace amqp = core::amqp;
using core::Error;
using core::ExitCode;

namespace {

// Credit a receiver link grants: each message held unsettled stays locked at the hub, so few.
constexpr int k_receive_credit = 10;

std::string_view sv(const char* s) { return s == nullptr ? std::string_view() : std::string_view(s); }

std::string describe(pn_condition_t* c) {
  if (c == nullptr || !pn_condition_is_set(c)) return "no reason given";
  const auto name = sv(pn_condition_get_name(c));
  const auto text = sv(pn_condition_get_description(c));
  return text.empty() ? std::string(name) : fmt::format("{}: {}", name, text);
}

}  // namespace

struct AmqpClient::Impl {
  AmqpEndpoint endpoint;
  std::function<bool()> interrupted;
  std::function<void(int, std::string_view)> trace;

  std::unique_ptr<TlsConnection> conn;
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>&>> ws;
  pn_connection_driver_t driver{};
  bool driver_ready = false;
  pn_session_t* session = nullptr;
  pn_link_t* cbs_sender = nullptr;
  pn_link_t* cbs_receiver = nullptr;
  std::map<std::string, pn_link_t*> senders;
  std::map<std::string, pn_link_t*> receivers;
  std::map<pn_link_t*, std::string> partial;
  std::map<pn_link_t*, std::deque<AmqpDelivery>> inbox;
  std::map<std::uint64_t, pn_delivery_t*> unsettled;
  std::map<pn_link_t*, std::string> reply_addresses;
  std::vector<std::pair<std::string, pn_link_t*>> any_receivers;  // receive_any's links
  std::map<pn_link_t*, int> credit;                               // their credit windows
  std::size_t next_any = 0;
  std::uint64_t next_delivery = 1;
  std::uint64_t next_tag = 1;

  // I/O: one read and one write in flight at most; results land in members (a wait abandoned
  // by a deadline leaves no handler pointing into a caller's frame).
  std::array<char, 16 * 1024> read_buf{};
  beast::flat_buffer ws_buf;
  std::string write_buf;
  bool reading = false;
  bool writing = false;
  bool io_closed = false;
  boost::system::error_code io_error;

  Impl(AmqpEndpoint e, std::function<bool()> i, std::function<void(int, std::string_view)> t)
      : endpoint(std::move(e)), interrupted(std::move(i)), trace(std::move(t)) {}

  ~Impl() {
    if (conn) conn->close();  // completes the pending handlers while the members live
    if (driver_ready) pn_connection_driver_destroy(&driver);
  }

  void log(int level, std::string_view text) const {
    if (trace) trace(level, text);
  }

  [[nodiscard]] std::string where() const {
    return fmt::format("{}:{}{}", endpoint.tls.host, endpoint.tls.port, endpoint.websocket ? endpoint.websocket_path : "");
  }

  // --- bytes ---------------------------------------------------------------------------------

  void feed(const char* data, std::size_t size) {
    while (size > 0) {
      pn_rwbytes_t buf = pn_connection_driver_read_buffer(&driver);
      if (buf.size == 0) {
        process();
        buf = pn_connection_driver_read_buffer(&driver);
        if (buf.size == 0) return;
      }
      const std::size_t n = std::min(buf.size, size);
      std::copy_n(data, n, buf.start);
      pn_connection_driver_read_done(&driver, n);
      data += n;
      size -= n;
      process();
    }
  }

  void on_read_error(const boost::system::error_code& ec) {
    io_closed = true;
    io_error = ec;
    pn_connection_driver_read_close(&driver);
    pn_connection_driver_write_close(&driver);
  }

  void start_io() {
    if (!reading && !io_closed) {
      reading = true;
      if (ws) {
        ws->async_read(ws_buf, [this](const boost::system::error_code& ec, std::size_t) {
          reading = false;
          if (ec) return on_read_error(ec);
          const auto data = ws_buf.cdata();
          feed(static_cast<const char*>(data.data()), data.size());
          ws_buf.consume(ws_buf.size());
        });
      } else {
        conn->m_stream->async_read_some(net::buffer(read_buf), [this](const boost::system::error_code& ec, std::size_t n) {
          reading = false;
          if (ec) return on_read_error(ec);
          feed(read_buf.data(), n);
        });
      }
    }
    if (!writing && !io_closed) {
      write_buf.clear();
      for (;;) {
        pn_bytes_t b = pn_connection_driver_write_buffer(&driver);
        if (b.size == 0) break;
        write_buf.append(b.start, b.size);
        pn_connection_driver_write_done(&driver, b.size);
      }
      if (write_buf.empty()) return;
      writing = true;
      auto done = [this](const boost::system::error_code& ec, std::size_t) {
        writing = false;
        if (ec) on_read_error(ec);
      };
      if (ws) {
        ws->async_write(net::buffer(write_buf), done);
      } else {
        net::async_write(*conn->m_stream, net::buffer(write_buf), done);
      }
    }
  }

  [[nodiscard]] bool output_pending() {
    return writing || pn_connection_driver_write_buffer(&driver).size > 0;
  }

  // --- events --------------------------------------------------------------------------------

  void process() {
    while (pn_event_t* e = pn_connection_driver_next_event(&driver)) {
      if (pn_event_type(e) != PN_DELIVERY) continue;
      pn_delivery_t* d = pn_event_delivery(e);
      pn_link_t* link = pn_delivery_link(d);
      if (!pn_link_is_receiver(link) || !pn_delivery_readable(d)) continue;
      std::string& bytes = partial[link];
      char buf[16 * 1024];
      for (;;) {
        const ssize_t n = pn_link_recv(link, buf, sizeof buf);
        if (n <= 0) break;
        bytes.append(buf, static_cast<std::size_t>(n));
      }
      if (pn_delivery_partial(d)) continue;
      pn_link_advance(link);
      std::string whole = std::move(bytes);
      partial.erase(link);
      if (pn_delivery_aborted(d)) {
        pn_delivery_settle(d);
        continue;
      }
      AmqpDelivery delivery;
      delivery.id = next_delivery++;
      try {
        delivery.message = amqp::decode(whole);
      } catch (const Error& err) {
        // Not a message: reject it so the hub does not send it again, and say so.
        log(1, fmt::format("amqp: rejected an undecodable message from {}: {}", where(), err.what()));
        pn_condition_t* c = pn_disposition_condition(pn_delivery_local(d));
        pn_condition_set_name(c, std::string(amqp::k_decode_error).c_str());
        pn_condition_set_description(c, err.what());
        pn_delivery_update(d, PN_REJECTED);
        pn_delivery_settle(d);
        continue;
      }
      unsettled[delivery.id] = d;
      inbox[link].push_back(std::move(delivery));
    }
  }

  [[nodiscard]] bool transport_closed() { return io_closed || pn_connection_driver_finished(&driver); }

  [[noreturn]] void fail_closed(std::string_view doing) {
    pn_condition_t* remote = pn_connection_remote_condition(driver.connection);
    pn_condition_t* transport = pn_transport_condition(driver.transport);
    std::string why;
    if (pn_condition_is_set(remote)) {
      why = describe(remote);
    } else if (pn_condition_is_set(transport)) {
      why = describe(transport);
    } else if (io_error) {
      why = io_error.message();
    } else {
      why = "the connection was closed";
    }
    throw Error(ExitCode::connect, fmt::format("AMQP connection to {} ended while {}: {}", where(), doing, why));
  }

  // Runs I/O until `done()`; false at the deadline when `soft`, else Error(timeout).
  // `interruptible` false: Ctrl-C does not cut the wait short (a disposition that must reach
  // the hub; the deadline still bounds it).
  template <class Done>
  bool wait(Done done, std::optional<Deadline> deadline, std::string_view doing, bool soft = false,
            bool interruptible = true) {
    for (;;) {
      process();
      if (done()) return true;
      start_io();
      if (done()) return true;
      if (transport_closed() && !reading && !writing) fail_closed(doing);
      if (interruptible && interrupted && interrupted()) throw Error(ExitCode::interrupted, "interrupted");
      auto slice = std::chrono::steady_clock::duration(std::chrono::milliseconds(100));
      if (deadline) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= *deadline) {
          if (soft) return false;
          throw Error(ExitCode::timeout, fmt::format("timed out {} {}", doing, where()));
        }
        slice = std::min(slice, *deadline - now);
      }
      pn_transport_tick(driver.transport,
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count());
      conn->m_ioc.run_one_for(slice);
      if (conn->m_ioc.stopped()) conn->m_ioc.restart();
    }
  }

  // --- links ---------------------------------------------------------------------------------

  [[nodiscard]] static bool link_closed(pn_link_t* link) {
    return (pn_link_state(link) & (PN_REMOTE_CLOSED | PN_LOCAL_CLOSED)) != 0;
  }

  // A link the hub closed (or refused). Its condition names the reason; it is not a message's
  // disposition, so no IoT Hub error code is made up for it: unauthorized access is an
  // authentication failure (exit 3), anything else a failure (exit 1).
  [[noreturn]] void fail_link(pn_link_t* link, std::string_view address) {
    const std::string why = describe(pn_link_remote_condition(link));
    const auto name = sv(pn_condition_get_name(pn_link_remote_condition(link)));
    const std::string text = fmt::format("the hub closed the link to {}: {}", address, why);
    throw Error(name == amqp::k_unauthorized ? ExitCode::connect : ExitCode::failure, text);
  }

  pn_link_t* attach(bool sender, std::string_view address, Deadline deadline,
                    std::optional<std::string_view> reply_address = std::nullopt, std::string_view filter = {}) {
    const std::string name = fmt::format("azhub-{}-{}", sender ? "sender" : "receiver", amqp::to_string(amqp::random_uuid()));
    pn_link_t* link = sender ? pn_sender(session, name.c_str()) : pn_receiver(session, name.c_str());
    const std::string addr(address);
    if (sender) {
      pn_terminus_set_address(pn_link_target(link), addr.c_str());
      pn_link_set_snd_settle_mode(link, PN_SND_UNSETTLED);
    } else {
      pn_terminus_set_address(pn_link_source(link), addr.c_str());
      if (reply_address) pn_terminus_set_address(pn_link_target(link), std::string(*reply_address).c_str());
      pn_link_set_rcv_settle_mode(link, PN_RCV_FIRST);
      if (!filter.empty()) {
        // The Event Hubs selector filter (docs/protocol.md §15.7).
        pn_data_t* f = pn_terminus_filter(pn_link_source(link));
        pn_data_put_map(f);
        pn_data_enter(f);
        pn_data_put_symbol(f, pn_bytes(amqp::k_selector_filter.size(), amqp::k_selector_filter.data()));
        pn_data_put_described(f);
        pn_data_enter(f);
        pn_data_put_ulong(f, amqp::k_selector_filter_code);
        pn_data_put_string(f, pn_bytes(filter.size(), filter.data()));
        pn_data_exit(f);
        pn_data_exit(f);
      }
    }
    pn_link_open(link);
    if (!sender) pn_link_flow(link, k_receive_credit);
    wait([link] { return (pn_link_state(link) & (PN_REMOTE_ACTIVE | PN_REMOTE_CLOSED)) != 0; }, deadline,
         fmt::format("attaching a link to {} on", address));
    // A refused attach arrives as an attach followed at once by a detach with the reason.
    wait([link, this] { return link_closed(link) || !output_pending(); }, deadline, "attaching a link on");
    process();
    if (link_closed(link)) fail_link(link, address);
    log(2, fmt::format("amqp: attached a {} link to {}", sender ? "sender" : "receiver", address));
    return link;
  }

  void send_on(pn_link_t* link, std::string_view address, const amqp::Message& message, Deadline deadline) {
    wait([link] { return pn_link_credit(link) > 0 || link_closed(link); }, deadline,
         fmt::format("waiting for credit to send to {} on", address));
    if (link_closed(link)) fail_link(link, address);
    const std::string bytes = amqp::encode(message);
    const std::uint64_t tag = next_tag++;
    pn_delivery_t* d = pn_delivery(link, pn_dtag(reinterpret_cast<const char*>(&tag), sizeof tag));
    pn_link_send(link, bytes.data(), bytes.size());
    pn_link_advance(link);
    wait([d, link] { return pn_delivery_remote_state(d) != 0 || pn_delivery_settled(d) || link_closed(link); }, deadline,
         fmt::format("waiting for the hub to take a message for {} on", address));
    const std::uint64_t state = pn_delivery_remote_state(d);
    if (state == PN_ACCEPTED || (state == 0 && pn_delivery_settled(d))) {
      pn_delivery_settle(d);
      return;
    }
    if (state == PN_REJECTED) {
      pn_condition_t* c = pn_disposition_condition(pn_delivery_remote(d));
      const std::string name(sv(pn_condition_get_name(c)));
      const std::string text = describe(c);
      pn_delivery_settle(d);
      const int code = amqp::hub_code_for(name);
      if (code != 0) throw core::HubError(code, fmt::format("{} ({}): {}", core::name_of(code), code, text));
      throw Error(ExitCode::failure, fmt::format("the hub rejected the message: {}", text));
    }
    if (state == PN_RELEASED || state == PN_MODIFIED) {
      pn_delivery_settle(d);
      throw Error(ExitCode::failure, fmt::format("the hub released the message for {} without taking it", address));
    }
    fail_link(link, address);
  }

  void settle(const AmqpDelivery& delivery, std::uint64_t outcome, Deadline deadline) {
    auto it = unsettled.find(delivery.id);
    if (it == unsettled.end()) return;
    pn_delivery_update(it->second, outcome);
    pn_delivery_settle(it->second);
    unsettled.erase(it);
    wait([this] { return !output_pending(); }, deadline, "settling a message on", false, false);
  }
};

AmqpClient::AmqpClient(AmqpEndpoint endpoint, std::function<bool()> interrupted,
                       std::function<void(int, std::string_view)> trace)
    : m(std::make_unique<Impl>(std::move(endpoint), std::move(interrupted), std::move(trace))) {}

AmqpClient::~AmqpClient() = default;

void AmqpClient::connect(Deadline deadline) {
  Impl& i = *m;
  i.conn = std::make_unique<TlsConnection>(i.endpoint.tls, i.interrupted, i.trace);
  i.conn->connect(deadline);
  if (i.endpoint.websocket) {
    i.ws.emplace(*i.conn->m_stream);
    i.ws->set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(boost::beast::http::field::sec_websocket_protocol, std::string(core::k_websocket_amqp_subprotocol));
    }));
    const std::string host =
        i.endpoint.tls.port == 443 ? i.endpoint.tls.host : fmt::format("{}:{}", i.endpoint.tls.host, i.endpoint.tls.port);
    i.conn->run([&](auto handler) { i.ws->async_handshake(host, i.endpoint.websocket_path, std::move(handler)); },
                deadline, "in the WebSocket upgrade with");
    if (i.conn->m_ec) i.conn->fail_connect("upgrade to AMQP over WebSockets with", i.conn->m_ec);
    i.ws->binary(true);
  }
  if (pn_connection_driver_init(&i.driver, nullptr, nullptr) != 0)
    throw Error(ExitCode::failure, "cannot create an AMQP connection engine");
  i.driver_ready = true;
  pn_connection_t* c = i.driver.connection;
  const std::string container = "azhub-" + amqp::to_string(amqp::random_uuid());
  pn_connection_set_container(c, container.c_str());
  pn_connection_set_hostname(c, i.endpoint.tls.host.c_str());
  // No SASL layer unless asked: IoT Hub takes the AMQP header directly and authenticates through
  // CBS, as Microsoft's service SDKs use it (docs/protocol.md §15.1). TLS is azhub's own, so
  // Proton must be told that PLAIN over it is fine.
  if (i.endpoint.sasl != AmqpEndpoint::Sasl::none) {
    pn_sasl_t* sasl = pn_sasl(i.driver.transport);
    pn_sasl_set_allow_insecure_mechs(sasl, true);
    if (i.endpoint.sasl == AmqpEndpoint::Sasl::plain) {
      pn_sasl_allowed_mechs(sasl, "PLAIN");
      pn_connection_set_user(c, i.endpoint.sasl_user.c_str());
      pn_connection_set_password(c, i.endpoint.sasl_password.c_str());
    } else {
      pn_sasl_allowed_mechs(sasl, "ANONYMOUS");
    }
  }
  pn_connection_open(c);
  i.session = pn_session(c);
  pn_session_open(i.session);
  i.wait([c] { return (pn_connection_state(c) & (PN_REMOTE_ACTIVE | PN_REMOTE_CLOSED)) != 0; }, deadline,
         "opening an AMQP connection with");
  if (pn_connection_state(c) & PN_REMOTE_CLOSED) i.fail_closed("opening the connection");
}

void AmqpClient::open(std::string_view audience, std::string_view token, Deadline deadline) {
  Impl& i = *m;
  const auto started = std::chrono::steady_clock::now();
  connect(deadline);
  put_token(audience, token, deadline);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  i.log(1, fmt::format("amqp: connected to {} ({} ms)", i.where(), ms.count()));
}

std::optional<AmqpRedirect> AmqpClient::redirect_of(std::string_view address, Deadline deadline) {
  Impl& i = *m;
  const std::string name = "azhub-receiver-" + amqp::to_string(amqp::random_uuid());
  pn_link_t* link = pn_receiver(i.session, name.c_str());
  pn_terminus_set_address(pn_link_source(link), std::string(address).c_str());
  pn_link_open(link);
  pn_link_flow(link, 1);
  i.wait([link] { return (pn_link_state(link) & PN_REMOTE_CLOSED) != 0; }, deadline,
         fmt::format("waiting for the hub's answer to a link to {} on", address));
  pn_condition_t* c = pn_link_remote_condition(link);
  if (sv(pn_condition_get_name(c)) != amqp::k_redirect) {
    if (pn_condition_is_set(c)) i.fail_link(link, address);
    return std::nullopt;
  }
  AmqpRedirect r;
  pn_data_t* info = pn_condition_info(c);
  pn_data_rewind(info);
  if (pn_data_next(info) && pn_data_type(info) == PN_MAP) {
    const std::size_t n = pn_data_get_map(info);
    pn_data_enter(info);
    for (std::size_t k = 0; k < n; k += 2) {
      if (!pn_data_next(info)) break;
      std::string key;
      if (pn_data_type(info) == PN_SYMBOL) key = std::string(pn_data_get_symbol(info).start, pn_data_get_symbol(info).size);
      if (pn_data_type(info) == PN_STRING) key = std::string(pn_data_get_string(info).start, pn_data_get_string(info).size);
      if (!pn_data_next(info)) break;
      if (pn_data_type(info) == PN_STRING) {
        const std::string value(pn_data_get_string(info).start, pn_data_get_string(info).size);
        if (key == "hostname") r.hostname = value;
        if (key == "address") r.address = value;
      } else if (key == "port" && (pn_data_type(info) == PN_INT || pn_data_type(info) == PN_UINT)) {
        const auto port = pn_data_type(info) == PN_INT ? static_cast<std::int64_t>(pn_data_get_int(info))
                                                       : static_cast<std::int64_t>(pn_data_get_uint(info));
        if (port > 0 && port < 65536) r.port = static_cast<std::uint16_t>(port);
      }
    }
    pn_data_exit(info);
  }
  if (r.hostname.empty() || r.address.empty())
    throw Error(ExitCode::failure, fmt::format("the hub redirected the link to {} without naming where", address));
  return r;
}

core::amqp::Message AmqpClient::request(std::string_view node, core::amqp::Message message, Deadline deadline) {
  Impl& i = *m;
  const std::string key(node);
  auto sender = i.senders.find(key);
  if (sender == i.senders.end()) sender = i.senders.emplace(key, i.attach(true, node, deadline)).first;
  const std::string reply_key = key + " (replies)";
  auto receiver = i.receivers.find(reply_key);
  if (receiver == i.receivers.end()) {
    const std::string reply_to = fmt::format("{}-{}", node, amqp::to_string(amqp::random_uuid()));
    receiver = i.receivers.emplace(reply_key, i.attach(false, node, deadline, std::string_view(reply_to))).first;
    i.reply_addresses[receiver->second] = reply_to;
  }
  if (std::holds_alternative<std::monostate>(message.message_id)) message.message_id = amqp::to_string(amqp::random_uuid());
  message.reply_to = i.reply_addresses[receiver->second];
  i.send_on(sender->second, node, message, deadline);
  pn_link_t* link = receiver->second;
  for (;;) {
    i.wait([&] { return !i.inbox[link].empty() || Impl::link_closed(link); }, deadline,
           fmt::format("waiting for the answer from {} on", node));
    if (i.inbox[link].empty()) i.fail_link(link, node);
    AmqpDelivery reply = std::move(i.inbox[link].front());
    i.inbox[link].pop_front();
    i.settle(reply, PN_ACCEPTED, deadline);
    if (reply.message.correlation_id == message.message_id) return std::move(reply.message);
  }
}

void AmqpClient::attach_receiver(std::string_view address, std::string_view filter, Deadline deadline, int credit) {
  Impl& i = *m;
  pn_link_t* link = i.attach(false, address, deadline, std::nullopt, filter);
  i.credit[link] = credit;
  if (credit > k_receive_credit) pn_link_flow(link, credit - k_receive_credit);
  i.receivers[std::string(address)] = link;
  i.any_receivers.emplace_back(std::string(address), link);
}

std::optional<std::pair<std::string, AmqpDelivery>> AmqpClient::receive_any(std::optional<Deadline> deadline) {
  Impl& i = *m;
  const auto ready = [&]() -> bool {
    for (const auto& [address, link] : i.any_receivers) {
      if (!i.inbox[link].empty() || Impl::link_closed(link)) return true;
    }
    return false;
  };
  if (!i.wait(ready, deadline, "waiting for messages on", true)) return std::nullopt;
  // Oldest first per link; links in turn, so no partition starves another.
  for (std::size_t n = 0; n < i.any_receivers.size(); ++n) {
    auto& [address, link] = i.any_receivers[(i.next_any + n) % i.any_receivers.size()];
    auto& queue = i.inbox[link];
    if (queue.empty()) continue;
    AmqpDelivery d = std::move(queue.front());
    queue.pop_front();
    const int window = i.credit.count(link) != 0 ? i.credit[link] : k_receive_credit;
    if (const int credit = pn_link_credit(link); credit < window / 2) pn_link_flow(link, window - credit);
    i.next_any = (i.next_any + n + 1) % i.any_receivers.size();
    return std::make_pair(address, std::move(d));
  }
  for (const auto& [address, link] : i.any_receivers) {
    if (Impl::link_closed(link)) i.fail_link(link, address);
  }
  return std::nullopt;
}

void AmqpClient::put_token(std::string_view audience, std::string_view token, Deadline deadline) {
  Impl& i = *m;
  if (i.cbs_sender == nullptr) {
    i.cbs_sender = i.attach(true, amqp::k_cbs_address, deadline);
    i.cbs_receiver = i.attach(false, amqp::k_cbs_address, deadline, std::string_view("cbs"));
  }
  const amqp::Message request = amqp::make_put_token(audience, token, "cbs");
  i.send_on(i.cbs_sender, amqp::k_cbs_address, request, deadline);
  pn_link_t* link = i.cbs_receiver;
  for (;;) {
    i.wait([&] { return !i.inbox[link].empty() || Impl::link_closed(link); }, deadline, "waiting for the put-token answer from");
    if (i.inbox[link].empty()) i.fail_link(link, amqp::k_cbs_address);
    AmqpDelivery reply = std::move(i.inbox[link].front());
    i.inbox[link].pop_front();
    i.settle(reply, PN_ACCEPTED, deadline);
    if (reply.message.correlation_id != request.message_id) continue;  // an answer to an earlier request
    const auto status = amqp::parse_cbs_reply(reply.message);
    if (!status) throw Error(ExitCode::failure, "the hub's put-token answer has no status-code");
    if (status->status != 200)
      throw core::HubError(401002, fmt::format("IotHubUnauthorizedAccess (401002): the hub refused the token for {} ({}: {})",
                                               audience, status->status, status->description));
    i.log(2, fmt::format("amqp: token for {} accepted", audience));
    return;
  }
}

void AmqpClient::send(std::string_view address, const core::amqp::Message& message, Deadline deadline) {
  Impl& i = *m;
  auto it = i.senders.find(std::string(address));
  if (it == i.senders.end()) it = i.senders.emplace(std::string(address), i.attach(true, address, deadline)).first;
  i.send_on(it->second, address, message, deadline);
}

std::optional<AmqpDelivery> AmqpClient::receive(std::string_view address, std::optional<Deadline> deadline) {
  Impl& i = *m;
  auto it = i.receivers.find(std::string(address));
  if (it == i.receivers.end()) {
    const Deadline attach_deadline = deadline.value_or(std::chrono::steady_clock::now() + std::chrono::seconds(60));
    it = i.receivers.emplace(std::string(address), i.attach(false, address, attach_deadline)).first;
  }
  pn_link_t* link = it->second;
  auto& queue = i.inbox[link];
  const bool got = i.wait([&] { return !queue.empty() || Impl::link_closed(link); }, deadline,
                          fmt::format("waiting for a message from {} on", address), true);
  if (!got) return std::nullopt;
  if (queue.empty()) i.fail_link(link, address);
  AmqpDelivery d = std::move(queue.front());
  queue.pop_front();
  if (const int credit = pn_link_credit(link); credit < k_receive_credit / 2) pn_link_flow(link, k_receive_credit - credit);
  return d;
}

void AmqpClient::accept(const AmqpDelivery& delivery, Deadline deadline) { m->settle(delivery, PN_ACCEPTED, deadline); }

void AmqpClient::release(const AmqpDelivery& delivery, Deadline deadline) { m->settle(delivery, PN_RELEASED, deadline); }

void AmqpClient::accept_later(const AmqpDelivery& delivery) {
  auto it = m->unsettled.find(delivery.id);
  if (it == m->unsettled.end()) return;
  pn_delivery_update(it->second, PN_ACCEPTED);
  pn_delivery_settle(it->second);
  m->unsettled.erase(it);
}

void AmqpClient::close(Deadline deadline) {
  Impl& i = *m;
  if (!i.driver_ready || i.transport_closed()) return;
  pn_connection_close(i.driver.connection);
  try {
    i.wait([&] { return (pn_connection_state(i.driver.connection) & PN_REMOTE_CLOSED) != 0 || i.transport_closed(); },
           deadline, "closing the connection to", true);
  } catch (const Error&) {
    // The connection went away while closing: nothing more to say to it.
  }
}

}  // namespace azhub::service
