#include "core/encoding.hpp"

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
}  // namespace

TEST_CASE("core::url_encode") {
  CHECK(url_encode("") == "");
  CHECK(url_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(url_encode("a b") == "a%20b");
  CHECK(url_encode("a+b") == "a%2Bb");
  CHECK(url_encode("h/devices/d") == "h%2Fdevices%2Fd");
  CHECK(url_encode("*!'()") == "%2A%21%27%28%29");
  CHECK(url_encode("$.mid") == "%24.mid");
  CHECK(url_encode("#&=%?") == "%23%26%3D%25%3F");
  CHECK(url_encode(std::string("\0\x7f\xff", 3)) == "%00%7F%FF");
  CHECK(url_encode("\xC3\xA9") == "%C3%A9");  // UTF-8 bytes of U+00E9
}

TEST_CASE("core::url_decode") {
  CHECK(url_decode("") == "");
  CHECK(url_decode("a%20b") == "a b");
  CHECK(url_decode("a+b") == "a+b");  // never '+' as space (§5)
  CHECK(url_decode("%2f%2F") == "//");
  CHECK(url_decode("%C3%a9") == "\xC3\xA9");
  CHECK(url_decode("%00") == std::string("\0", 1));
  CHECK(url_decode("100%25") == "100%");

  struct Row {
    const char* input;
    const char* message;
  };
  const Row rows[] = {
      {"%", "value: truncated percent-escape at offset 0"},
      {"ab%2", "value: truncated percent-escape at offset 2"},
      {"%g0", "value: invalid percent-escape at offset 0"},
      {"x%0g", "value: invalid percent-escape at offset 1"},
      {"%%41", "value: invalid percent-escape at offset 0"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.input);
    CHECK(error_of([&] { (void)url_decode(row.input); }) == row.message);
  }
  CHECK(error_of([] { (void)url_decode("%", "property bag: name"); }) ==
        "property bag: name: truncated percent-escape at offset 0");
}

TEST_CASE("core::url_encode round trip over every byte") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  CHECK(url_decode(url_encode(all)) == all);
}

TEST_CASE("core::base64_encode") {
  // RFC 4648 §10 vectors.
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("\xfb\xff") == "+/8=");
}

TEST_CASE("core::base64_decode") {
  CHECK(base64_decode("") == "");
  CHECK(base64_decode("Zg==") == "f");
  CHECK(base64_decode("Zm8=") == "fo");
  CHECK(base64_decode("Zm9vYmFy") == "foobar");
  CHECK(base64_decode("+/8=") == "\xfb\xff");
  CHECK(base64_decode("cGFzc3dvcmQ=") == "password");

  for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v!A==", "Zm=v", "=Zm9",
                          "Zm9vYg==Zm9v", "Zm9v Yg==", "Zm9v\n", "-_8=", "key"}) {
    CAPTURE(bad);
    CHECK_FALSE(base64_decode(bad).has_value());
  }
}

TEST_CASE("core::base64 round trip") {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    CHECK(base64_decode(base64_encode(bytes)) == bytes);
    bytes.push_back(static_cast<char>(n * 37 + 11));
  }
}

TEST_CASE("core::split_query") {
  using azhub::core::split_query;
  const auto pairs = split_query("a=1&&flag&b=&=x&");
  REQUIRE(pairs.size() == 4);
  CHECK(pairs[0].key == "a");
  CHECK(pairs[0].value == "1");
  CHECK(pairs[1].key == "flag");
  CHECK_FALSE(pairs[1].value.has_value());
  CHECK(pairs[2].key == "b");
  CHECK(pairs[2].value == "");
  CHECK(pairs[3].key.empty());
  CHECK(pairs[3].value == "x");
  CHECK(split_query("").empty());
  CHECK(split_query("&&").empty());
  CHECK(split_query("k=a=b")[0].value == "a=b");
}
