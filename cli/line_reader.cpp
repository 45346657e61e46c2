#include "cli/line_reader.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <istream>

#include <fmt/format.h>

#include "core/error.hpp"

namespace azhub::cli {

namespace {
// How long one wait for input lasts before the interrupt flag is looked at again.
constexpr std::chrono::milliseconds k_interrupt_check{50};
constexpr std::size_t k_read_size = 65536;
}  // namespace

LineReader::LineReader(const Io& io) : m_io(io), m_fd(io.in_fd) {}

std::optional<std::string> LineReader::next() {
  if (m_fd < 0) {
    std::string line;
    if (!std::getline(m_io.in, line)) return std::nullopt;
    return line;
  }
  for (;;) {
    if (const auto nl = m_buffer.find('\n', m_scan); nl != std::string::npos) {
      std::string line = m_buffer.substr(m_pos, nl - m_pos);
      m_pos = m_scan = nl + 1;
      if (m_pos >= k_read_size || m_pos == m_buffer.size()) {
        m_buffer.erase(0, m_pos);
        m_pos = m_scan = 0;
      }
      return line;
    }
    m_scan = m_buffer.size();
    if (m_eof) {
      if (m_pos == m_buffer.size()) return std::nullopt;
      std::string line = m_buffer.substr(m_pos);
      m_buffer.clear();
      m_pos = m_scan = 0;
      return line;
    }
    if (m_io.was_interrupted()) return std::nullopt;
    fill();
  }
}

void LineReader::fill() {
  pollfd fd{m_fd, POLLIN, 0};
  const int ready = ::poll(&fd, 1, static_cast<int>(k_interrupt_check.count()));
  if (ready <= 0) return;  // nothing yet, or EINTR: the caller looks at the flag again
  char buffer[k_read_size];
  const ssize_t n = ::read(m_fd, buffer, sizeof buffer);
  if (n > 0) {
    m_buffer.append(buffer, static_cast<std::size_t>(n));
  } else if (n == 0) {
    m_eof = true;
  } else if (errno != EINTR && errno != EAGAIN) {
    throw core::Error(core::ExitCode::failure,
                      fmt::format("reading standard input: {}", std::strerror(errno)));
  }
}

}  // namespace azhub::cli
