// Store in SQLite: one row per record, the record itself as a JSON document. WAL mode with
// synchronous=FULL. Writes are grouped: the first write after a commit opens a transaction,
// later ones join it, and commit() ends it (one WAL fsync for all of them). Hub commits before
// any connection writes, so whatever it acknowledged survives kill -9 and power loss
// (docs/conventions.md §6). A write of several statements is a savepoint inside the group, so it
// is whole or absent. If SQLite rolls the whole transaction back (disk full, I/O error), the
// writes already made in it are gone: the store is then broken and every later call throws.
#include <sqlite3.h>

#include <map>
#include <memory>

#include <fmt/format.h>

#include "core/error.hpp"
#include "emulator/store.hpp"

namespace azhub::emulator {

namespace {

using nlohmann::json;

json key_json(const IdentityKey& k) {
  return json::array({k.device_id, k.module_id ? json(*k.module_id) : json(nullptr)});
}
IdentityKey key_from(const json& j) {
  IdentityKey k;
  k.device_id = j.at(0).get<std::string>();
  if (!j.at(1).is_null()) k.module_id = j.at(1).get<std::string>();
  return k;
}

json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
std::optional<std::string> opt_from(const json& j, const char* name) {
  if (!j.contains(name) || j[name].is_null()) return std::nullopt;
  return j[name].get<std::string>();
}

json props_json(const core::MessageProperties& p) {
  const auto& s = p.system;
  json app = json::array();
  for (const auto& [k, v] : p.application) app.push_back(json::array({k, opt(v)}));
  return json{{"mid", opt(s.message_id)},     {"cid", opt(s.correlation_id)},
              {"uid", opt(s.user_id)},        {"ct", opt(s.content_type)},
              {"ce", opt(s.content_encoding)}, {"exp", opt(s.expiry)},
              {"to", opt(s.to)},              {"ctime", opt(s.creation_time)},
              {"sub", opt(s.subject)},        {"on", opt(s.output_name)},
              {"ack", opt(s.ack)},            {"app", app}};
}
core::MessageProperties props_from(const json& j) {
  core::MessageProperties p;
  auto& s = p.system;
  s.message_id = opt_from(j, "mid");
  s.correlation_id = opt_from(j, "cid");
  s.user_id = opt_from(j, "uid");
  s.content_type = opt_from(j, "ct");
  s.content_encoding = opt_from(j, "ce");
  s.expiry = opt_from(j, "exp");
  s.to = opt_from(j, "to");
  s.creation_time = opt_from(j, "ctime");
  s.subject = opt_from(j, "sub");
  s.output_name = opt_from(j, "on");
  s.ack = opt_from(j, "ack");
  for (const auto& e : j.at("app")) {
    p.application.emplace_back(e.at(0).get<std::string>(),
                               e.at(1).is_null() ? std::nullopt
                                                 : std::optional<std::string>(e.at(1).get<std::string>()));
  }
  return p;
}

json identity_json(const IdentityRecord& r) {
  return json{{"key", key_json(r.key)},
              {"generation_id", r.generation_id},
              {"etag", r.etag},
              {"enabled", r.status == DeviceStatus::enabled},
              {"status_reason", opt(r.status_reason)},
              {"status_updated_ms", r.status_updated_ms},
              {"auth_type", std::string(to_string(r.auth_type))},
              {"primary_key", r.primary_key},
              {"secondary_key", r.secondary_key},
              {"primary_thumbprint", opt(r.primary_thumbprint)},
              {"secondary_thumbprint", opt(r.secondary_thumbprint)},
              {"iot_edge", r.iot_edge},
              {"managed_by", r.managed_by},
              {"last_activity_ms", r.last_activity_ms}};
}
IdentityRecord identity_from(const json& j) {
  IdentityRecord r;
  r.key = key_from(j.at("key"));
  r.generation_id = j.at("generation_id").get<std::string>();
  r.etag = j.at("etag").get<std::string>();
  r.status = j.at("enabled").get<bool>() ? DeviceStatus::enabled : DeviceStatus::disabled;
  r.status_reason = opt_from(j, "status_reason");
  r.status_updated_ms = j.at("status_updated_ms").get<std::int64_t>();
  r.auth_type = parse_auth_type(j.at("auth_type").get<std::string>()).value_or(AuthType::sas);
  r.primary_key = j.at("primary_key").get<std::string>();
  r.secondary_key = j.at("secondary_key").get<std::string>();
  r.primary_thumbprint = opt_from(j, "primary_thumbprint");
  r.secondary_thumbprint = opt_from(j, "secondary_thumbprint");
  r.iot_edge = j.at("iot_edge").get<bool>();
  r.managed_by = j.at("managed_by").get<std::string>();
  r.last_activity_ms = j.at("last_activity_ms").get<std::int64_t>();
  return r;
}

json twin_json(const TwinRecord& t) {
  return json{{"key", key_json(t.key)},
              {"tags", t.tags},
              {"desired", t.desired},
              {"reported", t.reported},
              {"desired_metadata", t.desired_metadata},
              {"reported_metadata", t.reported_metadata},
              {"desired_version", t.desired_version},
              {"reported_version", t.reported_version},
              {"version", t.version},
              {"etag_counter", t.etag_counter},
              {"model_id", opt(t.model_id)}};
}
TwinRecord twin_from(const json& j) {
  TwinRecord t;
  t.key = key_from(j.at("key"));
  t.tags = j.at("tags");
  t.desired = j.at("desired");
  t.reported = j.at("reported");
  t.desired_metadata = j.at("desired_metadata");
  t.reported_metadata = j.at("reported_metadata");
  t.desired_version = j.at("desired_version").get<std::int64_t>();
  t.reported_version = j.at("reported_version").get<std::int64_t>();
  t.version = j.at("version").get<std::int64_t>();
  t.etag_counter = j.at("etag_counter").get<std::uint64_t>();
  t.model_id = opt_from(j, "model_id");
  return t;
}

// Bodies are bytes, not UTF-8: stored as BLOB columns beside the JSON.
json c2d_json(const QueuedC2dMessage& m) {
  return json{{"device_id", m.device_id},     {"properties", props_json(m.properties)},
              {"enqueued_ms", m.enqueued_ms}, {"expiry_ms", m.expiry_ms},
              {"delivery_count", m.delivery_count}};
}
json d2c_json(const D2cMessage& m) {
  json j{{"source", key_json(m.source)},
         {"enqueued_ms", m.enqueued_ms},
         {"properties", props_json(m.properties)}};
  if (m.data_schema) j["data_schema"] = *m.data_schema;
  if (m.data_subject) j["data_subject"] = *m.data_subject;
  j["partition"] = m.partition;
  j["partition_seq"] = m.partition_sequence;
  return j;
}

json feedback_json(const FeedbackEntry& e) {
  const auto& r = e.record;
  return json{{"original_message_id", r.original_message_id},
              {"enqueued_ms", r.enqueued_ms},
              {"status", std::string(core::to_string(r.status))},
              {"description", r.description},
              {"device_id", r.device_id},
              {"device_generation_id", r.device_generation_id},
              {"delivery_count", e.delivery_count}};
}
FeedbackEntry feedback_from(std::uint64_t id, const json& j) {
  FeedbackEntry e;
  e.id = id;
  auto& r = e.record;
  r.original_message_id = j.at("original_message_id").get<std::string>();
  r.enqueued_ms = j.at("enqueued_ms").get<std::int64_t>();
  auto status = core::parse_feedback_status(j.at("status").get<std::string>());
  if (!status) throw core::Error(core::ExitCode::failure, "state database is corrupt: bad feedback status");
  r.status = *status;
  r.description = j.at("description").get<std::string>();
  r.device_id = j.at("device_id").get<std::string>();
  r.device_generation_id = j.at("device_generation_id").get<std::string>();
  e.delivery_count = j.at("delivery_count").get<std::uint32_t>();
  return e;
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : m_db(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr) != SQLITE_OK)
      throw core::Error(core::ExitCode::failure, fmt::format("state database: {}", sqlite3_errmsg(db)));
  }
  ~Statement() { sqlite3_finalize(m_stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::string_view text) {
    sqlite3_bind_text(m_stmt, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind_blob(int i, std::string_view bytes) {
    sqlite3_bind_blob(m_stmt, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(m_stmt, i, v);
    return *this;
  }
  // Steps once; true while a row is available.
  bool step() {
    int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw core::Error(core::ExitCode::failure, fmt::format("state database: {}", sqlite3_errmsg(m_db)));
  }
  std::string text(int col) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(m_stmt, col));
    int n = sqlite3_column_bytes(m_stmt, col);
    return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(n));
  }
  std::int64_t int64(int col) { return sqlite3_column_int64(m_stmt, col); }
  // Ready to be bound and stepped again.
  void reset() {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
  }

 private:
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::filesystem::path& dir) {
    std::filesystem::path file = dir / "emulator.db";
    if (sqlite3_open_v2(file.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      std::string why = m_db ? sqlite3_errmsg(m_db) : "out of memory";
      sqlite3_close(m_db);
      throw core::Error(core::ExitCode::failure,
                        fmt::format("state database {}: {}", file.string(), why));
    }
    sqlite3_busy_timeout(m_db, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE IF NOT EXISTS identities (key TEXT PRIMARY KEY, device TEXT NOT NULL, doc TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS twins (key TEXT PRIMARY KEY, device TEXT NOT NULL, doc TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS sessions (key TEXT PRIMARY KEY, device TEXT NOT NULL, doc TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS c2d (id INTEGER PRIMARY KEY, device TEXT NOT NULL, doc TEXT NOT NULL, body BLOB)");
    exec("CREATE TABLE IF NOT EXISTS d2c (seq INTEGER PRIMARY KEY, doc TEXT NOT NULL, body BLOB)");
    exec("CREATE TABLE IF NOT EXISTS policies (name TEXT PRIMARY KEY, doc TEXT NOT NULL)");
    // Added after the first release; IF NOT EXISTS lets older state directories open.
    exec("CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, doc TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS device_jobs (job TEXT NOT NULL, device TEXT NOT NULL, doc TEXT NOT NULL, "
         "PRIMARY KEY (job, device))");
  }
  ~SqliteStore() override {
    // What was written and not yet committed (a clean stop between a write and its commit).
    if (m_in_tx && m_broken.empty()) sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr);
    m_cache.clear();
    sqlite3_close(m_db);
  }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  StoreSnapshot load() override {
    StoreSnapshot s;
    try {
      for (Statement q(m_db, "SELECT doc FROM identities"); q.step();)
        s.identities.push_back(identity_from(json::parse(q.text(0))));
      for (Statement q(m_db, "SELECT doc FROM twins"); q.step();)
        s.twins.push_back(twin_from(json::parse(q.text(0))));
      for (Statement q(m_db, "SELECT doc FROM sessions"); q.step();) {
        json j = json::parse(q.text(0));
        SessionRecord r{key_from(j.at("key")), {}};
        for (const auto& e : j.at("subscriptions"))
          r.subscriptions.emplace_back(e.at(0).get<std::string>(), e.at(1).get<std::uint8_t>());
        s.sessions.push_back(std::move(r));
      }
      for (Statement q(m_db, "SELECT id, doc, body FROM c2d ORDER BY id"); q.step();) {
        json j = json::parse(q.text(1));
        QueuedC2dMessage m;
        m.id = static_cast<std::uint64_t>(q.int64(0));
        m.device_id = j.at("device_id").get<std::string>();
        m.body = q.text(2);
        m.properties = props_from(j.at("properties"));
        m.enqueued_ms = j.at("enqueued_ms").get<std::int64_t>();
        m.expiry_ms = j.at("expiry_ms").get<std::int64_t>();
        m.delivery_count = j.at("delivery_count").get<std::uint32_t>();
        s.c2d.push_back(std::move(m));
      }
      for (Statement q(m_db, "SELECT seq, doc, body FROM d2c ORDER BY seq"); q.step();) {
        json j = json::parse(q.text(1));
        D2cMessage m;
        m.sequence_number = static_cast<std::uint64_t>(q.int64(0));
        m.source = key_from(j.at("source"));
        m.enqueued_ms = j.at("enqueued_ms").get<std::int64_t>();
        m.properties = props_from(j.at("properties"));
        if (const auto it = j.find("data_schema"); it != j.end()) m.data_schema = it->get<std::string>();
        if (const auto it = j.find("data_subject"); it != j.end()) m.data_subject = it->get<std::string>();
        // Rows written before partitions existed have neither; Hub numbers them at load.
        if (const auto it = j.find("partition"); it != j.end()) m.partition = it->get<std::uint32_t>();
        if (const auto it = j.find("partition_seq"); it != j.end()) m.partition_sequence = it->get<std::int64_t>();
        m.body = q.text(2);
        s.d2c.push_back(std::move(m));
      }
      for (Statement q(m_db, "SELECT doc FROM policies"); q.step();) {
        json j = json::parse(q.text(0));
        s.policies.push_back(Policy{j.at("name").get<std::string>(), j.at("primary_key").get<std::string>(),
                                    j.at("secondary_key").get<std::string>(), j.at("rights").get<unsigned>()});
      }
    } catch (const json::exception& e) {
      throw core::Error(core::ExitCode::failure, fmt::format("state database is corrupt: {}", e.what()));
    }
    return s;
  }

  void put_identity(const IdentityRecord& r) override {
    write([&] {
      cached("INSERT OR REPLACE INTO identities (key, device, doc) VALUES (?, ?, ?)")
          .bind(1, key_json(r.key).dump()).bind(2, r.key.device_id).bind(3, identity_json(r).dump()).step();
    });
  }
  void erase_identity(const IdentityKey& key) override {
    write_all([&] {
      for (const char* table : {"identities", "twins", "sessions"}) {
        if (key.module_id) {
          Statement(m_db, fmt::format("DELETE FROM {} WHERE key = ?", table).c_str())
              .bind(1, key_json(key).dump()).step();
        } else {
          Statement(m_db, fmt::format("DELETE FROM {} WHERE device = ?", table).c_str())
              .bind(1, key.device_id).step();
        }
      }
      if (!key.module_id) cached("DELETE FROM c2d WHERE device = ?").bind(1, key.device_id).step();
    });
  }
  void put_twin(const TwinRecord& t) override {
    write([&] {
      cached("INSERT OR REPLACE INTO twins (key, device, doc) VALUES (?, ?, ?)")
          .bind(1, key_json(t.key).dump()).bind(2, t.key.device_id).bind(3, twin_json(t).dump()).step();
    });
  }
  void put_c2d(const QueuedC2dMessage& m) override {
    write([&] {
      cached("INSERT OR REPLACE INTO c2d (id, device, doc, body) VALUES (?, ?, ?, ?)")
          .bind(1, static_cast<std::int64_t>(m.id)).bind(2, m.device_id).bind(3, c2d_json(m).dump())
          .bind_blob(4, m.body).step();
    });
  }
  void erase_c2d(std::uint64_t id) override {
    write([&] { cached("DELETE FROM c2d WHERE id = ?").bind(1, static_cast<std::int64_t>(id)).step(); });
  }
  void erase_c2d_of(const std::string& device_id) override {
    write([&] { cached("DELETE FROM c2d WHERE device = ?").bind(1, device_id).step(); });
  }
  std::vector<FeedbackEntry> load_feedback() override {
    std::vector<FeedbackEntry> out;
    try {
      for (Statement q(m_db, "SELECT id, doc FROM feedback ORDER BY id"); q.step();)
        out.push_back(feedback_from(static_cast<std::uint64_t>(q.int64(0)), json::parse(q.text(1))));
    } catch (const json::exception& e) {
      throw core::Error(core::ExitCode::failure, fmt::format("state database is corrupt: {}", e.what()));
    }
    return out;
  }
  void put_feedback(const FeedbackEntry& e) override {
    write([&] {
      cached("INSERT OR REPLACE INTO feedback (id, doc) VALUES (?, ?)")
          .bind(1, static_cast<std::int64_t>(e.id)).bind(2, feedback_json(e).dump()).step();
    });
  }
  void erase_feedback(std::uint64_t id) override {
    write([&] { cached("DELETE FROM feedback WHERE id = ?").bind(1, static_cast<std::int64_t>(id)).step(); });
  }
  void put_d2c(const D2cMessage& m, std::size_t keep) override {
    write([&] {
      cached("INSERT OR REPLACE INTO d2c (seq, doc, body) VALUES (?, ?, ?)")
          .bind(1, static_cast<std::int64_t>(m.sequence_number)).bind(2, d2c_json(m).dump())
          .bind_blob(3, m.body).step();
    });
    // Trim in batches (every 64 messages) rather than on every insert. A failed trim only
    // keeps old rows a little longer; it is not a failed capture.
    if (m.sequence_number > keep && m.sequence_number % 64 == 0) {
      write([&] {
        cached("DELETE FROM d2c WHERE seq <= ?")
            .bind(1, static_cast<std::int64_t>(m.sequence_number - keep)).step();
      });
    }
  }
  void put_policy(const Policy& p) override {
    json j{{"name", p.name}, {"primary_key", p.primary_key}, {"secondary_key", p.secondary_key},
           {"rights", p.rights}};
    write([&] {
      cached("INSERT OR REPLACE INTO policies (name, doc) VALUES (?, ?)")
          .bind(1, p.name).bind(2, j.dump()).step();
    });
  }
  std::vector<core::jobs::Job> load_jobs() override {
    std::vector<core::jobs::Job> out;
    try {
      for (Statement q(m_db, "SELECT doc FROM jobs"); q.step();) out.push_back(core::jobs::job_from_json(json::parse(q.text(0))));
    } catch (const json::exception& e) {
      throw core::Error(core::ExitCode::failure, fmt::format("state database is corrupt: {}", e.what()));
    }
    return out;
  }
  std::vector<core::jobs::DeviceJob> load_device_jobs() override {
    std::vector<core::jobs::DeviceJob> out;
    try {
      for (Statement q(m_db, "SELECT doc FROM device_jobs ORDER BY job, device"); q.step();)
        out.push_back(core::jobs::device_job_from_json(json::parse(q.text(0))));
    } catch (const json::exception& e) {
      throw core::Error(core::ExitCode::failure, fmt::format("state database is corrupt: {}", e.what()));
    }
    return out;
  }
  void put_job(const core::jobs::Job& job) override {
    write([&] {
      cached("INSERT OR REPLACE INTO jobs (id, doc) VALUES (?, ?)")
          .bind(1, job.job_id).bind(2, core::jobs::to_json(job).dump()).step();
    });
  }
  void put_device_jobs(const std::vector<core::jobs::DeviceJob>& jobs) override {
    if (jobs.empty()) return;
    write_all([&] {
      for (const auto& job : jobs)
        cached("INSERT OR REPLACE INTO device_jobs (job, device, doc) VALUES (?, ?, ?)")
            .bind(1, job.job_id).bind(2, job.device_id).bind(3, core::jobs::to_json(job).dump()).step();
    });
  }
  void put_session(const SessionRecord& r) override {
    json subs = json::array();
    for (const auto& [f, q] : r.subscriptions) subs.push_back(json::array({f, q}));
    json j{{"key", key_json(r.key)}, {"subscriptions", subs}};
    write([&] {
      cached("INSERT OR REPLACE INTO sessions (key, device, doc) VALUES (?, ?, ?)")
          .bind(1, key_json(r.key).dump()).bind(2, r.key.device_id).bind(3, j.dump()).step();
    });
  }
  void erase_session(const IdentityKey& key) override {
    write([&] { cached("DELETE FROM sessions WHERE key = ?").bind(1, key_json(key).dump()).step(); });
  }

  [[nodiscard]] bool pending() const override { return m_in_tx; }
  void set_on_pending(std::function<void()> on_pending) override { m_on_pending = std::move(on_pending); }
  void commit() override {
    throw_if_broken();
    if (!m_in_tx) return;
    char* err = nullptr;
    if (sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : sqlite3_errmsg(m_db);
      sqlite3_free(err);
      // Whether SQLite rolled back or kept the transaction, these writes are not durable and
      // their acknowledgements must never go out: the store is done.
      m_broken = fmt::format("cannot commit: {}", why);
      if (!sqlite3_get_autocommit(m_db)) sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
      m_in_tx = false;
      throw_if_broken();
    }
    m_in_tx = false;
  }

 private:
  // One write of the group: opens the transaction if none is open. A failed statement undoes
  // itself; if SQLite ended the whole transaction instead, the group's earlier writes are lost.
  template <typename F>
  void write(F&& statements) {
    begin();
    try {
      statements();
    } catch (...) {
      check_transaction();
      throw;
    }
  }
  // A write of several statements: all or none of them, inside the group.
  template <typename F>
  void write_all(F&& statements) {
    begin();
    exec("SAVEPOINT write_all");
    try {
      statements();
      exec("RELEASE write_all");
    } catch (...) {
      if (!sqlite3_get_autocommit(m_db)) {
        sqlite3_exec(m_db, "ROLLBACK TO write_all", nullptr, nullptr, nullptr);
        sqlite3_exec(m_db, "RELEASE write_all", nullptr, nullptr, nullptr);
      }
      check_transaction();
      throw;
    }
  }
  // The write statements are prepared once (a capture is one insert; preparing it every time was
  // a good part of a message's cost). `sql` is a literal: its address is the key.
  Statement& cached(const char* sql) {
    auto& slot = m_cache[sql];
    if (!slot) slot = std::make_unique<Statement>(m_db, sql);
    slot->reset();
    return *slot;
  }
  void begin() {
    throw_if_broken();
    if (m_in_tx) return;
    exec("BEGIN");
    m_in_tx = true;
    if (m_on_pending) m_on_pending();
  }
  void check_transaction() {
    if (m_in_tx && sqlite3_get_autocommit(m_db)) {
      m_in_tx = false;
      m_broken = fmt::format("a transaction was rolled back: {}", sqlite3_errmsg(m_db));
    }
  }
  void throw_if_broken() const {
    if (!m_broken.empty()) throw core::Error(core::ExitCode::failure, fmt::format("state database: {}", m_broken));
  }

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(m_db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : "unknown error";
      sqlite3_free(err);
      throw core::Error(core::ExitCode::failure, fmt::format("state database: {}", why));
    }
  }

  sqlite3* m_db = nullptr;
  bool m_in_tx = false;
  std::string m_broken;  // why the store can no longer keep its promise; empty while it can
  std::function<void()> m_on_pending;
  std::map<const char*, std::unique_ptr<Statement>> m_cache;
};

}  // namespace

std::unique_ptr<Store> make_memory_store();

std::unique_ptr<Store> make_sqlite_store(const std::filesystem::path& dir) {
  return std::make_unique<SqliteStore>(dir);
}

}  // namespace azhub::emulator
