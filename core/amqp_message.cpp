#include "core/amqp_message.hpp"

#include <memory>
#include <random>

#include <fmt/format.h>
#include <proton/codec.h>
#include <proton/message.h>

#include "core/error.hpp"

namespace azhub::core::amqp {
namespace {

struct MessageFree {
  void operator()(pn_message_t* m) const { pn_message_free(m); }
};
using MessagePtr = std::unique_ptr<pn_message_t, MessageFree>;

Error message_error(std::string_view what) {
  return Error(ExitCode::failure, fmt::format("AMQP message: {}", what));
}

std::string str(pn_bytes_t b) { return b.start == nullptr ? std::string() : std::string(b.start, b.size); }
pn_bytes_t bytes(std::string_view s) { return pn_bytes(s.size(), s.data()); }

// Reads the scalar at the data's current node.
Value read_value(pn_data_t* d) {
  switch (pn_data_type(d)) {
    case PN_NULL:
      return std::monostate{};
    case PN_BOOL:
      return pn_data_get_bool(d);
    case PN_UBYTE:
      return static_cast<std::uint64_t>(pn_data_get_ubyte(d));
    case PN_USHORT:
      return static_cast<std::uint64_t>(pn_data_get_ushort(d));
    case PN_UINT:
      return static_cast<std::uint64_t>(pn_data_get_uint(d));
    case PN_ULONG:
      return static_cast<std::uint64_t>(pn_data_get_ulong(d));
    case PN_BYTE:
      return static_cast<std::int64_t>(pn_data_get_byte(d));
    case PN_SHORT:
      return static_cast<std::int64_t>(pn_data_get_short(d));
    case PN_INT:
      return Int{pn_data_get_int(d)};
    case PN_LONG:
      return static_cast<std::int64_t>(pn_data_get_long(d));
    case PN_FLOAT:
      return static_cast<double>(pn_data_get_float(d));
    case PN_DOUBLE:
      return pn_data_get_double(d);
    case PN_TIMESTAMP:
      return Timestamp{pn_data_get_timestamp(d)};
    case PN_UUID: {
      Uuid u;
      const pn_uuid_t raw = pn_data_get_uuid(d);
      for (std::size_t i = 0; i < u.bytes.size(); ++i) u.bytes[i] = static_cast<std::uint8_t>(raw.bytes[i]);
      return u;
    }
    case PN_BINARY:
      return Binary{str(pn_data_get_binary(d))};
    case PN_STRING:
      return str(pn_data_get_string(d));
    case PN_SYMBOL:
      return Symbol{str(pn_data_get_symbol(d))};
    case PN_ARRAY:
    case PN_LIST: {
      const bool array = pn_data_type(d) == PN_ARRAY;
      if (array && pn_data_get_array_type(d) != PN_STRING && pn_data_get_array_type(d) != PN_SYMBOL)
        throw message_error("an array of other than strings where a scalar belongs");
      const std::size_t n = array ? pn_data_get_array(d) : pn_data_get_list(d);
      StringArray out;
      pn_data_enter(d);
      for (std::size_t i = 0; i < n && pn_data_next(d); ++i) {
        if (pn_data_type(d) == PN_STRING) {
          out.items.push_back(str(pn_data_get_string(d)));
        } else if (pn_data_type(d) == PN_SYMBOL) {
          out.items.push_back(str(pn_data_get_symbol(d)));
        } else {
          pn_data_exit(d);
          throw message_error("a list of other than strings where a scalar belongs");
        }
      }
      pn_data_exit(d);
      return out;
    }
    default:
      throw message_error(fmt::format("a value of type {} where a scalar belongs", pn_type_name(pn_data_type(d))));
  }
}

void put_value(pn_data_t* d, const Value& v) {
  std::visit(
      [d](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          pn_data_put_null(d);
        } else if constexpr (std::is_same_v<T, bool>) {
          pn_data_put_bool(d, x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          pn_data_put_long(d, x);
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          pn_data_put_ulong(d, x);
        } else if constexpr (std::is_same_v<T, Int>) {
          pn_data_put_int(d, x.value);
        } else if constexpr (std::is_same_v<T, double>) {
          pn_data_put_double(d, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          pn_data_put_string(d, bytes(x));
        } else if constexpr (std::is_same_v<T, Symbol>) {
          pn_data_put_symbol(d, bytes(x.text));
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          pn_data_put_timestamp(d, x.unix_ms);
        } else if constexpr (std::is_same_v<T, Binary>) {
          pn_data_put_binary(d, bytes(x.bytes));
        } else if constexpr (std::is_same_v<T, StringArray>) {
          pn_data_put_array(d, false, PN_STRING);
          pn_data_enter(d);
          for (const auto& item : x.items) pn_data_put_string(d, bytes(item));
          pn_data_exit(d);
        } else if constexpr (std::is_same_v<T, Uuid>) {
          pn_uuid_t u;
          for (std::size_t i = 0; i < x.bytes.size(); ++i) u.bytes[i] = static_cast<char>(x.bytes[i]);
          pn_data_put_uuid(d, u);
        }
      },
      v);
}

// A map section ({key: scalar}) read into `out`; string or symbol keys.
void read_map(pn_data_t* d, Properties& out, std::string_view what) {
  pn_data_rewind(d);
  if (!pn_data_next(d)) return;  // absent
  if (pn_data_type(d) != PN_MAP) throw message_error(fmt::format("{} is not a map", what));
  const std::size_t n = pn_data_get_map(d);
  pn_data_enter(d);
  for (std::size_t i = 0; i < n; i += 2) {
    if (!pn_data_next(d)) break;
    std::string key;
    if (pn_data_type(d) == PN_STRING) {
      key = str(pn_data_get_string(d));
    } else if (pn_data_type(d) == PN_SYMBOL) {
      key = str(pn_data_get_symbol(d));
    } else {
      throw message_error(fmt::format("{} has a key of type {}", what, pn_type_name(pn_data_type(d))));
    }
    if (!pn_data_next(d)) throw message_error(fmt::format("{} has a key without a value", what));
    out.emplace_back(std::move(key), read_value(d));
  }
  pn_data_exit(d);
}

void write_map(pn_data_t* d, const Properties& in, bool symbol_keys) {
  pn_data_clear(d);
  if (in.empty()) return;
  pn_data_put_map(d);
  pn_data_enter(d);
  for (const auto& [k, v] : in) {
    if (symbol_keys) {
      pn_data_put_symbol(d, bytes(k));
    } else {
      pn_data_put_string(d, bytes(k));
    }
    put_value(d, v);
  }
  pn_data_exit(d);
}

std::optional<std::string> opt_str(const char* s) {
  if (s == nullptr) return std::nullopt;
  return std::string(s);
}

Value read_id(pn_data_t* d) {
  pn_data_rewind(d);
  if (!pn_data_next(d)) return std::monostate{};
  return read_value(d);
}

void write_id(pn_data_t* d, const Value& v) {
  pn_data_clear(d);
  if (std::holds_alternative<std::monostate>(v)) return;
  put_value(d, v);
}

}  // namespace

std::string to_string(const Uuid& uuid) {
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < uuid.bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += fmt::format("{:02x}", uuid.bytes[i]);
  }
  return out;
}

std::optional<Uuid> parse_uuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Uuid u;
  std::size_t b = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u.bytes[b++] = static_cast<std::uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return u;
}

Uuid random_uuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  Uuid u;
  for (std::size_t i = 0; i < u.bytes.size(); i += 8) {
    std::uint64_t r = rng();
    for (std::size_t j = 0; j < 8; ++j) u.bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  u.bytes[6] = static_cast<std::uint8_t>((u.bytes[6] & 0x0f) | 0x40);
  u.bytes[8] = static_cast<std::uint8_t>((u.bytes[8] & 0x3f) | 0x80);
  return u;
}

std::optional<std::string> text_of(const Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  if (const auto* s = std::get_if<Symbol>(&value)) return s->text;
  if (const auto* u = std::get_if<Uuid>(&value)) return to_string(*u);
  if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (const auto* i = std::get_if<std::uint64_t>(&value)) return std::to_string(*i);
  if (const auto* i = std::get_if<Int>(&value)) return std::to_string(i->value);
  if (const auto* b = std::get_if<Binary>(&value)) return b->bytes;
  return std::nullopt;
}

const Value* find(const Properties& properties, std::string_view name) {
  for (const auto& [k, v] : properties) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string encode(const Message& m) {
  MessagePtr msg(pn_message());
  pn_message_t* p = msg.get();
  if (m.durable) pn_message_set_durable(p, *m.durable);
  if (m.ttl_ms) pn_message_set_ttl(p, *m.ttl_ms);
  if (m.delivery_count) pn_message_set_delivery_count(p, *m.delivery_count);
  write_map(pn_message_annotations(p), m.annotations, true);
  write_id(pn_message_id(p), m.message_id);
  if (m.user_id) pn_message_set_user_id(p, bytes(*m.user_id));
  if (m.to) pn_message_set_address(p, m.to->c_str());
  if (m.subject) pn_message_set_subject(p, m.subject->c_str());
  if (m.reply_to) pn_message_set_reply_to(p, m.reply_to->c_str());
  write_id(pn_message_correlation_id(p), m.correlation_id);
  if (m.content_type) pn_message_set_content_type(p, m.content_type->c_str());
  if (m.content_encoding) pn_message_set_content_encoding(p, m.content_encoding->c_str());
  if (m.absolute_expiry_ms) pn_message_set_expiry_time(p, *m.absolute_expiry_ms);
  if (m.creation_ms) pn_message_set_creation_time(p, *m.creation_ms);
  write_map(pn_message_properties(p), m.application, false);
  pn_data_t* body = pn_message_body(p);
  switch (m.body_kind) {
    case BodyKind::none:
      break;
    case BodyKind::data:
      pn_message_set_inferred(p, true);
      pn_data_put_binary(body, bytes(m.body));
      break;
    case BodyKind::value:
      pn_message_set_inferred(p, false);
      put_value(body, m.value_body);
      break;
    case BodyKind::map:
      pn_message_set_inferred(p, false);
      write_map(body, m.map_body, false);
      if (m.map_body.empty()) {
        pn_data_put_map(body);
      }
      break;
  }
  std::string out(1024 + m.body.size() + 64 * (m.application.size() + m.annotations.size()), '\0');
  for (;;) {
    std::size_t size = out.size();
    const int rc = pn_message_encode(p, out.data(), &size);
    if (rc == 0) {
      out.resize(size);
      return out;
    }
    if (rc != PN_OVERFLOW || out.size() > (64u << 20)) throw message_error(fmt::format("cannot encode ({})", rc));
    out.resize(out.size() * 2);
  }
}

Message decode(std::string_view bytes_in) {
  // Every section starts with a descriptor (0x00); Proton asserts on empty input and reads
  // other leading bytes as an empty message.
  if (bytes_in.empty() || bytes_in.front() != '\0') throw message_error("not an AMQP message");
  MessagePtr msg(pn_message());
  pn_message_t* p = msg.get();
  if (pn_message_decode(p, bytes_in.data(), bytes_in.size()) != 0) {
    const char* why = pn_error_text(pn_message_error(p));
    throw message_error(why != nullptr && *why != '\0' ? why : "not an AMQP message");
  }
  Message m;
  m.durable = pn_message_is_durable(p);
  if (const auto ttl = pn_message_get_ttl(p); ttl != 0) m.ttl_ms = ttl;
  if (const auto n = pn_message_get_delivery_count(p); n != 0) m.delivery_count = n;
  read_map(pn_message_annotations(p), m.annotations, "message-annotations");
  m.message_id = read_id(pn_message_id(p));
  if (const auto user = pn_message_get_user_id(p); user.size != 0) m.user_id = str(user);
  m.to = opt_str(pn_message_get_address(p));
  m.subject = opt_str(pn_message_get_subject(p));
  m.reply_to = opt_str(pn_message_get_reply_to(p));
  m.correlation_id = read_id(pn_message_correlation_id(p));
  m.content_type = opt_str(pn_message_get_content_type(p));
  m.content_encoding = opt_str(pn_message_get_content_encoding(p));
  if (const auto t = pn_message_get_expiry_time(p); t != 0) m.absolute_expiry_ms = t;
  if (const auto t = pn_message_get_creation_time(p); t != 0) m.creation_ms = t;
  read_map(pn_message_properties(p), m.application, "application-properties");
  pn_data_t* body = pn_message_body(p);
  pn_data_rewind(body);
  if (pn_data_next(body)) {
    if (pn_message_is_inferred(p) && pn_data_type(body) == PN_BINARY) {
      m.body_kind = BodyKind::data;
      m.body = str(pn_data_get_binary(body));
    } else if (pn_message_is_inferred(p)) {
      throw message_error("an amqp-sequence body (IoT Hub sends data or amqp-value bodies)");
    } else if (pn_data_type(body) == PN_MAP) {
      m.body_kind = BodyKind::map;
      read_map(body, m.map_body, "the amqp-value map");
    } else {
      m.body_kind = BodyKind::value;
      m.value_body = read_value(body);
      if (const auto* b = std::get_if<Binary>(&m.value_body)) m.body = b->bytes;
      if (const auto* s = std::get_if<std::string>(&m.value_body)) m.body = *s;
    }
  }
  return m;
}

}  // namespace azhub::core::amqp
