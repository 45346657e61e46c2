#include "service/sse_parser.hpp"

namespace azhub::service {

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  for (const char c : bytes) {
    if (c == '\n' && m_last_was_cr) {
      // The LF of a CRLF whose CR already ended the line.
      m_last_was_cr = false;
      continue;
    }
    m_last_was_cr = c == '\r';
    if (c == '\r' || c == '\n') {
      take_line(m_line, out);
      m_line.clear();
    } else {
      m_line += c;
    }
  }
  return out;
}

void SseParser::take_line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    if (m_has_data) out.push_back(std::move(m_current));
    m_current = SseEvent{};
    m_has_data = false;
    return;
  }
  if (line.front() == ':') return;  // comment (keep-alive)
  const auto colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (m_has_data) m_current.data += '\n';
    m_current.data += value;
    m_has_data = true;
  } else if (field == "event") {
    m_current.event = value.empty() ? std::string("message") : std::string(value);
  } else if (field == "id") {
    m_current.id = std::string(value);
  }
  // "retry" and unknown fields are ignored: the stream is read once, not reconnected.
}

}  // namespace azhub::service
