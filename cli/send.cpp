// azhub send: device-to-cloud telemetry.
#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <istream>
#include <ostream>
#include <random>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/connection_options.hpp"
#include "cli/line_reader.hpp"
#include "cli/message_template.hpp"
#include "cli/output.hpp"
#include "device/device_client.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/topics.hpp"
#include "core/limits.hpp"
#include "core/properties.hpp"

namespace azhub::cli {

namespace {

using core::Error;
using core::ExitCode;
using core::usage_error;
using Clock = std::chrono::steady_clock;

struct SendOptions {
  DeviceConnectionOptions conn;
  std::optional<std::string> body;
  std::optional<std::string> file;
  bool lines = false;
  std::vector<std::string> props;
  std::optional<std::string> content_type;
  std::optional<std::string> content_encoding;
  std::optional<std::string> message_id;
  std::optional<std::string> correlation_id;
  std::optional<std::int64_t> count;
  std::optional<std::string> interval;
  std::optional<std::string> rate;
  int qos = 1;
  std::string ack_timeout = "60s";
  std::size_t max_inflight = 100;  // bench/README.md: Paho's cost per confirmation grows with it
};

// The checked plan: what every message is made of and how fast they go.
struct SendPlan {
  std::string body;  // template (unused with --lines)
  std::vector<std::pair<std::string, std::string>> props;
  std::uint64_t count = 1;
  std::optional<std::chrono::nanoseconds> interval;
  std::chrono::milliseconds ack_timeout{};
};

std::chrono::nanoseconds parse_rate(const std::string& text) {
  std::string_view number = text;
  if (number.ends_with("/s")) number.remove_suffix(2);
  double per_second = 0;
  try {
    std::size_t used = 0;
    per_second = std::stod(std::string(number), &used);
    if (used != number.size()) per_second = 0;
  } catch (const std::exception&) {
    per_second = 0;
  }
  if (!(per_second > 0) || per_second > 1e9)
    throw usage_error(fmt::format("--rate '{}': expected messages per second, e.g. 100/s", text));
  return std::chrono::nanoseconds(static_cast<long long>(1e9 / per_second));
}

core::MessageProperties message_properties(const SendOptions& opt, const SendPlan& plan,
                                           std::uint64_t seq, std::int64_t now_ms,
                                           std::mt19937_64& rng) {
  core::MessageProperties props;
  if (opt.message_id) {
    props.system.message_id = render_template(*opt.message_id, seq, now_ms);
  } else {
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < bytes.size(); i += 8) {
      const std::uint64_t r = rng();
      for (std::size_t j = 0; j < 8; ++j) bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    props.system.message_id = make_uuid_v4(bytes);
  }
  if (opt.correlation_id) props.system.correlation_id = render_template(*opt.correlation_id, seq, now_ms);
  props.system.content_type = opt.content_type;
  props.system.content_encoding = opt.content_encoding;
  for (const auto& [name, value] : plan.props)
    props.application.emplace_back(name, render_template(value, seq, now_ms));
  return props;
}

void check_message(const core::MessageProperties& props, std::string_view body, std::string_view what) {
  core::validate_system_properties(props.system);
  core::validate_message_size(body, props, core::limits::k_d2c_message_bytes, what);
}

SendPlan check_options(const SendOptions& opt, const Io& io) {
  core::validate_qos(opt.qos);
  const int sources = (opt.body ? 1 : 0) + (opt.file ? 1 : 0) + (opt.lines ? 1 : 0);
  if (sources > 1) throw usage_error("give the body once: BODY, --file or --lines");
  if (sources == 0) throw usage_error("no message body: pass BODY, --file FILE or --lines (one message per stdin line)");
  if (opt.interval && opt.rate) throw usage_error("--interval and --rate cannot be combined");
  SendPlan plan;
  if (opt.count) {
    if (*opt.count < 1) throw usage_error(fmt::format("--count {}: must be at least 1", *opt.count));
    plan.count = static_cast<std::uint64_t>(*opt.count);
  }
  if (opt.interval) plan.interval = core::parse_duration(*opt.interval, "--interval");
  if (opt.rate) plan.interval = parse_rate(*opt.rate);
  plan.ack_timeout = core::parse_duration(opt.ack_timeout, "--ack-timeout");
  if (opt.max_inflight < 1 || opt.max_inflight > 65535)
    throw usage_error(fmt::format("--max-inflight {}: must be 1 to 65535", opt.max_inflight));
  for (const auto& p : opt.props) plan.props.push_back(core::parse_property_argument(p));
  if (opt.content_type && opt.content_type->empty()) throw usage_error("--content-type is empty");
  if (opt.message_id && opt.message_id->empty()) throw usage_error("--message-id is empty");
  if (opt.body) plan.body = *opt.body;
  if (opt.file) plan.body = read_file_argument(*opt.file, "--file");
  // Check the first and the last message (the widest {{seq}}) before anything is sent.
  std::mt19937_64 rng(1);
  const std::int64_t now = io.now_unix_ms();
  for (std::uint64_t seq : {std::uint64_t{1}, plan.count}) {
    const auto props = message_properties(opt, plan, seq, now, rng);
    check_message(props, opt.lines ? std::string_view{} : render_template(plan.body, seq, now), "the message");
  }
  return plan;
}

class Progress {
 public:
  explicit Progress(const Io& io) : m_io(io), m_enabled(io.stderr_is_terminal) {}
  void update(std::uint64_t sent, std::uint64_t acked) {
    if (!m_enabled) return;
    const auto now = Clock::now();
    if (now - m_last < std::chrono::milliseconds(200)) return;
    m_last = now;
    m_io.err << fmt::format("\rsent {}, acknowledged {}\x1b[K", sent, acked) << std::flush;
    m_shown = true;
  }
  void clear() {
    if (m_shown) m_io.err << "\r\x1b[K" << std::flush;
  }

 private:
  const Io& m_io;
  bool m_enabled;
  bool m_shown = false;
  Clock::time_point m_last{};
};

void run_send(const SendOptions& opt, Io& io) {
  const SendPlan plan = check_options(opt, io);
  device::DeviceSettings settings = resolve_device_settings(opt.conn, io);
  settings.window = opt.max_inflight;
  device::DeviceClient client(std::move(settings));
  Output output(io);
  std::unordered_map<std::uint64_t, std::string> ids;  // seq -> message id, for -o json
  std::uint64_t acked = 0;
  client.on_telemetry_ack([&](const device::TelemetryAck& ack) {
    ++acked;
    if (!io.json()) return;
    auto it = ids.find(ack.seq);
    SendAckRecord record{ack.seq, it != ids.end() ? it->second : std::string(),
                         std::chrono::duration<double, std::milli>(ack.latency).count()};
    if (it != ids.end()) ids.erase(it);
    output.send_ack(record);
  });
  client.connect();

  std::mt19937_64 rng(std::random_device{}());
  Progress progress(io);
  const auto start = Clock::now();
  std::uint64_t sent = 0;
  LineReader lines(io);
  for (std::uint64_t seq = 1; !opt.lines || !opt.count || seq <= plan.count; ++seq) {
    if (!opt.lines && seq > plan.count) break;
    if (client.interrupted()) break;
    if (plan.interval && seq > 1) client.wait_until(start + *plan.interval * (seq - 1));
    if (client.interrupted()) break;
    const std::int64_t now = io.now_unix_ms();
    std::string body;
    if (opt.lines) {
      // Ends at the end of stdin, or on Ctrl-C while waiting for a line (then below: what was
      // sent is awaited for 2 s, exit 130).
      std::optional<std::string> line = lines.next();
      if (!line) break;
      body = std::move(*line);
    } else {
      body = render_template(plan.body, seq, now);
    }
    core::MessageProperties props = message_properties(opt, plan, seq, now, rng);
    if (opt.lines) {
      try {
        check_message(props, body, "stdin line");
      } catch (const Error&) {
        check_message(props, body, fmt::format("stdin line {}", seq));  // the same refusal, naming the line
        throw;
      }
    }
    if (io.json()) ids.emplace(seq, *props.system.message_id);
    client.send_telemetry(props, std::move(body), opt.qos);
    ++sent;
    progress.update(sent, acked);
  }
  const bool all = client.flush(Clock::now() + plan.ack_timeout);
  progress.clear();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (client.interrupted()) {
    client.close(std::chrono::seconds(2));
    throw Error(ExitCode::interrupted,
                fmt::format("interrupted: {} of {} message(s) acknowledged", acked, sent));
  }
  client.close(std::chrono::milliseconds(0));
  if (!all)
    throw Error(ExitCode::failure, fmt::format("{} of {} message(s) were not acknowledged within --ack-timeout {}",
                                               sent - acked, sent, opt.ack_timeout));
  io.trace(1, fmt::format("sent {} message(s) at QoS {} in {:.3f} s ({:.0f}/s)", sent, opt.qos,
                          seconds, seconds > 0 ? static_cast<double>(sent) / seconds : 0.0));
}

}  // namespace

void add_send_command(CLI::App& app, Io& io) {
  auto opt = std::make_shared<SendOptions>();
  CLI::App* cmd = app.add_subcommand("send", "Send device-to-cloud telemetry");
  cmd->add_option("body", opt->body, "Message body ({{seq}}, {{now}} and {{now_ms}} are replaced)")
      ->type_name("BODY");
  cmd->add_option("--file", opt->file, "Read the body from FILE")->type_name("FILE");
  cmd->add_flag("-l,--lines", opt->lines, "Send each line of stdin as one message");
  cmd->add_option("--prop", opt->props, "Application property NAME=VALUE (repeatable)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  cmd->add_option("--content-type", opt->content_type, "Content type ($.ct), e.g. application/json");
  cmd->add_option("--content-encoding", opt->content_encoding, "Content encoding ($.ce), e.g. utf-8");
  cmd->add_option("--message-id", opt->message_id, "Message id (default: a random UUID per message)");
  cmd->add_option("--correlation-id", opt->correlation_id, "Correlation id ($.cid)");
  cmd->add_option("--count", opt->count, "Send N messages (with --lines: at most N lines)")->type_name("N");
  cmd->add_option("--interval", opt->interval, "Time between messages, e.g. 100ms")->type_name("DURATION");
  cmd->add_option("--rate", opt->rate, "Messages per second, e.g. 50/s")->type_name("N/s");
  cmd->add_option("--qos", opt->qos, "0 (at most once) or 1 (acknowledged by the hub)")->type_name("0|1");
  cmd->add_option("--max-inflight", opt->max_inflight,
                  "QoS 1 messages sent ahead of the hub's acknowledgements")
      ->type_name("N");
  cmd->add_option("--ack-timeout", opt->ack_timeout,
                  "After the last message, wait this long for acknowledgements")
      ->type_name("DURATION");
  add_device_connection_options(*cmd, opt->conn);
  cmd->callback([opt, &io] { run_send(*opt, io); });
}

}  // namespace azhub::cli
