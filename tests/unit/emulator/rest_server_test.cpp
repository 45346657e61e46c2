#include "emulator/rest_server.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <variant>

#include "core/sas.hpp"
#include "core/topics.hpp"
#include "emulator/hub.hpp"
#include "fake_clock.hpp"
#include "fake_session.hpp"

using namespace azhub::emulator;
using nlohmann::json;
using azhub::emulator::testing::FakeClock;
using azhub::emulator::testing::k_now_ms;
namespace http = boost::beast::http;

using azhub::emulator::testing::FakeSession;

namespace {


// Records what the REST server answers.
class FakeExchange final : public HttpExchange {
 public:
  explicit FakeExchange(HttpRequest request) : m_request(std::move(request)) {}
  const HttpRequest& request() const override { return m_request; }
  std::string peer() const override { return "127.0.0.1:1"; }
  void respond(HttpResponse answer) override {
    CHECK_FALSE(responded);
    responded = true;
    response = std::move(answer);
  }
  void start_stream(HttpResponseHeader header) override {
    stream_header = std::move(header);
    streaming = true;
  }
  void write_chunk(std::string data) override { chunks.push_back(std::move(data)); }
  void end_stream() override { ended = true; }
  void on_closed(std::function<void()> fn) override { m_on_closed = std::move(fn); }
  bool closed() const override { return is_closed; }
  std::size_t pending_bytes() const override { return pending; }
  void close_now() {
    is_closed = true;
    if (m_on_closed) m_on_closed();
  }

  bool responded = false;
  HttpResponse response;
  bool streaming = false;
  bool ended = false;
  bool is_closed = false;
  std::size_t pending = 0;
  HttpResponseHeader stream_header;
  std::vector<std::string> chunks;

 private:
  HttpRequest m_request;
  std::function<void()> m_on_closed;
};

struct Fixture {
  std::unique_ptr<Store> store = make_memory_store();
  FakeClock clock;
  std::unique_ptr<Hub> hub;
  std::unique_ptr<RestServer> rest;
  IdentityRecord dev1;

  Fixture() {
    HubOptions options;
    options.host_name = "hub.example";
    hub = std::make_unique<Hub>(options, *store, clock);
    rest = std::make_unique<RestServer>(*hub, clock);
    IdentityRecord r;
    r.key = {"dev1", {}};
    dev1 = hub->create_identity(r);
  }

  std::string owner_token() const {
    const auto* policy = hub->find_policy("iothubowner");
    REQUIRE(policy != nullptr);
    return azhub::core::build_sas_token("hub.example", policy->primary_key,
                                        k_now_ms / 1000 + 600, "iothubowner");
  }

  std::shared_ptr<FakeExchange> call(http::verb method, std::string target, std::string body = {},
                                     std::map<std::string, std::string> headers = {},
                                     bool with_token = true) {
    HttpRequest request{method, target, 11};
    if (with_token) request.set(http::field::authorization, owner_token());
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    auto exchange = std::make_shared<FakeExchange>(std::move(request));
    rest->handle(exchange);
    return exchange;
  }

  void online(FakeSession& session, const std::vector<std::string>& filters) {
    mqtt::Connect c;
    c.client_id = "dev1";
    c.username = "hub.example/dev1/?api-version=2021-04-12";
    c.password = azhub::core::build_sas_token(
        azhub::core::device_resource_uri("hub.example", "dev1"), dev1.primary_key,
        k_now_ms / 1000 + 600);
    c.clean_session = true;
    REQUIRE(hub->connect(session, c, ConnectInfo{}).code == mqtt::ConnectReturn::accepted);
    std::vector<std::pair<std::string, std::uint8_t>> subs;
    for (const auto& f : filters) subs.emplace_back(f, 0);
    hub->handle_packet(session, mqtt::Subscribe{1, subs});
    clock.advance(0);
  }
};

json body_of(const FakeExchange& e) { return json::parse(e.response.body()); }


std::string header(const FakeExchange& e, std::string_view name) {
  const auto it = e.response.find(boost::beast::string_view(name.data(), name.size()));
  return it == e.response.end() ? std::string() : std::string(it->value());
}

// The error of either body form (docs/protocol.md §12.3) as {"errorCode","message"}: registry
// and twin paths give "ErrorCode:{Name};{text}", the code then comes from core's table.
json inner_error(const FakeExchange& e) {
  const auto outer = body_of(e);
  const auto message = outer.at("Message").get<std::string>();
  if (message.rfind("ErrorCode:", 0) == 0) {
    CHECK(outer.at("ExceptionMessage").get<std::string>().rfind("Tracking ID:", 0) == 0);
    const auto semi = message.find(';');
    const auto name = message.substr(10, semi - 10);
    CHECK(header(e, "iothub-errorcode") == name);
    return json{{"errorCode", azhub::core::code_of(name).value_or(0)}, {"message", message.substr(semi + 1)}};
  }
  CHECK(outer.at("ExceptionMessage") == "");
  return json::parse(message);
}

}  // namespace

TEST_CASE("emulator::RestServer pipeline") {
  Fixture f;
  SUBCASE("health needs no token") {
    const auto e = f.call(http::verb::get, "/_emulator/health", {}, {}, false);
    REQUIRE(e->responded);
    CHECK(e->response.result_int() == 200);
    CHECK(body_of(*e) == json{{"status", "ok"}, {"hostName", "hub.example"}});
    CHECK(header(*e, "x-ms-request-id").size() == 36);
  }
  SUBCASE("no token on a registry path: 401002 in the registry error form") {
    const auto e = f.call(http::verb::get, "/devices/dev1?api-version=1", {}, {}, false);
    CHECK(e->response.result_int() == 401);
    CHECK(header(*e, "iothub-errorcode") == "IotHubUnauthorizedAccess");
    CHECK(inner_error(*e).at("errorCode") == 401002);
    std::string id = header(*e, "x-ms-request-id");
    id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
    CHECK(body_of(*e).at("ExceptionMessage") ==
          "Tracking ID:" + id + "-G:0-TimeStamp:01/15/2027 08:00:00");
  }
  SUBCASE("no token on method invoke: 401002 in the JSON error form") {
    const auto e = f.call(http::verb::post, "/twins/dev1/methods?api-version=1", "{}", {}, false);
    CHECK(e->response.result_int() == 401);
    const auto inner = inner_error(*e);
    CHECK(inner.at("errorCode") == 401002);
    CHECK(inner.at("trackingId") == header(*e, "x-ms-request-id"));
    CHECK(inner.at("timestampUtc") == "2027-01-15T08:00:00.000Z");
  }
  SUBCASE("api-version is required on IoT Hub paths only") {
    auto e = f.call(http::verb::get, "/devices/dev1");
    CHECK(e->response.result_int() == 400);
    CHECK(inner_error(*e).at("message") == "the api-version query parameter is required");
    e = f.call(http::verb::get, "/_emulator/messages/events");
    CHECK(e->response.result_int() == 200);
  }
  SUBCASE("unknown path, wrong method, malformed escape") {
    auto e = f.call(http::verb::get, "/nope?api-version=1");
    CHECK(e->response.result_int() == 404);
    CHECK(header(*e, "iothub-errorcode") == "NotFound");
    e = f.call(http::verb::post, "/devices/dev1?api-version=1");
    CHECK(e->response.result_int() == 405);
    CHECK(header(*e, "Allow") == "GET, PUT, DELETE");
    e = f.call(http::verb::get, "/devices/a%zz?api-version=1");
    CHECK(e->response.result_int() == 400);
  }
  SUBCASE("identity create, conflict, If-Match") {
    auto e = f.call(http::verb::put, "/devices/d2?api-version=1", R"({"deviceId":"d2"})");
    REQUIRE(e->response.result_int() == 200);
    const auto created = body_of(*e);
    CHECK(header(*e, "ETag") == "\"" + created.at("etag").get<std::string>() + "\"");
    CHECK(header(*e, "Content-Type") == "application/json; charset=utf-8");
    CHECK(created.at("authentication").at("symmetricKey").at("primaryKey").get<std::string>().size() == 44);
    e = f.call(http::verb::put, "/devices/d2?api-version=1", "{}");
    CHECK(e->response.result_int() == 409);
    CHECK(inner_error(*e).at("errorCode") == 409001);
    e = f.call(http::verb::put, "/devices/d2?api-version=1", R"({"status":"disabled"})",
               {{"If-Match", "\"nope\""}});
    CHECK(e->response.result_int() == 412);
    e = f.call(http::verb::put, "/devices/d2?api-version=1", R"({"status":"disabled"})",
               {{"If-Match", "\"" + created.at("etag").get<std::string>() + "\""}});
    CHECK(e->response.result_int() == 200);
    CHECK(body_of(*e).at("status") == "disabled");
    e = f.call(http::verb::delete_, "/devices/d2?api-version=1");
    CHECK(e->response.result_int() == 204);
    CHECK(e->response.body().empty());
  }
  SUBCASE("twin PATCH notifies the device") {
    FakeSession s;
    f.online(s, {"$iothub/twin/PATCH/properties/desired/#"});
    const auto e = f.call(http::verb::patch, "/twins/dev1?api-version=1",
                          R"({"properties":{"desired":{"a":1}}})");
    REQUIRE(e->response.result_int() == 200);
    CHECK(body_of(*e).at("properties").at("desired").at("a") == 1);
    REQUIRE(s.publishes().size() == 1);
    CHECK(json::parse(s.publishes()[0].payload) == json{{"a", 1}, {"$version", 2}});
  }
}

TEST_CASE("emulator::RestServer method invocation answers later") {
  Fixture f;
  SUBCASE("offline: 404103 once the connect timeout passes") {
    const auto e = f.call(http::verb::post, "/twins/dev1/methods?api-version=1",
                          R"({"methodName":"m","connectTimeoutInSeconds":2})");
    CHECK_FALSE(e->responded);
    f.clock.advance(2000);
    REQUIRE(e->responded);
    CHECK(e->response.result_int() == 404);
    const auto inner = inner_error(*e);
    CHECK(inner.at("errorCode") == 404103);
    CHECK(inner.at("info") == json{{"timeout", "00:00:02"}});
  }
  SUBCASE("answered by the device") {
    FakeSession s;
    f.online(s, {"$iothub/methods/POST/#"});
    const auto e = f.call(http::verb::post, "/twins/dev1/methods?api-version=1",
                          R"({"methodName":"reboot","payload":{"d":1}})");
    CHECK_FALSE(e->responded);
    REQUIRE(s.publishes().size() == 1);
    const auto request = azhub::core::parse_method_request_topic(s.publishes()[0].topic);
    REQUIRE(request.has_value());
    f.hub->handle_packet(s, mqtt::Publish{azhub::core::build_method_response_topic(201, request->rid),
                                          R"({"ok":true})", 0, false, false, 0});
    REQUIRE(e->responded);
    CHECK(e->response.result_int() == 200);
    CHECK(body_of(*e) == json{{"status", 201}, {"payload", {{"ok", true}}}});
  }
  SUBCASE("no answer: 504101") {
    FakeSession s;
    f.online(s, {"$iothub/methods/POST/#"});
    const auto e = f.call(http::verb::post, "/twins/dev1/methods?api-version=1",
                          R"({"methodName":"m","responseTimeoutInSeconds":5})");
    f.clock.advance(4999);
    CHECK_FALSE(e->responded);
    f.clock.advance(1);
    REQUIRE(e->responded);
    CHECK(e->response.result_int() == 504);
    CHECK(header(*e, "iothub-errorcode") == "GatewayTimeout");
  }
}

TEST_CASE("emulator::RestServer C2D send and D2C") {
  Fixture f;
  SUBCASE("headers become message properties") {
    auto e = f.call(http::verb::post, "/_emulator/devices/dev1/messages/deviceBound", "hello",
                    {{"iothub-messageid", "m1"},
                     {"iothub-app-color", "red"},
                     {"Content-Type", "text/plain"},
                     {"iothub-ack", "full"}});
    REQUIRE(e->response.result_int() == 200);
    CHECK(body_of(*e).at("messageId") == "m1");
    const auto queued = f.hub->queued_c2d("dev1");
    REQUIRE(queued.size() == 1);
    CHECK(queued[0].body == "hello");
    CHECK(queued[0].properties.system.content_type == std::optional<std::string>("text/plain"));
    CHECK(queued[0].properties.system.ack == std::optional<std::string>("full"));
    REQUIRE(queued[0].properties.application.size() == 1);
    CHECK(queued[0].properties.application[0].first == "color");
    e = f.call(http::verb::delete_, "/devices/dev1/commands?api-version=1");
    CHECK(body_of(*e) == json{{"deviceId", "dev1"}, {"totalMessagesPurged", 1}});
  }
  SUBCASE("size limit") {
    const auto e = f.call(http::verb::post, "/_emulator/devices/dev1/messages/deviceBound",
                          std::string(64 * 1024 + 1, 'x'));
    CHECK(e->response.result_int() == 413);
    CHECK(inner_error(*e).at("errorCode") == 413001);
  }
  SUBCASE("stream: subscribed comment, live events, keep-alive, end on a stalled client") {
    FakeSession s;
    f.online(s, {});
    const auto e = f.call(http::verb::get, "/_emulator/messages/events/stream?keepAlive=2");
    REQUIRE(e->streaming);
    CHECK_FALSE(e->responded);
    CHECK(e->stream_header.result_int() == 200);
    REQUIRE(e->chunks.size() == 1);
    CHECK(e->chunks[0] == ": subscribed, last sequence number 0\n\n");
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/k=v", "hi", 0, false, false, 0});
    REQUIRE(e->chunks.size() == 2);
    CHECK(e->chunks[1].starts_with("id: 1\ndata: {"));
    CHECK(e->chunks[1].ends_with("}\n\n"));
    const auto data = json::parse(e->chunks[1].substr(e->chunks[1].find('{')));
    CHECK(data.at("body") == "hi");
    CHECK(data.at("properties") == json{{"k", "v"}});
    f.clock.advance(2000);
    REQUIRE(e->chunks.size() == 3);
    CHECK(e->chunks[2] == ": keep-alive\n\n");

    e->pending = 9 * 1024 * 1024;
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", "x", 0, false, false, 0});
    CHECK(e->ended);
    CHECK(e->chunks.size() == 3);
    f.clock.advance(10000);  // no more keep-alives, and the listener is gone
    CHECK(e->chunks.size() == 3);
  }
  SUBCASE("stream replay with since, then the client goes away") {
    FakeSession s;
    f.online(s, {});
    for (const char* body : {"a", "b", "c"})
      f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", body, 0, false, false, 0});
    const auto e = f.call(http::verb::get, "/_emulator/messages/events/stream?since=1");
    REQUIRE(e->chunks.size() == 3);
    CHECK(e->chunks[1].starts_with("id: 2\n"));
    CHECK(e->chunks[2].starts_with("id: 3\n"));
    const auto resumed = f.call(http::verb::get, "/_emulator/messages/events/stream", {},
                                {{"Last-Event-ID", "2"}});
    REQUIRE(resumed->chunks.size() == 2);
    CHECK(resumed->chunks[1].starts_with("id: 3\n"));
    const auto bad = f.call(http::verb::get, "/_emulator/messages/events/stream?keepAlive=0");
    CHECK(bad->response.result_int() == 400);
    CHECK_FALSE(bad->streaming);
    e->close_now();
    f.clock.advance(0);
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", "d", 0, false, false, 0});
    CHECK(e->chunks.size() == 3);
  }
}
