#pragma once
// IoT Hub's query language for device and module twins (docs/protocol.md §16): the subset the
// service accepts on POST /devices/query, parsed to a tree and evaluated over twin documents
// (the §8.2 service view, as nlohmann::json). Pure: no I/O, no clock. The emulator runs it over
// its registry; `azhub service query` only sends the text.
//
//   SELECT [TOP n] * | item [AS alias], ...   item: a.b.c | COUNT() | SUM/AVG/MIN/MAX(a.b)
//   FROM devices | devices.modules | devices.jobs
//   [WHERE condition]                           =, !=, <>, <, >, <=, >=, IN [..], NIN [..],
//   [GROUP BY a.b.c]                            AND, OR, NOT, + - * / %, IS_DEFINED, IS_NULL,
//                                               IS_STRING, IS_NUMBER, IS_BOOL, IS_OBJECT,
//                                               IS_ARRAY, IS_PRIMITIVE, STARTSWITH, ENDSWITH
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace azhub::core {

// Longest query text the hub accepts (§16).
inline constexpr std::size_t k_query_max_chars = 8192;
// x-ms-max-item-count: the page size when the request names none, and the most one page holds.
inline constexpr int k_query_default_page_size = 100;
inline constexpr int k_query_max_page_size = 100;
// The error code of a query the hub cannot parse or run (§16: the real code is not documented).
inline constexpr int k_query_error_code = 400004;

enum class QueryCollection { devices, modules, jobs };

struct QueryAst;  // the parsed tree (core/twin_query.cpp)

class TwinQuery {
 public:
  // Parses `text`. Throws HubError(k_query_error_code) for text the language does not accept:
  // "query: syntax error at line 1, column 15 near 'FORM': expected FROM", an unknown function,
  // a projection neither grouped nor aggregated, text over k_query_max_chars.
  [[nodiscard]] static TwinQuery parse(std::string_view text);

  [[nodiscard]] QueryCollection collection() const noexcept;
  // SELECT * without aggregates: each row is the whole twin document.
  [[nodiscard]] bool selects_whole_twins() const noexcept;
  // COUNT/SUM/AVG/MIN/MAX or GROUP BY: rows exist only once every twin has been seen.
  [[nodiscard]] bool is_aggregate() const noexcept;
  // TOP n, when given.
  [[nodiscard]] std::optional<std::int64_t> top() const noexcept;
  // The x-ms-item-type of the answer: "twin" for whole twins, "deviceJob" for devices.jobs,
  // "raw" for projections and aggregates.
  [[nodiscard]] std::string_view item_type() const noexcept;

  // The top-level members of a twin document the query reads, lower-cased (names match
  // ignoring case): a document holding only these gives the same matches() — and, without
  // `where_only`, the same project() and aggregates — as the whole twin. Empty for SELECT *
  // without a condition.
  [[nodiscard]] std::set<std::string> referenced_members(bool where_only) const;

  // True when `twin` satisfies the WHERE condition (always without one).
  [[nodiscard]] bool matches(const nlohmann::json& twin) const;
  // The row for a matching `twin` of a query that is not an aggregate: the twin itself for
  // SELECT *, else an object with one member per projection that is defined in the twin.
  [[nodiscard]] nlohmann::json project(const nlohmann::json& twin) const;

  // For an aggregate query: feeds every matching twin, then rows() gives one row per group
  // (one row without GROUP BY), groups in the order their first twin came.
  class Aggregation {
   public:
    explicit Aggregation(const TwinQuery& query);
    ~Aggregation();
    Aggregation(Aggregation&&) noexcept;
    Aggregation& operator=(Aggregation&&) noexcept;
    void add(const nlohmann::json& twin);
    [[nodiscard]] std::vector<nlohmann::json> rows() const;

   private:
    struct State;
    std::unique_ptr<State> m_state;
  };

 private:
  explicit TwinQuery(std::shared_ptr<const QueryAst> ast) : m_ast(std::move(ast)) {}
  std::shared_ptr<const QueryAst> m_ast;
};

}  // namespace azhub::core
