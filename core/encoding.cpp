#include "core/encoding.hpp"

#include <array>
#include <cstdint>

#include <fmt/format.h>

#include "core/error.hpp"

namespace azhub::core {
namespace {

constexpr std::string_view k_hex_upper = "0123456789ABCDEF";
constexpr std::string_view k_b64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

constexpr std::array<int, 256> make_b64_table() {
  std::array<int, 256> table{};
  for (auto& v : table) v = -1;
  for (std::size_t i = 0; i < k_b64_alphabet.size(); ++i) {
    table[static_cast<unsigned char>(k_b64_alphabet[i])] = static_cast<int>(i);
  }
  return table;
}
constexpr std::array<int, 256> k_b64_table = make_b64_table();

}  // namespace

std::string url_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(k_hex_upper[c >> 4]);
      out.push_back(k_hex_upper[c & 0x0F]);
    }
  }
  return out;
}

std::string url_decode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      throw usage_error(fmt::format("{}: truncated percent-escape at offset {}", what, i));
    }
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) {
      throw usage_error(fmt::format("{}: invalid percent-escape at offset {}", what, i));
    }
    out.push_back(static_cast<char>((hi << 4) | lo));
    i += 2;
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(k_b64_alphabet[(n >> 18) & 63]);
    out.push_back(k_b64_alphabet[(n >> 12) & 63]);
    out.push_back(k_b64_alphabet[(n >> 6) & 63]);
    out.push_back(k_b64_alphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t n = byte(i) << 16;
    out.push_back(k_b64_alphabet[(n >> 18) & 63]);
    out.push_back(k_b64_alphabet[(n >> 12) & 63]);
    out += "==";
  } else if (rest == 2) {
    const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
    out.push_back(k_b64_alphabet[(n >> 18) & 63]);
    out.push_back(k_b64_alphabet[(n >> 12) & 63]);
    out.push_back(k_b64_alphabet[(n >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = (text[text.size() - 2] == '=') ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t n = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      int v = 0;
      if (c == '=') {
        // Padding only in the last one or two positions of the last quantum.
        if (!last || k < 4 - padding) return std::nullopt;
      } else {
        v = k_b64_table[static_cast<unsigned char>(c)];
        if (v < 0 || (last && k >= 4 - padding)) return std::nullopt;
      }
      n = (n << 6) | static_cast<std::uint32_t>(v);
    }
    out.push_back(static_cast<char>((n >> 16) & 0xFF));
    if (!last || padding < 2) out.push_back(static_cast<char>((n >> 8) & 0xFF));
    if (!last || padding < 1) out.push_back(static_cast<char>(n & 0xFF));
  }
  return out;
}

std::vector<QueryPair> split_query(std::string_view query) {
  std::vector<QueryPair> pairs;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) pairs.push_back({pair, std::nullopt});
    else pairs.push_back({pair.substr(0, eq), pair.substr(eq + 1)});
  }
  return pairs;
}

}  // namespace azhub::core
