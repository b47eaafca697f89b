// Activity queries over the real SQLite store and through ApiHandler: every filter, keyset paging
// across batches with signed cursors, totals from the index and from decoded batches, population
// scope and pseudonyms, forged cursors and invalid filters (400 naming the parameter), and the
// migration of a schema-1 database.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <set>

#include "activity_test_support.h"
#include "collector/activity/activity_cursor.h"
#include "collector/api/api_handler.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/crypto.h"
#include "shared/time_util.h"
#include "test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::test;
using namespace vigil::test::activity;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

// alice on laptop-a, bob on laptop-b, carol (outside the investigator's population) on laptop-c,
// over three days; exfil to USB and a share, prints, one classified file, a hostile path.
void fill(EventStore& store) {
  Feeder feed(store);
  std::vector<v1::Event> a, b, c;
  for (int i = 0; i < 30; ++i) {
    const std::int64_t t = kT0 - 3 * kDay + i * 2 * kHour;
    a.push_back(file_event("alice", i % 3 ? "file.write" : "file.create", t, "/home/alice/docs/report-" + std::to_string(i) + ".docx"));
    b.push_back(file_event("bob", "file.write", t + kSec, "/home/bob/src/main-" + std::to_string(i) + ".cpp"));
    c.push_back(file_event("carol", "file.write", t + 2 * kSec, "/home/carol/secret-" + std::to_string(i) + ".txt"));
  }
  a.push_back(file_event("alice", "exfil.removable", kT0 - 2 * kHour, "/media/usb/report-1.docx"));
  a.push_back(with_finding(file_event("alice", "exfil.network_share", kT0 - kHour, "/mnt/share/cards.xlsx"), "credit_card"));
  a.push_back(print_event("alice", kT0 - 30 * 60 * kSec, "Q3 salaries"));
  b.push_back(with_finding(file_event("bob", "file.write", kT0 - 3 * kHour, "/home/bob/ssn.csv"), "us_ssn"));
  c.push_back(file_event("carol", "exfil.removable", kT0 - kHour, "/media/usb/secret.txt"));
  feed.add("laptop-a", a, 4);
  feed.add("laptop-b", b, 7);
  feed.add("laptop-c", c, 5);
}

std::vector<std::string> keys(const std::vector<StoredEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.device_id + "#" + std::to_string(e.event.seq()));
  return out;
}

// Every page of q, following next; checks each page is newest first.
std::vector<StoredEvent> all_pages(EventStore& store, ActivityQuery q, int* pages = nullptr) {
  std::vector<StoredEvent> out;
  int n = 0;
  for (;;) {
    auto page = must(store.query_activity(q));
    ++n;
    REQUIRE(page.events.size() <= q.limit);
    for (const auto& e : page.events) {
      if (!out.empty()) {
        const auto& p = out.back();
        REQUIRE(std::forward_as_tuple(p.event.time_ns(), p.device_id, p.event.seq()) >
                std::forward_as_tuple(e.event.time_ns(), e.device_id, e.event.seq()));
      }
      out.push_back(e);
    }
    if (!page.next) break;
    REQUIRE(page.events.size() == q.limit);
    q.after = page.next;
    REQUIRE(n < 1000);
  }
  if (pages) *pages = n;
  return out;
}

}  // namespace

TEST_CASE("activity query: filters over the store", "[activity_query]") {
  TempDir tmp;
  auto store = must(open_sqlite_event_store(tmp.file("vigil.db")));
  fill(*store);
  auto run = [&](ActivityQuery q) {
    q.limit = 1000;
    q.count_total = true;
    auto page = must(store->query_activity(q));
    REQUIRE(page.total);
    CHECK(*page.total == page.events.size());  // the index total agrees with what decodes
    return page.events;
  };

  CHECK(run({}).size() == 95);
  ActivityQuery by_user;
  by_user.users = {"alice"};
  by_user.users_given = true;
  auto alice = run(by_user);
  CHECK(alice.size() == 33);
  for (const auto& e : alice) CHECK(e.event.user() == "alice");

  ActivityQuery none;
  none.users_given = true;  // a user filter that resolved to nobody matches nothing
  CHECK(run(none).empty());

  ActivityQuery dev;
  dev.device_id = "laptop-b";
  CHECK(run(dev).size() == 31);

  ActivityQuery exact;
  exact.type = "file.create";
  CHECK(run(exact).size() == 10);
  ActivityQuery prefix;
  prefix.type = "exfil.";
  CHECK(run(prefix).size() == 3);

  ActivityQuery usb;
  usb.channel = "removable";
  auto usb_events = run(usb);
  REQUIRE(usb_events.size() == 2);
  for (const auto& e : usb_events) CHECK(e.event.type() == "exfil.removable");
  ActivityQuery printing;
  printing.channel = "print";
  CHECK(run(printing).size() == 1);
  ActivityQuery share;
  share.channel = "network_share";
  share.users = {"alice"};
  share.users_given = true;
  CHECK(run(share).size() == 1);

  ActivityQuery glob;
  glob.path_glob = "*.docx";
  CHECK(run(glob).size() == 31);
  ActivityQuery glob_dir;
  glob_dir.path_glob = "/media/usb/*";
  CHECK(run(glob_dir).size() == 2);

  ActivityQuery sensitive;
  sensitive.classification = "any";
  CHECK(run(sensitive).size() == 2);
  ActivityQuery cards;
  cards.classification = "credit_card";
  auto card_events = run(cards);
  REQUIRE(card_events.size() == 1);
  CHECK(card_events[0].event.file().path() == "/mnt/share/cards.xlsx");

  // Time range: half-open, and cutting through batches (the total decodes the straddlers).
  ActivityQuery window;
  window.since_ns = kT0 - 2 * kDay - 1;
  window.until_ns = kT0 - 2 * kDay + 10 * kHour;
  auto in_window = run(window);
  CHECK(in_window.size() == 15);
  for (const auto& e : in_window) {
    CHECK(e.event.time_ns() >= *window.since_ns);
    CHECK(e.event.time_ns() < *window.until_ns);
  }

  // Population scope: carol is invisible, in the page and in the total.
  ActivityQuery scoped;
  scoped.user_allowed = [](const std::string& u) { return u != "carol"; };
  auto visible = run(scoped);
  CHECK(visible.size() == 64);
  for (const auto& e : visible) CHECK(e.event.user() != "carol");

  CHECK(must(store->activity_users()) == std::vector<std::string>{"alice", "bob", "carol"});
}

TEST_CASE("activity query: keyset paging across batches", "[activity_query]") {
  TempDir tmp;
  auto store = must(open_sqlite_event_store(tmp.file("vigil.db")));
  fill(*store);
  ActivityQuery q;
  q.limit = 1000;
  const auto everything = must(store->query_activity(q)).events;
  REQUIRE(everything.size() == 95);

  for (std::size_t limit : {1u, 3u, 7u, 50u}) {
    q.limit = limit;
    int pages = 0;
    auto paged = all_pages(*store, q, &pages);
    CHECK(keys(paged) == keys(everything));
    CHECK(pages == static_cast<int>((95 + limit - 1) / limit));
  }
  // With filters: one user, a type prefix, a time range.
  ActivityQuery f;
  f.users = {"alice"};
  f.users_given = true;
  f.type = "file.";
  f.since_ns = kT0 - 2 * kDay;
  f.limit = 1000;
  const auto filtered = must(store->query_activity(f)).events;
  REQUIRE(filtered.size() > 5);
  f.limit = 4;
  CHECK(keys(all_pages(*store, f)) == keys(filtered));

  // Ingest between pages: a late event older than the cursor shows up later; a newer one never
  // does on this walk; nothing repeats.
  q.limit = 10;
  auto first = must(store->query_activity(q));
  REQUIRE(first.next);
  Feeder(*store).add("laptop-z", {file_event("zed", "file.write", kT0 + kHour, "/new"),
                                  file_event("zed", "file.write", kT0 - 10 * kDay, "/old")});
  q.after = first.next;
  auto rest = all_pages(*store, q);
  std::set<std::string> seen;
  for (const auto& k : keys(first.events)) seen.insert(k);
  for (const auto& k : keys(rest)) CHECK(seen.insert(k).second);
  CHECK(std::count_if(rest.begin(), rest.end(), [](const StoredEvent& e) { return e.event.file().path() == "/old"; }) == 1);
  CHECK(std::count_if(rest.begin(), rest.end(), [](const StoredEvent& e) { return e.event.file().path() == "/new"; }) == 0);
}

TEST_CASE("activity query: a schema 1 database is migrated on open", "[activity_query]") {
  TempDir tmp;
  const std::string path = tmp.file("old.db");
  {
    auto store = must(open_sqlite_event_store(path));
    fill(*store);
  }
  // Turn it back into schema 1: the old key table, no activity tables, user_version 1.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const char* sql =
        "CREATE TABLE batch_keys(user TEXT NOT NULL, day INTEGER NOT NULL, type TEXT NOT NULL, batch_id INTEGER NOT NULL, "
        "PRIMARY KEY(user, day, type, batch_id)) WITHOUT ROWID;"
        "INSERT INTO batch_keys SELECT DISTINCT user, day, type, batch_id FROM activity_keys;"
        "DROP TABLE activity_keys; DROP TABLE activity_users; PRAGMA user_version=1;";
    char* msg = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
    INFO((msg ? msg : ""));
    sqlite3_free(msg);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
  }
  auto store = must(open_sqlite_event_store(path));
  ActivityQuery q;
  q.channel = "removable";
  q.count_total = true;
  auto page = must(store->query_activity(q));
  CHECK(page.events.size() == 2);
  CHECK(page.total == 2u);
  CHECK(must(store->activity_users()).size() == 3);
  EventQuery old_style;
  old_style.user = "bob";
  CHECK(must(store->query_events(old_style)).size() == 31);
}

// ---------------------------------------------------------------- through the API

namespace {

constexpr const char* kAdmin = "activity-admin-token";
constexpr const char* kInvestigator = "activity-investigator-token";

// An investigator who sees alice and bob, as pseudonyms ("user-<name>"), not carol.
class TestAuth final : public Authenticator {
 public:
  Result<Caller> authenticate_token(std::string_view token) const override {
    if (token != kInvestigator) return err("unknown token");
    Caller c;
    c.name = "ivan";
    c.permissions.set(static_cast<std::size_t>(Permission::InvestigateActivity));
    c.permissions.set(static_cast<std::size_t>(Permission::ExportActivity));
    c.in_population = [](const std::string& u) { return u == "alice" || u == "bob"; };
    c.show_name = [](const std::string& u) { return "user-" + u; };
    return c;
  }
};

struct Reply {
  unsigned status;
  json::value body;
};

Reply get(const ApiHandler& h, const std::string& target, const char* token = kAdmin) {
  HttpRequest req{http::verb::get, target, 11};
  req.set(http::field::authorization, std::string("Bearer ") + token);
  auto res = h.handle(req);
  boost::system::error_code ec;
  auto body = json::parse(res.body(), ec);
  return {res.result_int(), ec ? json::value(res.body()) : body};
}

std::string error_of(const Reply& r) { return r.body.is_object() && r.body.as_object().contains("error") ? std::string(r.body.at("error").as_string()) : ""; }

struct ApiFixture {
  TempDir tmp;
  std::unique_ptr<EventStore> store;
  TestAuth auth;
  ActivityCursors cursors{crypto::random_bytes(32)};
  std::unique_ptr<ApiHandler> h;
  ApiFixture() {
    store = must(open_sqlite_event_store(tmp.file("vigil.db")));
    fill(*store);
    h = std::make_unique<ApiHandler>(*store, crypto::sha256_hex(kAdmin));
    h->set_authenticator(&auth);
    h->set_activity(&cursors, nullptr);
  }
};

}  // namespace

TEST_CASE("API activity: filters, paging with signed cursors, total", "[activity_query]") {
  ApiFixture f;
  auto all = get(*f.h, "/api/v1/activity?limit=1000&count=true");
  REQUIRE(all.status == 200);
  CHECK(all.body.at("count").as_int64() == 95);
  CHECK(all.body.at("total").as_int64() == 95);
  CHECK(all.body.at("next_cursor").is_null());

  auto usb = get(*f.h, "/api/v1/activity?channel=removable&user=alice");
  REQUIRE(usb.status == 200);
  REQUIRE(usb.body.at("count").as_int64() == 1);
  const auto& e = usb.body.at("events").at(0).as_object();
  CHECK(e.at("channel").as_string() == "removable");
  CHECK(e.at("path").as_string() == "/media/usb/report-1.docx");
  CHECK(e.at("device_id").as_string() == "laptop-a");

  auto q = get(*f.h, "/api/v1/activity?type=file.&path=*.docx&since=" + format_rfc3339(kT0 - 2 * kDay) +
                         "&until=" + format_rfc3339(kT0) + "&classification=any");
  REQUIRE(q.status == 200);
  CHECK(q.body.at("count").as_int64() == 0);

  // Paging: follow next_cursor to the end; same events as one big page.
  std::vector<std::string> paged;
  std::string target = "/api/v1/activity?user=bob&limit=6&count=1";
  int pages = 0;
  for (;;) {
    auto r = get(*f.h, target);
    REQUIRE(r.status == 200);
    CHECK(r.body.at("total").as_int64() == 31);
    for (const auto& ev : r.body.at("events").as_array())
      paged.push_back(std::string(ev.at("device_id").as_string()) + "#" + std::to_string(ev.at("seq").as_int64()));
    ++pages;
    if (r.body.at("next_cursor").is_null()) break;
    target = "/api/v1/activity?user=bob&limit=6&count=1&cursor=" + std::string(r.body.at("next_cursor").as_string());
  }
  CHECK(pages == 6);
  CHECK(paged.size() == 31);
  CHECK(std::set<std::string>(paged.begin(), paged.end()).size() == 31);

  // Cursors cannot be forged, edited or moved to other filters.
  auto first = get(*f.h, "/api/v1/activity?user=bob&limit=6");
  const std::string cursor(first.body.at("next_cursor").as_string());
  auto other_filters = get(*f.h, "/api/v1/activity?user=alice&limit=6&cursor=" + cursor);
  CHECK(other_filters.status == 400);
  CHECK(error_of(other_filters).find("cursor") != std::string::npos);
  std::string edited = cursor;
  edited[3] = edited[3] == '0' ? '1' : '0';
  CHECK(get(*f.h, "/api/v1/activity?user=bob&limit=6&cursor=" + edited).status == 400);
  CHECK(get(*f.h, "/api/v1/activity?user=bob&cursor=garbage").status == 400);
  ActivityCursors other_key(crypto::random_bytes(32));
  const std::string foreign = other_key.sign(ActivityPosition{kT0, "laptop-b", 3}, "x");
  auto forged = get(*f.h, "/api/v1/activity?user=bob&cursor=" + foreign);
  CHECK(forged.status == 400);
  CHECK(error_of(forged).find("'cursor'") != std::string::npos);
  // The limit may change between pages (it is not a filter).
  CHECK(get(*f.h, "/api/v1/activity?user=bob&limit=50&cursor=" + cursor).body.at("count").as_int64() == 25);
}

TEST_CASE("API activity: invalid filters are 400 naming the parameter", "[activity_query]") {
  ApiFixture f;
  const std::pair<const char*, const char*> bad[] = {
      {"channel=usb", "'channel'"},      {"type=FILE", "'type'"},          {"type=.x", "'type'"},
      {"since=yesterday", "'since'"},    {"until=12x", "'until'"},          {"limit=0", "'limit'"},
      {"limit=1001", "'limit'"},         {"count=maybe", "'count'"},       {"classification=a%20b", "'classification'"},
      {"colour=red", "'colour'"},        {"user=a&user=b", "'user'"},
      {"since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "'since'"},
  };
  for (const auto& [query, name] : bad) {
    auto r = get(*f.h, std::string("/api/v1/activity?") + query);
    INFO(query << " -> " << error_of(r));
    CHECK(r.status == 400);
    CHECK(error_of(r).find(name) != std::string::npos);
  }
}

TEST_CASE("API activity: population scope and pseudonyms", "[activity_query]") {
  ApiFixture f;
  auto all = get(*f.h, "/api/v1/activity?limit=1000&count=true", kInvestigator);
  REQUIRE(all.status == 200);
  CHECK(all.body.at("total").as_int64() == 64);
  for (const auto& e : all.body.at("events").as_array()) {
    const std::string user(e.at("user").as_string());
    CHECK((user == "user-alice" || user == "user-bob"));
    if (e.as_object().contains("job_user")) CHECK(e.at("job_user").as_string() == "user-alice");
  }
  // The filter takes the name the caller sees; the real name does not match under pseudonyms.
  CHECK(get(*f.h, "/api/v1/activity?user=user-alice&count=1", kInvestigator).body.at("total").as_int64() == 33);
  CHECK(get(*f.h, "/api/v1/activity?user=alice&count=1", kInvestigator).body.at("total").as_int64() == 0);
  // Outside the population: nothing, whatever name is tried.
  CHECK(get(*f.h, "/api/v1/activity?user=user-carol&count=1", kInvestigator).body.at("total").as_int64() == 0);
  CHECK(get(*f.h, "/api/v1/activity?user=carol&count=1", kInvestigator).body.at("total").as_int64() == 0);
  CHECK(get(*f.h, "/api/v1/activity?device=laptop-c&count=1", kInvestigator).body.at("total").as_int64() == 0);
  // A cursor is bound to its caller: the admin's cursor does not work for the investigator.
  auto admin_page = get(*f.h, "/api/v1/activity?limit=2");
  const std::string cursor(admin_page.body.at("next_cursor").as_string());
  CHECK(get(*f.h, "/api/v1/activity?limit=2&cursor=" + cursor, kInvestigator).status == 400);
}
