#include "core/twin_query.hpp"

#include <set>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "core/hub_errors.hpp"
#include "core/text.hpp"

namespace azhub::core {

using nlohmann::json;

// --- the tree ---------------------------------------------------------------------------------

enum class Op { eq, ne, lt, gt, le, ge, add, sub, mul, div, mod, and_, or_, not_, neg, in, nin };
enum class Fn { is_defined, is_null, is_string, is_number, is_bool, is_object, is_array,
                is_primitive, startswith, endswith };
enum class Agg { none, count, sum, avg, min, max };

struct Expr {
  enum class Kind { constant, undefined, path, unary, binary, call, list } kind = Kind::constant;
  json value;                      // constant; list elements
  std::vector<std::string> path;   // path segments
  Op op = Op::eq;
  Fn fn = Fn::is_defined;
  std::vector<Expr> args;          // operands, call arguments
};

struct Projection {
  Agg agg = Agg::none;
  std::vector<std::string> path;  // empty for COUNT()
  std::optional<std::string> alias;
  std::size_t position = 0;       // 1-based, names an unaliased aggregate "$1"
};

struct QueryAst {
  bool star = false;
  std::vector<Projection> items;
  std::optional<std::int64_t> top;
  QueryCollection collection = QueryCollection::devices;
  std::optional<Expr> where;
  std::optional<std::vector<std::string>> group_by;
  bool aggregate = false;
};

namespace {

// --- tokens -----------------------------------------------------------------------------------

enum class Tok { ident, number, string, symbol, end };

struct Token {
  Tok kind = Tok::end;
  std::string text;  // identifier (brackets removed), symbol, raw number
  json value;        // number or string value
  std::size_t offset = 0;
  bool bracketed = false;  // [[name]]: never a keyword
};

[[noreturn]] void fail(std::string_view text, std::size_t offset, std::string_view near,
                       std::string_view problem) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  const std::string where = near.empty() ? std::string("at the end")
                                         : fmt::format("near '{}'", near.substr(0, 40));
  throw HubError(k_query_error_code,
                 fmt::format("query: syntax error at line {}, column {} {}: {}", line, column, where, problem));
}

bool ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
int hex_value(char c) {
  if (digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
      continue;
    }
    Token t;
    t.offset = i;
    if (c == '[' && i + 1 < text.size() && text[i + 1] == '[') {
      // [[group]]: a property name that would otherwise be a keyword (§16).
      const auto close = text.find("]]", i + 2);
      if (close == std::string_view::npos || close == i + 2)
        fail(text, i, text.substr(i), "expected a property name and ']]'");
      t.kind = Tok::ident;
      t.text = std::string(text.substr(i + 2, close - i - 2));
      t.bracketed = true;
      i = close + 2;
    } else if (ident_start(c)) {
      std::size_t j = i;
      while (j < text.size() && ident_char(text[j])) ++j;
      t.kind = Tok::ident;
      t.text = std::string(text.substr(i, j - i));
      i = j;
    } else if (digit(c) || (c == '.' && i + 1 < text.size() && digit(text[i + 1]))) {
      std::size_t j = i;
      if (c == '0' && j + 1 < text.size() && (text[j + 1] == 'x' || text[j + 1] == 'X')) {
        j += 2;
        std::uint64_t v = 0;
        const std::size_t start = j;
        while (j < text.size() && hex_value(text[j]) >= 0) {
          if (v > (std::numeric_limits<std::uint64_t>::max() >> 4))
            fail(text, i, text.substr(i, j - i + 1), "hexadecimal number too large");
          v = v * 16 + static_cast<unsigned>(hex_value(text[j]));
          ++j;
        }
        if (j == start) fail(text, i, text.substr(i, 2), "expected hexadecimal digits after 0x");
        t.value = v;
      } else {
        while (j < text.size() && digit(text[j])) ++j;
        bool real = false;
        if (j < text.size() && text[j] == '.') {
          real = true;
          ++j;
          while (j < text.size() && digit(text[j])) ++j;
        }
        if (j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
          std::size_t k = j + 1;
          if (k < text.size() && (text[k] == '+' || text[k] == '-')) ++k;
          if (k < text.size() && digit(text[k])) {
            real = true;
            j = k;
            while (j < text.size() && digit(text[j])) ++j;
          }
        }
        const std::string raw(text.substr(i, j - i));
        auto parsed = json::parse(raw.front() == '.' ? "0" + raw : raw, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_number()) fail(text, i, raw, "not a number");
        if (parsed.is_number_float() && !std::isfinite(parsed.get<double>()))
          fail(text, i, raw, "number out of range");
        (void)real;
        t.value = std::move(parsed);
      }
      if (j < text.size() && ident_char(text[j])) fail(text, i, text.substr(i, j - i + 1), "not a number");
      t.kind = Tok::number;
      t.text = std::string(text.substr(i, j - i));
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string value;
      std::size_t j = i + 1;
      bool closed = false;
      while (j < text.size()) {
        const char d = text[j];
        if (d == c) {
          closed = true;
          ++j;
          break;
        }
        if (d == '\\') {
          if (j + 1 >= text.size()) break;
          const char e = text[j + 1];
          if (e == '\'' || e == '"' || e == '\\' || e == '/') {
            value += e;
            j += 2;
          } else if (e == 'u') {
            unsigned cp = 0;
            for (std::size_t k = 0; k < 4; ++k) {
              const int h = j + 2 + k < text.size() ? hex_value(text[j + 2 + k]) : -1;
              if (h < 0) fail(text, j, text.substr(j, 6), "expected four hexadecimal digits after \\u");
              cp = cp * 16 + static_cast<unsigned>(h);
            }
            append_utf8(value, cp);
            j += 6;
          } else {
            fail(text, j, text.substr(j, 2), "unknown escape (allowed: \\' \\\" \\\\ \\uXXXX)");
          }
          continue;
        }
        value += d;
        ++j;
      }
      if (!closed) fail(text, i, text.substr(i), "unterminated string");
      t.kind = Tok::string;
      t.text = std::string(text.substr(i, j - i));
      t.value = std::move(value);
      i = j;
    } else {
      static constexpr std::string_view k_two[] = {"!=", "<>", "<=", ">="};
      t.kind = Tok::symbol;
      for (const auto two : k_two) {
        if (text.substr(i, 2) == two) t.text = std::string(two);
      }
      if (t.text.empty()) {
        static constexpr std::string_view k_one = "*,.()[]=<>+-/%";
        if (k_one.find(c) == std::string_view::npos)
          fail(text, i, text.substr(i, 1), fmt::format("unexpected character {}", describe_byte(c)));
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.offset = text.size();
  out.push_back(std::move(end));
  return out;
}

// --- parser -----------------------------------------------------------------------------------

constexpr std::string_view k_keywords[] = {"SELECT", "TOP", "FROM", "WHERE", "GROUP", "BY", "AS",
                                           "AND", "OR", "NOT", "IN", "NIN", "TRUE", "FALSE",
                                           "NULL", "UNDEFINED"};
constexpr int k_max_depth = 64;
// Operators in one WHERE clause: left-associative chains (`a AND b AND ...`) nest the tree as
// deep as they are long, and evaluation recurses over it.
constexpr std::size_t k_max_operators = 512;

bool is_keyword(const Token& t) {
  if (t.kind != Tok::ident || t.bracketed) return false;
  for (const auto k : k_keywords)
    if (iequals(t.text, k)) return true;
  return false;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : m_text(text), m_tokens(tokenize(text)) {}

  QueryAst parse_query() {
    QueryAst ast;
    expect_keyword("SELECT");
    if (keyword("TOP")) {
      const auto& t = peek();
      if (t.kind != Tok::number || !t.value.is_number_integer() || t.value.get<std::int64_t>() < 1)
        error("expected a whole number of at least 1 after TOP");
      ast.top = t.value.get<std::int64_t>();
      next();
    }
    parse_select_list(ast);
    expect_keyword("FROM");
    ast.collection = parse_collection();
    m_collection = ast.collection;
    if (keyword("WHERE")) ast.where = parse_expr(0);
    if (keyword("GROUP")) {
      expect_keyword("BY");
      ast.group_by = parse_path();
    }
    if (peek().kind != Tok::end) error("expected the end of the query");
    check_projections(ast);
    return ast;
  }

 private:
  const Token& peek(std::size_t ahead = 0) const {
    return m_tokens[std::min(m_pos + ahead, m_tokens.size() - 1)];
  }
  const Token& next() {
    const Token& t = peek();
    if (m_pos + 1 < m_tokens.size()) ++m_pos;
    return t;
  }
  [[noreturn]] void error(std::string_view problem) const { error_at(peek(), problem); }
  [[noreturn]] void error_at(const Token& t, std::string_view problem) const {
    fail(m_text, t.offset, t.kind == Tok::end ? std::string_view() : std::string_view(m_text).substr(t.offset, std::max<std::size_t>(t.text.size(), 1)), problem);
  }
  bool keyword(std::string_view k) {
    const Token& t = peek();
    if (t.kind == Tok::ident && !t.bracketed && iequals(t.text, k)) {
      next();
      return true;
    }
    return false;
  }
  void expect_keyword(std::string_view k) {
    if (!keyword(k)) error(fmt::format("expected {}", k));
  }
  bool symbol(std::string_view s) {
    if (peek().kind == Tok::symbol && peek().text == s) {
      next();
      return true;
    }
    return false;
  }
  void expect_symbol(std::string_view s) {
    if (!symbol(s)) error(fmt::format("expected '{}'", s));
  }

  std::string parse_name() {
    const Token& t = peek();
    if (t.kind != Tok::ident) error("expected a property name");
    if (is_keyword(t)) error(fmt::format("{} is a keyword; write [[{}]] for a property of that name", t.text, t.text));
    return next().text;
  }

  std::vector<std::string> parse_path() {
    std::vector<std::string> path{parse_name()};
    while (peek().kind == Tok::symbol && peek().text == ".") {
      next();
      path.push_back(parse_name());
    }
    strip_collection_prefix(path);
    return path;
  }

  // `devices.jobs.deviceId` in FROM devices.jobs names the job's deviceId (§16).
  void strip_collection_prefix(std::vector<std::string>& path) const {
    if (path.size() < 2 || !iequals(path[0], "devices")) return;
    std::size_t drop = 1;
    if (m_collection == QueryCollection::modules && iequals(path[1], "modules")) drop = 2;
    if (m_collection == QueryCollection::jobs && iequals(path[1], "jobs")) drop = 2;
    if (path.size() > drop) path.erase(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(drop));
  }

  QueryCollection parse_collection() {
    const Token& first = peek();
    if (first.kind != Tok::ident || !iequals(first.text, "devices"))
      error("expected devices, devices.modules or devices.jobs");
    next();
    if (!symbol(".")) return QueryCollection::devices;
    const Token& second = peek();
    if (second.kind == Tok::ident && iequals(second.text, "modules")) {
      next();
      return QueryCollection::modules;
    }
    if (second.kind == Tok::ident && iequals(second.text, "jobs")) {
      next();
      return QueryCollection::jobs;
    }
    error("expected devices, devices.modules or devices.jobs");
  }

  static std::optional<Agg> aggregate_named(std::string_view name) {
    if (iequals(name, "COUNT")) return Agg::count;
    if (iequals(name, "SUM")) return Agg::sum;
    if (iequals(name, "AVG")) return Agg::avg;
    if (iequals(name, "MIN")) return Agg::min;
    if (iequals(name, "MAX")) return Agg::max;
    return std::nullopt;
  }

  void parse_select_list(QueryAst& ast) {
    if (symbol("*")) {
      ast.star = true;
      return;
    }
    do {
      Projection item;
      item.position = ast.items.size() + 1;
      const Token& t = peek();
      const auto agg = t.kind == Tok::ident && !t.bracketed ? aggregate_named(t.text) : std::nullopt;
      if (agg && peek(1).kind == Tok::symbol && peek(1).text == "(") {
        next();
        next();
        item.agg = *agg;
        if (*agg != Agg::count) item.path = parse_path();
        expect_symbol(")");
        ast.aggregate = true;
      } else {
        item.path = parse_path();
      }
      if (keyword("AS")) item.alias = parse_name();
      ast.items.push_back(std::move(item));
    } while (symbol(","));
  }

  void check_projections(QueryAst& ast) const {
    if (ast.group_by) ast.aggregate = true;
    if (ast.star && ast.group_by) fail(m_text, 0, "SELECT *", "SELECT * cannot be grouped; name the grouped property and the aggregates");
    std::map<std::string, bool> names;
    for (const auto& item : ast.items) {
      if (ast.aggregate && item.agg == Agg::none) {
        const bool grouped = ast.group_by && ast.group_by->size() == item.path.size() &&
                             std::equal(item.path.begin(), item.path.end(), ast.group_by->begin(),
                                        [](const std::string& a, const std::string& b) { return iequals(a, b); });
        if (!grouped)
          throw HubError(k_query_error_code,
                         fmt::format("query: '{}' is neither grouped (GROUP BY) nor aggregated", fmt::join(item.path, ".")));
      }
      const std::string name = item.alias ? *item.alias
                               : item.agg != Agg::none ? fmt::format("${}", item.position)
                                                       : item.path.back();
      if (!names.emplace(to_lower(name), true).second)
        throw HubError(k_query_error_code,
                       fmt::format("query: two columns are named '{}'; give one a name with AS", name));
    }
  }

  // Precedence climbing: OR < AND < NOT < comparison/IN < + - < * / % < unary minus.
  Expr parse_expr(int depth) {
    if (depth > k_max_depth) error("the expression is nested too deeply");
    Expr left = parse_and(depth);
    while (keyword("OR")) left = binary(Op::or_, std::move(left), parse_and(depth));
    return left;
  }
  Expr parse_and(int depth) {
    Expr left = parse_not(depth);
    while (keyword("AND")) left = binary(Op::and_, std::move(left), parse_not(depth));
    return left;
  }
  Expr parse_not(int depth) {
    if (depth > k_max_depth) error("the expression is nested too deeply");
    if (keyword("NOT")) return unary(Op::not_, parse_not(depth + 1));
    return parse_comparison(depth);
  }
  Expr parse_comparison(int depth) {
    Expr left = parse_additive(depth);
    static constexpr std::pair<std::string_view, Op> k_ops[] = {
        {"=", Op::eq}, {"!=", Op::ne}, {"<>", Op::ne}, {"<=", Op::le},
        {">=", Op::ge}, {"<", Op::lt}, {">", Op::gt}};
    for (const auto& [text, op] : k_ops) {
      if (symbol(text)) return binary(op, std::move(left), parse_additive(depth));
    }
    if (keyword("IN")) return binary(Op::in, std::move(left), parse_list());
    if (keyword("NIN")) return binary(Op::nin, std::move(left), parse_list());
    return left;
  }
  Expr parse_additive(int depth) {
    Expr left = parse_multiplicative(depth);
    while (true) {
      if (symbol("+")) left = binary(Op::add, std::move(left), parse_multiplicative(depth));
      else if (symbol("-")) left = binary(Op::sub, std::move(left), parse_multiplicative(depth));
      else return left;
    }
  }
  Expr parse_multiplicative(int depth) {
    Expr left = parse_unary(depth);
    while (true) {
      if (symbol("*")) left = binary(Op::mul, std::move(left), parse_unary(depth));
      else if (symbol("/")) left = binary(Op::div, std::move(left), parse_unary(depth));
      else if (symbol("%")) left = binary(Op::mod, std::move(left), parse_unary(depth));
      else return left;
    }
  }
  Expr parse_unary(int depth) {
    if (depth > k_max_depth) error("the expression is nested too deeply");
    if (symbol("-")) return unary(Op::neg, parse_unary(depth + 1));
    return parse_primary(depth);
  }

  Expr parse_list() {
    const Token& open = peek();
    if (!symbol("[")) error("expected '[' and a list of constants");
    Expr list;
    list.kind = Expr::Kind::list;
    list.value = json::array();
    if (symbol("]")) error_at(open, "the list is empty");
    do {
      list.value.push_back(parse_constant());
    } while (symbol(","));
    expect_symbol("]");
    return list;
  }

  json parse_constant() {
    bool negative = symbol("-");
    const Token& t = peek();
    if (t.kind == Tok::number) {
      next();
      if (!negative) return t.value;
      if (t.value.is_number_unsigned() && t.value.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return -t.value.get<std::int64_t>();
      return -t.value.get<double>();
    }
    if (negative) error("expected a number after '-'");
    if (t.kind == Tok::string) return next().value;
    if (keyword("TRUE")) return true;
    if (keyword("FALSE")) return false;
    if (keyword("NULL")) return nullptr;
    error("expected a constant (string, number, true, false or null)");
  }

  static std::optional<std::pair<Fn, std::size_t>> function_named(std::string_view name) {
    static constexpr std::tuple<std::string_view, Fn, std::size_t> k_functions[] = {
        {"IS_DEFINED", Fn::is_defined, 1}, {"IS_NULL", Fn::is_null, 1},
        {"IS_STRING", Fn::is_string, 1},   {"IS_NUMBER", Fn::is_number, 1},
        {"IS_BOOL", Fn::is_bool, 1},       {"IS_OBJECT", Fn::is_object, 1},
        {"IS_ARRAY", Fn::is_array, 1},     {"IS_PRIMITIVE", Fn::is_primitive, 1},
        {"STARTSWITH", Fn::startswith, 2}, {"ENDSWITH", Fn::endswith, 2}};
    for (const auto& [n, fn, arity] : k_functions)
      if (iequals(name, n)) return std::pair{fn, arity};
    return std::nullopt;
  }

  Expr parse_primary(int depth) {
    const Token& t = peek();
    if (t.kind == Tok::number || t.kind == Tok::string) {
      Expr e;
      e.value = next().value;
      return e;
    }
    if (t.kind == Tok::symbol && t.text == "(") {
      next();
      Expr inner = parse_expr(depth + 1);
      expect_symbol(")");
      return inner;
    }
    if (t.kind == Tok::symbol && t.text == "[") return parse_list();
    if (t.kind != Tok::ident) error("expected a property, a constant or a function");
    if (!t.bracketed) {
      Expr e;
      if (keyword("TRUE")) {
        e.value = true;
        return e;
      }
      if (keyword("FALSE")) {
        e.value = false;
        return e;
      }
      if (keyword("NULL")) {
        e.value = nullptr;
        return e;
      }
      if (keyword("UNDEFINED")) {
        e.kind = Expr::Kind::undefined;
        return e;
      }
      if (peek(1).kind == Tok::symbol && peek(1).text == "(") return parse_call(depth);
    }
    Expr e;
    e.kind = Expr::Kind::path;
    e.path = parse_path();
    return e;
  }

  Expr parse_call(int depth) {
    const Token& name = next();
    const auto fn = function_named(name.text);
    if (!fn) {
      // STARTS_WITH, CONTAINS, ... are message-routing functions; twin queries refuse them (§16).
      const std::string hint = iequals(name.text, "STARTS_WITH")  ? " (twin queries spell it STARTSWITH)"
                               : iequals(name.text, "ENDS_WITH") ? " (twin queries spell it ENDSWITH)"
                               : aggregate_named(name.text)      ? " (aggregates belong in SELECT)"
                                                                 : "";
      error_at(name, fmt::format("unknown function {}{}", name.text, hint));
    }
    expect_symbol("(");
    Expr call;
    call.kind = Expr::Kind::call;
    call.fn = fn->first;
    if (!(peek().kind == Tok::symbol && peek().text == ")")) {
      do {
        call.args.push_back(parse_expr(depth + 1));
      } while (symbol(","));
    }
    if (call.args.size() != fn->second)
      error_at(name, fmt::format("{} takes {} argument{}", name.text, fn->second, fn->second == 1 ? "" : "s"));
    expect_symbol(")");
    return call;
  }

  static Expr unary(Op op, Expr operand) {
    Expr e;
    e.kind = Expr::Kind::unary;
    e.op = op;
    e.args.push_back(std::move(operand));
    return e;
  }
  Expr binary(Op op, Expr left, Expr right) {
    if (++m_operators > k_max_operators)
      error(fmt::format("more than {} operators in one query", k_max_operators));
    Expr e;
    e.kind = Expr::Kind::binary;
    e.op = op;
    e.args.push_back(std::move(left));
    e.args.push_back(std::move(right));
    return e;
  }

  std::string_view m_text;
  std::vector<Token> m_tokens;
  std::size_t m_pos = 0;
  std::size_t m_operators = 0;
  QueryCollection m_collection = QueryCollection::devices;
};

// --- evaluation -------------------------------------------------------------------------------

// A value during evaluation: undefined, a value borrowed from the twin, or one computed.
struct Value {
  const json* ref = nullptr;
  std::optional<json> own;
  [[nodiscard]] bool defined() const { return ref != nullptr || own.has_value(); }
  [[nodiscard]] const json& get() const { return ref != nullptr ? *ref : *own; }
  static Value of(json v) {
    Value out;
    out.own = std::move(v);
    return out;
  }
};

// A member of `doc`: the exact key, else the first key equal ignoring ASCII case (the documented
// `SELECT DeviceId` answers "deviceId", §16). `key_out` receives the key as the twin spells it.
const json* member(const json& doc, const std::string& name, const std::string** key_out = nullptr) {
  if (!doc.is_object()) return nullptr;
  if (const auto it = doc.find(name); it != doc.end()) {
    if (key_out != nullptr) *key_out = &it.key();
    return &*it;
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (iequals(it.key(), name)) {
      if (key_out != nullptr) *key_out = &it.key();
      return &*it;
    }
  }
  return nullptr;
}

const json* lookup(const json& doc, const std::vector<std::string>& path, const std::string** last_key = nullptr) {
  const json* at = &doc;
  for (const auto& segment : path) {
    at = member(*at, segment, last_key);
    if (at == nullptr) return nullptr;
  }
  return at;
}

bool primitive(const json& v) { return v.is_string() || v.is_number() || v.is_boolean() || v.is_null(); }

// Equality of primitives: numbers by value, otherwise same type and value; a string never
// equals a number (§16). nullopt when either side is undefined, an object or an array.
std::optional<bool> equal(const Value& a, const Value& b) {
  if (!a.defined() || !b.defined()) return std::nullopt;
  const json& x = a.get();
  const json& y = b.get();
  if (!primitive(x) || !primitive(y)) return std::nullopt;
  if (x.is_number() && y.is_number()) {
    if (x.is_number_integer() && y.is_number_integer()) {
      if (x.is_number_unsigned() || y.is_number_unsigned()) {
        if ((x.is_number_unsigned() || x.get<std::int64_t>() >= 0) && (y.is_number_unsigned() || y.get<std::int64_t>() >= 0))
          return x.get<std::uint64_t>() == y.get<std::uint64_t>();
        return false;
      }
      return x.get<std::int64_t>() == y.get<std::int64_t>();
    }
    return x.get<double>() == y.get<double>();
  }
  if (x.type() != y.type()) return false;
  return x == y;
}

// Ordering of two numbers or two strings (ordinal); nullopt for anything else.
std::optional<int> order(const Value& a, const Value& b) {
  if (!a.defined() || !b.defined()) return std::nullopt;
  const json& x = a.get();
  const json& y = b.get();
  if (x.is_number() && y.is_number()) {
    if (const auto eq = equal(a, b); eq && *eq) return 0;
    if (x.is_number_integer() && y.is_number_integer() && !x.is_number_unsigned() && !y.is_number_unsigned())
      return x.get<std::int64_t>() < y.get<std::int64_t>() ? -1 : 1;
    return x.get<double>() < y.get<double>() ? -1 : 1;
  }
  if (x.is_string() && y.is_string()) {
    const auto& s = x.get_ref<const std::string&>();
    const auto& t = y.get_ref<const std::string&>();
    return s < t ? -1 : (s == t ? 0 : 1);
  }
  return std::nullopt;
}

Value boolean(std::optional<bool> b) { return b ? Value::of(*b) : Value{}; }

std::optional<bool> truth(const Value& v) {
  if (!v.defined() || !v.get().is_boolean()) return std::nullopt;
  return v.get().get<bool>();
}

Value arithmetic(Op op, const Value& a, const Value& b) {
  if (!a.defined() || !b.defined() || !a.get().is_number() || !b.get().is_number()) return {};
  const json& x = a.get();
  const json& y = b.get();
  const bool ints = x.is_number_integer() && y.is_number_integer() && !x.is_number_unsigned() &&
                    !y.is_number_unsigned();
  if (ints && op != Op::div) {
    const auto i = x.get<std::int64_t>();
    const auto j = y.get<std::int64_t>();
    std::int64_t r = 0;
    bool overflow = false;
    switch (op) {
      case Op::add: overflow = __builtin_add_overflow(i, j, &r); break;
      case Op::sub: overflow = __builtin_sub_overflow(i, j, &r); break;
      case Op::mul: overflow = __builtin_mul_overflow(i, j, &r); break;
      case Op::mod:
        if (j == 0) return {};
        if (j == -1) return Value::of(0);
        r = i % j;
        break;
      default: return {};
    }
    if (!overflow) return Value::of(r);
  }
  const double p = x.get<double>();
  const double q = y.get<double>();
  double r = 0;
  switch (op) {
    case Op::add: r = p + q; break;
    case Op::sub: r = p - q; break;
    case Op::mul: r = p * q; break;
    case Op::div:
      if (q == 0) return {};
      r = p / q;
      break;
    case Op::mod:
      if (q == 0) return {};
      r = std::fmod(p, q);
      break;
    default: return {};
  }
  if (!std::isfinite(r)) return {};
  return Value::of(r);
}

Value evaluate(const Expr& e, const json& doc);

Value call(const Expr& e, const json& doc) {
  const Value a = evaluate(e.args[0], doc);
  if (e.fn == Fn::startswith || e.fn == Fn::endswith) {
    const Value b = evaluate(e.args[1], doc);
    if (!a.defined() || !b.defined() || !a.get().is_string() || !b.get().is_string()) return {};
    const auto& s = a.get().get_ref<const std::string&>();
    const auto& p = b.get().get_ref<const std::string&>();
    if (p.size() > s.size()) return Value::of(false);
    return Value::of(e.fn == Fn::startswith ? s.compare(0, p.size(), p) == 0
                                            : s.compare(s.size() - p.size(), p.size(), p) == 0);
  }
  if (e.fn == Fn::is_defined) return Value::of(a.defined());
  if (!a.defined()) return Value::of(false);
  const json& v = a.get();
  switch (e.fn) {
    case Fn::is_null: return Value::of(v.is_null());
    case Fn::is_string: return Value::of(v.is_string());
    case Fn::is_number: return Value::of(v.is_number());
    case Fn::is_bool: return Value::of(v.is_boolean());
    case Fn::is_object: return Value::of(v.is_object());
    case Fn::is_array: return Value::of(v.is_array());
    case Fn::is_primitive: return Value::of(primitive(v));
    default: return {};
  }
}

Value evaluate(const Expr& e, const json& doc) {
  switch (e.kind) {
    case Expr::Kind::constant:
    case Expr::Kind::list: {
      Value v;
      v.ref = &e.value;
      return v;
    }
    case Expr::Kind::undefined:
      return {};
    case Expr::Kind::path: {
      Value v;
      v.ref = lookup(doc, e.path);
      return v;
    }
    case Expr::Kind::call:
      return call(e, doc);
    case Expr::Kind::unary: {
      const Value a = evaluate(e.args[0], doc);
      if (e.op == Op::not_) {
        const auto t = truth(a);
        return t ? Value::of(!*t) : Value{};
      }
      return arithmetic(Op::sub, Value::of(0), a);
    }
    case Expr::Kind::binary:
      break;
  }
  if (e.op == Op::and_ || e.op == Op::or_) {
    // Three-valued logic: anything but a boolean is undefined, and only true selects a twin.
    const auto l = truth(evaluate(e.args[0], doc));
    if (e.op == Op::and_ && l == false) return Value::of(false);
    if (e.op == Op::or_ && l == true) return Value::of(true);
    const auto r = truth(evaluate(e.args[1], doc));
    if (e.op == Op::and_) {
      if (r == false) return Value::of(false);
      return l && r ? Value::of(true) : Value{};
    }
    if (r == true) return Value::of(true);
    return l && r ? Value::of(false) : Value{};
  }
  const Value a = evaluate(e.args[0], doc);
  const Value b = evaluate(e.args[1], doc);
  switch (e.op) {
    case Op::eq: return boolean(equal(a, b));
    case Op::ne: {
      const auto eq = equal(a, b);
      return eq ? Value::of(!*eq) : Value{};
    }
    case Op::lt: case Op::gt: case Op::le: case Op::ge: {
      const auto o = order(a, b);
      if (!o) return {};
      const bool r = e.op == Op::lt ? *o < 0 : e.op == Op::gt ? *o > 0 : e.op == Op::le ? *o <= 0 : *o >= 0;
      return Value::of(r);
    }
    case Op::in: case Op::nin: {
      if (!a.defined() || !primitive(a.get())) return {};
      bool found = false;
      for (const auto& element : b.get()) {
        Value candidate;
        candidate.ref = &element;
        if (equal(a, candidate) == true) {
          found = true;
          break;
        }
      }
      return Value::of(e.op == Op::in ? found : !found);
    }
    default:
      return arithmetic(e.op, a, b);
  }
}

std::string column_name(const Projection& item, const std::string* doc_key) {
  if (item.alias) return *item.alias;
  if (item.agg != Agg::none) return fmt::format("${}", item.position);
  return doc_key != nullptr ? *doc_key : item.path.back();
}

}  // namespace

// --- TwinQuery --------------------------------------------------------------------------------

TwinQuery TwinQuery::parse(std::string_view text) {
  if (text.size() > k_query_max_chars)
    throw HubError(k_query_error_code, fmt::format("query: {} characters is over the limit of {}",
                                                   text.size(), k_query_max_chars));
  Parser parser(text);
  return TwinQuery(std::make_shared<const QueryAst>(parser.parse_query()));
}

QueryCollection TwinQuery::collection() const noexcept { return m_ast->collection; }
bool TwinQuery::selects_whole_twins() const noexcept { return m_ast->star && !m_ast->aggregate; }
bool TwinQuery::is_aggregate() const noexcept { return m_ast->aggregate; }
std::optional<std::int64_t> TwinQuery::top() const noexcept { return m_ast->top; }

std::string_view TwinQuery::item_type() const noexcept {
  if (m_ast->collection == QueryCollection::jobs) return "deviceJob";
  return selects_whole_twins() ? "twin" : "raw";
}

namespace {
void collect_members(const Expr& e, std::set<std::string>& out) {
  if (e.kind == Expr::Kind::path && !e.path.empty()) out.insert(to_lower(e.path.front()));
  for (const auto& arg : e.args) collect_members(arg, out);
}
}  // namespace

std::set<std::string> TwinQuery::referenced_members(bool where_only) const {
  std::set<std::string> out;
  if (m_ast->where) collect_members(*m_ast->where, out);
  if (where_only) return out;
  for (const auto& item : m_ast->items)
    if (!item.path.empty()) out.insert(to_lower(item.path.front()));
  if (m_ast->group_by && !m_ast->group_by->empty()) out.insert(to_lower(m_ast->group_by->front()));
  return out;
}

bool TwinQuery::matches(const json& twin) const {
  if (!m_ast->where) return true;
  return truth(evaluate(*m_ast->where, twin)) == true;
}

json TwinQuery::project(const json& twin) const {
  if (m_ast->star) return twin;
  json row = json::object();
  for (const auto& item : m_ast->items) {
    const std::string* key = nullptr;
    if (const json* value = lookup(twin, item.path, &key)) row[column_name(item, key)] = *value;
  }
  return row;
}

// --- aggregation ------------------------------------------------------------------------------

struct TwinQuery::Aggregation::State {
  struct Accumulator {
    std::int64_t count = 0;  // twins for COUNT(), numbers for SUM/AVG
    double sum = 0;
    bool integral = true;
    std::int64_t isum = 0;
    std::optional<json> best;  // MIN / MAX
  };
  struct Group {
    std::optional<json> key;  // nullopt: the grouped property is undefined
    std::string key_name;
    std::vector<Accumulator> columns;
  };
  std::shared_ptr<const QueryAst> ast;
  std::vector<Group> groups;
  std::map<std::string, std::size_t> index;  // the group key's JSON text → groups[i]
};

TwinQuery::Aggregation::Aggregation(const TwinQuery& query) : m_state(std::make_unique<State>()) {
  m_state->ast = query.m_ast;
}
TwinQuery::Aggregation::~Aggregation() = default;
TwinQuery::Aggregation::Aggregation(Aggregation&&) noexcept = default;
TwinQuery::Aggregation& TwinQuery::Aggregation::operator=(Aggregation&&) noexcept = default;

void TwinQuery::Aggregation::add(const json& twin) {
  const QueryAst& ast = *m_state->ast;
  std::optional<json> key;
  std::string key_name;
  if (ast.group_by) {
    const std::string* doc_key = nullptr;
    if (const json* v = lookup(twin, *ast.group_by, &doc_key)) {
      key = *v;
      key_name = *doc_key;
    }
  }
  const std::string index_key = key ? key->dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
  auto [it, inserted] = m_state->index.emplace(index_key, m_state->groups.size());
  if (inserted) {
    State::Group group;
    group.key = key;
    group.key_name = key_name;
    group.columns.resize(ast.items.size());
    m_state->groups.push_back(std::move(group));
  }
  State::Group& group = m_state->groups[it->second];
  for (std::size_t i = 0; i < ast.items.size(); ++i) {
    const Projection& item = ast.items[i];
    State::Accumulator& acc = group.columns[i];
    if (item.agg == Agg::count) {
      ++acc.count;
      continue;
    }
    if (item.agg == Agg::none) continue;
    const json* v = lookup(twin, item.path);
    if (v == nullptr) continue;
    if (item.agg == Agg::sum || item.agg == Agg::avg) {
      if (!v->is_number()) continue;
      ++acc.count;
      acc.sum += v->get<double>();
      std::int64_t next = 0;
      if (acc.integral && v->is_number_integer() && !v->is_number_unsigned() &&
          !__builtin_add_overflow(acc.isum, v->get<std::int64_t>(), &next)) {
        acc.isum = next;
      } else {
        acc.integral = false;
      }
      continue;
    }
    // MIN / MAX over numbers and strings; a number ranks below any string.
    if (!v->is_number() && !v->is_string()) continue;
    if (!acc.best) {
      acc.best = *v;
      continue;
    }
    Value candidate;
    candidate.ref = v;
    Value current;
    current.ref = &*acc.best;
    int cmp = 0;
    if (const auto o = order(candidate, current)) cmp = *o;
    else cmp = v->is_number() ? -1 : 1;
    if ((item.agg == Agg::min && cmp < 0) || (item.agg == Agg::max && cmp > 0)) acc.best = *v;
  }
}

std::vector<json> TwinQuery::Aggregation::rows() const {
  const QueryAst& ast = *m_state->ast;
  std::vector<json> out;
  if (m_state->groups.empty() && !ast.group_by) {
    // No twin matched: COUNT() is 0, the other aggregates are undefined.
    json row = json::object();
    for (const auto& item : ast.items)
      if (item.agg == Agg::count) row[column_name(item, nullptr)] = 0;
    out.push_back(std::move(row));
    return out;
  }
  for (const auto& group : m_state->groups) {
    json row = json::object();
    for (std::size_t i = 0; i < ast.items.size(); ++i) {
      const Projection& item = ast.items[i];
      const State::Accumulator& acc = group.columns[i];
      switch (item.agg) {
        case Agg::none:
          if (group.key) row[column_name(item, &group.key_name)] = *group.key;
          break;
        case Agg::count:
          row[column_name(item, nullptr)] = acc.count;
          break;
        case Agg::sum:
          if (acc.count > 0) row[column_name(item, nullptr)] = acc.integral ? json(acc.isum) : json(acc.sum);
          break;
        case Agg::avg:
          if (acc.count > 0) row[column_name(item, nullptr)] = acc.sum / static_cast<double>(acc.count);
          break;
        case Agg::min:
        case Agg::max:
          if (acc.best) row[column_name(item, nullptr)] = *acc.best;
          break;
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace azhub::core
