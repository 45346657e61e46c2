#pragma once
// Incremental parser for server-sent events (the WHATWG "text/event-stream" format), which the
// emulator's D2C stream (/_emulator/messages/events/stream) speaks. No I/O: feed it bytes as
// they arrive, take the complete events.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azhub::service {

struct SseEvent {
  std::string event = "message";  // the "event:" field, "message" when absent
  std::string data;               // "data:" lines joined with '\n'
  std::optional<std::string> id;  // the "id:" field
  bool operator==(const SseEvent&) const = default;
};

class SseParser {
 public:
  // Consumes `bytes` (any split, CRLF/LF/CR line ends) and returns the events they complete.
  // Comment lines (":...") and events with no data are dropped, as the format requires.
  [[nodiscard]] std::vector<SseEvent> feed(std::string_view bytes);

 private:
  void take_line(std::string_view line, std::vector<SseEvent>& out);

  std::string m_line;
  bool m_last_was_cr = false;
  SseEvent m_current;
  bool m_has_data = false;
};

}  // namespace azhub::service
