// Fuzzes the service client's Server-Sent Events parser (service/sse_parser), which reads the
// emulator's D2C stream: any bytes, split anywhere, give the same events as fed whole.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "service/sse_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  azhub::service::SseParser whole;
  const std::vector<azhub::service::SseEvent> all = whole.feed(input);
  // The first byte chooses where to split; feeding in two parts must not change the result.
  const std::size_t cut = size == 0 ? 0 : static_cast<std::size_t>(data[0]) % (size + 1);
  azhub::service::SseParser parts;
  std::vector<azhub::service::SseEvent> split = parts.feed(input.substr(0, cut));
  for (auto& event : parts.feed(input.substr(cut))) split.push_back(std::move(event));
  FUZZ_CHECK(split == all);
  return 0;
}
