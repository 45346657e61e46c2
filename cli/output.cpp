#include "cli/output.hpp"

#include <ostream>

#include <fmt/format.h>

#include "core/message_record.hpp"

namespace azhub::cli {

using nlohmann::json;

std::string json_line(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json send_ack_json(const SendAckRecord& r) {
  return json{{"seq", r.seq}, {"messageId", r.message_id}, {"latencyMs", r.latency_ms}};
}

// The members and names of a D2C record of `azhub service monitor` (the emulator's
// d2c_to_json) that a device receives too: body and bodyEncoding, systemProperties by their long
// names (absent ones left out) and properties.
json c2d_json(const device::ReceivedC2dMessage& m) { return core::message_record_json(m.body, m.properties); }

std::string c2d_text(const device::ReceivedC2dMessage& m) {
  std::string out = m.body;
  if (out.empty() || out.back() != '\n') out += '\n';
  // The system properties under the names -o json uses (core::system_properties_to_json);
  // "to" is always this device's own address, so the text leaves it out.
  const json system = core::system_properties_to_json(m.properties.system);
  for (const auto& [name, value] : system.items()) {
    if (name != "to") out += fmt::format("  {}: {}\n", name, value.get<std::string>());
  }
  for (const auto& [name, value] : m.properties.application)
    out += value ? fmt::format("  {}={}\n", name, *value) : fmt::format("  {}\n", name);
  return out;
}

json desired_json(const device::DesiredUpdate& u) {
  return json{{"version", u.version}, {"full", u.full}, {"desired", u.patch}};
}

json method_call_json(const MethodCallRecord& r) {
  return json{{"method", r.method},
              {"rid", r.rid},
              {"status", r.status},
              {"durationMs", r.duration_ms},
              {"outcome", r.outcome}};
}

std::string method_call_text(const MethodCallRecord& r) {
  return fmt::format("method {} (rid {}): {} {} in {:.0f} ms", r.method, r.rid, r.status, r.outcome,
                     r.duration_ms);
}

void Output::send_ack(const SendAckRecord& record) {
  if (m_io.json()) m_io.out << json_line(send_ack_json(record)) << '\n';
}

void Output::c2d(const device::ReceivedC2dMessage& message) {
  if (m_io.json()) m_io.out << json_line(c2d_json(message)) << '\n' << std::flush;
  else m_io.out << c2d_text(message) << std::flush;
}

void Output::twin(const json& twin) {
  if (m_io.json()) m_io.out << json_line(twin) << '\n';
  else m_io.out << twin.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  m_io.out.flush();
}

void Output::reported_version(std::int64_t version) {
  if (m_io.json()) m_io.out << json_line(json{{"version", version}}) << '\n';
  else m_io.out << version << '\n';
  m_io.out.flush();
}

void Output::desired(const device::DesiredUpdate& update) {
  if (m_io.json()) m_io.out << json_line(desired_json(update)) << '\n';
  else m_io.out << json_line(update.patch) << '\n';
  m_io.out.flush();
}

void Output::method_call(const MethodCallRecord& record) {
  if (m_io.json()) m_io.out << json_line(method_call_json(record)) << '\n' << std::flush;
  else m_io.err << "azhub: " << method_call_text(record) << '\n' << std::flush;
}

}  // namespace azhub::cli
