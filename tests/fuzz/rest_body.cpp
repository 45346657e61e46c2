// Fuzzes what the emulator does with a REST request body before the hub sees it: the bounded JSON
// parse (core/json_text), the identity, twin and method-invocation readers (emulator/rest_json,
// emulator/rest_request), the telemetry batch reader of the HTTPS device API (core/http_message),
// the jobs v2 request reader (core/jobs, PUT /jobs/v2/{id}), the twin rules and merge patch
// (core/twin) and the ordered writer.
// Any bytes must end in a value or a refusal (core::Error, HubError included), never a crash; a
// document the bound accepts is no deeper than the bound.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/http_message.hpp"
#include "core/jobs.hpp"
#include "core/json_text.hpp"
#include "core/twin.hpp"
#include "emulator/rest_json.hpp"
#include "emulator/rest_request.hpp"
#include "fuzz_check.hpp"

namespace {

int depth_of(const nlohmann::json& doc) {
  if (!doc.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : doc) deepest = std::max(deepest, depth_of(child));
  return deepest + 1;
}

template <typename F>
void refusal_allowed(F&& f) {
  try {
    f();
  } catch (const azhub::core::Error&) {  // HubError too
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace azhub;
  refusal_allowed([&] { (void)emulator::parse_method_invocation(input); });
  refusal_allowed([&] {
    for (const auto& item : core::http_message::parse_batch(input))
      FUZZ_CHECK(item.body.size() <= input.size());  // base64 only shrinks
  });
  const nlohmann::json doc = core::parse_json(input);
  if (doc.is_discarded()) {
    FUZZ_CHECK(!core::bad_json_reason(input).empty());
    return 0;
  }
  FUZZ_CHECK(depth_of(doc) <= core::limits::k_json_depth);
  FUZZ_CHECK(core::accept_json(input));
  refusal_allowed([&] {
    (void)emulator::parse_identity_update(doc, emulator::IdentityKey{"dev1", std::nullopt});
  });
  refusal_allowed([&] {
    (void)emulator::parse_identity_update(doc, emulator::IdentityKey{"dev1", std::string("m1")});
  });
  refusal_allowed([&] {
    // A request the reader accepts is written back as one it accepts again, as the same job.
    const core::jobs::Job job = core::jobs::parse_job_request(doc, "job1");
    const core::jobs::Job again =
        core::jobs::parse_job_request(nlohmann::json::parse(core::jobs::job_request_json(job).dump()), "job1");
    FUZZ_CHECK(again.job_id == job.job_id && again.type == job.type);
    FUZZ_CHECK(again.query_condition == job.query_condition);
  });
  for (const bool replace : {false, true}) {
    refusal_allowed([&] {
      const nlohmann::json write = emulator::build_twin_write(doc, replace);
      if (write.contains("tags")) core::validate_twin_patch(write["tags"], "tags", 8 * 1024);
    });
  }
  refusal_allowed([&] { core::validate_twin_patch(doc, "reported patch"); });
  nlohmann::json target = nlohmann::json::object();
  core::apply_merge_patch(target, doc);
  // The ordered writer keeps every member.
  FUZZ_CHECK(nlohmann::json::parse(core::in_twin_order(doc).dump()) == doc);
  return 0;
}
