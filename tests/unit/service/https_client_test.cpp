#include "service/https_client.hpp"

#include <atomic>
#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <doctest/doctest.h>

#include "core/error.hpp"

namespace core = azhub::core;
namespace service = azhub::service;
namespace net = boost::asio;
using core::ExitCode;
using namespace std::chrono_literals;

namespace {

// A loopback port with a listening socket that never accepts: TCP connects (the kernel
// completes the handshake) but the TLS handshake never gets an answer.
struct SilentServer {
  net::io_context ioc;
  net::ip::tcp::acceptor acceptor{ioc, {net::ip::address_v4::loopback(), 0}};
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
};

std::uint16_t closed_port() {
  SilentServer server;
  return server.port();  // closed again when `server` goes out of scope
}

core::Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const core::Error& e) {
    return e;
  }
  FAIL("no Error thrown");
  return core::Error(ExitCode::ok, "");
}

}  // namespace

TEST_CASE("service::HttpsClient") {
  const auto request = core::build_get_device_request("d1");
  SUBCASE("nothing listening: connect error") {
    const std::uint16_t port = closed_port();
    service::HttpsClient client({"127.0.0.1", port, std::nullopt, std::nullopt}, {}, {});
    const auto e = error_of([&] { (void)client.send(request, std::chrono::steady_clock::now() + 10s); });
    CHECK(e.code() == ExitCode::connect);
    CHECK(std::string(e.what()) ==
          "could not connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  }
  SUBCASE("no TLS answer: timeout at the deadline") {
    SilentServer server;
    service::HttpsClient client({"127.0.0.1", server.port(), std::nullopt, std::nullopt}, {}, {});
    const auto started = std::chrono::steady_clock::now();
    const auto e = error_of([&] { (void)client.send(request, started + 500ms); });
    CHECK(e.code() == ExitCode::timeout);
    // Which step the deadline cuts short (connect, TLS handshake) depends on the machine.
    const std::string what = e.what();
    const std::string where = "127.0.0.1:" + std::to_string(server.port());
    CHECK(what.rfind("timed out ", 0) == 0);
    CHECK(what.substr(what.size() - where.size()) == where);
  }
  SUBCASE("interrupted while waiting") {
    SilentServer server;
    std::atomic<int> polls{0};
    service::HttpsClient client({"127.0.0.1", server.port(), std::nullopt, std::nullopt}, [&] { return ++polls > 3; }, {});
    const auto e = error_of([&] { (void)client.send(request, std::chrono::steady_clock::now() + 60s); });
    CHECK(e.code() == ExitCode::interrupted);
  }
  SUBCASE("unreadable --ca-file: usage error") {
    SilentServer server;
    service::HttpsClient client({"127.0.0.1", server.port(), std::string("/nonexistent/ca.pem"), std::nullopt}, {}, {});
    const auto e = error_of([&] { (void)client.send(request, std::chrono::steady_clock::now() + 10s); });
    CHECK(e.code() == ExitCode::usage);
    CHECK(std::string(e.what()).rfind("--ca-file: cannot load '/nonexistent/ca.pem'", 0) == 0);
  }
}
