// The audit log (collector/audit): chained, keyed records in a real SQLite file; tamper
// detection for an edited row, a deleted row, a rewritten chain without the key, a truncated
// tail and a wrong key; the 401 rate limit; the API routes over it. Tag: [audit].
#include <sqlite3.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <thread>

#include "collector/api/api_handler.h"
#include "collector/audit/audit_log.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/crypto.h"
#include "shared/file_util.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::collector::audit;
using namespace vigil::test;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

AuditEntry entry(const std::string& actor, const std::string& action, int status = 200) {
  return AuditEntry{actor, "192.0.2.10:40000", action, "/api/v1/policies", status, ""};
}

void fill(AuditLog& log, int n) {
  for (int i = 0; i < n; ++i) REQUIRE(log.record(entry("alice", "POST /api/v1/policies/" + std::to_string(i))).ok());
}

// What an attacker with write access to the file does: the triggers are no obstacle to them.
void tamper(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* msg = nullptr;
  std::string all = "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; " + sql;
  int rc = sqlite3_exec(db, all.c_str(), nullptr, nullptr, &msg);
  INFO((msg ? msg : ""));
  sqlite3_free(msg);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("audit: records chain, files are 0600, verify passes, reopen continues the chain", "[audit]") {
  TempDir tmp;
  {
    auto log = must(AuditLog::open(tmp.path.string()));
    fill(*log, 5);
    auto rep = must(log->verify());
    CHECK(rep.ok);
    CHECK(rep.records == 5);
    CHECK(rep.head_id == 5);
  }
  for (const char* f : {"audit.db", "audit.key", "audit.head"}) CHECK(mode_of(tmp.file(f)) == 0600);
  auto log = must(AuditLog::open(tmp.path.string()));
  fill(*log, 2);
  auto rep = must(log->verify());
  CHECK(rep.ok);
  CHECK(rep.records == 7);
  auto page = must(log->list({}));
  REQUIRE(page.records.size() == 7);
  CHECK(page.records[0].id == 7);  // newest first
  CHECK(page.records[0].prev_hash == page.records[1].hash);
  CHECK(page.records[6].prev_hash == std::string(kGenesisHash));
  // The database refuses changes through SQL while its triggers stand.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(tmp.file("audit.db").c_str(), &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "UPDATE audit_log SET detail='x' WHERE id=1", nullptr, nullptr, nullptr) != SQLITE_OK);
  CHECK(sqlite3_exec(db, "DELETE FROM audit_log WHERE id=1", nullptr, nullptr, nullptr) != SQLITE_OK);
  sqlite3_close(db);
}

TEST_CASE("audit: an edited row is found and named", "[audit]") {
  TempDir tmp;
  { fill(*must(AuditLog::open(tmp.path.string())), 6); }
  tamper(tmp.file("audit.db"), "UPDATE audit_log SET actor='mallory' WHERE id=3");
  auto rep = must(verify_audit_files(tmp.path.string()));
  CHECK_FALSE(rep.ok);
  CHECK(rep.broken_id == 3);
  CHECK_THAT(rep.reason, Catch::Contains("edited"));
}

TEST_CASE("audit: an edited row with its hashes recomputed, but without the key, fails its MAC", "[audit]") {
  TempDir tmp;
  { fill(*must(AuditLog::open(tmp.path.string())), 4); }
  // Rewrite record 4 (the last, so no later prev_hash needs fixing) with a consistent hash.
  AuditRecord forged;
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(tmp.file("audit.db").c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT id,time_ns,remote,action,target,status,count,prev_hash FROM audit_log WHERE id=4", -1, &st,
                               nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    forged.id = sqlite3_column_int64(st, 0);
    forged.time_ns = sqlite3_column_int64(st, 1);
    forged.actor = "somebody-else";
    forged.remote = reinterpret_cast<const char*>(sqlite3_column_text(st, 2));
    forged.action = reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
    forged.target = reinterpret_cast<const char*>(sqlite3_column_text(st, 4));
    forged.status = sqlite3_column_int(st, 5);
    forged.count = sqlite3_column_int64(st, 6);
    forged.prev_hash = reinterpret_cast<const char*>(sqlite3_column_text(st, 7));
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  const std::string h = record_hash(forged.prev_hash, forged);
  tamper(tmp.file("audit.db"), "UPDATE audit_log SET actor='somebody-else', hash='" + h + "' WHERE id=4");
  auto rep = must(verify_audit_files(tmp.path.string()));
  CHECK_FALSE(rep.ok);
  CHECK(rep.broken_id == 4);
  CHECK_THAT(rep.reason, Catch::Contains("MAC"));
}

TEST_CASE("audit: a deleted row breaks the chain at that id", "[audit]") {
  TempDir tmp;
  { fill(*must(AuditLog::open(tmp.path.string())), 6); }
  tamper(tmp.file("audit.db"), "DELETE FROM audit_log WHERE id=2");
  auto rep = must(verify_audit_files(tmp.path.string()));
  CHECK_FALSE(rep.ok);
  CHECK(rep.broken_id == 2);
  CHECK_THAT(rep.reason, Catch::Contains("missing"));

  // Renumbering the rest to hide the gap breaks the chain instead.
  tamper(tmp.file("audit.db"), "UPDATE audit_log SET id=id-1 WHERE id>2");
  rep = must(verify_audit_files(tmp.path.string()));
  CHECK_FALSE(rep.ok);
  CHECK(rep.broken_id == 2);
}

TEST_CASE("audit: a truncated tail is found through audit.head, and the log refuses to continue", "[audit]") {
  TempDir tmp;
  { fill(*must(AuditLog::open(tmp.path.string())), 6); }
  tamper(tmp.file("audit.db"), "DELETE FROM audit_log WHERE id>=5");
  auto rep = must(verify_audit_files(tmp.path.string()));
  CHECK_FALSE(rep.ok);
  CHECK(rep.broken_id == 5);
  CHECK_THAT(rep.reason, Catch::Contains("truncated"));
  auto reopened = AuditLog::open(tmp.path.string());
  REQUIRE_FALSE(reopened.ok());
  CHECK_THAT(reopened.error(), Catch::Contains("truncated"));

  // Deleting the head as well does not help.
  std::filesystem::remove(tmp.file("audit.head"));
  rep = must(verify_audit_files(tmp.path.string()));
  CHECK_FALSE(rep.ok);
  CHECK_THAT(rep.reason, Catch::Contains("audit.head is missing"));
  CHECK_FALSE(AuditLog::open(tmp.path.string()).ok());
}

TEST_CASE("audit: a wrong key fails at the first record; a missing key refuses to open", "[audit]") {
  TempDir tmp;
  { fill(*must(AuditLog::open(tmp.path.string())), 3); }
  REQUIRE(write_file_atomic(tmp.file("audit.key"), crypto::sha256_hex("another key") + "\n", 0600).ok());
  auto rep = must(verify_audit_files(tmp.path.string()));
  CHECK_FALSE(rep.ok);
  CHECK(rep.broken_id == 1);
  CHECK_THAT(rep.reason, Catch::Contains("MAC"));
  std::filesystem::remove(tmp.file("audit.key"));
  auto reopened = AuditLog::open(tmp.path.string());
  REQUIRE_FALSE(reopened.ok());
  CHECK_THAT(reopened.error(), Catch::Contains("audit.key is missing"));
}

TEST_CASE("audit: unauthenticated refusals are rate-limited per host and summarised, never dropped", "[audit]") {
  TempDir tmp;
  AuditLogOptions opts;
  opts.refusal_window_ns = 300'000'000;  // 0.3 s stands in for the minute
  auto log = must(AuditLog::open(tmp.path.string(), opts));
  for (int i = 0; i < 500; ++i)
    REQUIRE(log->record({"", "198.51.100.7:" + std::to_string(1024 + i), "GET /api/v1/events", "/api/v1/events", 401, ""}).ok());
  REQUIRE(log->record({"", "198.51.100.8:5555", "GET /api/v1/events", "/api/v1/events", 401, ""}).ok());
  // 403s and changes are never limited.
  for (int i = 0; i < 3; ++i) REQUIRE(log->record({"bob", "198.51.100.7:1", "DELETE /api/v1/policies/x", "/api/v1/policies/x", 403, ""}).ok());
  auto page = must(log->list({}));
  CHECK(page.records.size() == 5);  // one 401 per host, three 403s
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  // The next record of any kind writes the summary of the window that ended.
  REQUIRE(log->record(entry("alice", "POST /api/v1/policies")).ok());
  AuditQuery q;
  q.action = "refused_unauthenticated";
  page = must(log->list(q));
  REQUIRE(page.records.size() == 1);
  CHECK(page.records[0].count == 499);
  CHECK(page.records[0].remote == "198.51.100.7");
  CHECK(page.records[0].status == 401);
  CHECK(must(log->verify()).ok);
}

TEST_CASE("audit: held-back refusals are written when the log closes", "[audit]") {
  TempDir tmp;
  {
    auto log = must(AuditLog::open(tmp.path.string()));
    for (int i = 0; i < 10; ++i) REQUIRE(log->record({"", "[2001:db8::5]:" + std::to_string(2000 + i), "GET /x", "/x", 401, ""}).ok());
  }
  auto log = must(AuditLog::open(tmp.path.string()));
  AuditQuery q;
  q.action = "refused_unauthenticated";
  auto page = must(log->list(q));
  REQUIRE(page.records.size() == 1);
  CHECK(page.records[0].count == 9);
  CHECK(page.records[0].remote == "2001:db8::5");
}

TEST_CASE("audit: concurrent writers keep one valid chain", "[audit]") {
  TempDir tmp;
  auto log = must(AuditLog::open(tmp.path.string()));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 25; ++i) (void)log->record(entry("user" + std::to_string(t), "PUT /api/v1/x"));
    });
  for (auto& t : threads) t.join();
  auto rep = must(log->verify());
  CHECK(rep.ok);
  CHECK(rep.records == 100);
}

TEST_CASE("audit: filters and paging of list", "[audit]") {
  TempDir tmp;
  auto log = must(AuditLog::open(tmp.path.string()));
  for (int i = 0; i < 10; ++i) REQUIRE(log->record(entry(i % 2 ? "alice" : "bob", i < 5 ? "POST /a" : "DELETE /b")).ok());
  AuditQuery q;
  q.actor = "alice";
  q.action = "POST";
  auto page = must(log->list(q));
  CHECK(page.records.size() == 2);
  AuditQuery p;
  p.limit = 4;
  page = must(log->list(p));
  REQUIRE(page.records.size() == 4);
  REQUIRE(page.next_before);
  CHECK(*page.next_before == 7);
  p.before_id = *page.next_before;
  page = must(log->list(p));
  CHECK(page.records.front().id == 6);
  p.before_id = 3;
  page = must(log->list(p));
  CHECK(page.records.size() == 2);
  CHECK_FALSE(page.next_before);
  AuditQuery pct;
  pct.action = "%";  // means itself, not a wildcard
  CHECK(must(log->list(pct)).records.empty());
}

TEST_CASE("API: audit list and verify are recorded reads; bad input is 400; changes are recorded", "[audit]") {
  TempDir tmp;
  auto store = must(open_sqlite_event_store(tmp.file("vigil.db")));
  auto log = must(AuditLog::open(tmp.path.string()));
  ApiHandler h(*store, crypto::sha256_hex("audit-token"));
  h.set_audit_sink(log.get());
  h.set_audit_log(log.get());
  auto call = [&](http::verb verb, const std::string& target, const std::string& token = "audit-token") {
    HttpRequest req{verb, target, 11};
    req.set(http::field::authorization, "Bearer " + token);
    auto res = h.handle(req, "203.0.113.9:50000");
    return std::pair{res.result_int(), json::parse(res.body())};
  };
  CHECK(call(http::verb::post, "/api/v1/enroll-tokens").first == 201);
  CHECK(call(http::verb::get, "/api/v1/events", "wrong-token").first == 401);
  auto [status, body] = call(http::verb::get, "/api/v1/audit?actor=admin&limit=10");
  REQUIRE(status == 200);
  auto& records = body.as_object().at("records").as_array();
  // The enroll token creation and this read itself (recorded before the answer).
  REQUIRE(records.size() == 2);
  CHECK(records[0].as_object().at("action").as_string() == "read_audit");
  CHECK(records[1].as_object().at("action").as_string() == "POST /api/v1/enroll-tokens");
  CHECK(records[1].as_object().at("status").as_int64() == 201);
  CHECK(records[1].as_object().at("remote").as_string() == "203.0.113.9:50000");
  auto refused = call(http::verb::get, "/api/v1/audit?status=401").second;
  CHECK_THAT(std::string(refused.as_object().at("error").as_string()), Catch::Contains("unknown query parameter 'status'"));
  CHECK(call(http::verb::get, "/api/v1/audit?limit=0").first == 400);
  CHECK(call(http::verb::get, "/api/v1/audit?since=yesterday").first == 400);
  auto unauth = call(http::verb::get, "/api/v1/audit?action=GET", "nope");
  CHECK(unauth.first == 401);
  auto v = call(http::verb::get, "/api/v1/audit/verify");
  REQUIRE(v.first == 200);
  CHECK(v.second.as_object().at("ok").as_bool());
  CHECK(v.second.as_object().at("first_broken").is_null());
  // Every read and refusal above is in the log: 201, 401, read, (400s are not recorded: GET),
  // second 401 from the same host within the minute is only counted, verify.
  auto all = must(log->list({}));
  CHECK(all.records.front().action == "verify_audit");

  // Without the permission: 403, recorded.
  struct NoAudit : Authenticator {
    Result<Caller> authenticate_token(std::string_view token) const override {
      if (token != "viewer") return err("unknown token");
      Caller c;
      c.name = "viewer";
      c.permissions.set(static_cast<std::size_t>(Permission::ReadEvents));
      return c;
    }
  } auth;
  h.set_authenticator(&auth);
  CHECK(call(http::verb::get, "/api/v1/audit", "viewer").first == 403);
  AuditQuery q;
  q.actor = "viewer";
  auto viewer = must(log->list(q));
  REQUIRE(viewer.records.size() == 1);
  CHECK(viewer.records[0].status == 403);
}
