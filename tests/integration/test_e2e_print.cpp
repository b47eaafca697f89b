// Printing end to end through the real binaries: a private cupsd (tests/cups_test_server.h) with
// a raw queue printing to /dev/null, an enrolled agent whose agent.toml points print_server at
// that cupsd's socket, jobs printed with lp (one titled with two copies, one held then
// canceled); the print.job events reach the collector and `vigilctl events --type print.job
// --json` shows their fields. Needs root and cups-daemon, cups-client, cups-bsd. Tag: [print].
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "tests/cups_test_server.h"
#include "tests/integration/harness.h"

using namespace vigil::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::int64_t num(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  if (!v) return -1;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return -1;
}

const json::object* job(const std::vector<json::object>& events, int id) {
  for (const auto& e : events)
    if (str(e, "type") == "print.job" && num(e, "job_id") == id) return &e;
  return nullptr;
}

std::string current_user() {
  passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : std::to_string(::geteuid());
}

// Sets `key = value` (a TOML literal) in agent.toml, replacing the line enroll wrote.
void set_config(const std::string& agent_dir, const std::string& key, const std::string& value) {
  std::string cfg = slurp(agent_dir + "/agent.toml");
  auto at = cfg.find("\n" + key + " = ");
  REQUIRE(at != std::string::npos);
  ++at;
  cfg.replace(at, cfg.find('\n', at) - at, key + " = " + value);
  spit(agent_dir + "/agent.toml", cfg);
}

}  // namespace

TEST_CASE("print jobs reach the collector as print.job events", "[print][e2e]") {
  if (std::string missing = vigil::test::CupsTestServer::missing_tools(); !missing.empty()) {
    WARN("SKIPPED: CUPS client tools missing (" << missing << "; Debian: cups-client, cups-bsd): printing not tested end to end");
    return;
  }
  vigil::test::CupsTestServer cups;
  if (std::string why = cups.start(); !why.empty()) {
    WARN("SKIPPED: the private cupsd could not start: " << why);
    return;
  }
  const std::string printer = "e2e-printer";
  std::string why = cups.add_printer(printer);
  INFO(why);
  REQUIRE(why.empty());

  Deployment d("e2e-print");
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  set_config(adir, "print_server", "\"" + cups.socket() + "\"");
  set_config(adir, "print_capture", "true");
  set_config(adir, "print_spool_dir", "\"" + cups.spool_dir() + "\"");
  std::string device = d.device_id(adir);

  const std::string watched = d.dir() + "/watched";
  std::filesystem::create_directories(watched);
  Process agent = d.start_agent(adir, {watched});
  // The agent subscribes before it logs that it runs; wait for the subscription.
  bool subscribed = eventually([&] { return slurp(adir + ".log").find("subscribed to print job notifications") != std::string::npos; }, 20s);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(subscribed);
  REQUIRE(agent.running());

  const std::string doc = d.dir() + "/board minutes.txt";
  const std::string content = "Board minutes\nPayment card on file: 4111 1111 1111 1111\n" + std::string(3000, 'm') + "\n";
  spit(doc, content);
  int printed = cups.lp({"-d", printer, "-t", "Board minutes (draft)", "-n", "2", doc}, &why);
  INFO(why);
  REQUIRE(printed > 0);
  int canceled = cups.lp({"-d", printer, "-H", "hold", "-t", "withdrawn", doc}, &why);
  REQUIRE(canceled > 0);
  auto c = vigil::test::cups_run({"cancel", "-h", cups.socket(), std::to_string(canceled)});
  INFO("cancel: " << c.out << c.err);
  REQUIRE(c.code == 0);

  std::vector<json::object> events;
  auto t0 = std::chrono::steady_clock::now();
  bool arrived = eventually([&] {
    events = d.events(device, "print.job");
    return job(events, printed) && job(events, canceled);
  }, 30s, 250ms);
  WARN("the print.job events reached the collector "
       << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
       << " ms after printing");
  INFO("agent log: " << slurp(adir + ".log"));
  INFO("cupsd log: " << cups.error_log());
  REQUIRE(arrived);

  const auto& p = *job(events, printed);
  CHECK(str(p, "type") == "print.job");
  CHECK(str(p, "device_id") == device);
  CHECK(str(p, "user") == current_user());
  CHECK(str(p, "printer") == printer);
  CHECK(str(p, "title") == "Board minutes (draft)");
  CHECK(num(p, "copies") == 2);
  CHECK(str(p, "state") == "completed");
  CHECK(str(p, "job_user") == current_user());
  CHECK(str(p, "origin_host") == "localhost");
  CHECK(str(p, "server") == cups.socket());
  CHECK(str(p, "printer_uri").find("/printers/" + printer) != std::string::npos);
  CHECK(num(p, "bytes") == static_cast<std::int64_t>(content.size()));  // the spooled document
  // The spooled document was classified with the built-in types.
  auto* cls = p.if_contains("classification");
  REQUIRE(cls != nullptr);
  REQUIRE(cls->is_object());
  CHECK(str(cls->as_object(), "status") == "scanned");
  CHECK(num(cls->as_object(), "bytes_scanned") == static_cast<std::int64_t>(content.size()));
  bool card = false;
  if (auto* f = cls->as_object().if_contains("findings"); f && f->is_array())
    for (const auto& x : f->as_array())
      if (x.is_object() && str(x.as_object(), "type") == "credit_card" && num(x.as_object(), "count") == 1) card = true;
  CHECK(card);
  CHECK(num(p, "created_ns") > 0);
  CHECK(num(p, "completed_ns") >= num(p, "created_ns"));

  const auto& x = *job(events, canceled);
  CHECK(str(x, "state") == "canceled");
  CHECK(str(x, "title") == "withdrawn");
  CHECK(str(x, "printer") == printer);

  agent.signal(SIGTERM);
  CHECK(agent.wait(10s) == 0);
}
