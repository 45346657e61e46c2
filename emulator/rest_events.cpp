#include "emulator/rest_events.hpp"

#include <utility>

#include <fmt/format.h>

#include "emulator/clock.hpp"
#include "emulator/hub.hpp"
#include "emulator/rest_json.hpp"

namespace azhub::emulator {
namespace {

namespace http = boost::beast::http;

class D2cStream : public std::enable_shared_from_this<D2cStream> {
 public:
  D2cStream(Hub& hub, Clock& clock, std::shared_ptr<HttpExchange> exchange, D2cStreamOptions options)
      : m_hub(hub), m_clock(clock), m_exchange(std::move(exchange)), m_options(std::move(options)) {}

  void start() {
    HttpResponseHeader header;
    header.result(http::status::ok);
    header.version(m_exchange->request().version());
    header.set(http::field::content_type, "text/event-stream; charset=utf-8");
    header.set(http::field::cache_control, "no-cache");
    header.set("x-ms-request-id", m_options.request_id);
    m_exchange->start_stream(std::move(header));
    // The first comment tells the client the subscription is live: anything captured from
    // here on reaches it (what tests wait for before publishing).
    m_exchange->write_chunk(fmt::format(": subscribed, last sequence number {}\n\n",
                                        m_hub.last_d2c_sequence()));
    if (m_options.filter.after) replay(*m_options.filter.after);
    if (m_stopped) return;

    // Replay and subscribe happen in one turn of the single hub thread, so no message falls
    // between them.
    auto self = shared_from_this();
    m_listener = m_hub.subscribe_d2c([self](const D2cMessage& message) { self->push(message); });
    m_subscribed = true;
    std::weak_ptr<D2cStream> weak = self;
    m_exchange->on_closed([weak] {
      if (auto stream = weak.lock()) stream->stop();
    });
    arm_keep_alive();
  }

 private:
  void replay(std::uint64_t after) {
    while (!m_stopped) {
      const auto batch = m_hub.d2c_since(after, 500);
      if (batch.empty()) break;
      for (const auto& message : batch) {
        after = message.sequence_number;
        push(message);
      }
    }
  }

  void push(const D2cMessage& message) {
    if (m_stopped || !d2c_matches(m_options.filter, message)) return;
    write(format_d2c_event(message));
  }

  void write(std::string data) {
    if (m_stopped) return;
    if (m_exchange->closed()) return stop();
    if (m_exchange->pending_bytes() > m_options.max_pending_bytes) {
      // The client stopped reading: end its stream rather than buffer without bound.
      if (m_options.log)
        m_options.log(1, "rest: D2C stream to {} ended: the client is not reading "
                      "({} bytes unsent)",
                      m_exchange->peer(), m_exchange->pending_bytes());
      m_exchange->end_stream();
      return stop();
    }
    m_exchange->write_chunk(std::move(data));
  }

  void arm_keep_alive() {
    if (m_stopped) return;
    std::weak_ptr<D2cStream> weak = shared_from_this();
    m_timer = m_clock.start_timer(m_options.keep_alive, [weak] {
      if (auto stream = weak.lock()) {
        stream->m_timer.reset();
        stream->write(": keep-alive\n\n");
        stream->arm_keep_alive();
      }
    });
  }

  // Idempotent. Unsubscribing is deferred to a timer: stop() may run inside Hub's listener
  // loop, which must not have its listener set changed under it.
  void stop() {
    if (m_stopped) return;
    m_stopped = true;
    if (m_timer) m_clock.cancel_timer(*m_timer);
    m_timer.reset();
    if (!m_subscribed) return;
    m_subscribed = false;
    auto self = shared_from_this();
    m_clock.start_timer(std::chrono::milliseconds(0),
                        [self] { self->m_hub.unsubscribe_d2c(self->m_listener); });
  }

  Hub& m_hub;
  Clock& m_clock;
  std::shared_ptr<HttpExchange> m_exchange;
  D2cStreamOptions m_options;
  ListenerId m_listener = 0;
  bool m_subscribed = false;
  bool m_stopped = false;
  std::optional<TimerId> m_timer;
};

}  // namespace

std::string format_d2c_event(const D2cMessage& message) {
  // JSON text never contains a raw newline, so one data: line carries the whole message.
  return fmt::format("id: {}\ndata: {}\n\n", message.sequence_number, 
                     d2c_to_json(message).dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace));
}

void start_d2c_stream(Hub& hub, Clock& clock, std::shared_ptr<HttpExchange> exchange,
                      D2cStreamOptions options) {
  std::make_shared<D2cStream>(hub, clock, std::move(exchange), std::move(options))->start();
}

}  // namespace azhub::emulator
