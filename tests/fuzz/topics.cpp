// Fuzzes every topic parser (docs/protocol.md §4) and the subscription classifier: a topic may
// be "not mine" (nullopt) or refused with Error, nothing may crash, and whatever parses must
// come back unchanged through its builder.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/topics.hpp"
#include "fuzz_check.hpp"

using namespace azhub::core;

namespace {

template <typename Fn>
void guarded(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ExitCode::usage);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view topic(reinterpret_cast<const char*>(data), size);

  guarded([&] {
    if (auto t = parse_telemetry_topic(topic)) {
      const Identity id{"h", t->device_id, t->module_id};
      const auto again = parse_telemetry_topic(build_telemetry_topic(id, t->properties));
      FUZZ_CHECK(again.has_value());
      FUZZ_CHECK(again->device_id == t->device_id && again->module_id == t->module_id);
      MessageProperties props = t->properties;
      if (props.system.ack == "none") props.system.ack.reset();
      FUZZ_CHECK(again->properties == props);
    }
  });
  guarded([&] {
    if (auto t = parse_c2d_topic(topic)) {
      const auto again = parse_c2d_topic(build_c2d_topic(t->device_id, t->properties));
      FUZZ_CHECK(again.has_value());
      FUZZ_CHECK(again->device_id == t->device_id);
    }
  });
  guarded([&] {
    if (auto t = parse_twin_request_topic(topic)) {
      FUZZ_CHECK(!t->rid.empty());
      guarded([&] {
        const std::string rebuilt = t->kind == TwinRequest::Kind::get
                                        ? build_twin_get_topic(t->rid)
                                        : build_twin_patch_reported_topic(t->rid);
        const auto again = parse_twin_request_topic(rebuilt);
        FUZZ_CHECK(again && again->kind == t->kind && again->rid == t->rid);
      });
    }
  });
  guarded([&] {
    if (auto t = parse_twin_response_topic(topic)) {
      const auto again =
          parse_twin_response_topic(build_twin_response_topic(t->status, t->rid, t->version));
      FUZZ_CHECK(again && again->status == t->status && again->rid == t->rid &&
                 again->version == t->version);
    }
  });
  guarded([&] {
    if (auto v = parse_twin_desired_topic(topic)) {
      FUZZ_CHECK(parse_twin_desired_topic(build_twin_desired_topic(*v)) == v);
    }
  });
  guarded([&] {
    if (auto m = parse_method_request_topic(topic)) {
      const auto again = parse_method_request_topic(build_method_request_topic(m->name, m->rid));
      FUZZ_CHECK(again && again->name == m->name && again->rid == m->rid);
      guarded([&] { validate_method_name(m->name); });
    }
  });
  guarded([&] {
    if (auto m = parse_method_response_topic(topic)) {
      guarded([&] {
        const auto again =
            parse_method_response_topic(build_method_response_topic(m->status, m->rid));
        FUZZ_CHECK(again && again->status == m->status && again->rid == m->rid);
      });
    }
  });
  (void)classify_subscription(Identity{"h", "dev1", {}}, topic);
  (void)classify_subscription(Identity{"h", "dev1", "mod1"}, topic);
  return 0;
}
