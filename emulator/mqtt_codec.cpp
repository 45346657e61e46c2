#include "emulator/mqtt_codec.hpp"

#include <cassert>

namespace azhub::emulator::mqtt {

namespace {

enum PacketType : std::uint8_t {
  t_connect = 1, t_connack = 2, t_publish = 3, t_puback = 4, t_subscribe = 8, t_suback = 9,
  t_unsubscribe = 10, t_unsuback = 11, t_pingreq = 12, t_pingresp = 13, t_disconnect = 14,
};

struct Bad {
  std::string why;
};

// Reads fields of one packet body; throws Bad when the body is short or malformed.
class Reader {
 public:
  explicit Reader(std::string_view body) : m_body(body) {}
  [[nodiscard]] bool done() const { return m_pos == m_body.size(); }
  [[nodiscard]] std::size_t left() const { return m_body.size() - m_pos; }

  std::uint8_t byte(const char* what) {
    if (left() < 1) throw Bad{std::string("truncated ") + what};
    return static_cast<std::uint8_t>(m_body[m_pos++]);
  }
  std::uint16_t u16(const char* what) {
    if (left() < 2) throw Bad{std::string("truncated ") + what};
    auto hi = static_cast<std::uint8_t>(m_body[m_pos]);
    auto lo = static_cast<std::uint8_t>(m_body[m_pos + 1]);
    m_pos += 2;
    return static_cast<std::uint16_t>((hi << 8) | lo);
  }
  std::string binary(const char* what) {
    std::uint16_t n = u16(what);
    if (left() < n) throw Bad{std::string("truncated ") + what};
    std::string out(m_body.substr(m_pos, n));
    m_pos += n;
    return out;
  }
  // MQTT 3.1.1 §1.5.3: well-formed UTF-8, no U+0000.
  std::string utf8(const char* what) {
    std::string s = binary(what);
    if (!valid_utf8(s)) throw Bad{std::string(what) + " is not valid UTF-8"};
    return s;
  }
  std::string rest() {
    std::string out(m_body.substr(m_pos));
    m_pos = m_body.size();
    return out;
  }

  static bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c == 0) return false;
      std::size_t n = 0;
      std::uint32_t cp = 0;
      if (c < 0x80) {
        ++i;
        continue;
      } else if ((c & 0xE0) == 0xC0) {
        n = 1;
        cp = c & 0x1Fu;
      } else if ((c & 0xF0) == 0xE0) {
        n = 2;
        cp = c & 0x0Fu;
      } else if ((c & 0xF8) == 0xF0) {
        n = 3;
        cp = c & 0x07u;
      } else {
        return false;
      }
      if (i + n >= s.size()) return false;
      for (std::size_t k = 1; k <= n; ++k) {
        auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3Fu);
      }
      if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
          cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
      i += n + 1;
    }
    return true;
  }

 private:
  std::string_view m_body;
  std::size_t m_pos = 0;
};

void expect_flags(std::uint8_t flags, std::uint8_t want, const char* name) {
  if (flags != want) throw Bad{std::string("reserved flags of ") + name + " are wrong"};
}

void expect_done(const Reader& r, const char* name) {
  if (!r.done()) throw Bad{std::string("trailing bytes in ") + name};
}

std::uint16_t packet_id(Reader& r) {
  std::uint16_t id = r.u16("packet identifier");
  if (id == 0) throw Bad{"packet identifier 0"};
  return id;
}

Connect parse_connect(Reader& r) {
  Connect c;
  c.protocol_name = r.utf8("protocol name");
  c.protocol_level = r.byte("protocol level");
  // Anything but MQTT 3.1.1 is refused by the session with CONNACK 1 (unacceptable protocol
  // version, MQTT 3.1.1 §3.1.2.2; docs/protocol.md §2.2). MQTT 3.1's CONNECT ("MQIsdp", level 3)
  // has the same layout, so Paho's default retry of a refused CONNECT as 3.1 gets that CONNACK
  // too, not a bare close; any other name is not MQTT at all.
  if (c.protocol_name != "MQTT" && c.protocol_name != "MQIsdp") throw Bad{"protocol name is not MQTT"};
  std::uint8_t flags = r.byte("connect flags");
  if ((flags & 0x01) != 0) throw Bad{"reserved connect flag set"};
  c.clean_session = (flags & 0x02) != 0;
  bool will = (flags & 0x04) != 0;
  auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  bool will_retain = (flags & 0x20) != 0;
  bool has_password = (flags & 0x40) != 0;
  bool has_username = (flags & 0x80) != 0;
  if (!will && (will_qos != 0 || will_retain)) throw Bad{"will QoS/retain without a will"};
  if (will_qos == 3) throw Bad{"will QoS 3"};
  if (has_password && !has_username) throw Bad{"password without user name"};
  c.keep_alive = r.u16("keep alive");
  c.client_id = r.utf8("client identifier");
  if (will) {
    Will w;
    w.topic = r.utf8("will topic");
    w.payload = r.binary("will message");
    w.qos = will_qos;
    w.retain = will_retain;
    c.will = std::move(w);
  }
  if (has_username) c.username = r.utf8("user name");
  if (has_password) c.password = r.binary("password");
  expect_done(r, "CONNECT");
  return c;
}

Publish parse_publish(std::uint8_t flags, Reader& r) {
  Publish p;
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  if (p.qos == 3) throw Bad{"PUBLISH QoS 3"};
  if (p.qos == 0 && p.dup) throw Bad{"DUP set on a QoS 0 PUBLISH"};
  p.topic = r.utf8("topic name");
  if (p.topic.empty()) throw Bad{"empty topic name"};
  if (p.topic.find_first_of("+#") != std::string::npos) throw Bad{"wildcard in topic name"};
  if (p.qos > 0) p.packet_id = packet_id(r);
  p.payload = r.rest();
  return p;
}

Subscribe parse_subscribe(Reader& r) {
  Subscribe s;
  s.packet_id = packet_id(r);
  while (!r.done()) {
    std::string filter = r.utf8("topic filter");
    if (filter.empty()) throw Bad{"empty topic filter"};
    std::uint8_t qos = r.byte("requested QoS");
    if (qos > 2) throw Bad{"reserved bits in requested QoS"};
    s.filters.emplace_back(std::move(filter), qos);
  }
  if (s.filters.empty()) throw Bad{"SUBSCRIBE without a topic filter"};
  return s;
}

Unsubscribe parse_unsubscribe(Reader& r) {
  Unsubscribe u;
  u.packet_id = packet_id(r);
  while (!r.done()) {
    std::string filter = r.utf8("topic filter");
    if (filter.empty()) throw Bad{"empty topic filter"};
    u.filters.push_back(std::move(filter));
  }
  if (u.filters.empty()) throw Bad{"UNSUBSCRIBE without a topic filter"};
  return u;
}

Packet parse_body(std::uint8_t type, std::uint8_t flags, std::string_view body) {
  Reader r(body);
  switch (type) {
    case t_connect:
      expect_flags(flags, 0, "CONNECT");
      return parse_connect(r);
    case t_connack: {
      expect_flags(flags, 0, "CONNACK");
      Connack c;
      std::uint8_t ack_flags = r.byte("acknowledge flags");
      if ((ack_flags & 0xFE) != 0) throw Bad{"reserved CONNACK flags set"};
      c.session_present = (ack_flags & 1) != 0;
      std::uint8_t code = r.byte("return code");
      if (code > 5) throw Bad{"unknown CONNACK return code"};
      c.code = static_cast<ConnectReturn>(code);
      expect_done(r, "CONNACK");
      return c;
    }
    case t_publish:
      return parse_publish(flags, r);
    case t_puback: {
      expect_flags(flags, 0, "PUBACK");
      Puback p{packet_id(r)};
      expect_done(r, "PUBACK");
      return p;
    }
    case t_subscribe:
      expect_flags(flags, 2, "SUBSCRIBE");
      return parse_subscribe(r);
    case t_suback: {
      expect_flags(flags, 0, "SUBACK");
      Suback s;
      s.packet_id = packet_id(r);
      while (!r.done()) {
        std::uint8_t code = r.byte("return code");
        if (code > 2 && code != k_suback_failure) throw Bad{"bad SUBACK return code"};
        s.return_codes.push_back(code);
      }
      if (s.return_codes.empty()) throw Bad{"SUBACK without return codes"};
      return s;
    }
    case t_unsubscribe:
      expect_flags(flags, 2, "UNSUBSCRIBE");
      return parse_unsubscribe(r);
    case t_unsuback: {
      expect_flags(flags, 0, "UNSUBACK");
      Unsuback u{packet_id(r)};
      expect_done(r, "UNSUBACK");
      return u;
    }
    case t_pingreq:
      expect_flags(flags, 0, "PINGREQ");
      expect_done(r, "PINGREQ");
      return Pingreq{};
    case t_pingresp:
      expect_flags(flags, 0, "PINGRESP");
      expect_done(r, "PINGRESP");
      return Pingresp{};
    case t_disconnect:
      expect_flags(flags, 0, "DISCONNECT");
      expect_done(r, "DISCONNECT");
      return Disconnect{};
    default:
      // PUBREC/PUBREL/PUBCOMP belong to QoS 2, which IoT Hub does not speak; 0 and 15 are
      // reserved.
      throw Bad{"unsupported packet type " + std::to_string(type)};
  }
}

void put_u16(std::string& out, std::size_t v) {
  assert(v <= 0xFFFF);
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_string(std::string& out, std::string_view s) {
  put_u16(out, s.size());
  out.append(s);
}

std::string frame(std::uint8_t first, const std::string& body) {
  std::string out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<char>(first));
  std::size_t n = body.size();
  assert(n <= 268435455);
  do {
    auto b = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n > 0);
  out += body;
  return out;
}

struct Serializer {
  std::string operator()(const Connect& c) const {
    std::string body;
    put_string(body, c.protocol_name);
    body.push_back(static_cast<char>(c.protocol_level));
    std::uint8_t flags = 0;
    if (c.clean_session) flags |= 0x02;
    if (c.will) {
      flags |= 0x04;
      flags = static_cast<std::uint8_t>(flags | (c.will->qos << 3));
      if (c.will->retain) flags |= 0x20;
    }
    if (c.password) flags |= 0x40;
    if (c.username) flags |= 0x80;
    body.push_back(static_cast<char>(flags));
    put_u16(body, c.keep_alive);
    put_string(body, c.client_id);
    if (c.will) {
      put_string(body, c.will->topic);
      put_string(body, c.will->payload);
    }
    if (c.username) put_string(body, *c.username);
    if (c.password) put_string(body, *c.password);
    return frame(0x10, body);
  }
  std::string operator()(const Connack& c) const {
    std::string body;
    body.push_back(c.session_present ? 1 : 0);
    body.push_back(static_cast<char>(c.code));
    return frame(0x20, body);
  }
  std::string operator()(const Publish& p) const {
    std::string body;
    put_string(body, p.topic);
    if (p.qos > 0) put_u16(body, p.packet_id);
    body += p.payload;
    auto first = static_cast<std::uint8_t>(0x30 | (p.qos << 1) | (p.retain ? 1 : 0) |
                                           (p.dup ? 0x08 : 0));
    return frame(first, body);
  }
  std::string operator()(const Puback& p) const {
    std::string body;
    put_u16(body, p.packet_id);
    return frame(0x40, body);
  }
  std::string operator()(const Subscribe& s) const {
    std::string body;
    put_u16(body, s.packet_id);
    for (const auto& [filter, qos] : s.filters) {
      put_string(body, filter);
      body.push_back(static_cast<char>(qos));
    }
    return frame(0x82, body);
  }
  std::string operator()(const Suback& s) const {
    std::string body;
    put_u16(body, s.packet_id);
    for (auto code : s.return_codes) body.push_back(static_cast<char>(code));
    return frame(0x90, body);
  }
  std::string operator()(const Unsubscribe& u) const {
    std::string body;
    put_u16(body, u.packet_id);
    for (const auto& f : u.filters) put_string(body, f);
    return frame(0xA2, body);
  }
  std::string operator()(const Unsuback& u) const {
    std::string body;
    put_u16(body, u.packet_id);
    return frame(0xB0, body);
  }
  std::string operator()(const Pingreq&) const { return frame(0xC0, {}); }
  std::string operator()(const Pingresp&) const { return frame(0xD0, {}); }
  std::string operator()(const Disconnect&) const { return frame(0xE0, {}); }
};

struct Namer {
  std::string_view operator()(const Connect&) const { return "CONNECT"; }
  std::string_view operator()(const Connack&) const { return "CONNACK"; }
  std::string_view operator()(const Publish&) const { return "PUBLISH"; }
  std::string_view operator()(const Puback&) const { return "PUBACK"; }
  std::string_view operator()(const Subscribe&) const { return "SUBSCRIBE"; }
  std::string_view operator()(const Suback&) const { return "SUBACK"; }
  std::string_view operator()(const Unsubscribe&) const { return "UNSUBSCRIBE"; }
  std::string_view operator()(const Unsuback&) const { return "UNSUBACK"; }
  std::string_view operator()(const Pingreq&) const { return "PINGREQ"; }
  std::string_view operator()(const Pingresp&) const { return "PINGRESP"; }
  std::string_view operator()(const Disconnect&) const { return "DISCONNECT"; }
};

}  // namespace

std::string_view packet_name(const Packet& packet) { return std::visit(Namer{}, packet); }

ParseResult parse_packet(std::string_view data, std::size_t max_packet_bytes) {
  ParseResult result;
  if (data.empty()) return result;
  auto first = static_cast<std::uint8_t>(data[0]);
  auto type = static_cast<std::uint8_t>(first >> 4);
  auto flags = static_cast<std::uint8_t>(first & 0x0F);
  if (type == 0 || type == 15 || (type >= 5 && type <= 7)) {
    result.status = ParseStatus::bad;
    result.error = "unsupported packet type " + std::to_string(type);
    return result;
  }
  // Remaining length: 1-4 bytes, 7 bits each, least significant first (§2.2.3).
  std::size_t length = 0;
  std::size_t multiplier = 1;
  std::size_t pos = 1;
  for (;;) {
    if (pos >= data.size()) return result;  // need more
    auto b = static_cast<std::uint8_t>(data[pos++]);
    length += static_cast<std::size_t>(b & 0x7F) * multiplier;
    if ((b & 0x80) == 0) {
      // A continuation byte of 0 makes a non-minimal encoding; reject it.
      if (pos > 2 && b == 0) {
        result.status = ParseStatus::bad;
        result.error = "non-minimal remaining length";
        return result;
      }
      break;
    }
    if (pos == 5) {
      result.status = ParseStatus::bad;
      result.error = "remaining length longer than 4 bytes";
      return result;
    }
    multiplier *= 128;
  }
  if (length > max_packet_bytes) {
    result.status = ParseStatus::bad;
    result.error = "packet of " + std::to_string(length) + " bytes exceeds the limit";
    return result;
  }
  if (data.size() - pos < length) {  // need more
    if (type == t_publish && data.size() - pos >= 2) {
      const std::size_t topic = (static_cast<std::size_t>(static_cast<std::uint8_t>(data[pos])) << 8) |
                                static_cast<std::uint8_t>(data[pos + 1]);
      const std::size_t header = 2 + topic + (((flags >> 1) & 0x03) != 0 ? 2 : 0);
      if (length >= header) result.announced_payload_bytes = length - header;
    }
    return result;
  }
  try {
    result.packet = parse_body(type, flags, data.substr(pos, length));
    result.status = ParseStatus::complete;
    result.consumed = pos + length;
  } catch (const Bad& bad) {
    result.status = ParseStatus::bad;
    result.error = bad.why;
  }
  return result;
}

std::string serialize(const Packet& packet) { return std::visit(Serializer{}, packet); }

}  // namespace azhub::emulator::mqtt
