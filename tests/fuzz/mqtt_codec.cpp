// Fuzzes the emulator's MQTT 3.1.1 parser (emulator/mqtt_codec): any bytes must parse as
// complete, need-more or bad without crashing; a complete packet must consume at most the input
// and serialize back to exactly the bytes it consumed (the codec is strict, so every accepted
// encoding is the canonical one); and a prefix of a complete packet is never "complete".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "emulator/mqtt_codec.hpp"
#include "fuzz_check.hpp"

using namespace azhub::emulator::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Walk the input as a stream of packets, as a session does.
  while (!input.empty()) {
    ParseResult r = parse_packet(input, 64 * 1024);
    if (r.status != ParseStatus::complete) {
      FUZZ_CHECK(!r.packet.has_value());
      FUZZ_CHECK(r.status == ParseStatus::need_more || !r.error.empty());
      break;
    }
    FUZZ_CHECK(r.packet.has_value());
    FUZZ_CHECK(r.consumed > 0 && r.consumed <= input.size());
    std::string again = serialize(*r.packet);
    FUZZ_CHECK(again == input.substr(0, r.consumed));
    if (r.consumed > 1) {
      ParseResult prefix = parse_packet(input.substr(0, r.consumed - 1), 64 * 1024);
      FUZZ_CHECK(prefix.status != ParseStatus::complete);
    }
    input.remove_prefix(r.consumed);
  }
  return 0;
}
