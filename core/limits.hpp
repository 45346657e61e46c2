#pragma once
// IoT Hub limits (docs/protocol.md §6, §8.3, §9.2, §11).
#include <cstddef>
#include <cstdint>

namespace azhub::core::limits {

inline constexpr std::size_t k_d2c_message_bytes = 256 * 1024;
inline constexpr std::size_t k_c2d_message_bytes = 64 * 1024;
inline constexpr std::size_t k_c2d_queue_depth = 50;
inline constexpr std::size_t k_method_payload_bytes = 128 * 1024;
inline constexpr std::size_t k_twin_tags_bytes = 8 * 1024;
inline constexpr std::size_t k_twin_desired_bytes = 32 * 1024;
inline constexpr std::size_t k_twin_reported_bytes = 32 * 1024;
inline constexpr std::size_t k_twin_key_bytes = 1024;
inline constexpr std::size_t k_twin_string_bytes = 4 * 1024;
inline constexpr int k_twin_depth = 10;
// Nesting accepted in any JSON text from a peer or a user (§11); the twin rules then apply theirs.
inline constexpr int k_json_depth = 64;
inline constexpr std::int64_t k_twin_int_min = -4503599627370496;
inline constexpr std::int64_t k_twin_int_max = 4503599627370495;
inline constexpr int k_method_timeout_min_s = 5;
inline constexpr int k_method_timeout_max_s = 300;
inline constexpr int k_method_connect_timeout_max_s = 300;
inline constexpr int k_max_subscriptions = 5;
inline constexpr std::size_t k_id_max_chars = 128;
inline constexpr std::int64_t k_c2d_default_ttl_s = 3600;
inline constexpr std::int64_t k_c2d_min_ttl_s = 60;
inline constexpr std::int64_t k_c2d_max_ttl_s = 48 * 3600;
// Deliveries of one C2D message before the hub dead-letters it (DeliveryCountExceeded): the
// hub's cloudToDevice.maxDeliveryCount, default 10 (§6.1; learn.microsoft.com/azure/iot-hub/
// iot-hub-devguide-messages-c2d, "Message feedback" and the hub properties).
inline constexpr std::uint32_t k_c2d_max_delivery_count = 10;
// How long a feedback record waits for the service: feedback.ttlAsIso8601, default PT1H (§6.1).
inline constexpr std::int64_t k_feedback_ttl_s = 3600;
// Deliveries of one feedback message before the hub drops it: feedback.maxDeliveryCount,
// default 10 (§6.1).
inline constexpr std::uint32_t k_feedback_max_delivery_count = 10;
// Records batched into one feedback message: IoT Hub sends a batch when it reaches 64 records
// (or 15 s after the last one; the emulator sends what it has at once, §6.1).
inline constexpr std::size_t k_feedback_batch_records = 64;
inline constexpr int k_keepalive_cap_s = 1767;         // the hub's idle timeout cap (§2.3)
inline constexpr int k_keepalive_max_client_s = 1177;  // 1.5 × this stays under the cap
inline constexpr std::size_t k_model_id_max_chars = 4096;

}  // namespace azhub::core::limits
