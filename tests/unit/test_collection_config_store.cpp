// CollectionConfigs (collector/config/collection_configs.h) on a real SQLite database, and the
// /api/v1/collection-config routes through ApiHandler::handle (the same code the HTTPS server
// runs, without sockets).
#include <catch2/catch.hpp>
#include <boost/json.hpp>

#include "collector/api/api_handler.h"
#include "collector/config/collection_configs.h"
#include "collector/store/sqlite_event_store.h"
#include "shared/crypto.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::test;
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

v1::CollectionConfig watching(const std::string& path) {
  v1::CollectionConfig c;
  c.add_watch_paths(path);
  c.set_classification_enabled(true);
  return c;
}

std::uint64_t version_of(const Result<std::optional<v1::CollectionConfig>>& r) {
  REQUIRE(r.ok());
  REQUIRE(r.value().has_value());
  return r.value()->version();
}

}  // namespace

TEST_CASE("collection config versions only grow, across scopes and restarts", "[config_store]") {
  TempDir dir("vigil-config-store");
  const std::string db = dir.file("vigil.db");
  std::uint64_t last = 0;
  {
    auto store = must(open_sqlite_event_store(db));  // the tables live beside the event store's
    auto configs = must(CollectionConfigs::open(db));
    CHECK_FALSE(must(configs->effective("dev-1")).has_value());
    int changes = 0;
    configs->set_change_listener([&] { ++changes; });

    auto g1 = must(configs->put("", watching("/a"), 1));
    auto o1 = must(configs->put("dev-1", watching("/b"), 2));
    auto g2 = must(configs->put("", watching("/c"), 3));
    CHECK(changes == 3);
    CHECK(g1.stored.version() < o1.stored.version());
    CHECK(o1.stored.version() < g2.stored.version());

    // The override wins for its device; others follow the global config.
    CHECK(must(configs->effective("dev-1"))->watch_paths(0) == "/b");
    CHECK(version_of(configs->effective("dev-1")) == o1.stored.version());
    CHECK(must(configs->effective("dev-2"))->watch_paths(0) == "/c");
    CHECK(version_of(configs->effective("dev-2")) == g2.stored.version());

    // Removing the override: the device follows the global config under a version above both.
    auto removed = must(configs->remove_override("dev-1", 4));
    CHECK(removed > g2.stored.version());
    CHECK(changes == 4);
    CHECK(must(configs->effective("dev-1"))->watch_paths(0) == "/c");
    CHECK(version_of(configs->effective("dev-1")) == removed);
    CHECK(must(configs->remove_override("dev-1", 5)) == 0);  // nothing left to remove
    CHECK(changes == 4);
    // A later global change overtakes it.
    auto g3 = must(configs->put("", watching("/d"), 6));
    CHECK(version_of(configs->effective("dev-1")) == g3.stored.version());
    last = g3.stored.version();
  }
  // Reopened: the latest is kept, and new versions continue above it.
  auto configs = must(CollectionConfigs::open(db));
  auto latest = must(configs->latest(""));
  REQUIRE(latest);
  CHECK(latest->config.version() == last);
  CHECK(latest->config.watch_paths(0) == "/d");
  CHECK(must(configs->put("", watching("/e"), 7)).stored.version() > last);
}

TEST_CASE("a put with an expected version fails on a concurrent change and stores nothing", "[config_store]") {
  TempDir dir("vigil-config-store");
  auto configs = must(CollectionConfigs::open(dir.file("vigil.db")));
  auto first = must(configs->put("", watching("/a"), 1, std::uint64_t{0}));
  REQUIRE_FALSE(first.conflict);
  auto stale = must(configs->put("", watching("/b"), 2, std::uint64_t{0}));
  CHECK(stale.conflict);
  CHECK(stale.current_version == first.stored.version());
  CHECK(must(configs->latest(""))->config.watch_paths(0) == "/a");
  auto next = must(configs->put("", watching("/b"), 3, first.stored.version()));
  CHECK_FALSE(next.conflict);
}

TEST_CASE("device config answers: running version, refusals and their clearing", "[config_store]") {
  TempDir dir("vigil-config-store");
  auto configs = must(CollectionConfigs::open(dir.file("vigil.db")));
  REQUIRE(configs->record_running("dev-1", 3, 10).ok());
  v1::ConfigApplied refused;
  refused.set_version(5);
  refused.set_ok(false);
  refused.set_error(std::string("no such path\n") + std::string(5000, 'x'));  // hostile: long, newline
  REQUIRE(configs->record_applied("dev-1", refused, 11).ok());
  auto states = must(configs->device_states());
  REQUIRE(states.count("dev-1"));
  CHECK(states["dev-1"].running_version == 3);
  CHECK(states["dev-1"].error_version == 5);
  CHECK(states["dev-1"].error.rfind("no such path\n", 0) == 0);
  CHECK(states["dev-1"].error.size() == 1024);  // bounded

  v1::ConfigApplied older;
  older.set_version(4);
  older.set_ok(true);
  REQUIRE(configs->record_applied("dev-1", older, 12).ok());
  states = must(configs->device_states());
  CHECK(states["dev-1"].running_version == 4);
  CHECK(states["dev-1"].error_version == 5);  // still outstanding: 5 was never applied

  v1::ConfigApplied newer;
  newer.set_version(6);
  newer.set_ok(true);
  REQUIRE(configs->record_applied("dev-1", newer, 13).ok());
  states = must(configs->device_states());
  CHECK(states["dev-1"].running_version == 6);
  CHECK(states["dev-1"].error.empty());
  CHECK(states["dev-1"].error_version == 0);
}

namespace {

constexpr const char* kToken = "config-test-token-0123456789";

struct ApiConfigFixture {
  TempDir dir{"vigil-config-api"};
  std::unique_ptr<EventStore> store = must(open_sqlite_event_store(dir.file("vigil.db")));
  std::unique_ptr<CollectionConfigs> configs = must(CollectionConfigs::open(dir.file("vigil.db")));
  ApiHandler handler{*store, crypto::sha256_hex(kToken), configs.get()};

  HttpResponse call(http::verb verb, const std::string& target, const std::string& body = "") {
    HttpRequest req{verb, target, 11};
    req.set(http::field::authorization, std::string("Bearer ") + kToken);
    req.body() = body;
    req.prepare_payload();
    return handler.handle(req);
  }
  static json::object body(const HttpResponse& r) { return json::parse(r.body()).as_object(); }
};

}  // namespace

TEST_CASE("PUT /api/v1/collection-config validates everything before storing anything", "[config_store][api]") {
  ApiConfigFixture f;
  const std::string good = R"({"watch_paths": ["/srv"], "rules": [{"id": "tickets", "kind": "regex", "regex": "TCK-[0-9]{4,8}"}]})";

  auto put = f.call(http::verb::put, "/api/v1/collection-config", good);
  REQUIRE(put.result() == http::status::ok);
  const auto v1 = f.body(put).at("version").to_number<std::uint64_t>();
  CHECK(v1 > 0);
  CHECK(f.body(put).at("source").as_string() == "global");

  SECTION("a bad regex is 400 with the rule id and Hyperscan's reason; nothing changes") {
    auto r = f.call(http::verb::put, "/api/v1/collection-config",
                    R"({"watch_paths": ["/x"], "rules": [{"id": "ok", "kind": "keywords", "keywords": ["a"]},
                        {"id": "broken", "kind": "regex", "regex": "a(b"}]})");
    CHECK(r.result() == http::status::bad_request);
    std::string e(f.body(r).at("error").as_string());
    CHECK(e.find("broken") != std::string::npos);
    CHECK(e.find("does not compile") != std::string::npos);
    auto shown = f.body(f.call(http::verb::get, "/api/v1/collection-config"));
    CHECK(shown.at("version").to_number<std::uint64_t>() == v1);
    CHECK(json::serialize(shown.at("watch_paths")) == R"(["/srv"])");
  }
  SECTION("unknown fields and query parameters are 400 naming them") {
    auto r = f.call(http::verb::put, "/api/v1/collection-config", R"({"watch": ["/x"]})");
    CHECK(r.result() == http::status::bad_request);
    CHECK(std::string(f.body(r).at("error").as_string()).find("'watch'") != std::string::npos);
    r = f.call(http::verb::put, "/api/v1/collection-config?dev=x", good);
    CHECK(r.result() == http::status::bad_request);
    CHECK(std::string(f.body(r).at("error").as_string()).find("'dev'") != std::string::npos);
    r = f.call(http::verb::put, "/api/v1/collection-config", "{not json");
    CHECK(r.result() == http::status::bad_request);
  }
  SECTION("a stale version is 409; the current one stores") {
    auto r = f.call(http::verb::put, "/api/v1/collection-config", R"({"version": 0, "watch_paths": ["/y"]})");
    CHECK(r.result() == http::status::conflict);
    r = f.call(http::verb::put, "/api/v1/collection-config",
               R"({"version": )" + std::to_string(v1) + R"(, "watch_paths": ["/y"]})");
    CHECK(r.result() == http::status::ok);
    CHECK(f.body(r).at("version").to_number<std::uint64_t>() > v1);
  }
  SECTION("device overrides: unknown devices are 404; known ones get their own config") {
    auto r = f.call(http::verb::put, "/api/v1/collection-config?device=nope", good);
    CHECK(r.result() == http::status::not_found);
    DeviceRecord d;
    d.device_id = "dev-7";
    REQUIRE(f.store->register_device(d).ok());
    r = f.call(http::verb::put, "/api/v1/collection-config?device=dev-7", R"({"watch_paths": ["/home"]})");
    REQUIRE(r.result() == http::status::ok);
    auto shown = f.body(f.call(http::verb::get, "/api/v1/collection-config?device=dev-7"));
    CHECK(shown.at("source").as_string() == "device");
    CHECK(json::serialize(shown.at("watch_paths")) == R"(["/home"])");
    r = f.call(http::verb::delete_, "/api/v1/collection-config?device=dev-7");
    REQUIRE(r.result() == http::status::ok);
    CHECK(f.body(r).at("removed").as_bool());
    shown = f.body(f.call(http::verb::get, "/api/v1/collection-config?device=dev-7"));
    CHECK(shown.at("source").as_string() == "global");
    CHECK(json::serialize(shown.at("watch_paths")) == R"(["/srv"])");
    CHECK(shown.at("version").to_number<std::uint64_t>() > v1);
    // The devices list carries what the device reported.
    REQUIRE(f.configs->record_running("dev-7", 9, 1).ok());
    auto devices = f.body(f.call(http::verb::get, "/api/v1/devices"));
    auto& first = devices.at("devices").as_array().at(0).as_object();
    CHECK(first.at("config_version").to_number<std::uint64_t>() == 9);
    CHECK(first.at("config_error").is_null());
  }
  SECTION("DELETE without a device is 400") {
    CHECK(f.call(http::verb::delete_, "/api/v1/collection-config").result() == http::status::bad_request);
  }
}
