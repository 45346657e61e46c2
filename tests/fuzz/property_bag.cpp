// Fuzzes parse_property_bag (the bag of every telemetry and C2D topic, docs/protocol.md §5):
// anything may be refused with Error, nothing may crash, and a parsed bag must survive
// build -> parse unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.hpp"
#include "core/properties.hpp"
#include "fuzz_check.hpp"

using namespace azhub::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  MessageProperties props;
  try {
    props = parse_property_bag(input);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ExitCode::usage);
    return 0;
  }
  const std::string bag = build_property_bag(props);
  MessageProperties again = parse_property_bag(bag);
  // iothub-ack=none is the default and is not written back; everything else round-trips.
  if (props.system.ack == "none") props.system.ack.reset();
  FUZZ_CHECK(again == props);
  FUZZ_CHECK(build_property_bag(again) == bag);
  (void)message_size(input, props);
  for (const auto& [name, value] : props.application) {
    try {
      validate_application_property(name, value.value_or(""));
    } catch (const Error&) {
    }
  }
  return 0;
}
