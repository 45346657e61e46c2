#include "device/proxy_probe.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include <fmt/format.h>

namespace azhub::device {
namespace {

using Clock = std::chrono::steady_clock;

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

struct AddrInfoDeleter {
  void operator()(addrinfo* a) const noexcept { ::freeaddrinfo(a); }
};

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on `fd`; false when the deadline passed first.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return true;  // the next call reports the error
  }
}

// A connected socket to one of `addresses`, or the errno of the last attempt (ETIMEDOUT when
// the deadline passed).
int connect_any(addrinfo* addresses, Clock::time_point deadline, Socket& out) {
  int error = ECONNREFUSED;
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    Socket s;
    s.fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (s.fd < 0) {
      error = errno;
      continue;
    }
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        error = errno;
        continue;
      }
      if (!wait_for(s.fd, POLLOUT, deadline)) return ETIMEDOUT;
      socklen_t len = sizeof(error);
      if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
      if (error != 0) continue;
    }
    std::swap(out.fd, s.fd);
    return 0;
  }
  return error;
}

}  // namespace

std::optional<std::string> probe_proxy_tunnel(const core::ProxyUrl& proxy, std::string_view host,
                                              int port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string name = core::proxy_display(proxy);
  const std::string target = core::format_host_port(host, port);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(proxy.port);
  if (const int rc = ::getaddrinfo(proxy.host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return fmt::format("could not resolve the proxy host {}: {}", proxy.host, ::gai_strerror(rc));
  const std::unique_ptr<addrinfo, AddrInfoDeleter> addresses(found);

  Socket s;
  if (const int error = connect_any(addresses.get(), deadline, s); error != 0)
    return fmt::format("could not connect to proxy {}: {}", name, std::strerror(error));

  const std::string request = core::build_connect_request(proxy, host, port);
  std::size_t sent = 0;
  while (sent < request.size()) {
    if (!wait_for(s.fd, POLLOUT, deadline))
      return fmt::format("proxy {} did not take the CONNECT to {} in time", name, target);
    const ssize_t n = ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return fmt::format("could not send the CONNECT to proxy {}: {}", name, std::strerror(errno));
    if (n > 0) sent += static_cast<std::size_t>(n);
  }

  std::string head;
  while (head.find("\r\n") == std::string::npos && head.size() < 8192) {
    if (!wait_for(s.fd, POLLIN, deadline))
      return fmt::format("proxy {} did not answer the CONNECT to {} in time", name, target);
    char buffer[2048];
    const ssize_t n = ::recv(s.fd, buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return fmt::format("proxy {} dropped the connection: {}", name, std::strerror(errno));
    }
    head.append(buffer, static_cast<std::size_t>(n));
  }
  const std::optional<core::ProxyReply> reply = core::parse_proxy_reply(head);
  if (!reply) {
    return head.empty()
               ? fmt::format("proxy {} closed the connection without answering the CONNECT to {}",
                             name, target)
               : fmt::format("{} is not an HTTP proxy (its answer to CONNECT is not HTTP)", name);
  }
  if (reply->status != 200) return core::describe_proxy_refusal(proxy, target, *reply);
  return std::nullopt;
}

}  // namespace azhub::device
