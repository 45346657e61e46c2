#pragma once
// C2D delivery feedback (docs/protocol.md §6.1): which outcomes a message's iothub-ack asks
// for, and the JSON body of a feedback message, written by the emulator and read by clients.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace azhub::core {

// Content type of a feedback message.
inline constexpr std::string_view k_feedback_content_type =
    "application/vnd.microsoft.iothub.feedback.json";

// The outcome of a C2D message that feedback reports.
enum class FeedbackStatus { success, expired, delivery_count_exceeded, rejected, purged };

// "Success", "Expired", "DeliveryCountExceeded", "Rejected", "Purged" (the statusCode values).
[[nodiscard]] std::string_view to_string(FeedbackStatus status);
// The status for a statusCode value (exact spelling), or nullopt.
[[nodiscard]] std::optional<FeedbackStatus> parse_feedback_status(std::string_view text);

// Whether a message whose iothub-ack is `ack` asks for a record of `status`: "positive" only
// success, "negative" every other status, "full" all; "none", absent or anything else none.
[[nodiscard]] bool ack_requests(std::optional<std::string_view> ack, FeedbackStatus status);

// One record of a feedback message.
struct FeedbackRecord {
  std::string original_message_id;  // the C2D message's message id
  std::int64_t enqueued_ms = 0;     // when the outcome was recorded (Unix ms)
  FeedbackStatus status = FeedbackStatus::success;
  std::string description;
  std::string device_id;
  std::string device_generation_id;
  bool operator==(const FeedbackRecord&) const = default;
};

// The hub's description text for `status` (docs/protocol.md §6.1).
[[nodiscard]] std::string_view feedback_description(FeedbackStatus status);

// One record as JSON, members in the order below (also what `azhub service feedback -o json`
// prints per line).
[[nodiscard]] nlohmann::ordered_json feedback_record_json(const FeedbackRecord& record);

// The JSON array body: one object per record with originalMessageId, enqueuedTimeUtc
// (ISO 8601 UTC with milliseconds), statusCode, description, deviceId, deviceGenerationId,
// in that member order.
[[nodiscard]] std::string feedback_batch_json(const std::vector<FeedbackRecord>& records);

// Reads a feedback body (members in any order, unknown members ignored). Throws
// Error(failure) "feedback message: <reason>" when it is not JSON, not an array of objects,
// lacks a member, has a member of the wrong type, a bad time or an unknown statusCode.
[[nodiscard]] std::vector<FeedbackRecord> parse_feedback_batch(std::string_view body);

}  // namespace azhub::core
