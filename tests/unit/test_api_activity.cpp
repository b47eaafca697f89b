// Activity exports through ApiHandler with the real store and real files: start, progress until
// done, the content (CSV quoting of hostile file names, JSONL), names that try to leave the
// exports directory, other callers, and the audit entries for each export and download.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <thread>

#include "activity_test_support.h"
#include "collector/activity/activity_cursor.h"
#include "collector/activity/activity_exports.h"
#include "collector/activity/activity_rows.h"
#include "collector/api/api_handler.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/crypto.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::test;
using namespace vigil::test::activity;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr const char* kAdmin = "export-admin-token";
constexpr const char* kOther = "export-other-token";

class MemoryAudit final : public AuditSink {
 public:
  Status record(const AuditEntry& e) override {
    std::lock_guard lock(mu_);
    entries.push_back(e);
    return {};
  }
  std::vector<AuditEntry> named(const std::string& action) {
    std::lock_guard lock(mu_);
    std::vector<AuditEntry> out;
    for (const auto& e : entries)
      if (e.action == action) out.push_back(e);
    return out;
  }
  std::vector<AuditEntry> entries;

 private:
  std::mutex mu_;
};

class OtherAuth final : public Authenticator {
 public:
  Result<Caller> authenticate_token(std::string_view token) const override {
    if (token != kOther) return err("unknown token");
    Caller c;
    c.name = "olga";
    c.permissions.set(static_cast<std::size_t>(Permission::ExportActivity));
    return c;
  }
};

struct Reply {
  unsigned status;
  std::string body;
  json::value json;
  std::string header(http::field f) const { return headers.count(f) ? std::string(headers.at(f)) : ""; }
  std::map<http::field, std::string> headers;
};

Reply call(const ApiHandler& h, http::verb verb, const std::string& target, const std::string& body = {},
           const char* token = kAdmin) {
  HttpRequest req{verb, target, 11};
  req.set(http::field::authorization, std::string("Bearer ") + token);
  req.body() = body;
  req.prepare_payload();
  auto res = h.handle(req);
  Reply r{res.result_int(), res.body(), nullptr, {}};
  boost::system::error_code ec;
  auto v = json::parse(res.body(), ec);
  if (!ec) r.json = v;
  for (auto f : {http::field::content_type, http::field::content_disposition, http::field::location})
    if (res.count(f)) r.headers[f] = std::string(res[f]);
  return r;
}

// Parses RFC 4180 CSV (quoted fields with doubled quotes, CRLF rows) back into cells.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string cell;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cell += '"', ++i;
      else if (c == '"') quoted = false;
      else cell += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(cell), cell.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(cell), cell.clear();
      rows.emplace_back();
      ++i;
    } else {
      cell += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

json::object wait_done(const ApiHandler& h, const std::string& name) {
  for (int i = 0; i < 500; ++i) {
    auto r = call(h, http::verb::get, "/api/v1/activity/exports/" + name);
    REQUIRE(r.status == 200);
    auto o = r.json.as_object();
    CHECK(o.at("rows_done").as_int64() <= o.at("rows_total").as_int64());
    if (o.at("state").as_string() != "running") return o;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("export did not finish");
  return {};
}

struct ExportFixture {
  TempDir tmp;
  std::unique_ptr<EventStore> store;
  ActivityCursors cursors{crypto::random_bytes(32)};
  std::unique_ptr<ActivityExports> exports;
  MemoryAudit audit;
  OtherAuth auth;
  std::unique_ptr<ApiHandler> h;
  const std::string hostile = "/home/eve/=cmd|' /C calc'!A0, \"quoted\"\nnext line.txt";

  ExportFixture() {
    store = must(open_sqlite_event_store(tmp.file("vigil.db")));
    Feeder feed(*store);
    std::vector<v1::Event> events;
    for (int i = 0; i < 5000; ++i)
      events.push_back(file_event("eve", "file.write", kT0 - kDay + i * kSec, "/home/eve/f" + std::to_string(i)));
    events.push_back(with_finding(file_event("eve", "exfil.removable", kT0, hostile), "credit_card", 3));
    feed.add("laptop-e", events, 500);
    exports = must(ActivityExports::open(*store, tmp.file("exports")));
    h = std::make_unique<ApiHandler>(*store, crypto::sha256_hex(kAdmin));
    h->set_activity(&cursors, exports.get());
    h->set_audit_sink(&audit);
    h->set_authenticator(&auth);
  }
};

}  // namespace

TEST_CASE("API activity exports: progress, CSV content, audit", "[api_activity]") {
  ExportFixture f;
  auto started = call(*f.h, http::verb::post, "/api/v1/activity/exports", R"({"format":"csv","user":"eve","since":"2026-01-01T00:00:00Z"})");
  REQUIRE(started.status == 202);
  const std::string name(started.json.at("name").as_string());
  CHECK(ActivityExports::valid_name(name));
  CHECK(name.ends_with(".csv"));
  CHECK(started.header(http::field::location) == "/api/v1/activity/exports/" + name);
  CHECK(started.json.at("rows_total").as_int64() == 5001);

  auto done = wait_done(*f.h, name);
  CHECK(done.at("state").as_string() == "done");
  CHECK(done.at("rows_done").as_int64() == 5001);
  CHECK(done.at("rows_total").as_int64() == 5001);

  // The file: 0600, whole, under DATA_DIR/exports.
  struct stat st {};
  REQUIRE(::stat(f.tmp.file("exports/" + name).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto content = call(*f.h, http::verb::get, "/api/v1/activity/exports/" + name + "/content");
  REQUIRE(content.status == 200);
  CHECK(content.header(http::field::content_type).starts_with("text/csv"));
  auto rows = parse_csv(content.body);
  REQUIRE(rows.size() == 5002);
  REQUIRE(rows[0][0] == "time");
  for (const auto& r : rows) REQUIRE(r.size() == 15);
  // Newest first: the hostile one leads, intact after unquoting (commas, quotes, newline).
  CHECK(rows[1][6] == f.hostile);
  CHECK(rows[1][5] == "removable");
  CHECK(rows[1][11] == "credit_card:3");
  CHECK(rows[1][3] == "eve");
  auto event = json::parse(rows[1][14]);
  CHECK(event.at("path").as_string() == f.hostile);

  // Audit: the export and the download, each by name.
  auto audited = f.audit.named("export");
  REQUIRE(audited.size() == 2);
  CHECK(audited[0].target == name);
  CHECK(audited[0].detail.find("user=eve") != std::string::npos);
  CHECK(audited[1].target == name);
  CHECK(audited[1].detail.find("downloaded") != std::string::npos);

  // Another caller neither sees nor downloads it.
  CHECK(call(*f.h, http::verb::get, "/api/v1/activity/exports/" + name, {}, kOther).status == 404);
  CHECK(call(*f.h, http::verb::get, "/api/v1/activity/exports/" + name + "/content", {}, kOther).status == 404);
}

TEST_CASE("API activity exports: JSONL, bad requests, traversal", "[api_activity]") {
  ExportFixture f;
  auto started = call(*f.h, http::verb::post, "/api/v1/activity/exports", R"({"format":"jsonl","channel":"removable"})");
  REQUIRE(started.status == 202);
  const std::string name(started.json.at("name").as_string());
  CHECK(wait_done(*f.h, name).at("state").as_string() == "done");
  auto content = call(*f.h, http::verb::get, "/api/v1/activity/exports/" + name + "/content");
  REQUIRE(content.status == 200);
  REQUIRE(std::count(content.body.begin(), content.body.end(), '\n') == 1);
  auto line = json::parse(content.body);
  CHECK(line.at("path").as_string() == f.hostile);
  CHECK(line.at("channel").as_string() == "removable");

  const std::pair<const char*, const char*> bad[] = {
      {R"({"user":"eve"})", "'format'"},
      {R"({"format":"xml"})", "'format'"},
      {R"({"format":"csv","channel":"usb"})", "'channel'"},
      {R"({"format":"csv","since":"soon"})", "'since'"},
      {R"({"format":"csv","colour":"red"})", "'colour'"},
      {R"({"format":"csv","user":7})", "'user'"},
      {R"([1,2])", "JSON object"},
      {R"({"format":)", "not valid JSON"},
  };
  for (const auto& [body, what] : bad) {
    auto r = call(*f.h, http::verb::post, "/api/v1/activity/exports", body);
    INFO(body << " -> " << r.body);
    CHECK(r.status == 400);
    CHECK(r.body.find(what) != std::string::npos);
  }

  // Names that try to leave the exports directory, or are simply not export names.
  for (const char* evil : {"..", "%2E%2E", "..%5C..%5Cetc%5Cpasswd", "activity-..csv", "passwd",
                           "activity-0123456789abcdef0123456789abcdeg.csv", "activity-0123456789abcdef0123456789abcdef.csv.json",
                           "%00"}) {
    INFO(evil);
    auto s = call(*f.h, http::verb::get, std::string("/api/v1/activity/exports/") + evil);
    CHECK(s.status == 400);
    auto c = call(*f.h, http::verb::get, std::string("/api/v1/activity/exports/") + evil + "/content");
    CHECK(c.status == 400);
  }
  // Slashes never reach the route: a path with more segments is no endpoint at all.
  CHECK(call(*f.h, http::verb::get, "/api/v1/activity/exports/..%2F..%2Fetc%2Fpasswd").status == 404);
  // A well-formed name nobody exported.
  CHECK(call(*f.h, http::verb::get, "/api/v1/activity/exports/activity-0123456789abcdef0123456789abcdef.csv").status == 404);
}

TEST_CASE("API activity exports: CSV fields quote, defuse formulas, escape invalid UTF-8", "[api_activity]") {
  CHECK(csv_field("plain") == "plain");
  CHECK(csv_field("a,b") == "\"a,b\"");
  CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_field("two\r\nlines") == "\"two\r\nlines\"");
  CHECK(csv_field("=1+1") == "'=1+1");
  CHECK(csv_field("@SUM(A1)") == "'@SUM(A1)");
  CHECK(csv_field("-5", false) == "-5");
  CHECK(csv_field(std::string("bad\xff\xfe name")) == "bad\\xFF\\xFE name");
  CHECK(valid_utf8("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(valid_utf8(std::string("\xc0\xaf")) == "\\xC0\\xAF");         // overlong '/'
  CHECK(valid_utf8(std::string("\xed\xa0\x80")) == "\\xED\\xA0\\x80");  // surrogate
  CHECK(valid_utf8(std::string("\xe2\x82")) == "\\xE2\\x82");         // truncated
}
