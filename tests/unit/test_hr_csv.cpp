// HR and user-attribute CSV parsing and import (collector/policy/csv_import.h): RFC 4180
// quoting, every kind of bad row reported by line, size cap, idempotent re-import, and the
// whole file applied in one transaction. Real SQLite. Tag: [hr_csv].
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "collector/collector_config.h"
#include "collector/policy/csv_import.h"
#include "collector/policy/drop_dir.h"
#include "collector/policy/policy_json.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::collector::policy;
using namespace vigil::test;
namespace fs = std::filesystem;

namespace {

std::string reason_at(const std::vector<CsvLineError>& errors, std::size_t line) {
  for (const auto& e : errors)
    if (e.line == line) return e.reason;
  return "(no error on line " + std::to_string(line) + ")";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::shared_ptr<SqlitePolicyStore> open_store(const TempDir& dir) {
  auto s = SqlitePolicyStore::open(dir.file("vigil.db"));
  REQUIRE(s.ok());
  return s.value();
}

}  // namespace

TEST_CASE("dates are real calendar dates at midnight UTC", "[hr_csv]") {
  CHECK(parse_date("1970-01-01") == std::int64_t{0});
  CHECK(format_date(*parse_date("2026-02-28")) == "2026-02-28");
  CHECK(format_date(*parse_date("2024-02-29")) == "2024-02-29");
  CHECK(format_date(*parse_date("2000-02-29")) == "2000-02-29");
  CHECK(*parse_date("2026-03-01") - *parse_date("2026-02-28") == 86400LL * 1000000000LL);
  for (const char* bad : {"2026-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-1-01",
                          "26-01-01", "2026/01/01", "2026-01-01T00:00", "", "abcd-ef-gh", "1969-12-31"})
    CHECK_FALSE(parse_date(bad).has_value());
}

TEST_CASE("UTF-8 validation rejects overlongs, surrogates and truncation", "[hr_csv]") {
  CHECK(valid_utf8("plain"));
  CHECK(valid_utf8("J\xc3\xbcrgen \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"));
  for (const char* bad : {"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3", "a\x80"})
    CHECK_FALSE(valid_utf8(bad));
}

TEST_CASE("HR CSV: RFC 4180 quoting, CRLF, BOM, blank lines, optional detail", "[hr_csv]") {
  const std::string text =
      "\xEF\xBB\xBFUser, Event ,DATE,detail\r\n"
      "alice,resignation,2026-11-01,\"moving on, to \"\"Acme\"\"\"\r\n"
      "\r\n"
      "bob,performance_review,2026-10-15,\"rating: 2\nneeds improvement\"\r\n"
      "carol,last_working_date,2026-12-31\r\n"
      "\"dave\",DEMOTION,2026-09-01,\r\n"
      "erin,improvement_plan,2026-08-01,\"\"";
  auto r = parse_hr_csv(text, "hr.csv");
  REQUIRE(r.ok());
  INFO((r.value().errors.empty() ? "" : r.value().errors[0].reason));
  REQUIRE(r.value().errors.empty());
  const auto& rows = r.value().rows;
  REQUIRE(rows.size() == 5);
  CHECK(rows[0].user == "alice");
  CHECK(rows[0].kind == HrEventKind::Resignation);
  CHECK(rows[0].detail == "moving on, to \"Acme\"");
  CHECK(rows[0].source == "hr.csv:2");
  CHECK(rows[1].detail == "rating: 2\nneeds improvement");
  CHECK(rows[1].source == "hr.csv:4");
  CHECK(rows[2].kind == HrEventKind::LastWorkingDate);
  CHECK(rows[2].detail.empty());
  CHECK(rows[2].source == "hr.csv:6");  // the quoted newline on line 4 counts
  CHECK(rows[3].user == "dave");
  CHECK(rows[3].kind == HrEventKind::Demotion);
  CHECK(rows[4].kind == HrEventKind::ImprovementPlan);
  CHECK(format_date(rows[2].effective_ns) == "2026-12-31");
}

TEST_CASE("HR CSV: every kind of bad row is reported by its line, good rows kept", "[hr_csv]") {
  const std::string hostile_user = "eve\x01";
  const std::string text =
      "user,event,date,detail\n"                         // 1
      "alice,resignation,2026-11-01,ok\n"                // 2 good
      ",resignation,2026-11-01,\n"                       // 3 missing user
      "bob,quit,2026-11-01,\n"                           // 4 unknown event
      "carol,resignation,2026-02-30,\n"                  // 5 bad date
      "dave,resignation\n"                               // 6 wrong column count
      "fred,resignation,2026-11-01,a,b\n"                // 7 wrong column count
      "gina,resignation,2026-11-01,\xff\xfe\n"           // 8 invalid UTF-8
      "\"" + hostile_user + "\",demotion,2026-11-01,\n"  // 9 control characters
      "hank,demotion,,\n"                                // 10 missing date
      "ivan,,2026-11-01,\n"                              // 11 missing event
      "\"jo\"x,demotion,2026-11-01,\n"                   // 12 stray text after a closing quote
      "kim,demotion,2026-11-02," + std::string(5000, 'k') + "\n"  // 13 field too long
      "lee,demotion,2026-11-03,fine\n"                   // 14 good
      "mo,demotion,2026-11-04,\"never closed\n"          // 15 unterminated quote
      "nia,demotion,2026-11-05,swallowed\n";             // 16 (inside the open quote)
  auto r = parse_hr_csv(text, "hr.csv");
  REQUIRE(r.ok());
  const auto& p = r.value();
  REQUIRE(p.rows.size() == 2);
  CHECK(p.rows[0].user == "alice");
  CHECK(p.rows[1].user == "lee");
  CHECK(p.rejected == 12);
  CHECK(p.errors.size() == 12);
  CHECK_THAT(reason_at(p.errors, 3), Catch::Contains("missing user"));
  CHECK_THAT(reason_at(p.errors, 4), Catch::Contains("unknown event 'quit'"));
  CHECK_THAT(reason_at(p.errors, 5), Catch::Contains("bad date '2026-02-30'"));
  CHECK_THAT(reason_at(p.errors, 6), Catch::Contains("wrong column count: expected 4"));
  CHECK_THAT(reason_at(p.errors, 6), Catch::Contains("got 2"));
  CHECK_THAT(reason_at(p.errors, 7), Catch::Contains("got 5"));
  CHECK_THAT(reason_at(p.errors, 8), Catch::Contains("invalid UTF-8 in column 'detail'"));
  CHECK_THAT(reason_at(p.errors, 9), Catch::Contains("control characters"));
  CHECK_THAT(reason_at(p.errors, 9), Catch::Contains("\\x01"));  // shown escaped, never raw
  CHECK_THAT(reason_at(p.errors, 10), Catch::Contains("missing date"));
  CHECK_THAT(reason_at(p.errors, 11), Catch::Contains("missing event"));
  CHECK_THAT(reason_at(p.errors, 12), Catch::Contains("after a closing quote"));
  CHECK_THAT(reason_at(p.errors, 13), Catch::Contains("longer than 4096 bytes"));
  CHECK_THAT(reason_at(p.errors, 15), Catch::Contains("unterminated quote"));
  CHECK_THAT(reason_at(p.errors, 15), Catch::Contains("line 15"));
  for (const auto& e : p.errors) CHECK(e.reason.find('\n') == std::string::npos);
}

TEST_CASE("HR CSV: whole-file problems fail the file", "[hr_csv]") {
  CHECK_THAT(parse_hr_csv("", "x").error(), Catch::Contains("empty"));
  CHECK_THAT(parse_hr_csv("\n\n", "x").error(), Catch::Contains("empty"));
  CHECK_THAT(parse_hr_csv("alice,resignation,2026-01-01\n", "x").error(), Catch::Contains("unknown column 'alice'"));
  CHECK_THAT(parse_hr_csv("user,event\nalice,resignation\n", "x").error(), Catch::Contains("no 'date' column"));
  CHECK_THAT(parse_hr_csv("user,event,date,colour\n", "x").error(), Catch::Contains("unknown column 'colour'"));
  CHECK_THAT(parse_hr_csv("user,user,event,date\n", "x").error(), Catch::Contains("twice"));
  const std::string big = "user,event,date\n" + std::string(2000, '\n');
  CHECK_THAT(parse_hr_csv(big, "x", 1000).error(), Catch::Contains("the limit is 1000 bytes"));
  // Columns in another order are fine.
  auto r = parse_hr_csv("date,user,event\n2026-01-02,alice,resignation\n", "x");
  REQUIRE(r.ok());
  REQUIRE(r.value().rows.size() == 1);
  CHECK(r.value().rows[0].user == "alice");
}

TEST_CASE("reported errors are capped, the rejected count is not", "[hr_csv]") {
  std::string text = "user,event,date\n";
  for (int i = 0; i < 1500; ++i) text += "u" + std::to_string(i) + ",nope,2026-01-01\n";
  auto r = parse_hr_csv(text, "x");
  REQUIRE(r.ok());
  CHECK(r.value().rejected == 1500);
  CHECK(r.value().errors.size() == kMaxReportedErrors);
}

TEST_CASE("attributes CSV: groups split on ';', bad rows by line", "[hr_csv]") {
  const std::string text =
      "user,department,region,manager,priority_groups\n"
      "alice,Research,EU,bob,\"execs; researchers ;;execs\"\n"
      "bob,Sales,US,,\n"
      ",x,y,z,\n"
      "carol,R\xc3,EU,bob,\n"
      "dave,Ops\n";
  auto r = parse_attributes_csv(text);
  REQUIRE(r.ok());
  const auto& p = r.value();
  REQUIRE(p.rows.size() == 2);
  CHECK(p.rows[0].priority_groups == std::vector<std::string>{"execs", "researchers"});
  CHECK(p.rows[0].department == "Research");
  CHECK(p.rows[1].manager.empty());
  CHECK(p.rows[1].priority_groups.empty());
  CHECK_THAT(reason_at(p.errors, 4), Catch::Contains("missing user"));
  CHECK_THAT(reason_at(p.errors, 5), Catch::Contains("invalid UTF-8 in column 'department'"));
  CHECK_THAT(reason_at(p.errors, 6), Catch::Contains("wrong column count"));
  // user alone is a valid header.
  auto only = parse_attributes_csv("user\nzed\n");
  REQUIRE(only.ok());
  CHECK(only.value().rows.size() == 1);
}

TEST_CASE("import is idempotent and counts new, updated and unchanged rows", "[hr_csv]") {
  TempDir dir("vigil-hr-import");
  auto store = open_store(dir);
  const std::string text =
      "user,event,date,detail\n"
      "alice,resignation,2026-11-01,notice\n"
      "alice,last_working_date,2026-11-30,\n"
      "bob,demotion,2026-10-01,\n"
      "bad,nope,2026-10-01,\n";
  auto first = import_hr_csv(*store, text, "hr.csv");
  REQUIRE(first.ok());
  CHECK(first.value().counts.imported == 3);
  CHECK(first.value().rejected == 1);
  CHECK(store->hr_records().size() == 3);
  const auto gen = store->generation();

  auto again = import_hr_csv(*store, text, "hr.csv");
  REQUIRE(again.ok());
  CHECK(again.value().counts.imported == 0);
  CHECK(again.value().counts.updated == 0);
  CHECK(again.value().counts.unchanged == 3);
  CHECK(store->hr_records().size() == 3);
  CHECK(store->generation() == gen);  // nothing changed: the engine need not reload

  // Same key, new detail: an update, not a second row.
  auto changed = import_hr_csv(*store, "user,event,date,detail\nalice,resignation,2026-11-01,notice (revised)\n", "hr2.csv");
  REQUIRE(changed.ok());
  CHECK(changed.value().counts.updated == 1);
  CHECK(store->hr_records().size() == 3);
  CHECK(store->generation() == gen + 1);

  // Attributes: upsert on user.
  auto a1 = import_attributes_csv(*store, "user,department,priority_groups\nalice,R&D,execs\nbob,Sales,\n");
  REQUIRE(a1.ok());
  CHECK(a1.value().counts.imported == 2);
  auto a2 = import_attributes_csv(*store, "user,department,priority_groups\nalice,R&D,execs;board\nbob,Sales,\n");
  REQUIRE(a2.ok());
  CHECK(a2.value().counts.updated == 1);
  CHECK(a2.value().counts.unchanged == 1);
  auto attrs = store->user_attributes();
  REQUIRE(attrs.size() == 2);
  CHECK(attrs[0].priority_groups == std::vector<std::string>{"execs", "board"});

  // Replace: the file becomes the whole set; refused (nothing changes) when a row is bad.
  auto refused = import_hr_csv(*store, "user,event,date\ncarol,resignation,2026-01-01\nx,bad,2026-01-01\n", "r.csv", true);
  REQUIRE(refused.ok());
  CHECK_FALSE(refused.value().applied);
  CHECK(store->hr_records().size() == 3);
  auto replaced = import_hr_csv(*store, "user,event,date\ncarol,resignation,2026-01-01\n", "r.csv", true);
  REQUIRE(replaced.ok());
  CHECK(replaced.value().applied);
  REQUIRE(store->hr_records().size() == 1);
  CHECK(store->hr_records()[0].user == "carol");
}

TEST_CASE("a file is applied in one transaction: a failure part-way leaves nothing", "[hr_csv]") {
  TempDir dir("vigil-hr-txn");
  auto store = open_store(dir);
  // A trigger on another connection makes the store's insert of one particular row fail, after
  // the rows before it were written inside the same transaction.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.file("vigil.db").c_str(), &db) == SQLITE_OK);
    char* msg = nullptr;
    const int rc = sqlite3_exec(db,
                                "CREATE TRIGGER refuse_poison BEFORE INSERT ON hr_records WHEN NEW.user = 'poison' "
                                "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;",
                                nullptr, nullptr, &msg);
    INFO((msg ? msg : ""));
    sqlite3_free(msg);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
  }
  const std::string text =
      "user,event,date\n"
      "alice,resignation,2026-11-01\n"
      "bob,resignation,2026-11-02\n"
      "poison,resignation,2026-11-03\n"
      "carol,resignation,2026-11-04\n";
  const auto gen = store->generation();
  auto r = import_hr_csv(*store, text, "hr.csv");
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error(), Catch::Contains("poisoned row"));
  CHECK(store->hr_records().empty());
  CHECK(store->generation() == gen);
  // Reopened from disk: still nothing.
  store.reset();
  auto reopened = open_store(dir);
  CHECK(reopened->hr_records().empty());
  // The store still works after the rollback.
  auto ok = import_hr_csv(*reopened, "user,event,date\nalice,resignation,2026-11-01\n", "hr.csv");
  REQUIRE(ok.ok());
  CHECK(reopened->hr_records().size() == 1);
}

TEST_CASE("drop directory: files are imported and moved to done/ or failed/ with a report", "[hr_csv]") {
  TempDir dir("vigil-hr-drop");
  auto store = open_store(dir);
  DropDirOptions o{dir.file("import/hr"), dir.file("import/attributes"), std::chrono::milliseconds(50),
                   std::chrono::milliseconds(0)};
  DropDirImporter importer(store, o);
  REQUIRE(importer.start().ok());
  importer.stop();  // the test drives scan_once() itself
  auto put = [](const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  };
  put(o.hr_dir + "/good.csv", "user,event,date\nalice,resignation,2026-11-01\n");
  put(o.hr_dir + "/mixed.csv", "user,event,date\nbob,demotion,2026-10-01\nzed,fired,2026-10-01\n");
  put(o.hr_dir + "/broken.csv", "name,when\nx,y\n");
  put(o.hr_dir + "/notes.txt", "not a csv");
  put(o.attributes_dir + "/people.csv", "user,priority_groups\ncarol,execs\n");
  CHECK(importer.scan_once() == 4);
  CHECK(fs::exists(o.hr_dir + "/done/good.csv"));
  CHECK(fs::exists(o.hr_dir + "/failed/mixed.csv"));
  const std::string mixed = slurp(o.hr_dir + "/failed/mixed.csv.errors.txt");
  CHECK_THAT(mixed, Catch::Contains("line 3: unknown event 'fired'"));
  CHECK_THAT(mixed, Catch::Contains("good rows ARE imported"));
  CHECK(fs::exists(o.hr_dir + "/failed/broken.csv"));
  CHECK_THAT(slurp(o.hr_dir + "/failed/broken.csv.errors.txt"), Catch::Contains("Nothing was imported"));
  CHECK(fs::exists(o.hr_dir + "/notes.txt"));  // not a CSV: left alone
  CHECK(fs::exists(o.attributes_dir + "/done/people.csv"));
  CHECK(store->hr_records().size() == 2);  // alice, and bob from the mixed file
  CHECK(store->user_attributes().size() == 1);
  // The same name again does not overwrite what done/ holds.
  put(o.hr_dir + "/good.csv", "user,event,date\nalice,resignation,2026-11-01\n");
  CHECK(importer.scan_once() == 1);
  std::size_t in_done = 0;
  for (const auto& e : fs::directory_iterator(o.hr_dir + "/done")) in_done += e.path().filename().string().starts_with("good.csv");
  CHECK(in_done == 2);
  CHECK(importer.scan_once() == 0);
}

TEST_CASE("collector.toml [import] moves the drop directories and sets the poll interval", "[hr_csv]") {
  TempDir dir("vigil-import-config");
  auto cfg = collector::load_collector_config(
      dir.write("a.toml", "[import]\nhr_dir = \"/srv/hr\"\nattributes_dir = \"people\"\npoll_seconds = 2\n"));
  REQUIRE(cfg.ok());
  CHECK(cfg.value().import_hr_dir == "/srv/hr");
  CHECK(cfg.value().import_attributes_dir == "people");
  CHECK(cfg.value().import_poll_seconds == 2);
  auto defaults = collector::load_collector_config(dir.write("b.toml", ""));
  REQUIRE(defaults.ok());
  CHECK(defaults.value().import_hr_dir == "import/hr");
  CHECK(defaults.value().import_poll_seconds == 5);
  CHECK_THAT(collector::load_collector_config(dir.write("c.toml", "[import]\npoll_seconds = 0\n")).error(),
             Catch::Contains("import.poll_seconds must be an integer 1..3600"));
  CHECK_THAT(collector::load_collector_config(dir.write("d.toml", "[import]\nhr = \"x\"\n")).error(),
             Catch::Contains("unknown key 'import.hr'"));
  // What init writes still loads (the [import] section is optional).
  auto rendered = collector::load_collector_config(dir.write("e.toml", collector::render_collector_config({})));
  CHECK(rendered.ok());
}
