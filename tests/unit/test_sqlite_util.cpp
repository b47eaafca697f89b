// sqlite_util.h against real SQLite databases in a temporary directory: the shared steps every
// collector store relies on (transactions that leave nothing behind, errors as values).
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "collector/store/sqlite_util.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::collector;

namespace {

std::int64_t count_rows(sqlite::Db& db, const std::string& table) {
  auto n = db.query_int("SELECT count(*) FROM " + table, "count");
  REQUIRE(n);
  return *n;
}

bool table_exists(sqlite::Db& db, const std::string& table) {
  auto n = db.query_int("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='" + table + "'", "lookup");
  REQUIRE(n);
  return *n == 1;
}

}  // namespace

TEST_CASE("open_wal journals in WAL mode and waits for locks", "[sqlite_util]") {
  test::TempDir dir;
  auto db = sqlite::open_wal(dir.file("a.db"), 1234);
  REQUIRE(db);
  auto mode = db->query_text("PRAGMA journal_mode", "mode");
  REQUIRE(mode);
  CHECK(*mode == "wal");
  auto busy = db->query_int("PRAGMA busy_timeout", "busy");
  REQUIRE(busy);
  CHECK(*busy == 1234);
}

TEST_CASE("open_wal reports a path it cannot open as an error", "[sqlite_util]") {
  test::TempDir dir;
  auto db = sqlite::open_wal(dir.file("no/such/dir/a.db"), 1000);
  REQUIRE_FALSE(db);
  CHECK_THAT(db.error(), Catch::Contains("sqlite: open"));
}

TEST_CASE("create_private_file creates 0600 and tightens a wider file", "[sqlite_util]") {
  test::TempDir dir;
  const std::string path = dir.file("p.db");
  REQUIRE(sqlite::create_private_file(path));
  struct stat st{};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  REQUIRE(sqlite::create_private_file(path));
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto bad = sqlite::create_private_file(dir.file("missing/p.db"));
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error(), Catch::Contains("creating"));
}

TEST_CASE("exec_in_txn commits a whole script or leaves nothing of it", "[sqlite_util]") {
  test::TempDir dir;
  auto db = sqlite::open_wal(dir.file("t.db"), 1000);
  REQUIRE(db);
  REQUIRE(sqlite::exec_in_txn(*db, "CREATE TABLE a(x INTEGER); INSERT INTO a VALUES(1);", "create a"));
  CHECK(count_rows(*db, "a") == 1);

  // The second statement fails after the first one ran: the first must be rolled back too.
  auto st = sqlite::exec_in_txn(*db, "CREATE TABLE b(x INTEGER); INSERT INTO no_such_table VALUES(1);", "create b");
  REQUIRE_FALSE(st);
  CHECK_THAT(st.error(), Catch::Contains("sqlite: create b:") && Catch::Contains("no_such_table"));
  CHECK_FALSE(table_exists(*db, "b"));
  // The connection is usable afterwards: no transaction was left open.
  CHECK(sqlite3_get_autocommit(db->get()) != 0);
  REQUIRE(sqlite::exec_in_txn(*db, "INSERT INTO a VALUES(2);", "insert"));
  CHECK(count_rows(*db, "a") == 2);
}

TEST_CASE("a transaction left without commit rolls back on scope exit", "[sqlite_util]") {
  test::TempDir dir;
  auto db = sqlite::open_wal(dir.file("r.db"), 1000);
  REQUIRE(db);
  REQUIRE(db->exec("CREATE TABLE a(x INTEGER)", "create"));
  {
    auto txn = sqlite::Txn::begin(*db, true);
    REQUIRE(txn);
    REQUIRE(db->exec("INSERT INTO a VALUES(1)", "insert"));
    CHECK(count_rows(*db, "a") == 1);
  }
  CHECK(count_rows(*db, "a") == 0);
  CHECK(sqlite3_get_autocommit(db->get()) != 0);
  {
    auto txn = sqlite::Txn::begin(*db, true);
    REQUIRE(txn);
    REQUIRE(db->exec("INSERT INTO a VALUES(2)", "insert"));
    REQUIRE(txn->commit());
  }
  CHECK(count_rows(*db, "a") == 1);
}

TEST_CASE("each_row and texts hand back every row, and step errors as values", "[sqlite_util]") {
  test::TempDir dir;
  auto db = sqlite::open_wal(dir.file("e.db"), 1000);
  REQUIRE(db);
  REQUIRE(sqlite::exec_in_txn(*db, "CREATE TABLE a(n INTEGER, s TEXT); INSERT INTO a VALUES(1,'x'),(2,'y'),(3,'z');",
                              "fill"));
  sqlite::Stmt sel, ins;
  REQUIRE(sqlite::prepare_all(*db, {{&sel, "SELECT s, n FROM a WHERE n >= ?1 ORDER BY n", "select"},
                                    {&ins, "INSERT INTO a VALUES(?1, ?2)", "insert"}}));

  {
    sqlite::Use u(sel);
    u.bind(1, std::int64_t{2});
    auto t = sqlite::texts(u);
    REQUIRE(t);
    CHECK(*t == std::vector<std::string>{"y", "z"});
  }
  {
    sqlite::Use u(sel);
    u.bind(1, std::int64_t{0});
    std::int64_t sum = 0;
    REQUIRE(sqlite::each_row(u, [&](const sqlite::Use& row) { sum += row.int64(1); }));
    CHECK(sum == 6);
  }
  SECTION("a bind out of range is reported by the step, not ignored") {
    sqlite::Use u(sel);
    u.bind(7, std::int64_t{1});
    int calls = 0;
    auto st = sqlite::each_row(u, [&](const sqlite::Use&) { ++calls; });
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error(), Catch::Contains("sqlite: select:") && Catch::Contains("range"));
    CHECK(calls == 0);
    auto t = sqlite::texts(u);
    REQUIRE_FALSE(t);
  }
  SECTION("a failing step is an error value naming the statement") {
    REQUIRE(db->exec("CREATE TRIGGER no_ins BEFORE INSERT ON a BEGIN SELECT RAISE(ABORT, 'refused here'); END;",
                     "trigger"));
    sqlite::Use u(ins);
    u.bind(1, std::int64_t{9}).bind(2, std::string_view("w"));
    auto st = sqlite::each_row(u, [](const sqlite::Use&) {});
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error(), Catch::Contains("sqlite: insert:") && Catch::Contains("refused here"));
  }
}

TEST_CASE("prepare_all names the statement that does not prepare", "[sqlite_util]") {
  test::TempDir dir;
  auto db = sqlite::open_wal(dir.file("p.db"), 1000);
  REQUIRE(db);
  REQUIRE(db->exec("CREATE TABLE a(x INTEGER)", "create"));
  sqlite::Stmt good, bad;
  auto st = sqlite::prepare_all(*db, {{&good, "SELECT x FROM a", "read a"}, {&bad, "SELECT x FROM nope", "read nope"}});
  REQUIRE_FALSE(st);
  CHECK_THAT(st.error(), Catch::Contains("prepare read nope") && Catch::Contains("no such table"));
  CHECK(good.get() != nullptr);
  CHECK(bad.get() == nullptr);
}
