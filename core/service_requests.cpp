#include "core/service_requests.hpp"
#include "core/http_message.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "core/connection_string.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/json_text.hpp"
#include "core/limits.hpp"
#include "core/topics.hpp"
#include "core/twin.hpp"
#include "core/twin_query.hpp"
#include "core/text.hpp"

namespace azhub::core {

namespace {

constexpr std::string_view k_json_content_type = "application/json; charset=utf-8";

ServiceRequest make_request(std::string method, std::string path) {
  ServiceRequest req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.query.emplace_back("api-version", std::string(k_api_version));
  req.headers.emplace_back("Accept", "application/json");
  return req;
}

void set_json_body(ServiceRequest& req, const nlohmann::json& body) {
  req.headers.emplace_back("Content-Type", std::string(k_json_content_type));
  req.body = body.dump();
}

// RFC 7232 wants the entity tag quoted; the hub also accepts it bare (§12.1). Quote only
// what is not quoted yet, and pass "*" through.
std::string if_match_value(std::string_view etag) {
  if (etag == "*" || (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')) {
    return std::string(etag);
  }
  return fmt::format("\"{}\"", etag);
}

std::string device_path(std::string_view device_id) {
  validate_identity_id(device_id, "device id");
  return "/devices/" + url_encode(device_id);
}

std::string twin_path(std::string_view device_id, std::optional<std::string_view> module_id) {
  validate_identity_id(device_id, "device id");
  std::string path = "/twins/" + url_encode(device_id);
  if (module_id) {
    validate_identity_id(*module_id, "module id");
    path += "/modules/" + url_encode(*module_id);
  }
  return path;
}

std::string_view auth_type_name(DeviceAuthType type) {
  switch (type) {
    case DeviceAuthType::sas: return "sas";
    case DeviceAuthType::x509_thumbprint: return "selfSigned";
    case DeviceAuthType::x509_ca: return "certificateAuthority";
  }
  return "sas";
}

nlohmann::json optional_string(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

std::string ServiceRequest::target() const {
  std::string out = path;
  char sep = '?';
  for (const auto& [key, value] : query) {
    out += sep;
    out += url_encode(key);
    out += '=';
    out += url_encode(value);
    sep = '&';
  }
  return out;
}

std::optional<std::string> ServiceRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

ServiceRequest build_create_device_request(const DeviceSpec& spec) {
  ServiceRequest req = make_request("PUT", device_path(spec.device_id));
  const bool thumbprint = spec.auth == DeviceAuthType::x509_thumbprint;
  if (!thumbprint && (spec.primary_thumbprint || spec.secondary_thumbprint)) {
    throw usage_error("thumbprints apply only to --auth x509-thumbprint");
  }
  if (thumbprint && !spec.primary_thumbprint) {
    throw usage_error("--auth x509-thumbprint needs --primary-thumbprint");
  }
  if (spec.auth != DeviceAuthType::sas && (spec.primary_key || spec.secondary_key)) {
    throw usage_error("symmetric keys apply only to --auth sas");
  }
  if (spec.primary_thumbprint) validate_thumbprint(*spec.primary_thumbprint, "primary thumbprint");
  if (spec.secondary_thumbprint) validate_thumbprint(*spec.secondary_thumbprint, "secondary thumbprint");
  for (const auto* key : {&spec.primary_key, &spec.secondary_key}) {
    if (*key && !base64_decode(**key)) throw usage_error("symmetric key: not valid base64");
  }

  nlohmann::json auth = {{"type", auth_type_name(spec.auth)}};
  if (spec.auth == DeviceAuthType::sas) {
    // Null keys ask the hub to generate both (§12.2, as the az CLI does).
    auth["symmetricKey"] = {{"primaryKey", optional_string(spec.primary_key)},
                            {"secondaryKey", optional_string(spec.secondary_key)}};
  }
  auth["x509Thumbprint"] = {{"primaryThumbprint", optional_string(spec.primary_thumbprint)},
                            {"secondaryThumbprint", optional_string(spec.secondary_thumbprint)}};
  const nlohmann::json body = {
      {"deviceId", spec.device_id},
      {"status", spec.enabled ? "enabled" : "disabled"},
      {"authentication", auth},
      {"capabilities", {{"iotEdge", spec.edge}}},
  };
  set_json_body(req, body);
  return req;
}

ServiceRequest build_get_device_request(std::string_view device_id) {
  return make_request("GET", device_path(device_id));
}

ServiceRequest build_list_devices_request(std::optional<int> top) {
  ServiceRequest req = make_request("GET", "/devices");
  if (top) {
    if (*top < 1 || *top > 1000) throw usage_error("--top: expected 1 to 1000");
    req.query.emplace_back("top", std::to_string(*top));
  }
  return req;
}

ServiceRequest build_delete_device_request(std::string_view device_id,
                                           std::optional<std::string_view> etag) {
  ServiceRequest req = make_request("DELETE", device_path(device_id));
  req.headers.emplace_back("If-Match", etag ? if_match_value(*etag) : std::string("*"));
  return req;
}

std::string device_connection_string(std::string_view host, const nlohmann::json& device) {
  if (!device.is_object() || !device.contains("deviceId") || !device["deviceId"].is_string()) {
    throw Error(ExitCode::failure, "the hub's device object has no deviceId");
  }
  ConnectionString cs;
  cs.kind = ConnectionString::Kind::device;
  cs.host_name = std::string(host);
  cs.device_id = device["deviceId"].get<std::string>();
  const auto auth = device.value("authentication", nlohmann::json::object());
  const std::string type = auth.value("type", std::string("sas"));
  if (type == "sas") {
    const auto keys = auth.value("symmetricKey", nlohmann::json::object());
    if (!keys.contains("primaryKey") || !keys["primaryKey"].is_string()) {
      throw Error(ExitCode::failure, "the hub's device object has no primary key");
    }
    cs.shared_access_key = keys["primaryKey"].get<std::string>();
  } else if (type == "selfSigned" || type == "certificateAuthority") {
    cs.x509 = true;
  } else {
    throw Error(ExitCode::failure,
                fmt::format("device authentication type '{}' has no connection string", type));
  }
  return format_connection_string(cs);
}

nlohmann::json redact_device_keys(const nlohmann::json& device) {
  nlohmann::json copy = device;
  if (copy.is_object() && copy.contains("authentication") && copy["authentication"].is_object()) {
    copy["authentication"].erase("symmetricKey");
  }
  return copy;
}

ServiceRequest build_get_twin_request(std::string_view device_id,
                                      std::optional<std::string_view> module_id) {
  return make_request("GET", twin_path(device_id, module_id));
}

ServiceRequest build_update_twin_request(std::string_view device_id, const nlohmann::json& patch,
                                         std::optional<std::string_view> etag,
                                         std::optional<std::string_view> module_id) {
  if (!patch.is_object()) throw usage_error("twin patch: expected a JSON object");
  // Only tags and properties.desired are writable from the service side (§12.2).
  for (const auto& [key, value] : patch.items()) {
    if (key == "tags") {
      if (!value.is_object()) throw usage_error("twin patch: tags must be an object");
      validate_twin_patch(value, "tags", limits::k_twin_tags_bytes);
    } else if (key == "properties") {
      if (!value.is_object()) throw usage_error("twin patch: properties must be an object");
      for (const auto& [section, content] : value.items()) {
        if (section != "desired") {
          throw usage_error(fmt::format(
              "twin patch: properties.{} is not writable by the service (only desired)", section));
        }
        if (!content.is_object()) throw usage_error("twin patch: properties.desired must be an object");
        validate_twin_patch(content, "desired properties", limits::k_twin_desired_bytes);
      }
    } else if (key == "etag" || key == "deviceId" || key == "moduleId") {
      // Read-only fields a user may have kept after editing the output of `twin show`.
      continue;
    } else {
      throw usage_error(fmt::format(
          "twin patch: '{}' is not writable (only tags and properties.desired)", key));
    }
  }
  nlohmann::json body = nlohmann::json::object();
  if (patch.contains("tags")) body["tags"] = patch["tags"];
  if (patch.contains("properties")) body["properties"] = patch["properties"];
  if (body.empty()) throw usage_error("twin patch: nothing to update (give tags or properties.desired)");

  ServiceRequest req = make_request("PATCH", twin_path(device_id, module_id));
  if (etag) req.headers.emplace_back("If-Match", if_match_value(*etag));
  set_json_body(req, body);
  return req;
}

nlohmann::json build_twin_patch(const std::optional<nlohmann::json>& desired,
                                const std::optional<nlohmann::json>& tags) {
  if (!desired && !tags) throw usage_error("twin patch: give desired properties, tags or both");
  nlohmann::json patch = nlohmann::json::object();
  if (tags) patch["tags"] = *tags;
  if (desired) patch["properties"] = {{"desired", *desired}};
  return patch;
}

ServiceRequest build_invoke_method_request(const MethodInvocation& invocation) {
  validate_method_name(invocation.method_name);
  if (invocation.response_timeout_s < limits::k_method_timeout_min_s ||
      invocation.response_timeout_s > limits::k_method_timeout_max_s) {
    throw usage_error(fmt::format("method response timeout: expected {} to {} seconds, got {}",
                                  limits::k_method_timeout_min_s, limits::k_method_timeout_max_s,
                                  invocation.response_timeout_s));
  }
  if (invocation.connect_timeout_s < 0 ||
      invocation.connect_timeout_s > limits::k_method_connect_timeout_max_s) {
    throw usage_error(fmt::format("method connect timeout: expected 0 to {} seconds, got {}",
                                  limits::k_method_connect_timeout_max_s,
                                  invocation.connect_timeout_s));
  }
  const std::string payload = invocation.payload.dump();
  if (payload.size() > limits::k_method_payload_bytes) {
    throw usage_error(fmt::format("method payload: {} bytes is over the hub's limit of {} bytes",
                                  payload.size(), limits::k_method_payload_bytes));
  }
  std::optional<std::string_view> module;
  if (invocation.module_id) module = *invocation.module_id;
  ServiceRequest req = make_request("POST", twin_path(invocation.device_id, module) + "/methods");
  const nlohmann::json body = {
      {"methodName", invocation.method_name},
      {"payload", invocation.payload},
      {"responseTimeoutInSeconds", invocation.response_timeout_s},
      {"connectTimeoutInSeconds", invocation.connect_timeout_s},
  };
  set_json_body(req, body);
  return req;
}

ServiceRequest build_twin_query_request(std::string_view query, std::optional<int> page_size,
                                        std::optional<std::string_view> continuation) {
  if (query.find_first_not_of(" \t\r\n") == std::string_view::npos) throw usage_error("query: the query is empty");
  if (query.size() > k_query_max_chars) {
    throw usage_error(fmt::format("query: {} characters is over the hub's limit of {}", query.size(), k_query_max_chars));
  }
  if (page_size && (*page_size < 1 || *page_size > k_query_max_page_size)) {
    throw usage_error(fmt::format("--page-size: expected 1 to {}", k_query_max_page_size));
  }
  ServiceRequest req = make_request("POST", "/devices/query");
  if (page_size) req.headers.emplace_back("x-ms-max-item-count", std::to_string(*page_size));
  if (continuation) req.headers.emplace_back("x-ms-continuation", std::string(*continuation));
  set_json_body(req, nlohmann::json{{"query", query}});
  return req;
}

ServiceRequest build_schedule_job_request(const jobs::Job& job) {
  jobs::validate_job_id(job.job_id);
  ServiceRequest req = make_request("PUT", "/jobs/v2/" + url_encode(job.job_id));
  set_json_body(req, jobs::job_request_json(job));
  return req;
}

ServiceRequest build_get_job_request(std::string_view job_id) {
  jobs::validate_job_id(job_id);
  return make_request("GET", "/jobs/v2/" + url_encode(job_id));
}

ServiceRequest build_cancel_job_request(std::string_view job_id) {
  jobs::validate_job_id(job_id);
  return make_request("POST", "/jobs/v2/" + url_encode(job_id) + "/cancel");
}

ServiceRequest build_jobs_query_request(std::optional<jobs::JobType> type, std::optional<jobs::JobStatus> status,
                                        std::optional<int> page_size, std::optional<std::string_view> continuation) {
  if (page_size && (*page_size < 1 || *page_size > k_query_max_page_size))
    throw usage_error(fmt::format("--page-size: expected 1 to {}", k_query_max_page_size));
  ServiceRequest req = make_request("GET", "/jobs/v2/query");
  if (type) req.query.emplace_back("jobType", std::string(jobs::to_string(*type)));
  if (status) req.query.emplace_back("jobStatus", std::string(jobs::to_string(*status)));
  if (page_size) req.headers.emplace_back("x-ms-max-item-count", std::to_string(*page_size));
  if (continuation) req.headers.emplace_back("x-ms-continuation", std::string(*continuation));
  return req;
}

ServiceRequest build_registry_statistics_request() { return make_request("GET", "/statistics/devices"); }

ServiceRequest build_service_statistics_request() { return make_request("GET", "/statistics/service"); }

ServiceRequest build_emulator_health_request() {
  return make_request("GET", "/_emulator/health");
}

ServiceRequest build_c2d_send_request(const OutgoingC2dMessage& message) {
  validate_system_properties(message.properties.system);
  validate_message_size(message.body, message.properties, limits::k_c2d_message_bytes, "C2D message");
  ServiceRequest req =
      make_request("POST", "/_emulator" + device_path(message.device_id) + "/messages/deviceBound");
  // Header names are those of IoT Hub's device-facing HTTPS message API (§12.4).
  for (const auto& [name, value] : message.properties.application) validate_application_property(name, value.value_or(""));
  for (auto& header : http_message::headers_of(message.properties, http_message::ContentHeaders::standard))
    req.headers.push_back(std::move(header));
  req.body = message.body;
  return req;
}

ServiceRequest build_d2c_stream_request(const D2cReadOptions& options) {
  ServiceRequest req = make_request("GET", "/_emulator/messages/events/stream");
  req.headers.front() = {"Accept", "text/event-stream"};
  if (options.device_id) {
    validate_identity_id(*options.device_id, "device id");
    req.query.emplace_back("deviceId", *options.device_id);
  }
  if (options.from_sequence) {
    if (*options.from_sequence < 0) throw usage_error("--from-sequence: expected 0 or more");
    req.query.emplace_back("from", std::to_string(*options.from_sequence));
  } else if (options.from_start) {
    req.query.emplace_back("from", "0");
  }
  return req;
}

namespace {

std::optional<int> error_code_of(const nlohmann::json& value) {
  if (value.is_number_integer()) return value.get<int>();
  if (value.is_string()) {
    const auto text = value.get<std::string>();
    if (text.size() == 6 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::stoi(text);
    }
  }
  return std::nullopt;
}

// {"errorCode":404001,"message":"..."} (current generation's inner document, or the emulator).
bool fill_from_current(ServiceError& out, const nlohmann::json& doc) {
  if (!doc.is_object() || !doc.contains("errorCode")) return false;
  out.error_code = error_code_of(doc["errorCode"]);
  if (doc.contains("message") && doc["message"].is_string()) out.message = doc["message"].get<std::string>();
  if (!out.error_code && doc["errorCode"].is_string()) out.name = doc["errorCode"].get<std::string>();
  return true;
}

}  // namespace

ServiceError parse_service_error(int status, std::string_view body,
                                 std::optional<std::string_view> errorcode_header) {
  ServiceError out;
  out.status = status;
  const auto doc = core::parse_json(body);
  if (!doc.is_discarded() && doc.is_object()) {
    if (!fill_from_current(out, doc) && doc.contains("Message") && doc["Message"].is_string()) {
      const std::string message = doc["Message"].get<std::string>();
      const auto inner = core::parse_json(message);
      constexpr std::string_view k_old_prefix = "ErrorCode:";
      if (!inner.is_discarded() && fill_from_current(out, inner)) {
        // current generation: Message is a JSON string (§12.3)
      } else if (message.rfind(k_old_prefix, 0) == 0) {
        // old generation: "ErrorCode:{Name};{text}"
        const auto semi = message.find(';');
        out.name = message.substr(k_old_prefix.size(), semi == std::string::npos
                                                            ? std::string::npos
                                                            : semi - k_old_prefix.size());
        out.message = semi == std::string::npos ? std::string() : message.substr(semi + 1);
      } else {
        out.message = message;
      }
    }
  } else if (!body.empty() && body.size() <= 512 &&
             std::all_of(body.begin(), body.end(), [](char c) { return c != '\0'; })) {
    out.message = std::string(body);
    while (!out.message.empty() && (out.message.back() == '\n' || out.message.back() == '\r')) {
      out.message.pop_back();
    }
  }
  if (out.name.empty() && out.error_code) out.name = std::string(name_of(*out.error_code));
  if (out.name.empty() && errorcode_header && !errorcode_header->empty()) {
    out.name = std::string(*errorcode_header);
  }
  // Recover the code from the name for old-generation bodies.
  if (!out.error_code && !out.name.empty()) out.error_code = code_of(out.name);
  return out;
}

ExitCode exit_code_of(const ServiceError& error) {
  return exit_code_of(error.error_code.value_or(error.status * 1000));
}

std::string format_service_error(const ServiceError& error) {
  const std::string message = error.message.empty() ? std::string("(no message)") : error.message;
  if (!error.name.empty() && error.error_code) {
    return fmt::format("{} ({}): {}", error.name, *error.error_code, message);
  }
  if (!error.name.empty()) return fmt::format("{}: {}", error.name, message);
  if (error.error_code) return fmt::format("error {}: {}", *error.error_code, message);
  return fmt::format("HTTP {}: {}", error.status, message);
}

}  // namespace azhub::core
