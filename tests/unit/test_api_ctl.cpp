// Pieces of the API and vigilctl that need no network: query strings, URLs, settings, output.
#include <catch2/catch.hpp>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "collector/api/event_json.h"
#include "collector/api/query_params.h"
#include "collector/ctl/https_client.h"
#include "tests/unit/test_support.h"

// vigilctl's sources are built into vigilctl only; the tests compile the same files.
#include "collector/ctl/ctl_config.cpp"
#include "collector/ctl/output.cpp"

using namespace vigil;
namespace json = boost::json;

namespace {

using test::TempDir;

constexpr const char* kPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

ctl::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("query strings decode %XX and '+' and reject bad escapes", "[api]") {
  using collector::parse_query;
  using collector::percent_decode;
  CHECK(percent_decode("a%2Fb+c", true).value() == "a/b c");
  CHECK(percent_decode("a%2fb+c", false).value() == "a/b+c");
  CHECK(percent_decode("%e2%82%AC", true).value() == "\xe2\x82\xac");
  CHECK_FALSE(percent_decode("50%", true).ok());
  CHECK_FALSE(percent_decode("%4", true).ok());
  CHECK_FALSE(percent_decode("%zz", true).ok());
  CHECK_FALSE(percent_decode("a%00b", true).ok());

  auto q = parse_query("a=1&&b=x+y&c&d=%3D%26").value();
  REQUIRE(q.size() == 4);
  CHECK(q[0] == std::pair<std::string, std::string>{"a", "1"});
  CHECK(q[1] == std::pair<std::string, std::string>{"b", "x y"});
  CHECK(q[2] == std::pair<std::string, std::string>{"c", ""});
  CHECK(q[3] == std::pair<std::string, std::string>{"d", "=&"});
  CHECK(parse_query("").value().empty());
  CHECK_FALSE(parse_query("a=%G0").ok());

  auto t = collector::split_target("/api/v1/events?x=1?y");
  CHECK(t.path == "/api/v1/events");
  CHECK(t.query == "x=1?y");
}

TEST_CASE("vigilctl: server URLs and query encoding", "[api]") {
  auto u = ctl::parse_server_url("https://127.0.0.1:8443").value();
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 8443);
  CHECK(ctl::parse_server_url("https://collector.example/").value().port == 8443);
  auto v6 = ctl::parse_server_url("https://[::1]:9443").value();
  CHECK(v6.host == "::1");
  CHECK(v6.authority() == "[::1]:9443");
  CHECK(ctl::parse_server_url("http://127.0.0.1:8443").error().find("https://") != std::string::npos);
  CHECK_FALSE(ctl::parse_server_url("127.0.0.1:8443").ok());
  CHECK_FALSE(ctl::parse_server_url("https://:8443").ok());
  CHECK_FALSE(ctl::parse_server_url("https://h:0").ok());
  CHECK_FALSE(ctl::parse_server_url("https://h:65536").ok());
  CHECK_FALSE(ctl::parse_server_url("https://h:80x").ok());
  CHECK_FALSE(ctl::parse_server_url("https://h:8443/api").ok());

  CHECK(ctl::url_encode("/home/*/a b&c=d~.-_") == "%2Fhome%2F%2A%2Fa%20b%26c%3Dd~.-_");
  CHECK(collector::percent_decode(ctl::url_encode("+%x y\xff"), true).value() == "+%x y\xff");
}

TEST_CASE("vigilctl settings: flags, then environment, then the config file", "[api]") {
  TempDir dir;
  const std::string ca = dir.write("ca.pem", kPem);

  SECTION("flags win over the environment") {
    ctl::CtlFlags flags{"https://flag:1", ca, "flag-token", ""};
    auto s = ctl::resolve_settings(flags, env_of({{"VIGIL_SERVER", "https://env:2"}, {"VIGIL_TOKEN", "env-token"}}));
    REQUIRE(s.ok());
    CHECK(s->server == "https://flag:1");
    CHECK(s->token == "flag-token");
    CHECK(s->ca_pem == kPem);
  }
  SECTION("the environment fills what flags leave out") {
    ctl::CtlFlags flags{"", "", "flag-token", dir.write("empty.toml", "")};
    auto s = ctl::resolve_settings(flags, env_of({{"VIGIL_SERVER", "https://env:2"}, {"VIGIL_CA", ca},
                                                  {"VIGIL_TOKEN", "env-token"}}));
    REQUIRE(s.ok());
    CHECK(s->server == "https://env:2");
    CHECK(s->ca_path == ca);
    CHECK(s->token == "flag-token");
  }
  SECTION("the file fills the rest; ca and token_file are relative to it") {
    dir.write("admin.token", "file-token\n");
    auto conf = dir.write("vigilctl.toml", "server = \"https://file:3\"\nca = \"ca.pem\"\ntoken_file = \"admin.token\"\n");
    auto s = ctl::resolve_settings(ctl::CtlFlags{"", "", "", conf}, env_of({}));
    INFO((s.ok() ? "" : s.error()));
    REQUIRE(s.ok());
    CHECK(s->server == "https://file:3");
    CHECK(s->ca_path == (dir.path / "ca.pem").string());
    CHECK(s->token == "file-token");
    auto env_first = ctl::resolve_settings(ctl::CtlFlags{"", "", "", conf}, env_of({{"VIGIL_TOKEN", "env-token"}}));
    REQUIRE(env_first.ok());
    CHECK(env_first->token == "env-token");
  }
  SECTION("missing settings name every place that was looked at") {
    auto conf = (dir.path / "absent.toml").string();
    // The default file lives under $HOME; point HOME at an empty folder for this check.
    const std::string old_home = getenv("HOME") ? getenv("HOME") : "";
    setenv("HOME", dir.path.c_str(), 1);
    auto s = ctl::resolve_settings(ctl::CtlFlags{"", "", "", ""}, env_of({}));
    setenv("HOME", old_home.c_str(), 1);
    CHECK(s.error().find((dir.path / ".config/vigil/vigilctl.toml").string() + " (not found)") != std::string::npos);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().find("--server") != std::string::npos);
    CHECK(s.error().find("VIGIL_SERVER") != std::string::npos);
    CHECK(s.error().find("vigilctl.toml") != std::string::npos);
    CHECK(s.error().find("VIGIL_TOKEN") != std::string::npos);
    auto only_token = ctl::resolve_settings(ctl::CtlFlags{"https://h", ca, "", ""}, env_of({}));
    REQUIRE_FALSE(only_token.ok());
    CHECK(only_token.error().find("API token") != std::string::npos);
    CHECK(only_token.error().find("the server") == std::string::npos);  // only the token is missing
    auto no_file = ctl::resolve_settings(ctl::CtlFlags{"", "", "", conf}, env_of({}));
    REQUIRE_FALSE(no_file.ok());
    CHECK(no_file.error().find("does not exist") != std::string::npos);
  }
  SECTION("a broken file is an error naming the file and line") {
    auto conf = dir.write("bad.toml", "server = \"https://h\"\ntokn = \"x\"\n");
    auto s = ctl::resolve_settings(ctl::CtlFlags{"", "", "", conf}, env_of({}));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().find(conf + ":2") != std::string::npos);
    CHECK(s.error().find("'tokn'") != std::string::npos);
    auto typed = dir.write("typed.toml", "server = 5\n");
    auto t = ctl::resolve_settings(ctl::CtlFlags{"", "", "", typed}, env_of({}));
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().find("must be a string") != std::string::npos);
  }
  SECTION("an unreadable or non-PEM CA file is an error naming it") {
    auto s = ctl::resolve_settings(ctl::CtlFlags{"https://h", "/nonexistent/ca.pem", "t", ""}, env_of({}));
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().find("/nonexistent/ca.pem") != std::string::npos);
    auto junk = dir.write("junk.pem", "hello");
    auto j = ctl::resolve_settings(ctl::CtlFlags{"https://h", junk, "t", ""}, env_of({}));
    REQUIRE_FALSE(j.ok());
    CHECK(j.error().find("no PEM certificate") != std::string::npos);
  }
}

TEST_CASE("vigilctl output: aligned tables and event summaries", "[api]") {
  std::ostringstream out;
  ctl::print_table(out, {"A", "LONGER", "C"}, {{"xxxx", "y", "last"}, {"", "zz", "z"}});
  CHECK(out.str() ==
        "A     LONGER  C\n"
        "xxxx  y       last\n"
        "      zz      z\n");
  CHECK(ctl::short_time("2026-01-31T12:00:00.123456789Z") == "2026-01-31T12:00:00.123Z");
  CHECK(ctl::short_time("2026-01-31T12:00:00Z") == "2026-01-31T12:00:00Z");

  auto ev = json::parse(R"({"type":"file.rename","path":"/b","old_path":"/a"})").as_object();
  CHECK(ctl::event_summary(ev) == "/a -> /b");
  auto loss = json::parse(R"({"type":"agent.loss","events":12,"reason":"spool_bytes_cap"})").as_object();
  CHECK(ctl::event_summary(loss) == "lost 12 events (spool_bytes_cap)");
  CHECK(ctl::field_text(loss, "missing").empty());
}

TEST_CASE("event JSON: derived, print, security and session bodies flatten with numbers kept numbers", "[api]") {
  collector::StoredEvent se;
  se.device_id = "dev-1";
  auto& e = se.event;
  e.set_type("exfil.removable");
  e.set_time_ns(1'700'000'000'000'000'000);
  auto* f = e.mutable_file();
  f->set_path("/media/usb/report.pdf");
  f->set_size(5'000'000'000ull);  // above 2^32: must stay a JSON number
  f->set_source_path("/home/ann/report.pdf");
  f->set_content_type("pdf");
  f->mutable_volume()->set_label("STICK");
  f->mutable_volume()->set_removable(true);
  auto* finding = f->mutable_classification()->add_findings();
  finding->set_type("credit_card");
  finding->set_count(3);
  finding->set_confidence("high");
  auto o = collector::event_to_json(se);
  CHECK(o.at("size").as_uint64() == 5'000'000'000ull);
  CHECK(o.at("volume").as_object().at("label").as_string() == "STICK");
  CHECK(o.at("volume").as_object().at("removable").as_bool());
  CHECK(o.at("classification").as_object().at("findings").as_array().at(0).as_object().at("count").as_uint64() == 3);
  CHECK(ctl::event_summary(o) == "/home/ann/report.pdf => /media/usb/report.pdf (volume STICK) [credit_card x3 (high)]");

  v1::Event plain;
  plain.set_type("file.write");
  plain.mutable_file()->set_path("/tmp/x");
  se.event = plain;
  auto po = collector::event_to_json(se);
  CHECK_FALSE(po.contains("volume"));
  CHECK_FALSE(po.contains("classification"));

  v1::Event bulk;
  bulk.set_type("file.bulk");
  bulk.mutable_bulk()->set_operation("exfil.removable");
  bulk.mutable_bulk()->set_files(1980);
  bulk.mutable_bulk()->set_bytes(8'000'000'000ull);
  bulk.mutable_bulk()->set_common_dir("/media/usb/project");
  (*bulk.mutable_bulk()->mutable_content_types())["text"] = 1980;
  se.event = bulk;
  auto bo = collector::event_to_json(se);
  CHECK(bo.at("files").as_uint64() == 1980);
  CHECK(bo.at("bytes").as_uint64() == 8'000'000'000ull);
  CHECK(bo.at("content_types").as_object().at("text").as_uint64() == 1980);
  CHECK(bo.at("sample_paths").as_array().empty());
  CHECK(ctl::event_summary(bo) == "exfil.removable: 1980 more files, 8000000000 B under /media/usb/project");

  v1::Event print;
  print.set_type("print.job");
  print.mutable_print()->set_printer("office");
  print.mutable_print()->set_pages(4);
  print.mutable_print()->set_copies(2);
  print.mutable_print()->set_state("completed");
  se.event = print;
  auto pr = collector::event_to_json(se);
  CHECK(pr.at("title").as_string().empty());
  CHECK(ctl::event_summary(pr) == "\"(untitled)\" on office, 4 pages x2, completed");

  v1::Event sec;
  sec.set_type("security.changed");
  sec.mutable_security()->set_category("lsm");
  sec.mutable_security()->set_item("apparmor");
  sec.mutable_security()->set_change("state");
  sec.mutable_security()->set_old_value("enforce");
  sec.mutable_security()->set_new_value("complain");
  se.event = sec;
  CHECK(ctl::event_summary(collector::event_to_json(se)) == "lsm apparmor state: enforce -> complain");
}
