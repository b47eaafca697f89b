// Triage, case and notice routes through ApiHandler::handle: the whole flow, every kind of bad
// input (unknown fields, wrong types, missing reason, bulk with one bad id changes nothing,
// escalating twice, closed cases), population scope (404) and pseudonyms, the escalate audit.
#include <catch2/catch.hpp>

#include "cases_test_support.h"
#include "collector/api/api_handler.h"
#include "shared/crypto.h"

using namespace vigil;
using namespace vigil::collector;
using namespace vigil::test;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr const char* kToken = "cases-test-token";

struct Answer {
  unsigned status;
  json::value body;
};

Answer call(const ApiHandler& h, http::verb verb, const std::string& target, const std::string& body = "",
            const std::string& token = kToken) {
  HttpRequest req{verb, target, 11};
  req.set(http::field::authorization, "Bearer " + token);
  req.body() = body;
  req.prepare_payload();
  auto res = h.handle(req);
  boost::system::error_code ec;
  auto v = json::parse(res.body(), ec);
  return {res.result_int(), ec ? json::value(nullptr) : v};
}
Answer get(const ApiHandler& h, const std::string& t, const std::string& token = kToken) {
  return call(h, http::verb::get, t, "", token);
}
Answer post(const ApiHandler& h, const std::string& t, const std::string& body, const std::string& token = kToken) {
  return call(h, http::verb::post, t, body, token);
}
std::string error_of(const Answer& a) {
  return a.body.is_object() && a.body.as_object().contains("error") ? std::string(a.body.at("error").as_string()) : "";
}

// An analyst who sees only bob, under a pseudonym.
struct ScopedAuth final : Authenticator {
  Result<Caller> authenticate_token(std::string_view token) const override {
    if (token != "analyst") return err("unknown token");
    Caller c;
    c.name = "ana";
    c.permissions.set(static_cast<std::size_t>(Permission::ReadAlerts));
    c.permissions.set(static_cast<std::size_t>(Permission::TriageAlerts));
    c.permissions.set(static_cast<std::size_t>(Permission::ReadCases));
    c.permissions.set(static_cast<std::size_t>(Permission::ManageCases));
    c.in_population = [](const std::string& u) { return u == "bob"; };
    c.show_name = [](const std::string& u) { return "anon-" + std::to_string(u.size()); };
    return c;
  }
};

struct KeptAudit final : AuditSink {
  std::mutex mu;
  std::vector<AuditEntry> entries;
  Status record(const AuditEntry& e) override {
    std::lock_guard l(mu);
    entries.push_back(e);
    return {};
  }
};

}  // namespace

TEST_CASE("API cases: triage, case, notes, files, activity, notice, close, escalate", "[api_cases]") {
  CaseFixture f;
  f.dir->add(collector::policy::HrRecord{"carol", collector::policy::HrEventKind::Resignation, now_ns() - 5 * kDay, "", ""});
  f.import("laptop", usb_copies("alice", 4, 3) + usb_copies("bob", 4, 3) + usb_copies("carol", 4, 3));
  ApiHandler h(*f.store, crypto::sha256_hex(kToken), nullptr, nullptr, f.engine.get());
  h.set_case_service(f.service.get());
  KeptAudit audit;
  h.set_audit_sink(&audit);
  const auto a = f.alert_of("alice"), b = f.alert_of("bob");

  // Listing shows status, case and triage; filters by detected time.
  auto list = get(h, "/api/v1/alerts?status=needs_review&detected_since=1h");
  REQUIRE(list.status == 200);
  CHECK(list.body.at("count").as_int64() >= 2);
  CHECK(list.body.at("alerts").at(0).at("case_id").is_null());
  CHECK(get(h, "/api/v1/alerts?detected_until=1h").body.at("count").as_int64() == 0);
  CHECK(get(h, "/api/v1/alerts?detected_since=yesterday").status == 400);

  // Bad input: nothing changes.
  CHECK(error_of(post(h, "/api/v1/alerts/" + a + "/dismiss", "{}")) == "missing required field 'reason'");
  CHECK(error_of(post(h, "/api/v1/alerts/" + a + "/dismiss", R"({"reason": 5})")) == "'reason' must be a string");
  CHECK(error_of(post(h, "/api/v1/alerts/" + a + "/dismiss", R"({"reason": "x", "why": "y"})"))
            .find("unknown field 'why'") != std::string::npos);
  CHECK(post(h, "/api/v1/alerts/" + a + "/dismiss", R"({"reason": "   "})").status == 400);
  CHECK(post(h, "/api/v1/alerts/" + a + "/dismiss", "not json").status == 400);
  CHECK(post(h, "/api/v1/alerts/triage", R"({"action": "dismiss", "alert_ids": ")" + a + R"(", "reason": "x"})").status == 400);
  CHECK(post(h, "/api/v1/alerts/triage", R"({"action": "shred", "alert_ids": [], "reason": "x"})").status == 400);
  auto one_bad = post(h, "/api/v1/alerts/triage", R"({"action": "dismiss", "alert_ids": [")" + a + R"(", "a-999"], "reason": "x"})");
  CHECK(one_bad.status == 404);
  CHECK(error_of(one_bad).find("a-999") != std::string::npos);
  CHECK(f.engine->alert(a)->status == collector::policy::AlertStatus::NeedsReview);
  CHECK(post(h, "/api/v1/alerts/triage", R"({"action": "confirm", "alert_ids": [")" + a + R"(", ")" + b + R"("]})").status == 409);
  CHECK(get(h, "/api/v1/cases").body.at("count").as_int64() == 0);

  // Dismiss bob's, confirm alice's into a case.
  auto dis = post(h, "/api/v1/alerts/" + b + "/dismiss", R"({"reason": "approved backup"})");
  REQUIRE(dis.status == 200);
  CHECK(dis.body.at("alerts").at(0).at("status").as_string() == "dismissed");
  CHECK(dis.body.at("alerts").at(0).at("triage").at("reason").as_string() == "approved backup");
  CHECK(post(h, "/api/v1/alerts/" + b + "/dismiss", R"({"reason": "again"})").status == 409);
  auto conf = post(h, "/api/v1/alerts/" + a + "/confirm", R"({"title": "Alice and the USB stick"})");
  REQUIRE(conf.status == 201);
  const std::string case_id(conf.body.at("case").at("id").as_string());
  CHECK(conf.body.at("case").at("status").as_string() == "active");
  auto shown = get(h, "/api/v1/alerts/" + a);
  CHECK(shown.body.at("status").as_string() == "confirmed");
  CHECK(shown.body.at("case_id").as_string() == case_id);
  CHECK(shown.body.at("case_status").as_string() == "active");
  CHECK(shown.body.at("activities").as_array().size() == 4);

  // Attach needs a case id; unknown case is 404.
  const auto c = f.alert_of("carol");
  CHECK(post(h, "/api/v1/alerts/" + c + "/attach", "{}").status == 400);
  CHECK(post(h, "/api/v1/alerts/" + c + "/attach", R"({"case_id": "c-77"})").status == 404);
  CHECK(post(h, "/api/v1/alerts/" + c + "/attach", R"({"case_id": ")" + case_id + R"("})").status == 409);  // another user

  // Notes, files, activity.
  CHECK(post(h, "/api/v1/cases/" + case_id + "/notes", R"({"text": ""})").status == 400);
  CHECK(post(h, "/api/v1/cases/" + case_id + "/notes", R"({"text": "x", "author": "me"})").status == 400);
  auto note = post(h, "/api/v1/cases/" + case_id + "/notes", R"({"text": "manager says no business reason"})");
  REQUIRE(note.status == 201);
  CHECK(note.body.at("author").as_string() == "admin");
  auto notes = get(h, "/api/v1/cases/" + case_id + "/notes");
  CHECK(notes.body.at("count").as_int64() == 1);
  auto files = get(h, "/api/v1/cases/" + case_id + "/files?type=pdf&tag=credit_card&source=removable");
  REQUIRE(files.status == 200);
  CHECK(files.body.at("count").as_int64() == 2);
  const auto& file = files.body.at("files").at(0).as_object();
  CHECK(file.at("channel").as_string() == "removable");
  CHECK(file.at("sha256").as_string().size() == 64);
  CHECK(file.at("volume").as_string() == "STICK");
  CHECK(file.at("device_id").as_string() == "recorded-laptop");
  CHECK(get(h, "/api/v1/cases/" + case_id + "/files?kind=x").status == 400);
  auto act = get(h, "/api/v1/cases/" + case_id + "/activity");
  REQUIRE(act.status == 200);
  std::int64_t scored = 0;
  for (const auto& d : act.body.at("days").as_array()) scored += d.at("scored_activities").as_int64();
  CHECK(scored == 4);
  CHECK(get(h, "/api/v1/cases/" + case_id + "/activity?since=1h&until=2h").status == 400);

  // Case listing filters.
  CHECK(get(h, "/api/v1/cases?status=active").body.at("count").as_int64() == 1);
  CHECK(get(h, "/api/v1/cases?status=resolved").body.at("count").as_int64() == 0);
  CHECK(get(h, "/api/v1/cases?opened_since=1h&updated_since=1h").body.at("count").as_int64() == 1);
  CHECK(get(h, "/api/v1/cases?opened_until=1h").body.at("count").as_int64() == 0);
  CHECK(get(h, "/api/v1/cases?status=open").status == 400);

  // Notice templates and a notice (the kept mailer).
  CHECK(error_of(post(h, "/api/v1/notice-templates", R"({"name": "r", "subject": "{{nope}}", "body": "b"})"))
            .find("unknown placeholder '{{nope}}'") != std::string::npos);
  CHECK(post(h, "/api/v1/notice-templates", R"({"name": "r", "subject": "s"})").status == 400);
  REQUIRE(post(h, "/api/v1/notice-templates", R"({"name": "reminder", "subject": "Case {{case_id}}", "body": "Hi {{user}}"})").status == 201);
  CHECK(post(h, "/api/v1/notice-templates", R"({"name": "reminder", "subject": "s", "body": "b"})").status == 409);
  CHECK(get(h, "/api/v1/notice-templates").body.at("count").as_int64() == 1);
  CHECK(post(h, "/api/v1/cases/" + case_id + "/notices", R"({"template": "nope"})").status == 404);
  auto sent = post(h, "/api/v1/cases/" + case_id + "/notices", R"({"template": "reminder"})");
  REQUIRE(sent.status == 201);
  CHECK(sent.body.at("delivered").as_bool());
  CHECK(f.mail->sent.at(0).body == "Hi alice");

  // Escalate once; the package is audited; a second time is 409.
  auto esc = post(h, "/api/v1/cases/" + case_id + "/escalate", R"({"reason": "legal hold"})");
  REQUIRE(esc.status == 201);
  const std::string pkg(esc.body.at("export").as_string());
  CHECK(pkg.find(f.tmp.file("exports") + "/" + case_id + "-") == 0);
  bool audited = false;
  for (const auto& e : audit.entries) audited = audited || (e.action == "escalate" && e.target == case_id && e.status == 201);
  CHECK(audited);
  CHECK(post(h, "/api/v1/cases/" + case_id + "/escalate", "{}").status == 409);
  CHECK(get(h, "/api/v1/cases/" + case_id).body.at("status").as_string() == "escalated");

  // Close; then the case is read-only and cannot be escalated.
  CHECK(post(h, "/api/v1/cases/" + case_id + "/close", R"({"resolution": "maybe"})").status == 400);
  CHECK(post(h, "/api/v1/cases/" + case_id + "/close", R"({"resolution": true})").status == 400);
  auto closed = post(h, "/api/v1/cases/" + case_id + "/close", R"({"resolution": "confirmed", "reason": "HR acted"})");
  REQUIRE(closed.status == 200);
  CHECK(closed.body.at("resolution").as_string() == "confirmed");
  CHECK(get(h, "/api/v1/alerts/" + a).body.at("status").as_string() == "resolved");
  CHECK(get(h, "/api/v1/alerts/" + a).body.at("case_status").as_string() == "resolved");
  CHECK(post(h, "/api/v1/cases/" + case_id + "/close", R"({"resolution": "benign"})").status == 409);
  CHECK(post(h, "/api/v1/cases/" + case_id + "/notes", R"({"text": "late"})").status == 409);
  CHECK(post(h, "/api/v1/cases/" + case_id + "/escalate", "{}").status == 409);
  CHECK(post(h, "/api/v1/alerts/" + c + "/attach", R"({"case_id": ")" + case_id + R"("})").status == 409);
}

TEST_CASE("API cases: population scope hides other users' alerts and cases, names are pseudonyms", "[api_cases]") {
  CaseFixture f;
  f.import("laptop", usb_copies("alice", 4, 3) + usb_copies("bob", 4, 3));
  ApiHandler h(*f.store, crypto::sha256_hex(kToken), nullptr, nullptr, f.engine.get());
  h.set_case_service(f.service.get());
  ScopedAuth auth;
  h.set_authenticator(&auth);
  const auto a = f.alert_of("alice"), b = f.alert_of("bob");

  auto mine = get(h, "/api/v1/alerts", "analyst");
  REQUIRE(mine.status == 200);
  REQUIRE(mine.body.at("count").as_int64() == 1);
  CHECK(mine.body.at("alerts").at(0).at("user").as_string() == "anon-3");
  CHECK(get(h, "/api/v1/alerts?user=anon-3", "analyst").body.at("count").as_int64() == 1);
  CHECK(get(h, "/api/v1/alerts/" + a, "analyst").status == 404);
  // Bulk with an alert outside the population: 404, nothing changes.
  CHECK(post(h, "/api/v1/alerts/triage", R"({"action": "dismiss", "alert_ids": [")" + b + R"(", ")" + a + R"("], "reason": "x"})",
             "analyst").status == 404);
  CHECK(f.engine->alert(b)->status == collector::policy::AlertStatus::NeedsReview);

  auto ca = post(h, "/api/v1/alerts/" + a + "/confirm", "{}");  // admin
  REQUIRE(ca.status == 201);
  const std::string alice_case(ca.body.at("case").at("id").as_string());
  auto cb = post(h, "/api/v1/alerts/" + b + "/confirm", "{}", "analyst");
  REQUIRE(cb.status == 201);
  CHECK(cb.body.at("case").at("user").as_string() == "anon-3");
  CHECK(cb.body.at("case").at("opened_by").as_string() == "ana");
  auto cases = get(h, "/api/v1/cases", "analyst");
  CHECK(cases.body.at("count").as_int64() == 1);
  CHECK(get(h, "/api/v1/cases/" + alice_case, "analyst").status == 404);
  CHECK(get(h, "/api/v1/cases/" + alice_case + "/files", "analyst").status == 404);
  CHECK(post(h, "/api/v1/cases/" + alice_case + "/notes", R"({"text": "x"})", "analyst").status == 404);
  // The analyst may not send notices (no SendNotices).
  CHECK(post(h, "/api/v1/cases/" + alice_case + "/notices", R"({"template": "x"})", "analyst").status == 403);
}
