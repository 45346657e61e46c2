#include "core/proxy.hpp"

#include <string>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub::core;

namespace {
std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.what();
  }
  return "<no error>";
}

ProxyUrl url(std::string host, int port, std::optional<std::string> user = std::nullopt,
             std::optional<std::string> password = std::nullopt) {
  return ProxyUrl{std::move(host), port, std::move(user), std::move(password)};
}
}  // namespace

TEST_CASE("core::parse_proxy_url") {
  SUBCASE("forms") {
    CHECK(parse_proxy_url("http://proxy.local:3128", "--proxy") == url("proxy.local", 3128));
    CHECK(parse_proxy_url("HTTP://proxy.local:3128/", "--proxy") == url("proxy.local", 3128));
    CHECK(parse_proxy_url("proxy.local:3128", "--proxy") == url("proxy.local", 3128));
    CHECK(parse_proxy_url("  proxy.local:3128\n", "--proxy") == url("proxy.local", 3128));
    CHECK(parse_proxy_url("http://127.0.0.1:8888", "--proxy") == url("127.0.0.1", 8888));
    CHECK(parse_proxy_url("http://[::1]:3128", "--proxy") == url("::1", 3128));
    CHECK(parse_proxy_url("[fd00::1]", "--proxy") == url("fd00::1", 1080));
  }
  SUBCASE("the default port is curl's, 1080") {
    CHECK(k_proxy_default_port == 1080);
    CHECK(parse_proxy_url("http://proxy.local", "--proxy") == url("proxy.local", 1080));
  }
  SUBCASE("credentials, percent-decoded") {
    CHECK(parse_proxy_url("http://user:pass@p:1", "--proxy") == url("p", 1, "user", "pass"));
    CHECK(parse_proxy_url("http://user@p:1", "--proxy") == url("p", 1, "user"));
    CHECK(parse_proxy_url("http://us%40er:p%3Ass%25@p:1", "--proxy") ==
          url("p", 1, "us@er", "p:ss%"));
    // The last '@' ends the credentials, so an unencoded '@' in a password still works.
    CHECK(parse_proxy_url("http://u:a@b@p:1", "--proxy") == url("p", 1, "u", "a@b"));
    CHECK(parse_proxy_url("http://:@p:1", "--proxy") == url("p", 1, "", ""));
  }
  SUBCASE("refusals name the source and never the credentials") {
    struct Row {
      const char* text;
      const char* message;
    };
    const Row rows[] = {
        {"https://p:1",
         "--proxy: https:// proxies are not supported (only http:// proxies, which tunnel with "
         "CONNECT)"},
        {"socks5://u:secret@p:1",
         "--proxy: socks5:// proxies are not supported (only http:// proxies, which tunnel with "
         "CONNECT)"},
        {"://p:1",
         "--proxy: such proxies are not supported (only http:// proxies, which tunnel with "
         "CONNECT)"},
        {"http://", "--proxy: the proxy URL has no host"},
        {"http://u:secret@", "--proxy: the proxy URL has no host"},
        {"http://u:secret@:3128", "--proxy: the proxy URL has no host"},
        {"http://p:0", "--proxy: the proxy port must be a number from 1 to 65535"},
        {"http://p:65536", "--proxy: the proxy port must be a number from 1 to 65535"},
        {"http://p:", "--proxy: the proxy port must be a number from 1 to 65535"},
        {"http://p:12ab", "--proxy: the proxy port must be a number from 1 to 65535"},
        {"http://u:secret@p:x", "--proxy: the proxy port must be a number from 1 to 65535"},
        {"http://p:1/path",
         "--proxy: a proxy URL has no path: give http://[USER:PASSWORD@]HOST[:PORT]"},
        {"http://p q:1",
         "--proxy: the proxy host may hold only letters, digits, '-', '.' and '_' (an IPv6 address "
         "goes in brackets)"},
        {"http://::1:3128",
         "--proxy: the proxy host may hold only letters, digits, '-', '.' and '_' (an IPv6 address "
         "goes in brackets)"},
        {"http://[::g]:1", "--proxy: the proxy host is not a valid IPv6 address in brackets"},
        {"http://[::1", "--proxy: the proxy host is not a valid IPv6 address in brackets"},
        {"http://[::1]x", "--proxy: expected ':PORT' after the proxy's IPv6 address"},
        {"http://u:sec%zzret@p:1",
         "--proxy: bad percent-encoding in the proxy's user or password (use %XX)"},
        {"http://u:secret%2@p:1",
         "--proxy: bad percent-encoding in the proxy's user or password (use %XX)"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.text);
      const std::string message = error_of([&] { (void)parse_proxy_url(row.text, "--proxy"); });
      CHECK(message == row.message);
      CHECK(message.find("secret") == std::string::npos);
    }
    CHECK(error_of([] { (void)parse_proxy_url("ftp://p", "env https_proxy"); }) ==
          "env https_proxy: ftp:// proxies are not supported (only http:// proxies, which tunnel "
          "with CONNECT)");
  }
}

TEST_CASE("core::format_proxy_authority round-trips through parse_proxy_url") {
  CHECK(format_proxy_authority(url("p", 3128)) == "p:3128");
  CHECK(format_proxy_authority(url("::1", 3128)) == "[::1]:3128");
  CHECK(format_proxy_authority(url("p", 1, "user")) == "user@p:1");
  CHECK(format_proxy_authority(url("p", 1, "us@er", "p:ss%/")) == "us%40er:p%3Ass%25%2F@p:1");
  for (const ProxyUrl& u :
       {url("p", 1), url("::1", 2, "a b", "c@d:e%f"), url("h.example", 65535, "", "")}) {
    CHECK(parse_proxy_url(format_proxy_authority(u), "x") == u);
    CHECK(parse_proxy_url("http://" + format_proxy_authority(u), "x") == u);
  }
}

TEST_CASE("core::proxy_display never shows credentials") {
  CHECK(proxy_display(url("p", 3128, "user", "secret")) == "http://p:3128");
  CHECK(proxy_display(url("::1", 8080)) == "http://[::1]:8080");
}

TEST_CASE("core::build_connect_request") {
  CHECK(build_connect_request(url("p", 1), "hub.azure-devices.net", 443) ==
        "CONNECT hub.azure-devices.net:443 HTTP/1.1\r\nHost: hub.azure-devices.net:443\r\n\r\n");
  // RFC 7617 example: Aladdin / open sesame.
  CHECK(build_connect_request(url("p", 1, "Aladdin", "open sesame"), "::1", 8443) ==
        "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"
        "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
  CHECK(proxy_authorization(url("p", 1, "u")) == "Basic dTo=");
  CHECK_FALSE(proxy_authorization(url("p", 1)));
}

TEST_CASE("core::parse_proxy_reply") {
  CHECK(parse_proxy_reply("HTTP/1.1 200 Connection established\r\n\r\n")->status == 200);
  CHECK(parse_proxy_reply("HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy\r\n\r\n")
            ->reason == "Connection established");
  const auto denied = parse_proxy_reply("HTTP/1.1 407 Proxy Authentication Required\r\n");
  REQUIRE(denied);
  CHECK(denied->status == 407);
  CHECK(denied->reason == "Proxy Authentication Required");
  CHECK(parse_proxy_reply("HTTP/1.1 403\r\n")->reason.empty());
  CHECK(parse_proxy_reply("HTTP/1.1 502 Bad\x01Gateway\r\n")->reason == "Bad?Gateway");
  CHECK_FALSE(parse_proxy_reply(""));
  CHECK_FALSE(parse_proxy_reply("SSH-2.0-OpenSSH\r\n"));
  CHECK_FALSE(parse_proxy_reply("HTTP/2 200\r\n"));
  CHECK_FALSE(parse_proxy_reply("HTTP/1.1 2000 x\r\n"));
  CHECK_FALSE(parse_proxy_reply("HTTP/1.1 20"));
}

TEST_CASE("core::describe_proxy_refusal") {
  CHECK(describe_proxy_refusal(url("p", 3128), "hub:443", {407, "Proxy Authentication Required"}) ==
        "proxy http://p:3128 refused the tunnel to hub:443: 407 Proxy Authentication Required "
        "(it wants a user and password: http://USER:PASSWORD@p:3128)");
  CHECK(describe_proxy_refusal(url("p", 3128, "u", "secret"), "hub:443",
                               {407, "Proxy Authentication Required"}) ==
        "proxy http://p:3128 refused the tunnel to hub:443: 407 Proxy Authentication Required "
        "(it did not accept the user and password in the proxy URL)");
  CHECK(describe_proxy_refusal(url("p", 3128, "u", "secret"), "hub:443", {401, "Unauthorized"}) ==
        "proxy http://p:3128 refused the tunnel to hub:443: 401 Unauthorized "
        "(it did not accept the user and password in the proxy URL)");
  CHECK(describe_proxy_refusal(url("p", 3128), "hub:8443", {403, "Access violation"}) ==
        "proxy http://p:3128 refused the tunnel to hub:8443: 403 Access violation "
        "(the proxy does not allow CONNECT to this host or port)");
  CHECK(describe_proxy_refusal(url("p", 3128), "hub:443", {502, ""}) ==
        "proxy http://p:3128 refused the tunnel to hub:443: 502");
}

TEST_CASE("core::no_proxy_matches") {
  SUBCASE("host names and domain suffixes") {
    CHECK(no_proxy_matches("example.com", "example.com"));
    CHECK(no_proxy_matches("example.com", "www.example.com"));
    CHECK(no_proxy_matches(".example.com", "www.example.com"));
    CHECK(no_proxy_matches(".example.com", "example.com"));
    CHECK(no_proxy_matches("EXAMPLE.com", "Www.Example.COM"));
    CHECK(no_proxy_matches("example.com.", "www.example.com"));
    CHECK(no_proxy_matches("example.com", "www.example.com."));
    CHECK_FALSE(no_proxy_matches("example.com", "nonexample.com"));
    CHECK_FALSE(no_proxy_matches("www.example.com", "example.com"));
    CHECK_FALSE(no_proxy_matches("example.com", "example.org"));
    CHECK_FALSE(no_proxy_matches("", "example.com"));
    CHECK_FALSE(no_proxy_matches("example.com", ""));
  }
  SUBCASE("lists") {
    CHECK(no_proxy_matches("a.test,example.com", "example.com"));
    CHECK(no_proxy_matches(" a.test , example.com ", "example.com"));
    CHECK(no_proxy_matches("a.test,,,example.com", "example.com"));
    CHECK(no_proxy_matches(",example.com", "example.com"));
    CHECK(no_proxy_matches("a.test,\texample.com", "example.com"));
    // As curl: a blank that is not followed by a comma ends the list.
    CHECK_FALSE(no_proxy_matches("a.test example.com", "example.com"));
  }
  SUBCASE("the wildcard") {
    CHECK(no_proxy_matches("*", "anything.example"));
    CHECK(no_proxy_matches("*", "10.1.2.3"));
    CHECK(no_proxy_matches("*", "::1"));
    // Only "*" alone; inside a list it is an ordinary (never matching) entry, as in curl.
    CHECK_FALSE(no_proxy_matches("a.test,*", "anything.example"));
    CHECK_FALSE(no_proxy_matches("*.example", "www.example"));
  }
  SUBCASE("loopback is proxied unless listed") {
    CHECK_FALSE(no_proxy_matches("example.com", "localhost"));
    CHECK(no_proxy_matches("localhost", "localhost"));
    CHECK_FALSE(no_proxy_matches("localhost", "127.0.0.1"));  // names are not resolved
    CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    CHECK(no_proxy_matches("127.0.0.0/8", "127.0.0.1"));
    CHECK(no_proxy_matches("::1", "::1"));
    CHECK(no_proxy_matches("::1", "[::1]"));
  }
  SUBCASE("IPv4 addresses and CIDR ranges") {
    CHECK(no_proxy_matches("10.1.2.3", "10.1.2.3"));
    CHECK_FALSE(no_proxy_matches("10.1.2.3", "10.1.2.4"));
    CHECK(no_proxy_matches("10.0.0.0/8", "10.200.3.4"));
    CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "11.0.0.1"));
    CHECK(no_proxy_matches("192.168.4.0/22", "192.168.7.255"));
    CHECK_FALSE(no_proxy_matches("192.168.4.0/22", "192.168.8.0"));
    CHECK(no_proxy_matches("10.1.2.3/32", "10.1.2.3"));
    CHECK_FALSE(no_proxy_matches("10.1.2.3/33", "10.1.2.3"));
    CHECK(no_proxy_matches("10.1.2.3/0", "10.1.2.3"));  // curl: /0 is the exact address
    CHECK_FALSE(no_proxy_matches("0.0.0.0/0", "10.1.2.3"));
    CHECK_FALSE(no_proxy_matches("10.0.0.0/-8", "10.1.2.3"));
    CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "10.1.2"));  // not an address: a name
    CHECK_FALSE(no_proxy_matches("10.1.2.3", "010.1.2.3"));
    CHECK_FALSE(no_proxy_matches("example.com", "10.1.2.3"));
    // An address host is only compared with address entries, a name only with names.
    CHECK_FALSE(no_proxy_matches(".2.3", "10.1.2.3"));
    CHECK(no_proxy_matches("nope,10.1.2.3", "10.1.2.3"));
  }
  SUBCASE("IPv6 addresses and CIDR ranges") {
    CHECK(no_proxy_matches("fd00::1", "fd00:0:0::1"));
    CHECK(no_proxy_matches("fd00::/8", "[fdab::1]"));
    CHECK(no_proxy_matches("fd00::/8", "fdab::1"));
    CHECK_FALSE(no_proxy_matches("fd00::/8", "fe80::1"));
    CHECK(no_proxy_matches("2001:db8::/32", "2001:db8:ffff::1"));
    CHECK_FALSE(no_proxy_matches("2001:db8::/32", "2001:db9::1"));
    CHECK(no_proxy_matches("2001:db8::/33", "2001:db8:7fff::1"));
    CHECK_FALSE(no_proxy_matches("2001:db8::/33", "2001:db8:8000::1"));
    CHECK(no_proxy_matches("::ffff:10.0.0.1", "::ffff:a00:1"));
    CHECK_FALSE(no_proxy_matches("fd00::1/129", "fd00::1"));
    CHECK_FALSE(no_proxy_matches("fd00::1", "[fd00::1"));
    CHECK_FALSE(no_proxy_matches("10.0.0.1", "::1"));
  }
  SUBCASE("an entry matches every port; one with a port matches nothing") {
    CHECK(no_proxy_matches("example.com", "example.com"));
    CHECK_FALSE(no_proxy_matches("example.com:443", "example.com"));
  }
}

TEST_CASE("core::select_proxy") {
  const std::optional<std::string> none;
  SUBCASE("nothing set: direct") {
    const ProxyChoice c = select_proxy(none, {}, "hub.example", TargetScheme::https);
    CHECK_FALSE(c.proxy);
    CHECK(c.source.empty());
    CHECK(c.bypass.empty());
  }
  SUBCASE("--proxy wins over the environment") {
    const ProxyChoice c = select_proxy(std::string("http://f:1"), {{"https_proxy", "http://e:2"}},
                                       "hub.example", TargetScheme::https);
    CHECK(c.proxy == url("f", 1));
    CHECK(c.source == "--proxy");
  }
  SUBCASE("an empty --proxy turns the environment's off") {
    CHECK_FALSE(
        select_proxy(std::string(""), {{"https_proxy", "http://e:2"}}, "h", TargetScheme::https)
            .proxy);
  }
  SUBCASE("https: https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY in that order") {
    ProxyEnvironment env{{"ALL_PROXY", "A:4"}};
    CHECK(select_proxy(none, env, "h", TargetScheme::https).source == "env ALL_PROXY");
    env["all_proxy"] = "a:3";
    CHECK(select_proxy(none, env, "h", TargetScheme::https).source == "env all_proxy");
    env["HTTPS_PROXY"] = "S:2";
    CHECK(select_proxy(none, env, "h", TargetScheme::https).proxy == url("S", 2));
    env["https_proxy"] = "s:1";
    CHECK(select_proxy(none, env, "h", TargetScheme::https).proxy == url("s", 1));
    CHECK(select_proxy(none, env, "h", TargetScheme::https).source == "env https_proxy");
    env["http_proxy"] = "p:9";
    CHECK(select_proxy(none, env, "h", TargetScheme::https).proxy == url("s", 1));
  }
  SUBCASE("http: http_proxy only (never HTTP_PROXY), then all_proxy") {
    ProxyEnvironment env{{"HTTP_PROXY", "P:1"}, {"https_proxy", "s:2"}};
    CHECK_FALSE(select_proxy(none, env, "h", TargetScheme::http).proxy);
    env["ALL_PROXY"] = "a:3";
    CHECK(select_proxy(none, env, "h", TargetScheme::http).proxy == url("a", 3));
    env["http_proxy"] = "p:4";
    CHECK(select_proxy(none, env, "h", TargetScheme::http).proxy == url("p", 4));
  }
  SUBCASE("a set but empty variable means no proxy and stops the search") {
    CHECK_FALSE(
        select_proxy(none, {{"https_proxy", ""}, {"ALL_PROXY", "a:1"}}, "h", TargetScheme::https)
            .proxy);
  }
  SUBCASE("loopback is proxied") {
    CHECK(select_proxy(none, {{"HTTPS_PROXY", "p:1"}}, "localhost", TargetScheme::https).proxy ==
          url("p", 1));
    CHECK(select_proxy(none, {{"HTTPS_PROXY", "p:1"}}, "127.0.0.1", TargetScheme::https).proxy ==
          url("p", 1));
  }
  SUBCASE("NO_PROXY: also over --proxy, as curl; no_proxy is read first") {
    const ProxyChoice c = select_proxy(std::string("http://f:1"), {{"NO_PROXY", "localhost"}},
                                       "localhost", TargetScheme::https);
    CHECK_FALSE(c.proxy);
    CHECK(c.bypass == "env NO_PROXY");
    ProxyEnvironment env{{"no_proxy", "other.example"}, {"NO_PROXY", "*"}, {"https_proxy", "p:1"}};
    CHECK(select_proxy(none, env, "hub.example", TargetScheme::https).proxy == url("p", 1));
    env["no_proxy"] = ".example";
    CHECK(select_proxy(none, env, "hub.example", TargetScheme::https).bypass == "env no_proxy");
    // A matching NO_PROXY skips the proxy URL altogether, even a malformed one.
    CHECK_FALSE(
        select_proxy(std::string("socks5://x"), {{"NO_PROXY", "*"}}, "h", TargetScheme::https)
            .proxy);
  }
  SUBCASE("a malformed URL names its variable") {
    CHECK(error_of([&] {
            (void)select_proxy(none, {{"ALL_PROXY", "socks5://s:1"}}, "h", TargetScheme::https);
          }) ==
          "env ALL_PROXY: socks5:// proxies are not supported (only http:// proxies, which tunnel "
          "with CONNECT)");
  }
}
