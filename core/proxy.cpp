#include "core/proxy.hpp"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"

namespace azhub::core {
namespace {

using Ipv4 = std::array<std::uint8_t, 4>;
using Ipv6 = std::array<std::uint8_t, 16>;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Dotted-quad only, as inet_pton(AF_INET): four decimal parts 0-255, no leading zeros.
std::optional<Ipv4> parse_ipv4(std::string_view s) {
  Ipv4 out{};
  for (std::size_t part = 0; part < 4; ++part) {
    if (part > 0) {
      if (s.empty() || s.front() != '.') return std::nullopt;
      s.remove_prefix(1);
    }
    std::size_t n = 0;
    int value = 0;
    while (n < s.size() && is_digit(s[n]) && n < 4) value = value * 10 + (s[n++] - '0');
    if (n == 0 || n > 3 || value > 255 || (n > 1 && s[0] == '0')) return std::nullopt;
    out[part] = static_cast<std::uint8_t>(value);
    s.remove_prefix(n);
  }
  if (!s.empty()) return std::nullopt;
  return out;
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 4291 §2.2 text, as inet_pton(AF_INET6): hex groups, one "::", an IPv4 tail.
std::optional<Ipv6> parse_ipv6(std::string_view s) {
  Ipv6 out{};
  std::size_t filled = 0;
  std::optional<std::size_t> gap;  // where "::" stands, in bytes
  if (s.starts_with("::")) {
    gap = 0;
    s.remove_prefix(2);
    if (s.empty()) return out;
  }
  for (;;) {
    std::size_t n = 0;
    unsigned value = 0;
    while (n < s.size() && n < 5 && hex_value(s[n]) >= 0)
      value = value * 16 + static_cast<unsigned>(hex_value(s[n++]));
    if (n < s.size() && s[n] == '.') {  // the IPv4 tail: the last 32 bits
      const auto v4 = parse_ipv4(s);
      if (!v4 || filled + 4 > 16) return std::nullopt;
      for (std::uint8_t b : *v4) out[filled++] = b;
      s = {};
      break;
    }
    if (n == 0 || n > 4 || filled + 2 > 16) return std::nullopt;
    out[filled++] = static_cast<std::uint8_t>(value >> 8);
    out[filled++] = static_cast<std::uint8_t>(value & 0xff);
    s.remove_prefix(n);
    if (s.empty()) break;
    if (s.front() != ':') return std::nullopt;
    s.remove_prefix(1);
    if (!s.empty() && s.front() == ':') {
      if (gap) return std::nullopt;
      gap = filled;
      s.remove_prefix(1);
      if (s.empty()) break;
    } else if (s.empty()) {
      return std::nullopt;  // a trailing single ':'
    }
  }
  if (gap) {
    if (filled == 16) return std::nullopt;  // "::" must stand for at least one group
    const std::size_t move = filled - *gap;
    std::memmove(out.data() + 16 - move, out.data() + *gap, move);
    std::memset(out.data() + *gap, 0, 16 - move - *gap);
  } else if (filled != 16) {
    return std::nullopt;
  }
  return out;
}

// atoi() of what follows a '/' in a NO_PROXY entry, as curl reads it; nullopt for what curl's
// CIDR functions reject (negative or huge).
std::optional<unsigned> cidr_bits(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() &&
         (is_blank(s[i]) || s[i] == '\n' || s[i] == '\r' || s[i] == '\v' || s[i] == '\f'))
    ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  unsigned value = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    value = value * 10 + static_cast<unsigned>(s[i] - '0');
    if (value > 1000) return std::nullopt;
  }
  if (negative && value != 0) return std::nullopt;
  return value;
}

bool cidr4_match(const Ipv4& host, std::string_view network, unsigned bits) {
  if (bits > 32) return false;
  const auto check = parse_ipv4(network);
  if (!check) return false;
  const auto word = [](const Ipv4& a) {
    return (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) | (std::uint32_t{a[2]} << 8) |
           a[3];
  };
  if (bits == 0 || bits == 32)
    return word(host) == word(*check);  // curl: "/0" is the exact address
  const std::uint32_t mask = 0xffffffffu << (32 - bits);
  return ((word(host) ^ word(*check)) & mask) == 0;
}

bool cidr6_match(const Ipv6& host, std::string_view network, unsigned bits) {
  if (bits == 0) bits = 128;
  const unsigned bytes = bits / 8;
  const unsigned rest = bits % 8;
  if (bytes > 16 || (bytes == 16 && rest != 0)) return false;
  const auto check = parse_ipv6(network);
  if (!check) return false;
  if (std::memcmp(host.data(), check->data(), bytes) != 0) return false;
  if (rest != 0 && ((host[bytes] ^ (*check)[bytes]) & (0xff << (8 - rest)) & 0xff) != 0)
    return false;
  return true;
}

bool entry_matches_name(std::string_view token, std::string_view name) {
  if (!token.empty() && token.back() == '.') token.remove_suffix(1);
  if (!token.empty() && token.front() == '.') token.remove_prefix(1);
  if (token.size() == name.size()) return equal_nocase(token, name);
  if (token.size() < name.size())
    return name[name.size() - token.size() - 1] == '.' &&
           equal_nocase(token, name.substr(name.size() - token.size()));
  return false;
}

bool entry_matches_address(std::string_view token, const std::optional<Ipv4>& v4,
                           const std::optional<Ipv6>& v6) {
  if (token.size() >= 128) return false;  // curl copies the entry into a 128-byte buffer
  unsigned bits = 0;
  if (const std::size_t slash = token.find('/'); slash != std::string_view::npos) {
    const auto parsed = cidr_bits(token.substr(slash + 1));
    if (!parsed) return false;
    bits = *parsed;
    token = token.substr(0, slash);
  }
  return v4 ? cidr4_match(*v4, token, bits) : cidr6_match(*v6, token, bits);
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string percent_encode(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (is_unreserved(c)) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string percent_decode(std::string_view s, std::string_view source) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
      throw usage_error(fmt::format(
          "{}: bad percent-encoding in the proxy's user or password (use %XX)", source));
    out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
    i += 2;
  }
  return out;
}

bool is_host_name(std::string_view host) {
  for (char c : host)
    if (!(is_unreserved(c) && c != '~')) return false;
  return !host.empty();
}

int parse_port(std::string_view text, std::string_view source) {
  int port = 0;
  bool ok = !text.empty() && text.size() <= 5;
  for (char c : text) {
    if (!is_digit(c)) ok = false;
    if (ok) port = port * 10 + (c - '0');
  }
  if (!ok || port < 1 || port > 65535)
    throw usage_error(fmt::format("{}: the proxy port must be a number from 1 to 65535", source));
  return port;
}

}  // namespace

ProxyUrl parse_proxy_url(std::string_view text, std::string_view source) {
  text = trim(text);
  ProxyUrl url;
  if (const std::size_t scheme_end = text.find("://"); scheme_end != std::string_view::npos) {
    const std::string_view scheme = text.substr(0, scheme_end);
    if (!equal_nocase(scheme, "http")) {
      const bool plausible = !scheme.empty() && scheme.size() <= 10 && is_host_name(scheme);
      throw usage_error(fmt::format(
          "{}: {} proxies are not supported (only http:// proxies, which tunnel with CONNECT)",
          source, plausible ? fmt::format("{}://", scheme) : std::string("such")));
    }
    text.remove_prefix(scheme_end + 3);
  }
  std::string_view authority = text.substr(0, text.find_first_of("/?#"));
  const std::string_view rest = text.substr(authority.size());
  if (!rest.empty() && rest != "/")
    throw usage_error(fmt::format(
        "{}: a proxy URL has no path: give http://[USER:PASSWORD@]HOST[:PORT]", source));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    url.user = percent_decode(userinfo.substr(0, colon), source);
    if (colon != std::string_view::npos)
      url.password = percent_decode(userinfo.substr(colon + 1), source);
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::optional<std::string_view> port;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || !parse_ipv6(authority.substr(1, close - 1)))
      throw usage_error(
          fmt::format("{}: the proxy host is not a valid IPv6 address in brackets", source));
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        throw usage_error(
            fmt::format("{}: expected ':PORT' after the proxy's IPv6 address", source));
      port = after.substr(1);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) throw usage_error(fmt::format("{}: the proxy URL has no host", source));
  if (!authority.starts_with("[") && !is_host_name(host))
    throw usage_error(
        fmt::format("{}: the proxy host may hold only letters, digits, '-', '.' and '_' "
                    "(an IPv6 address goes in brackets)",
                    source));
  url.host = std::string(host);
  if (port) url.port = parse_port(*port, source);
  return url;
}

std::string format_host_port(std::string_view host, int port) {
  if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string proxy_display(const ProxyUrl& proxy) {
  return "http://" + format_host_port(proxy.host, proxy.port);
}

std::string format_proxy_authority(const ProxyUrl& proxy) {
  std::string out;
  if (proxy.user) {
    out = percent_encode(*proxy.user);
    if (proxy.password) out += ":" + percent_encode(*proxy.password);
    out += "@";
  }
  return out + format_host_port(proxy.host, proxy.port);
}

std::optional<std::string> proxy_authorization(const ProxyUrl& proxy) {
  if (!proxy.user) return std::nullopt;
  return "Basic " + base64_encode(*proxy.user + ":" + proxy.password.value_or(""));
}

std::string build_connect_request(const ProxyUrl& proxy, std::string_view host, int port) {
  const std::string target = format_host_port(host, port);
  std::string request = fmt::format("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n", target);
  if (const auto auth = proxy_authorization(proxy))
    request += fmt::format("Proxy-Authorization: {}\r\n", *auth);
  return request + "\r\n";
}

std::optional<ProxyReply> parse_proxy_reply(std::string_view head) {
  if (!(head.starts_with("HTTP/1.0 ") || head.starts_with("HTTP/1.1 "))) return std::nullopt;
  head.remove_prefix(9);
  if (head.size() < 3 || !is_digit(head[0]) || !is_digit(head[1]) || !is_digit(head[2]))
    return std::nullopt;
  ProxyReply reply;
  reply.status = (head[0] - '0') * 100 + (head[1] - '0') * 10 + (head[2] - '0');
  head.remove_prefix(3);
  if (!head.empty() && head.front() != ' ' && head.front() != '\r' && head.front() != '\n')
    return std::nullopt;
  const std::string_view reason = head.substr(0, head.find_first_of("\r\n"));
  for (char c : trim(reason))
    reply.reason +=
        (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) ? '?' : c;
  return reply;
}

std::string describe_proxy_refusal(const ProxyUrl& proxy, std::string_view target,
                                   const ProxyReply& reply) {
  std::string line =
      fmt::format("proxy {} refused the tunnel to {}: {}{}{}", proxy_display(proxy), target,
                  reply.status, reply.reason.empty() ? "" : " ", reply.reason);
  // 407 is the proxy's "who are you"; tinyproxy 1.11 answers wrong credentials with 401.
  if (reply.status == 407 || reply.status == 401) {
    line += proxy.user ? " (it did not accept the user and password in the proxy URL)"
                       : fmt::format(" (it wants a user and password: http://USER:PASSWORD@{})",
                                     format_host_port(proxy.host, proxy.port));
  } else if (reply.status == 403) {
    line += " (the proxy does not allow CONNECT to this host or port)";
  }
  return line;
}

bool no_proxy_matches(std::string_view list, std::string_view host) {
  if (host.empty() || list.empty()) return false;
  if (list == "*") return true;
  std::optional<Ipv4> v4;
  std::optional<Ipv6> v6;
  std::string_view name = host;
  if (host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    v6 = parse_ipv6(host.substr(1, close - 1));
    if (!v6) return false;
  } else {
    v4 = parse_ipv4(host);
    if (!v4) v6 = parse_ipv6(host);
    if (!v4 && !v6 && name.back() == '.') name.remove_suffix(1);  // a trailing dot is ignored
  }
  std::size_t p = 0;
  while (p < list.size()) {
    while (p < list.size() && is_blank(list[p])) ++p;
    const std::size_t start = p;
    while (p < list.size() && !is_blank(list[p]) && list[p] != ',') ++p;
    const std::string_view token = list.substr(start, p - start);
    if (!token.empty()) {
      const bool match =
          (v4 || v6) ? entry_matches_address(token, v4, v6) : entry_matches_name(token, name);
      if (match) return true;
    }
    while (p < list.size() && is_blank(list[p])) ++p;
    if (p >= list.size() || list[p] != ',') break;  // as curl: an entry ends at a blank or a comma
    while (p < list.size() && list[p] == ',') ++p;
  }
  return false;
}

ProxyChoice select_proxy(const std::optional<std::string>& flag, const ProxyEnvironment& env,
                         std::string_view host, TargetScheme scheme) {
  ProxyChoice choice;
  const auto value = [&env](std::string_view name) -> const std::string* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : &it->second;
  };
  for (std::string_view name : {"no_proxy", "NO_PROXY"}) {
    if (const std::string* list = value(name)) {
      if (no_proxy_matches(*list, host)) {
        choice.bypass = fmt::format("env {}", name);
        return choice;
      }
      break;  // curl reads NO_PROXY only when no_proxy is unset
    }
  }
  std::optional<std::string> text;
  if (flag) {
    text = *flag;
    choice.source = "--proxy";
  } else {
    const auto https_names = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    const auto http_names = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (std::string_view name : scheme == TargetScheme::https ? https_names : http_names) {
      if (const std::string* v = value(name)) {
        text = *v;
        choice.source = fmt::format("env {}", name);
        break;
      }
    }
  }
  if (!text || trim(*text).empty()) {
    choice.source.clear();
    return choice;
  }
  choice.proxy = parse_proxy_url(*text, choice.source);
  return choice;
}

}  // namespace azhub::core
