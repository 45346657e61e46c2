#pragma once
// HTTP CONNECT proxies, the one home of their rules: the proxy URL, which proxy a connection
// uses (--proxy, the environment, NO_PROXY, all as curl does), the CONNECT request and what
// the proxy's answer means. Pure: the environment comes in as values.
//
// Which proxy, for a connection to `host` whose URL scheme is https (wss://, the service REST
// API) or http (ws:// with --no-tls):
//   1. no_proxy, else NO_PROXY (curl reads the lower-case name first): when it matches `host`,
//      no proxy at all, not even --proxy (as curl's NO_PROXY overrides -x).
//   2. --proxy URL; an empty URL means no proxy (curl's `-x ""`).
//   3. https: https_proxy, else HTTPS_PROXY; http: http_proxy only (curl ignores HTTP_PROXY,
//      which a CGI "Proxy:" request header can set); then all_proxy, else ALL_PROXY.
//      A variable that is set but empty means no proxy and stops the search.
// Loopback hosts are proxied like any other unless NO_PROXY lists them (curl does the same).
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace azhub::core {

// curl's default port for a proxy URL without one ("If the port number is not specified in
// the proxy string, it is assumed to be 1080", curl(1) --proxy).
inline constexpr int k_proxy_default_port = 1080;

struct ProxyUrl {
  std::string host;  // a name, an IPv4 address or an IPv6 address (no brackets)
  int port = k_proxy_default_port;
  std::optional<std::string> user;      // percent-decoded; set when the URL has "user@"
  std::optional<std::string> password;  // percent-decoded; set when the URL has "user:password@"
  friend bool operator==(const ProxyUrl&, const ProxyUrl&) = default;
};

// Parses "[http://][user[:password]@]host[:port][/]" (IPv6 hosts in brackets; user and
// password percent-encoded). `source` ("--proxy", "env https_proxy") starts every message.
// Throws Error(usage) for another scheme (https://, socks5://, ...), a missing host, a bad
// port or bad percent-encoding; messages never contain the URL's credentials.
[[nodiscard]] ProxyUrl parse_proxy_url(std::string_view text, std::string_view source);

// "http://host:port" without the credentials: how messages and traces name a proxy.
[[nodiscard]] std::string proxy_display(const ProxyUrl& proxy);

// "[user[:password]@]host:port" with user and password percent-encoded (every byte outside
// RFC 3986's unreserved set), so that parse_proxy_url reads it back to `proxy`. The form Paho's
// httpsProxy/httpProxy take without a scheme (device/mqtt_connection.cpp).
[[nodiscard]] std::string format_proxy_authority(const ProxyUrl& proxy);

// "host:port", with brackets around an IPv6 address: a CONNECT target.
[[nodiscard]] std::string format_host_port(std::string_view host, int port);

// "Basic base64(user:password)" (RFC 7617), nullopt when the URL has no user.
[[nodiscard]] std::optional<std::string> proxy_authorization(const ProxyUrl& proxy);

// The CONNECT request for a tunnel to `host`:`port` (RFC 9110 §9.3.6), with
// Proxy-Authorization when the URL has credentials, ending in the empty line.
[[nodiscard]] std::string build_connect_request(const ProxyUrl& proxy, std::string_view host,
                                                int port);

struct ProxyReply {
  int status = 0;      // 200: the tunnel is open
  std::string reason;  // "Proxy Authentication Required"; may be empty
};

// The status line of a proxy's answer ("HTTP/1.1 407 Proxy Authentication Required\r\n...").
// nullopt when `head` does not start with an HTTP/1.x status line.
[[nodiscard]] std::optional<ProxyReply> parse_proxy_reply(std::string_view head);

// One line for a proxy that did not open the tunnel to `target` ("host:port"), e.g.
// "proxy http://p:3128 refused the tunnel to hub:443: 407 Proxy Authentication Required (the
// proxy wants a user and password: http://USER:PASSWORD@p:3128)"); 401 reads as 407, since
// some proxies (tinyproxy 1.11) answer wrong credentials with it. Never the credentials.
[[nodiscard]] std::string describe_proxy_refusal(const ProxyUrl& proxy, std::string_view target,
                                                 const ProxyReply& reply);

// True when NO_PROXY-style `list` says `host` is reached without a proxy, exactly as curl's
// Curl_check_noproxy: entries separated by commas (blanks around them allowed); "*" alone
// matches everything; a host name matches an entry equal to it or to one of its parent domains
// (a leading dot on the entry and a trailing dot on either side are ignored; no case); an IPv4
// or IPv6 host matches an equal address or a CIDR range ("10.0.0.0/8", "fd00::/8"; "/0" means
// the exact address). Ports are not part of an entry: it matches every port.
[[nodiscard]] bool no_proxy_matches(std::string_view list, std::string_view host);

// The environment variables select_proxy reads.
inline constexpr std::array<std::string_view, 7> k_proxy_environment = {
    "no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"};

// Those of k_proxy_environment that are set, by name, with their values.
using ProxyEnvironment = std::map<std::string, std::string, std::less<>>;

enum class TargetScheme { https, http };

struct ProxyChoice {
  std::optional<ProxyUrl> proxy;  // nullopt: connect directly
  std::string source;             // "--proxy" or "env NAME" when `proxy` is set
  std::string bypass;             // "env no_proxy" / "env NO_PROXY" when that made it direct
};

// The proxy for a connection to `host` (rules above). `flag` is --proxy as typed. Throws
// Error(usage) naming the flag or variable when the chosen URL is malformed.
[[nodiscard]] ProxyChoice select_proxy(const std::optional<std::string>& flag,
                                       const ProxyEnvironment& env, std::string_view host,
                                       TargetScheme scheme);

}  // namespace azhub::core
