#pragma once
// The live D2C stream of the emulator (GET /_emulator/messages/events/stream): server-sent
// events, one `id: {seq}` + `data: {json}` event per captured message, ": keep-alive" comments
// while idle. Messages are pushed from Hub's D2C listener as they are captured; a client that
// stops reading is dropped once too much output waits for it, so it never holds up the others.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "emulator/log.hpp"
#include "emulator/http_router.hpp"
#include "emulator/rest_api.hpp"

namespace azhub::emulator {

class Clock;
class Hub;

struct D2cStreamOptions {
  D2cFilter filter;                       // `after` set: replay retained messages first
  std::chrono::seconds keep_alive{15};
  std::size_t max_pending_bytes = 8 * 1024 * 1024;
  std::string request_id;                 // x-ms-request-id of the response
  Log log;  // may be empty
};

// Starts streaming to `exchange`; the stream keeps itself alive until the client goes away,
// the server stops, or the client falls too far behind.
void start_d2c_stream(Hub& hub, Clock& clock, std::shared_ptr<HttpExchange> exchange,
                      D2cStreamOptions options);

// One server-sent event for `message`: "id: {seq}\ndata: {json}\n\n".
[[nodiscard]] std::string format_d2c_event(const D2cMessage& message);

}  // namespace azhub::emulator
