// C2D delivery feedback records (docs/protocol.md §6.1).
#include "core/feedback.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"

namespace azhub::core {

namespace {

constexpr std::array<std::pair<FeedbackStatus, std::string_view>, 5> k_status_names{{
    {FeedbackStatus::success, "Success"},
    {FeedbackStatus::expired, "Expired"},
    {FeedbackStatus::delivery_count_exceeded, "DeliveryCountExceeded"},
    {FeedbackStatus::rejected, "Rejected"},
    {FeedbackStatus::purged, "Purged"},
}};

Error bad_feedback(const std::string& reason) {
  return Error(ExitCode::failure, fmt::format("feedback message: {}", reason));
}

const nlohmann::json& member(const nlohmann::json& record, std::size_t index, const char* name) {
  auto it = record.find(name);
  if (it == record.end()) throw bad_feedback(fmt::format("record {} has no {}", index, name));
  if (!it->is_string())
    throw bad_feedback(fmt::format("record {}: {} is not a string", index, name));
  return *it;
}

}  // namespace

std::string_view to_string(FeedbackStatus status) {
  for (const auto& [s, name] : k_status_names) {
    if (s == status) return name;
  }
  return "Unknown";
}

std::optional<FeedbackStatus> parse_feedback_status(std::string_view text) {
  for (const auto& [s, name] : k_status_names) {
    if (name == text) return s;
  }
  return std::nullopt;
}

bool ack_requests(std::optional<std::string_view> ack, FeedbackStatus status) {
  if (!ack) return false;
  if (*ack == "full") return true;
  if (*ack == "positive") return status == FeedbackStatus::success;
  if (*ack == "negative") return status != FeedbackStatus::success;
  return false;
}

std::string_view feedback_description(FeedbackStatus status) {
  // The Learn page gives only "Success" for success; the others are azhub's wording (§6.1).
  switch (status) {
    case FeedbackStatus::success:
      return "Success";
    case FeedbackStatus::expired:
      return "Message expired";
    case FeedbackStatus::delivery_count_exceeded:
      return "Message delivery count exceeded";
    case FeedbackStatus::rejected:
      return "Message rejected";
    case FeedbackStatus::purged:
      return "Message purged";
  }
  return "Unknown";
}

nlohmann::ordered_json feedback_record_json(const FeedbackRecord& r) {
  nlohmann::ordered_json j;
  j["originalMessageId"] = r.original_message_id;
  j["enqueuedTimeUtc"] = format_iso8601(r.enqueued_ms, true);
  j["statusCode"] = std::string(to_string(r.status));
  j["description"] = r.description;
  j["deviceId"] = r.device_id;
  j["deviceGenerationId"] = r.device_generation_id;
  return j;
}

std::string feedback_batch_json(const std::vector<FeedbackRecord>& records) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : records) out.push_back(feedback_record_json(r));
  return out.dump();
}

std::vector<FeedbackRecord> parse_feedback_batch(std::string_view body) {
  nlohmann::json doc = parse_json(body);
  if (doc.is_discarded()) throw bad_feedback(bad_json_reason(body));
  if (!doc.is_array()) throw bad_feedback("not a JSON array");
  std::vector<FeedbackRecord> out;
  out.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const auto& j = doc[i];
    if (!j.is_object()) throw bad_feedback(fmt::format("record {} is not an object", i));
    FeedbackRecord r;
    r.original_message_id = member(j, i, "originalMessageId").get<std::string>();
    const auto time = member(j, i, "enqueuedTimeUtc").get<std::string>();
    try {
      r.enqueued_ms = parse_iso8601_millis(time, "enqueuedTimeUtc");
    } catch (const Error& e) {
      throw bad_feedback(fmt::format("record {}: {}", i, e.what()));
    }
    const auto code = member(j, i, "statusCode").get<std::string>();
    auto status = parse_feedback_status(code);
    if (!status) throw bad_feedback(fmt::format("record {}: unknown statusCode '{}'", i, code));
    r.status = *status;
    r.description = member(j, i, "description").get<std::string>();
    r.device_id = member(j, i, "deviceId").get<std::string>();
    r.device_generation_id = member(j, i, "deviceGenerationId").get<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace azhub::core
