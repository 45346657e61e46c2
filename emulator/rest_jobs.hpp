#pragma once
// The jobs v2 endpoints of the REST API (docs/protocol.md §17): PUT and GET /jobs/v2/{id},
// POST /jobs/v2/{id}/cancel, GET /jobs/v2/query. The jobs themselves run in Hub
// (emulator/hub_jobs.cpp). Called by RestApi on the io_context thread.
#include <map>
#include <string>

#include "emulator/http_router.hpp"
#include "emulator/rest_api.hpp"

namespace azhub::emulator {

class Hub;

// PUT: schedules the job the body describes (core::jobs::parse_job_request) and answers the
// JobResponse; 409104 JobAlreadyExists for an id in use. GET: the JobResponse; for an id the
// hub does not know, {"jobId","type":"unknown","status":"unknown"} with 200, as the service does.
[[nodiscard]] RestReply handle_job(Hub& hub, const std::string& job_id, const HttpRequest& request);

// POST .../cancel: the job, cancelled unless it had finished; 404002 JobNotFound.
[[nodiscard]] RestReply handle_job_cancel(Hub& hub, const std::string& job_id);

// GET /jobs/v2/query[?jobType=..][&jobStatus=..]: a JSON array of jobs, oldest first, paged by
// x-ms-max-item-count (at most 100) and x-ms-continuation. 400004 for an unknown type or
// status, or a continuation token this hub did not issue.
[[nodiscard]] RestReply handle_jobs_query(const Hub& hub, const std::map<std::string, std::string>& query,
                                          const HttpRequest& request);

}  // namespace azhub::emulator
