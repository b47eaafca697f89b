// Collection config checks both sides share (shared/collection_config.h), its JSON form on the
// collector (collector/config/config_json.h) and how the agent keeps it (agent/collection_config.h).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <boost/json.hpp>
#include <string>

#include "agent/collection_config.h"
#include "collector/config/config_json.h"
#include "shared/collection_config.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::test;
namespace json = boost::json;

namespace {

v1::CollectionConfig good_config() {
  v1::CollectionConfig c;
  c.add_watch_paths("/home");
  c.add_exclude_paths("/home/cache");
  c.add_priority_paths("/srv/finance/*.xlsx");
  auto* r = c.add_rules();
  r->set_id("tickets");
  r->set_kind("regex");
  r->set_regex("TCK-[0-9]{4,8}");
  r->set_min_count(2);
  auto* k = c.add_rules();
  k->set_id("project_x");
  k->set_kind("keywords");
  k->add_keywords("project x");
  auto* b = c.add_rules();
  b->set_id("email");
  b->set_kind("builtin");
  b->set_min_count(5);
  c.set_classify_max_bytes(1 << 20);
  c.set_classify_max_ms(50);
  c.set_classification_enabled(true);
  c.set_cpu_limit_percent(5);
  c.set_rss_limit_bytes(256ull << 20);
  return c;
}

std::string error_of(const v1::CollectionConfig& c) {
  auto r = validate_collection_config(c);
  return r ? std::string() : r.error();
}

}  // namespace

TEST_CASE("a valid collection config compiles into a working classifier", "[collection_config]") {
  auto classifier = must(validate_collection_config(good_config()));
  auto found = must(classifier->scan("tickets TCK-12345 and TCK-67890 for project x"));
  std::string rendered = render_findings(found.findings);
  CHECK(rendered.find("tickets:2") != std::string::npos);
  CHECK(rendered.find("project_x:1") != std::string::npos);
  // An empty config is valid: the agent's local settings.
  CHECK(validate_collection_config(v1::CollectionConfig()).ok());
}

TEST_CASE("invalid collection configs are refused naming the field or rule and why", "[collection_config]") {
  SECTION("a regex Hyperscan cannot compile names the rule and the reason") {
    auto c = good_config();
    c.mutable_rules(0)->set_regex("TCK-(unclosed");
    auto e = error_of(c);
    CHECK(e.find("tickets") != std::string::npos);
    CHECK(e.find("does not compile") != std::string::npos);
  }
  SECTION("a regex matching the empty string") {
    auto c = good_config();
    c.mutable_rules(0)->set_regex("x*");
    CHECK(error_of(c).find("empty string") != std::string::npos);
  }
  SECTION("an unknown kind") {
    auto c = good_config();
    c.mutable_rules(1)->set_kind("fuzzy");
    auto e = error_of(c);
    CHECK(e.find("rules[1]") != std::string::npos);
    CHECK(e.find("fuzzy") != std::string::npos);
  }
  SECTION("fields of another kind") {
    auto c = good_config();
    c.mutable_rules(1)->set_regex("x+");
    CHECK(error_of(c).find("regex is only for kind regex") != std::string::npos);
  }
  SECTION("duplicate ids, bad ids, unknown builtin") {
    auto c = good_config();
    c.mutable_rules(1)->set_id("tickets");
    CHECK(error_of(c).find("duplicate") != std::string::npos);
    c = good_config();
    c.mutable_rules(1)->set_id("bad id\nwith newline");
    CHECK(error_of(c).find("id must be") != std::string::npos);
    c = good_config();
    c.mutable_rules(2)->set_id("no_such_type");
    CHECK(error_of(c).find("no built-in type") != std::string::npos);
  }
  SECTION("paths: relative, empty, NUL, too long, too many") {
    auto c = good_config();
    c.set_watch_paths(0, "home");
    CHECK(error_of(c).find("watch_paths[0]: must be an absolute path") != std::string::npos);
    c = good_config();
    c.add_exclude_paths("");
    CHECK(error_of(c).find("exclude_paths[1]: empty") != std::string::npos);
    c = good_config();
    c.set_priority_paths(0, std::string("/a\0b", 4));
    CHECK(error_of(c).find("NUL") != std::string::npos);
    c = good_config();
    c.set_watch_paths(0, "/" + std::string(5000, 'a'));
    CHECK(error_of(c).find("longer than") != std::string::npos);
    c = good_config();
    c.add_watch_paths("/srv/\xff\xfe-not-utf8");
    CHECK(error_of(c).find("watch_paths[1]: is not valid UTF-8") != std::string::npos);
    c = good_config();
    c.mutable_rules(1)->add_keywords("caf\xc3");  // cut in the middle of a character
    CHECK(error_of(c).find("not valid UTF-8") != std::string::npos);
    c = good_config();
    c.add_watch_paths("/srv/\xed\xa0\x80");  // a surrogate
    CHECK(error_of(c).find("not valid UTF-8") != std::string::npos);
    c = good_config();
    for (int i = 0; i < 300; ++i) c.add_watch_paths("/p" + std::to_string(i));
    CHECK(error_of(c).find("at most 256") != std::string::npos);
  }
  SECTION("limits out of range") {
    auto c = good_config();
    c.set_cpu_limit_percent(150);
    CHECK(error_of(c).find("cpu_limit_percent") != std::string::npos);
    c = good_config();
    c.set_cpu_limit_percent(std::numeric_limits<double>::quiet_NaN());
    CHECK(error_of(c).find("cpu_limit_percent") != std::string::npos);
    c = good_config();
    c.set_rss_limit_bytes(1000);
    CHECK(error_of(c).find("rss_limit_bytes") != std::string::npos);
    c = good_config();
    c.set_classify_max_ms(3600000);
    CHECK(error_of(c).find("classify_max_ms") != std::string::npos);
  }
}

TEST_CASE("the JSON form is strict and names what is wrong", "[collection_config]") {
  using collector::collection_config_from_json;
  using collector::collection_config_to_json;
  auto parse = [](std::string_view text) { return collection_config_from_json(json::parse(text)); };

  SECTION("absent fields take defaults; classification is on unless turned off") {
    auto p = must(parse("{}"));
    CHECK(p.config.classification_enabled());
    CHECK(p.config.watch_paths_size() == 0);
    CHECK_FALSE(p.expected_version);
    CHECK_FALSE(must(parse(R"({"classification_enabled": false})")).config.classification_enabled());
  }
  SECTION("unknown fields, at the top and inside a rule") {
    auto r = parse(R"({"watch_path": ["/x"]})");
    REQUIRE_FALSE(r);
    CHECK(r.error().find("unknown field 'watch_path'") != std::string::npos);
    r = parse(R"({"rules": [{"id": "a", "kind": "regex", "regexp": "x+"}]})");
    REQUIRE_FALSE(r);
    CHECK(r.error().find("'regexp' in rules[0]") != std::string::npos);
  }
  SECTION("wrong types") {
    for (const char* text : {R"({"watch_paths": "/x"})", R"({"watch_paths": [1]})", R"({"classify_max_ms": -1})",
                             R"({"classify_max_ms": 5000000000})", R"({"cpu_limit_percent": "5"})",
                             R"({"classification_enabled": 1})", R"({"rules": [{"id": "a"}]})", R"({"rules": {}})",
                             R"([])", R"({"rules": [{"kind": "regex", "regex": "x"}]})"}) {
      INFO(text);
      CHECK_FALSE(parse(text));
    }
  }
  SECTION("what GET shows can be set again: a round trip") {
    auto c = good_config();
    c.set_version(7);
    auto o = collection_config_to_json(c);
    o["source"] = "global";
    o["updated"] = "2026-01-01T00:00:00.000Z";
    auto back = must(collection_config_from_json(o));
    REQUIRE(back.expected_version);
    CHECK(*back.expected_version == 7);
    back.config.set_version(7);
    CHECK(json::serialize(collection_config_to_json(back.config)) == json::serialize(collection_config_to_json(c)));
    CHECK(back.config.rules(0).regex() == "TCK-[0-9]{4,8}");
    CHECK(back.config.rules(0).min_count() == 2);
  }
}

TEST_CASE("the agent persists its collection config atomically and loads it back", "[collection_config]") {
  TempDir dir("vigil-collection-config");
  const std::string path = agent::collection_config_path(dir.path.string());

  CHECK_FALSE(must(agent::load_collection_config(path)).has_value());  // none yet

  auto c = good_config();
  c.set_version(42);
  c.add_watch_paths("/srv/d\xc3\xa9j\xc3\xa0 vu\nnewline");  // hostile but valid names are kept as they came
  REQUIRE(agent::save_collection_config(path, c).ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto loaded = must(agent::load_collection_config(path));
  REQUIRE(loaded);
  CHECK(loaded->version() == 42);
  CHECK(loaded->watch_paths(1) == c.watch_paths(1));
  CHECK(loaded->SerializeAsString() == c.SerializeAsString());

  SECTION("a torn or foreign file is an error value, not a crash") {
    dir.write("collection.json", "{\"version\": 3, \"watch_paths\": [");
    CHECK_FALSE(agent::load_collection_config(path));
    dir.write("collection.json", "{\"watch_paths\": [\"/x\"]}");
    auto r = agent::load_collection_config(path);
    REQUIRE_FALSE(r);
    CHECK(r.error().find("without a version") != std::string::npos);
  }
  SECTION("a stored config that no longer validates is refused") {
    auto bad = c;
    bad.mutable_rules(0)->set_regex("(");
    REQUIRE(agent::save_collection_config(path, bad).ok());
    CHECK_FALSE(agent::load_collection_config(path));
  }
}

TEST_CASE("watch, exclude and derivation options come from the config over local settings", "[collection_config]") {
  const std::vector<std::string> local_watch{"/home"}, local_exclude{"/var/cache"};
  CHECK(agent::effective_watch(nullptr, local_watch) == local_watch);
  v1::CollectionConfig c;
  CHECK(agent::effective_watch(&c, local_watch) == local_watch);  // empty list: keep the local one
  c.add_watch_paths("/srv");
  c.add_exclude_paths("/srv/tmp");
  CHECK(agent::effective_watch(&c, local_watch) == std::vector<std::string>{"/srv"});
  CHECK(agent::effective_excludes(&c, local_exclude) == std::vector<std::string>{"/var/cache", "/srv/tmp"});

  agent::DerivationOptions base;
  auto same = agent::derivation_options_for(c, base);
  CHECK(same.scan_limits.max_bytes == base.scan_limits.max_bytes);
  c.set_classify_max_bytes(1234);
  c.set_classify_max_ms(77);
  c.add_priority_paths("/srv/*.pdf");
  auto o = agent::derivation_options_for(c, base);
  CHECK(o.scan_limits.max_bytes == 1234);
  CHECK(o.scan_limits.max_time == std::chrono::milliseconds(77));
  CHECK(o.priority_paths == std::vector<std::string>{"/srv/*.pdf"});
}
