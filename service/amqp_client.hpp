#pragma once
// The cloud side of IoT Hub over AMQP 1.0 (docs/protocol.md §15): one connection to the hub's
// AMQPS port (5671) or to AMQP over WebSockets (port 443, /$iothub/websocket, subprotocol
// AMQPWSB10), with Apache Qpid Proton's engine (pn_connection_driver) over azhub's own TLS
// socket (service/tls_connection.hpp, so --ca-file and HTTP CONNECT proxies work as for
// REST). Authenticates as Microsoft's service SDKs do: no SASL layer, then a put-token on $cbs.
// The same code talks to a real hub and to `azhub emulate`. Blocking calls, each bounded by a
// deadline and the interrupt flag.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/amqp_message.hpp"
#include "service/https_client.hpp"

namespace azhub::service {

struct AmqpEndpoint {
  HttpsEndpoint tls;        // host, port (5671, or 443 with websocket), CA file, proxy
  bool websocket = false;   // AMQP over WebSockets
  std::string websocket_path = "/$iothub/websocket";  // Event Hubs: /$servicebus/websocket
  // SASL: none (the AMQP header straight away, as the IoT Hub service SDKs), ANONYMOUS (as the
  // Event Hubs SDKs), or PLAIN with `sasl_user` and `sasl_password` (a SAS token).
  enum class Sasl { none, anonymous, plain } sasl = Sasl::none;
  std::string sasl_user;
  std::string sasl_password;
};

// Where the hub sent a link (amqp:link:redirect, docs/protocol.md §15.7).
struct AmqpRedirect {
  std::string hostname;
  std::string address;                  // e.g. amqps://ns.servicebus.windows.net:5671/myhub/$management
  std::optional<std::uint16_t> port;
};

// A message taken from a receiver link, not yet settled.
struct AmqpDelivery {
  std::uint64_t id = 0;
  core::amqp::Message message;
};

class AmqpClient {
 public:
  AmqpClient(AmqpEndpoint endpoint, std::function<bool()> interrupted, std::function<void(int, std::string_view)> trace);
  ~AmqpClient();
  AmqpClient(const AmqpClient&) = delete;
  AmqpClient& operator=(const AmqpClient&) = delete;

  // Connects (TLS, the WebSocket upgrade if asked), opens the AMQP connection and one session,
  // and puts `token` (a SAS token) for `audience` on $cbs. Throws Error(connect) when the hub
  // cannot be reached or drops the connection, HubError 401002 when the token is refused,
  // Error(timeout) past `deadline`, Error(interrupted) on Ctrl-C.
  void open(std::string_view audience, std::string_view token, Deadline deadline);
  // Puts another token (renewal) and waits for the answer.
  void put_token(std::string_view audience, std::string_view token, Deadline deadline);
  // Sends `message` on a sender link to `address` (attached on first use) and waits for the
  // hub's disposition. Throws core::HubError with the error the condition stands for
  // (core::amqp::hub_code_for) when the hub rejects it, Error(connect) when the link or the
  // connection is closed.
  void send(std::string_view address, const core::amqp::Message& message, Deadline deadline);
  // The next message on a receiver link from `address` (attached on first use, with credit);
  // nullopt when `deadline` passes first (nullopt deadline: wait for ever). The message stays
  // unsettled until accept() or release().
  [[nodiscard]] std::optional<AmqpDelivery> receive(std::string_view address, std::optional<Deadline> deadline);
  // Opens only the connection and session (no CBS): for open_redirect() and for put_token()
  // with an audience of the caller's choosing.
  void connect(Deadline deadline);
  // Attaches a receiver to `address` and returns the redirect the hub answers with; nullopt if
  // it attaches it instead (the link is then closed again).
  [[nodiscard]] std::optional<AmqpRedirect> redirect_of(std::string_view address, Deadline deadline);
  // A request/response exchange on `node` ($management): sends `request` with reply-to a
  // receiver attached for it and returns the reply whose correlation-id is the request's id.
  [[nodiscard]] core::amqp::Message request(std::string_view node, core::amqp::Message request, Deadline deadline);
  // Attaches a receiver to `address` whose source carries the Event Hubs selector filter
  // `filter` (empty: none). Throws as send() does when the hub refuses it.
  // `credit`: messages the hub may send ahead (Event Hubs consumers: many; they are not locked).
  void attach_receiver(std::string_view address, std::string_view filter, Deadline deadline, int credit = 10);
  // The next message on any receiver attached with attach_receiver(), with its address;
  // nullopt at the deadline.
  [[nodiscard]] std::optional<std::pair<std::string, AmqpDelivery>> receive_any(std::optional<Deadline> deadline);
  // Settles a received message as accepted (the hub completes it) or released (the hub
  // delivers it again). Returns once the disposition is written.
  void accept(const AmqpDelivery& delivery, Deadline deadline);
  // Accepts without waiting for the disposition to be written (it goes with the next I/O): for
  // messages whose outcome the hub ignores (Event Hubs events).
  void accept_later(const AmqpDelivery& delivery);
  void release(const AmqpDelivery& delivery, Deadline deadline);
  // Closes links, session and connection politely (bounded by `deadline`), then the socket.
  void close(Deadline deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

}  // namespace azhub::service
