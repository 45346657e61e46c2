#pragma once
// IoT Hub service REST requests as values (docs/protocol.md §12), plus the emulator's own
// C2D-send and D2C-read paths (§12.4). Builders only: no I/O, no clock. The caller adds the
// Authorization header (a policy SAS token, §3.2 "service / registry" scope) and sends it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/jobs.hpp"

#include "core/error.hpp"
#include "core/hub_errors.hpp"
#include "core/properties.hpp"

namespace azhub::core {

struct ServiceRequest {
  std::string method;  // "GET", "PUT", "PATCH", "POST", "DELETE"
  std::string path;    // percent-encoded ids, e.g. "/devices/dev%201"
  std::vector<std::pair<std::string, std::string>> query;    // unencoded; api-version first
  std::vector<std::pair<std::string, std::string>> headers;  // in the order they are sent
  std::string body;

  // `path` + "?" + the query with keys and values percent-encoded.
  [[nodiscard]] std::string target() const;
  // The value of header `name` (case-insensitive), or nullopt.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

// --- device identities (§12.2) ---------------------------------------------------------------
enum class DeviceAuthType { sas, x509_thumbprint, x509_ca };

struct DeviceSpec {
  std::string device_id;
  DeviceAuthType auth = DeviceAuthType::sas;
  std::optional<std::string> primary_thumbprint{};    // x509_thumbprint only
  std::optional<std::string> secondary_thumbprint{};  // x509_thumbprint only
  std::optional<std::string> primary_key{};           // sas; absent: the hub generates keys
  std::optional<std::string> secondary_key{};
  bool enabled = true;
  bool edge = false;  // capabilities.iotEdge
};

// `PUT /devices/{id}` with the Device body and no If-Match, so an existing device is refused
// (409001). Throws Error(usage) for a bad id, thumbprints on a non-thumbprint device, or a
// thumbprint device without a primary thumbprint.
[[nodiscard]] ServiceRequest build_create_device_request(const DeviceSpec& spec);

// `GET /devices/{id}`. Throws Error(usage) for a bad id.
[[nodiscard]] ServiceRequest build_get_device_request(std::string_view device_id);

// `GET /devices[?top=N]`: the registry's device list.
[[nodiscard]] ServiceRequest build_list_devices_request(std::optional<int> top = {});

// `DELETE /devices/{id}` with If-Match: the quoted `etag`, or `*` (unconditional).
[[nodiscard]] ServiceRequest build_delete_device_request(std::string_view device_id,
                                                         std::optional<std::string_view> etag = {});

// "HostName={host};DeviceId={id};SharedAccessKey={key}" for a sas device, "...;x509=true" for
// an X.509 one, from a Device object the hub returned. Throws Error(failure) when the object
// lacks what is needed.
[[nodiscard]] std::string device_connection_string(std::string_view host,
                                                   const nlohmann::json& device);

// A copy of a Device object without its symmetric keys (`authentication.symmetricKey`).
[[nodiscard]] nlohmann::json redact_device_keys(const nlohmann::json& device);

// --- twins (§8.2, §12.2) ---------------------------------------------------------------------
// `GET /twins/{id}[/modules/{mid}]`.
[[nodiscard]] ServiceRequest build_get_twin_request(std::string_view device_id,
                                                    std::optional<std::string_view> module_id = {});

// `PATCH /twins/{id}[/modules/{mid}]` with `patch` as the body and If-Match: "{etag}" when
// given. Throws Error(usage) if `patch` is not an object, has keys other than `tags` and
// `properties` (with only `desired` inside), or its desired/tags break the §8.3 rules.
[[nodiscard]] ServiceRequest build_update_twin_request(std::string_view device_id,
                                                       const nlohmann::json& patch,
                                                       std::optional<std::string_view> etag = {},
                                                       std::optional<std::string_view> module_id = {});

// {"tags": `tags`, "properties": {"desired": `desired`}}, each part only when given.
// Throws Error(usage) when neither is.
[[nodiscard]] nlohmann::json build_twin_patch(const std::optional<nlohmann::json>& desired,
                                              const std::optional<nlohmann::json>& tags);

// --- direct methods (§9.2) -------------------------------------------------------------------
struct MethodInvocation {
  std::string device_id;
  std::optional<std::string> module_id{};
  std::string method_name;
  nlohmann::json payload{};  // null when there is none
  int response_timeout_s = 30;
  int connect_timeout_s = 0;
};

// `POST /twins/{id}[/modules/{mid}]/methods` with
// {"methodName","payload","responseTimeoutInSeconds","connectTimeoutInSeconds"}. Throws
// Error(usage) for a bad id or method name, a timeout outside §9.2's ranges, or a payload over
// 128 KB.
[[nodiscard]] ServiceRequest build_invoke_method_request(const MethodInvocation& invocation);

// --- twin queries and registry statistics (§16) ----------------------------------------------
// `POST /devices/query` with {"query": `query`}, `x-ms-max-item-count: page_size` when given and
// `x-ms-continuation` when given. The text is sent as is (the hub judges it). Throws
// Error(usage) for an empty query, one over core::k_query_max_chars, or a page size outside
// 1-100.
[[nodiscard]] ServiceRequest build_twin_query_request(std::string_view query, std::optional<int> page_size = {},
                                                      std::optional<std::string_view> continuation = {});

// `GET /statistics/devices`: {"totalDeviceCount","enabledDeviceCount","disabledDeviceCount"}.
[[nodiscard]] ServiceRequest build_registry_statistics_request();

// `GET /statistics/service`: {"connectedDeviceCount"}.
[[nodiscard]] ServiceRequest build_service_statistics_request();

// --- jobs v2 (§17) ----------------------------------------------------------------------------
// PUT /jobs/v2/{id} with core::jobs::job_request_json(job). Each builder throws Error(usage)
// for a job id the hub would refuse.
[[nodiscard]] ServiceRequest build_schedule_job_request(const jobs::Job& job);
[[nodiscard]] ServiceRequest build_get_job_request(std::string_view job_id);
[[nodiscard]] ServiceRequest build_cancel_job_request(std::string_view job_id);
// GET /jobs/v2/query[?jobType=..][&jobStatus=..] with x-ms-max-item-count / x-ms-continuation.
[[nodiscard]] ServiceRequest build_jobs_query_request(std::optional<jobs::JobType> type,
                                                      std::optional<jobs::JobStatus> status,
                                                      std::optional<int> page_size,
                                                      std::optional<std::string_view> continuation);

// --- emulator-only paths (§12.4) -------------------------------------------------------------
// `GET /_emulator/health`: answered by `azhub emulate`, 404 on a real hub.
[[nodiscard]] ServiceRequest build_emulator_health_request();

struct OutgoingC2dMessage {
  std::string device_id{};
  std::string body{};
  MessageProperties properties{};  // system: message_id, correlation_id, content_type,
                                 // content_encoding, expiry (ISO 8601), ack; plus app props
};

// `POST /_emulator/devices/{id}/messages/deviceBound` with the body as is and the properties
// as IoT Hub's HTTPS message headers: iothub-messageid, iothub-correlationid, iothub-expiry,
// iothub-ack, Content-Type, Content-Encoding, iothub-app-{name}. Throws Error(usage) for a bad
// id, a bad property, an ack value other than none/positive/negative/full, or a body over 64 KB.
[[nodiscard]] ServiceRequest build_c2d_send_request(const OutgoingC2dMessage& message);

struct D2cReadOptions {
  std::optional<std::string> device_id{};
  std::optional<std::int64_t> from_sequence{};  // first sequence number to return
  bool from_start = false;                    // replay everything captured so far
};

// `GET /_emulator/messages/events/stream` (server-sent events) with `deviceId`, `from` query
// parameters as given.
[[nodiscard]] ServiceRequest build_d2c_stream_request(const D2cReadOptions& options);

// --- responses -------------------------------------------------------------------------------
struct ServiceError {
  int status = 0;                    // HTTP status
  std::optional<int> error_code{};     // 6-digit IoT Hub code, e.g. 404001
  std::string name;                  // "DeviceNotFound"; empty when unknown
  std::string message;               // the hub's text, or the HTTP reason when there is none
};

// Parses an error response of either §12.3 generation (or a bare {"errorCode",...} object, or
// a non-JSON body). `errorcode_header` is the `iothub-errorcode` header when present.
[[nodiscard]] ServiceError parse_service_error(int status, std::string_view body,
                                               std::optional<std::string_view> errorcode_header = {});

// "DeviceNotFound (404001): message", "DeviceNotFound: message", or "HTTP 404: message".
[[nodiscard]] std::string format_service_error(const ServiceError& error);

// The exit code for an error answer: core::exit_code_of its code, or of its HTTP status class
// when the body names no code (401 → connect, 504 → timeout, else failure).
[[nodiscard]] ExitCode exit_code_of(const ServiceError& error);

}  // namespace azhub::core
