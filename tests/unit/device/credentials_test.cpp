#include "device/credentials.hpp"

#include <atomic>
#include <chrono>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub;

TEST_CASE("device::renewal_time_ms") {
  // 80 % of the way from issue to expiry (docs/protocol.md §2.2).
  CHECK(device::renewal_time_ms(1'700'000'000'000, 1'700'003'600) == 1'700'002'880'000);
  CHECK(device::renewal_time_ms(1'700'000'000'000, 1'700'000'005) == 1'700'000'004'000);
  CHECK(device::renewal_time_ms(1'700'000'000'000, 1'699'999'999) == 1'700'000'000'000);
}

TEST_CASE("device::make_key_credentials") {
  const core::Identity id{"contoso-hub.azure-devices.net", "thermostat-01", std::nullopt};
  // Key and token from the shared vector "device-basic" (tests/data/sas-vectors.json).
  const std::string key = "9QQWSB5MeRS/paxVrjnXI11Vo2o8VmGkJRB+J8pDQtA=";
  auto source = device::make_key_credentials(id, key, 3600);
  const auto cred = source(1'699'996'400'000);
  REQUIRE(cred.password);
  CHECK(cred.expiry == 1'700'000'000);
  CHECK(cred.renewable);
  // A fraction of a second rounds up: the token lives at least the TTL.
  CHECK(source(1'699'996'399'001).expiry == 1'700'000'000);
  CHECK(*cred.password ==
        "SharedAccessSignature sr=contoso-hub.azure-devices.net%2Fdevices%2Fthermostat-01"
        "&sig=oKsAK99It0j4Bp76SnankTXZXf6kH%2FtTfBMvcKNauMk%3D&se=1700000000");
}

TEST_CASE("device::make_fixed_credentials and token_expiry") {
  const std::string token =
      "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%3D&se=1700000000";
  auto cred = device::make_fixed_credentials(token)(0);
  CHECK(cred.password == token);
  CHECK(cred.expiry == 1'700'000'000);
  CHECK_FALSE(cred.renewable);
  CHECK_FALSE(device::token_expiry("not a token"));
}

TEST_CASE("device::make_command_credentials") {
  SUBCASE("stdout, trimmed, is the token") {
    auto cred = device::make_command_credentials(
        "printf '  SharedAccessSignature sr=h&sig=s&se=42\\n'")(0);
    CHECK(cred.password == "SharedAccessSignature sr=h&sig=s&se=42");
    CHECK(cred.expiry == 42);
    CHECK(cred.renewable);
  }
  SUBCASE("runs again at every connect") {
    auto source = device::make_command_credentials("date +%N");
    CHECK(source(0).password != source(0).password);
  }
  SUBCASE("a failing command is a connect error that does not echo its output") {
    try {
      (void)device::make_command_credentials("echo secret; exit 3")(0);
      FAIL("expected an error");
    } catch (const core::Error& e) {
      CHECK(e.code() == core::ExitCode::connect);
      CHECK(std::string(e.what()) == "--token-command failed (exit status 3)");
    }
  }
  SUBCASE("empty output is refused") {
    CHECK_THROWS_AS((void)device::make_command_credentials("true")(0), core::Error);
  }
  SUBCASE("a command that runs too long is stopped: a connect error") {
    try {
      (void)device::make_command_credentials("echo secret; sleep 30", nullptr, std::chrono::milliseconds(200))(0);
      FAIL("expected an error");
    } catch (const core::Error& e) {
      CHECK(e.code() == core::ExitCode::connect);
      CHECK(std::string(e.what()) == "--token-command timed out after 200 ms (stopped)");
    }
  }
  SUBCASE("Ctrl-C stops it: interrupted") {
    const std::atomic<bool> interrupted{true};
    try {
      (void)device::make_command_credentials("sleep 30", &interrupted)(0);
      FAIL("expected an error");
    } catch (const core::Error& e) {
      CHECK(e.code() == core::ExitCode::interrupted);
      CHECK(std::string(e.what()) == "--token-command: interrupted");
    }
  }
  SUBCASE("killed by a signal") {
    try {
      (void)device::make_command_credentials("echo secret; kill -TERM $$")(0);
      FAIL("expected an error");
    } catch (const core::Error& e) {
      CHECK(e.code() == core::ExitCode::connect);
      CHECK(std::string(e.what()) == "--token-command failed (killed by signal 15)");
    }
  }
  SUBCASE("its stdin is empty, not azhub's") {
    auto cred = device::make_command_credentials("cat; echo 'SharedAccessSignature sr=h&sig=s&se=7'")(0);
    CHECK(cred.password == "SharedAccessSignature sr=h&sig=s&se=7");
  }
}

TEST_CASE("device::k_token_command_timeout") {
  CHECK(device::k_token_command_timeout == std::chrono::seconds(30));
}
