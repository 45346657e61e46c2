#include "emulator/rest_jobs.hpp"

#include <fmt/format.h>

#include "core/jobs.hpp"
#include "emulator/hub.hpp"
#include "emulator/rest_query.hpp"
#include "emulator/rest_request.hpp"

namespace azhub::emulator {
namespace {

namespace http = boost::beast::http;
namespace jobs = core::jobs;

// The jobs query's position: the offset of the next job in the filtered list (§17).
std::size_t decode_offset(std::string_view token) {
  const auto doc = decode_continuation(token);
  if (!doc.contains("o") || !doc["o"].is_number_unsigned())
    throw HubError(400004, "x-ms-continuation: not a continuation token this hub issued");
  return doc["o"].get<std::size_t>();
}

}  // namespace

RestReply handle_job(Hub& hub, const std::string& job_id, const HttpRequest& request) {
  if (request.method() == http::verb::put) {
    auto job = jobs::parse_job_request(request_json(request), job_id);
    return json_reply(jobs::to_json(hub.create_job(std::move(job))));
  }
  if (const auto job = hub.get_job(job_id)) return json_reply(jobs::to_json(*job));
  // The service answers an id it does not know with a job of unknown type and status (§17).
  return json_reply({{"jobId", job_id}, {"type", "unknown"}, {"status", "unknown"}});
}

RestReply handle_job_cancel(Hub& hub, const std::string& job_id) {
  return json_reply(jobs::to_json(hub.cancel_job(job_id)));
}

RestReply handle_jobs_query(const Hub& hub, const std::map<std::string, std::string>& query,
                            const HttpRequest& request) {
  std::optional<jobs::JobType> type;
  std::optional<jobs::JobStatus> status;
  if (const auto it = query.find("jobType"); it != query.end() && !it->second.empty()) {
    type = jobs::parse_job_type(it->second);
    if (!type) throw HubError(400004, fmt::format("jobType '{}' is not scheduleUpdateTwin or scheduleDeviceMethod", it->second));
  }
  if (const auto it = query.find("jobStatus"); it != query.end() && !it->second.empty()) {
    status = jobs::parse_job_status(it->second);
    if (!status) throw HubError(400004, fmt::format("jobStatus '{}' is not a job status", it->second));
  }
  const auto page_size = static_cast<std::size_t>(query_page_size(request));
  std::size_t offset = 0;
  if (const auto token = request_header(request, "x-ms-continuation")) offset = decode_offset(*token);

  std::vector<jobs::Job> selected;
  for (auto& job : hub.list_jobs())
    if ((!type || job.type == *type) && (!status || job.status == *status)) selected.push_back(std::move(job));
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  std::size_t i = offset;
  for (; i < selected.size() && rows.size() < page_size; ++i) rows.push_back(jobs::to_json(selected[i]));
  RestReply reply = json_reply(std::move(rows));
  // The last page carries no token: the SDKs stop when the header is absent.
  if (i < selected.size())
    reply.headers.emplace_back("x-ms-continuation", encode_continuation(nlohmann::json{{"o", i}}));
  return reply;
}

}  // namespace azhub::emulator
