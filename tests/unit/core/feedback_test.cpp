#include "core/feedback.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub::core;

namespace {

std::string error_of(std::string_view body) {
  try {
    (void)parse_feedback_batch(body);
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::failure);
    return e.what();
  }
  return "<no error>";
}

constexpr std::int64_t k_doc_time = 1438100688789;  // 2015-07-28T16:24:48.789Z

FeedbackRecord doc_record() {
  return FeedbackRecord{"0987654321", k_doc_time, FeedbackStatus::success,
                        "Success",    "123",      "abcdefghijklmnopqrstuvwxyz"};
}

}  // namespace

TEST_CASE("core::to_string(FeedbackStatus)") {
  CHECK(to_string(FeedbackStatus::success) == "Success");
  CHECK(to_string(FeedbackStatus::expired) == "Expired");
  CHECK(to_string(FeedbackStatus::delivery_count_exceeded) == "DeliveryCountExceeded");
  CHECK(to_string(FeedbackStatus::rejected) == "Rejected");
  CHECK(to_string(FeedbackStatus::purged) == "Purged");
  CHECK(parse_feedback_status("Purged") == FeedbackStatus::purged);
  CHECK_FALSE(parse_feedback_status("purged"));
}

TEST_CASE("core::ack_requests") {
  using S = FeedbackStatus;
  const std::vector<S> all{S::success, S::expired, S::delivery_count_exceeded, S::rejected,
                           S::purged};
  for (S s : all) {
    CAPTURE(to_string(s));
    CHECK(ack_requests("full", s));
    CHECK(ack_requests("positive", s) == (s == S::success));
    CHECK(ack_requests("negative", s) == (s != S::success));
    CHECK_FALSE(ack_requests("none", s));
    CHECK_FALSE(ack_requests(std::nullopt, s));
    CHECK_FALSE(ack_requests("Full", s));  // unknown values ask for nothing
    CHECK_FALSE(ack_requests("", s));
  }
}

TEST_CASE("core::feedback_batch_json") {
  SUBCASE("one record, members in the documented order") {
    CHECK(feedback_batch_json({doc_record()}) ==
          R"([{"originalMessageId":"0987654321","enqueuedTimeUtc":"2015-07-28T16:24:48.789Z",)"
          R"("statusCode":"Success","description":"Success","deviceId":"123",)"
          R"("deviceGenerationId":"abcdefghijklmnopqrstuvwxyz"}])");
  }
  SUBCASE("two records") {
    FeedbackRecord second{
        "m2",
        k_doc_time + 211,
        FeedbackStatus::delivery_count_exceeded,
        std::string(feedback_description(FeedbackStatus::delivery_count_exceeded)),
        "dev\"1",
        "g"};
    CHECK(feedback_batch_json({doc_record(), second}) ==
          R"([{"originalMessageId":"0987654321","enqueuedTimeUtc":"2015-07-28T16:24:48.789Z",)"
          R"("statusCode":"Success","description":"Success","deviceId":"123",)"
          R"("deviceGenerationId":"abcdefghijklmnopqrstuvwxyz"},)"
          R"({"originalMessageId":"m2","enqueuedTimeUtc":"2015-07-28T16:24:49.000Z",)"
          R"("statusCode":"DeliveryCountExceeded","description":"Message delivery count exceeded",)"
          R"("deviceId":"dev\"1","deviceGenerationId":"g"}])");
  }
  SUBCASE("no records") {
    CHECK(feedback_batch_json({}) == "[]");
  }
}

TEST_CASE("core::parse_feedback_batch") {
  SUBCASE("round trip") {
    std::vector<FeedbackRecord> records{doc_record()};
    for (auto s : {FeedbackStatus::expired, FeedbackStatus::delivery_count_exceeded,
                   FeedbackStatus::rejected, FeedbackStatus::purged}) {
      records.push_back(FeedbackRecord{"id-" + std::string(to_string(s)), k_doc_time + 1, s,
                                       std::string(feedback_description(s)), "d", "gen"});
    }
    CHECK(parse_feedback_batch(feedback_batch_json(records)) == records);
    CHECK(parse_feedback_batch("[]").empty());
  }
  SUBCASE("members in any order, unknown members ignored") {
    auto r = parse_feedback_batch(
        R"([{"deviceGenerationId":"abcdefghijklmnopqrstuvwxyz","deviceId":"123","extra":1,)"
        R"("description":"Success","statusCode":"Success","enqueuedTimeUtc":"2015-07-28T16:24:48.789Z",)"
        R"("originalMessageId":"0987654321"}])");
    REQUIRE(r.size() == 1);
    CHECK(r[0] == doc_record());
  }
  SUBCASE("bad input") {
    const std::string ok_tail =
        R"("enqueuedTimeUtc":"2015-07-28T16:24:48.789Z","description":"x","deviceId":"d","deviceGenerationId":"g")";
    CHECK(error_of("not json") == "feedback message: invalid JSON");
    CHECK(error_of(R"({"originalMessageId":"1"})") == "feedback message: not a JSON array");
    CHECK(error_of("[1]") == "feedback message: record 0 is not an object");
    CHECK(error_of(R"([{"statusCode":"Success",)" + ok_tail + "}]") ==
          "feedback message: record 0 has no originalMessageId");
    CHECK(error_of(R"([{"originalMessageId":7,"statusCode":"Success",)" + ok_tail + "}]") ==
          "feedback message: record 0: originalMessageId is not a string");
    CHECK(error_of(R"([{"originalMessageId":"1","statusCode":"Lost",)" + ok_tail + "}]") ==
          "feedback message: record 0: unknown statusCode 'Lost'");
    CHECK(error_of(
              R"([{"originalMessageId":"1","statusCode":"Success","enqueuedTimeUtc":"yesterday",)"
              R"("description":"x","deviceId":"d","deviceGenerationId":"g"}])")
              .starts_with("feedback message: record 0: enqueuedTimeUtc"));
  }
}
