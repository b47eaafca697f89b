// RecordedImport: JSON lines of vigil.v1.Event become batches of the device recorded-SOURCE in
// one transaction; bad lines are reported by number and nothing is stored; seqs continue.
#include <catch2/catch.hpp>

#include "collector/ingest/recorded_import.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/time_util.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::collector;
using vigil::test::TempDir;

namespace {

const std::string kTwo =
    "# a departing user's laptop, recorded\n"
    R"({"type": "exfil.network_share", "time": "2026-11-20T21:15:00Z", "user": "bob", "file": {"path": "/mnt/share/plans.docx", "size": "4096"}})" "\n"
    "\n"
    R"({"type": "print.job", "timeNs": "1763673300000000000", "user": "bob", "print": {"printer": "HR-2", "title": "salaries.xlsx", "pages": 12}})" "\n";

}  // namespace

TEST_CASE("recorded activity is stored as its own device, seqs continue, the engine is told", "[recorded_import]") {
  TempDir tmp("vigil-recorded");
  auto store = open_sqlite_event_store(tmp.file("vigil.db"));
  REQUIRE(store.ok());
  std::vector<std::pair<std::string, std::uint64_t>> told;
  RecordedImport importer(**store, [&](const std::string& device, std::shared_ptr<const v1::EventBatch> b) {
    told.emplace_back(device, b->first_seq());
  });
  const std::int64_t now = now_ns();

  auto r = importer.import("laptop-7", kTwo, now);
  REQUIRE(r.ok());
  CHECK(r.value().device_id == "recorded-laptop-7");
  CHECK(r.value().events == 2);
  CHECK(r.value().first_seq == 1);
  CHECK(r.value().last_seq == 2);
  REQUIRE(told.size() == 1);
  CHECK(told[0] == std::make_pair(std::string("recorded-laptop-7"), std::uint64_t{1}));

  auto dev = (*store)->find_device("recorded-laptop-7");
  REQUIRE(dev.ok());
  REQUIRE(dev.value().has_value());
  CHECK(dev.value()->os == "recorded");
  CHECK(dev.value()->hostname == "laptop-7");

  EventQuery q;
  q.device_id = "recorded-laptop-7";
  auto events = (*store)->query_events(q);
  REQUIRE(events.ok());
  REQUIRE(events.value().size() == 2);
  const auto& share = events.value()[0].event.type() == "exfil.network_share" ? events.value()[0].event : events.value()[1].event;
  CHECK(share.user() == "bob");
  CHECK(share.file().path() == "/mnt/share/plans.docx");
  CHECK(share.file().size() == 4096);
  CHECK(share.time_ns() == parse_rfc3339("2026-11-20T21:15:00Z").value());

  auto again = importer.import("laptop-7", kTwo, now);
  REQUIRE(again.ok());
  CHECK(again.value().first_seq == 3);
  CHECK(again.value().last_seq == 4);
  auto cov = (*store)->seq_coverage("recorded-laptop-7");
  REQUIRE(cov.ok());
  CHECK(cov.value().events == 4);
  CHECK(cov.value().gaps.empty());
}

TEST_CASE("a recorded import with bad lines names each line and stores nothing", "[recorded_import]") {
  TempDir tmp("vigil-recorded-bad");
  auto store = open_sqlite_event_store(tmp.file("vigil.db"));
  REQUIRE(store.ok());
  int told = 0;
  RecordedImport importer(**store, [&](const std::string&, std::shared_ptr<const v1::EventBatch>) { ++told; });
  const std::int64_t now = now_ns();
  const std::string input = kTwo +
      "not json\n"
      R"({"type": "file.write", "time": "2026-11-20T21:15:00Z", "file": {"path": "/x"}, "colour": "red"})" "\n"
      R"({"time": "2026-11-20T21:15:00Z", "file": {"path": "/x"}})" "\n"
      R"({"type": "file.write", "file": {"path": "/x"}})" "\n"
      R"({"type": "file.write", "time": "2026-11-20T21:15:00Z"})" "\n"
      R"({"type": "file.write", "time": "yesterday", "file": {"path": "/x"}})" "\n"
      R"({"type": "file.write", "seq": 7, "time": "2026-11-20T21:15:00Z", "file": {"path": "/x"}})" "\n"
      R"({"type": "file.write", "time": "2036-11-20T21:15:00Z", "file": {"path": "/x"}})" "\n"
      R"({"type": "file.write", "time": "2026-11-20T21:15:00Z", "file": {"size": "lots"}})" "\n";
  auto r = importer.import("laptop-7", input, now);
  REQUIRE_FALSE(r.ok());
  const std::string& e = r.error();
  INFO(e);
  CHECK_THAT(e, Catch::StartsWith("9 bad line(s), nothing imported"));
  CHECK_THAT(e, Catch::Contains("line 5: not JSON"));
  CHECK_THAT(e, Catch::Contains("line 6: ") && Catch::Contains("colour"));
  CHECK_THAT(e, Catch::Contains("line 7: no 'type'"));
  CHECK_THAT(e, Catch::Contains("line 8: no 'time'"));
  CHECK_THAT(e, Catch::Contains("line 9: no body"));
  CHECK_THAT(e, Catch::Contains("line 10: 'time':"));
  CHECK_THAT(e, Catch::Contains("line 11: 'seq' is assigned by the collector"));
  CHECK_THAT(e, Catch::Contains("line 12: time is more than a day in the future"));
  CHECK_THAT(e, Catch::Contains("line 13: "));
  CHECK(told == 0);
  auto dev = (*store)->find_device("recorded-laptop-7");
  REQUIRE(dev.ok());
  CHECK_FALSE(dev.value().has_value());

  CHECK_THAT(importer.import("Laptop 7", kTwo, now).error(), Catch::Contains("source may hold only a-z, 0-9 and '-'"));
  CHECK_THAT(importer.import("-x", kTwo, now).error(), Catch::Contains("must start with a letter or digit"));
  CHECK_THAT(importer.import("ok", "\n# nothing\n", now).error(), Catch::Contains("no events in the input"));
  CHECK_THAT(importer.import("ok", "{\"type\":\"file.write\",\"time\":\"2026-11-20T21:15:00Z\",\"file\":{\"path\":\"\\u0000\\n/x\"}}\n", now).ok() ? std::string("ok") : std::string("refused"),
             Catch::Equals("ok"));
}
