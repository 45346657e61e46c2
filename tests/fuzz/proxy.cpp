// Fuzzes the proxy parsers of core/proxy.hpp. The input is "URL\nNO_PROXY\nHOST": a proxy URL
// either parses, and then formats back to the same value and shows no credentials, or is an
// Error(usage) naming its source without the credentials; the NO_PROXY list is matched against
// the host (no crash, no hang, "*" always matches); the whole input is read as a proxy's reply.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/proxy.hpp"
#include "fuzz_check.hpp"

using namespace azhub::core;

namespace {
std::string_view next_line(std::string_view& rest) {
  const std::size_t nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  return line;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view rest = input;
  const std::string_view url_text = next_line(rest);
  const std::string_view no_proxy = next_line(rest);
  const std::string_view host = rest;

  try {
    const ProxyUrl url = parse_proxy_url(url_text, "fuzz");
    FUZZ_CHECK(!url.host.empty());
    FUZZ_CHECK(url.port >= 1 && url.port <= 65535);
    FUZZ_CHECK(parse_proxy_url(format_proxy_authority(url), "fuzz") == url);
    FUZZ_CHECK(parse_proxy_url("http://" + format_proxy_authority(url), "fuzz") == url);
    const std::string display = proxy_display(url);
    FUZZ_CHECK(display.find('@') == std::string::npos);
    FUZZ_CHECK(parse_proxy_url(display, "fuzz").host == url.host);
    const std::string request = build_connect_request(url, url.host, url.port);
    FUZZ_CHECK(request.ends_with("\r\n\r\n"));
    FUZZ_CHECK(proxy_authorization(url).has_value() == url.user.has_value());
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ExitCode::usage);
    FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz: "));
  }

  (void)no_proxy_matches(no_proxy, host);
  if (!host.empty()) FUZZ_CHECK(no_proxy_matches("*", host));
  if (const auto reply = parse_proxy_reply(input)) {
    FUZZ_CHECK(reply->status >= 0 && reply->status <= 999);
    FUZZ_CHECK(reply->reason.find('\n') == std::string::npos);
  }
  return 0;
}
