// Printing capture: the IPP attribute mapping as logic (hand-built attribute sets, missing and
// hostile values), and CupsPrintSource against a real cupsd the test starts on a private socket
// and port (tests/cups_test_server.h) with a raw queue printing to /dev/null: jobs printed with
// lp (title, copies, stdin, held then canceled) and one made through libcups with no title;
// surviving a cupsd restart and a subscription removed behind its back; a server that is not
// there. Needs root and cups-daemon, cups-client, cups-bsd. Tag: [print].
#include <catch2/catch.hpp>

#include <cups/cups.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_config.h"
#include "agent/event_source.h"
#include "agent/event_builder.h"
#include "agent/print_event_source.h"
#include "platform/linux/cups_print_source.h"
#include "shared/time_util.h"
#include "tests/cups_test_server.h"
#include "tests/unit/test_support.h"

using namespace std::chrono_literals;
using vigil::agent::PrintActivity;
using vigil::agent::PrintCaptureSpec;
using vigil::platform::CupsPrintSource;
using vigil::platform::CupsSourceTuning;
using vigil::test::CupsTestServer;

namespace {

struct IppHolder {
  ipp_t* p = ippNew();
  ~IppHolder() { ippDelete(p); }
};

// Drains `source` until every job id in `want` has a record, or timeout; returns all records.
std::map<std::uint32_t, PrintActivity> collect(CupsPrintSource& source, const std::set<int>& want,
                                               std::chrono::milliseconds timeout, std::uint64_t* overflows = nullptr) {
  std::map<std::uint32_t, PrintActivity> got;
  auto end = std::chrono::steady_clock::now() + timeout;
  auto have_all = [&] {
    for (int id : want)
      if (!got.count(static_cast<std::uint32_t>(id))) return false;
    return true;
  };
  while (!have_all() && std::chrono::steady_clock::now() < end) {
    pollfd p{source.pollable_fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    auto stats = source.drain([&](PrintActivity&& a) { got[a.job_id] = std::move(a); });
    REQUIRE(stats.ok());
    if (overflows) *overflows += stats->overflows;
  }
  return got;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string current_user() {
  passwd* pw = ::getpwuid(::geteuid());
  return pw ? pw->pw_name : std::to_string(::geteuid());
}

// Starts a private cupsd with one queue; empty `why` when it runs.
struct PrintFixture {
  CupsTestServer server;
  std::string printer = "vigil-test";
  std::string why;
  PrintFixture() {
    if (std::string missing = CupsTestServer::missing_tools(); !missing.empty()) {
      why = "CUPS client tools missing (" + missing + "; Debian: cups-client, cups-bsd)";
      return;
    }
    why = server.start();
    if (why.empty()) why = server.add_printer(printer);
  }
  PrintCaptureSpec spec() const {
    PrintCaptureSpec s;
    s.server = server.socket();
    s.spool_dir = server.spool_dir();
    return s;
  }
};

CupsSourceTuning quick() {
  CupsSourceTuning t;
  t.max_poll_interval = 300ms;
  t.min_backoff = 100ms;
  t.max_backoff = 1000ms;
  return t;
}

// Creates a job through libcups without a job-name (lp always names one); 0 on failure.
int print_untitled(const std::string& socket, const std::string& printer, const std::string& body, std::string& why) {
  http_t* http = httpConnect2(socket.c_str(), 0, nullptr, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED, 1, 5000, nullptr);
  if (!http) {
    why = "cannot connect to the test cupsd";
    return 0;
  }
  int id = cupsCreateJob(http, printer.c_str(), nullptr, 0, nullptr);
  if (id > 0) {
    cupsStartDocument(http, printer.c_str(), id, nullptr, CUPS_FORMAT_TEXT, 1);
    cupsWriteRequestData(http, body.data(), body.size());
    if (cupsFinishDocument(http, printer.c_str()) > IPP_STATUS_OK_CONFLICTING) id = 0;
  }
  if (id <= 0) why = std::string("cupsCreateJob: ") + cupsLastErrorString();
  httpClose(http);
  return id;
}

// Creates a job through libcups with `title` as job-name, whatever bytes it holds; 0 when the
// server refused it (why says how).
int print_titled(const std::string& socket, const std::string& printer, const std::string& title, std::string& why) {
  http_t* http = httpConnect2(socket.c_str(), 0, nullptr, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED, 1, 5000, nullptr);
  if (!http) {
    why = "cannot connect to the test cupsd";
    return 0;
  }
  int id = cupsCreateJob(http, printer.c_str(), title.c_str(), 0, nullptr);
  if (id > 0) {
    cupsStartDocument(http, printer.c_str(), id, nullptr, CUPS_FORMAT_TEXT, 1);
    std::string body = "hostile title\n";
    cupsWriteRequestData(http, body.data(), body.size());
    if (cupsFinishDocument(http, printer.c_str()) > IPP_STATUS_OK_CONFLICTING) id = 0;
  }
  if (id <= 0) why = std::string(ippErrorString(cupsLastError())) + ": " + cupsLastErrorString();
  httpClose(http);
  return id;
}

}  // namespace

TEST_CASE("job states and printer URIs are named as IPP defines them", "[print]") {
  CHECK(vigil::platform::job_state_name(IPP_JSTATE_COMPLETED) == "completed");
  CHECK(vigil::platform::job_state_name(IPP_JSTATE_CANCELED) == "canceled");
  CHECK(vigil::platform::job_state_name(IPP_JSTATE_ABORTED) == "aborted");
  CHECK(vigil::platform::job_state_name(IPP_JSTATE_STOPPED) == "stopped");
  CHECK(vigil::platform::job_state_name(42) == "unknown(42)");
  CHECK(vigil::platform::printer_name_from_uri("ipp://localhost/printers/office") == "office");
  CHECK(vigil::platform::printer_name_from_uri("ipp://h:631/classes/floor2/") == "floor2");
  CHECK(vigil::platform::printer_name_from_uri("ipp://localhost/printers/a%20b%0Ac") == "a b\nc");
  CHECK(vigil::platform::printer_name_from_uri("ipp://localhost/printers/bad%zz") == "bad%zz");
  CHECK(vigil::platform::printer_name_from_uri("ipp://localhost/") == "");
  CHECK(vigil::platform::printer_name_from_uri("") == "");
}

TEST_CASE("a finished job with no attributes at all is a record of empties, not an error", "[print]") {
  PrintActivity none = vigil::platform::print_activity_from_attributes(nullptr, nullptr);
  CHECK(none.title.empty());
  CHECK(none.printer.empty());
  CHECK(none.job_id == 0);
  CHECK(none.state.empty());
  CHECK(none.copies == 1);  // IPP: no copies attribute means the default, 1
  CHECK(none.bytes == 0);
  CHECK(none.created_ns == 0);

  IppHolder empty;
  PrintActivity e = vigil::platform::print_activity_from_attributes(empty.p, empty.p);
  CHECK(e.title.empty());
  CHECK(e.job_user.empty());
}

TEST_CASE("hostile and mistyped job attributes are kept as given or ignored, never a crash", "[print]") {
  IppHolder job, event;
  const std::string hostile = "line1\nline2\t\x01 \xff\xfe not utf-8 " + std::string(4096, 'T');
  ippAddString(job.p, IPP_TAG_JOB, IPP_TAG_NAME, "job-name", nullptr, hostile.c_str());
  ippAddString(job.p, IPP_TAG_JOB, IPP_TAG_NAME, "job-originating-user-name", nullptr, "mallory\n");
  ippAddString(job.p, IPP_TAG_JOB, IPP_TAG_URI, "job-printer-uri", nullptr, "ipp://localhost/printers/evil%0Aname");
  ippAddInteger(job.p, IPP_TAG_JOB, IPP_TAG_INTEGER, "copies", -3);
  ippAddInteger(job.p, IPP_TAG_JOB, IPP_TAG_INTEGER, "job-k-octets", 7);
  ippAddInteger(job.p, IPP_TAG_JOB, IPP_TAG_ENUM, "job-state", 77);
  ippAddString(job.p, IPP_TAG_JOB, IPP_TAG_KEYWORD, "job-impressions-completed", nullptr, "not a number");
  const char* reasons[] = {"job-completed-with-errors", "job-canceled-by-user"};
  ippAddStrings(job.p, IPP_TAG_JOB, IPP_TAG_KEYWORD, "job-state-reasons", 2, nullptr, reasons);
  ippAddInteger(job.p, IPP_TAG_JOB, IPP_TAG_INTEGER, "time-at-creation", 1700000000);
  ippAddInteger(job.p, IPP_TAG_JOB, IPP_TAG_INTEGER, "time-at-completed", 0);  // not finished
  // The event fills only what the job lacks.
  ippAddInteger(event.p, IPP_TAG_EVENT_NOTIFICATION, IPP_TAG_INTEGER, "notify-job-id", 31);
  ippAddString(event.p, IPP_TAG_EVENT_NOTIFICATION, IPP_TAG_NAME, "job-name", nullptr, "from the event");
  ippAddString(event.p, IPP_TAG_EVENT_NOTIFICATION, IPP_TAG_NAME, "job-originating-host-name", nullptr, "host\x80");

  PrintActivity a = vigil::platform::print_activity_from_attributes(job.p, event.p);
  CHECK(a.title == hostile);
  CHECK(a.title.size() == hostile.size());
  CHECK(a.job_user == "mallory\n");
  CHECK(a.printer == "evil\nname");
  CHECK(a.copies == 0);  // a negative count is not a count
  CHECK(a.bytes == 7 * 1024);
  CHECK(a.state == "unknown(77)");
  CHECK(a.pages == 0);
  CHECK(a.state_reasons == "job-completed-with-errors,job-canceled-by-user");
  CHECK(a.created_ns == 1700000000LL * 1000000000LL);
  CHECK(a.completed_ns == 0);
  CHECK(a.job_id == 31);
  CHECK(a.origin_host == "host\x80");
}

TEST_CASE("printing through a real cupsd: titled, untitled, copies, stdin and canceled jobs", "[print]") {
  PrintFixture fx;
  if (!fx.why.empty()) {
    WARN("SKIPPED: no private cupsd: " << fx.why);
    return;
  }
  vigil::test::TempDir files("vigil-print");
  const std::string report = files.write("quarterly.txt", std::string(5000, 'r') + "\n");

  CupsPrintSource source(quick());
  REQUIRE(source.start(fx.spec()).ok());
  INFO("cupsd log: " << fx.server.error_log());
  REQUIRE(source.subscribed());
  CHECK(source.server() == fx.server.socket());

  const std::int64_t before = vigil::now_ns();
  std::string why;
  int titled = fx.server.lp({"-d", fx.printer, "-t", "Quarterly report", "-n", "2", report}, &why);
  INFO(why);
  REQUIRE(titled > 0);
  int untitled = print_untitled(fx.server.socket(), fx.printer, "no title here\n", why);
  INFO(why);
  REQUIRE(untitled > 0);
  int from_stdin = fx.server.lp({"-d", fx.printer}, &why, "piped text\n");
  REQUIRE(from_stdin > 0);
  // Another user's job: CUPS hides private values (JobPrivateValues) from non-owners unless the
  // requester is authenticated as @SYSTEM, which the source does with PeerCred on the socket.
  int other = fx.server.lp({"-U", "alice", "-d", fx.printer, "-t", "alice's secret plan", report}, &why);
  REQUIRE(other > 0);
  int held = fx.server.lp({"-d", fx.printer, "-H", "hold", "-t", "never printed", report}, &why);
  REQUIRE(held > 0);
  auto c = vigil::test::cups_run({"cancel", "-h", fx.server.socket(), std::to_string(held)});
  INFO("cancel: " << c.out << c.err);
  REQUIRE(c.code == 0);

  std::uint64_t overflows = 0;
  auto got = collect(source, {titled, untitled, from_stdin, held, other}, 30s, &overflows);
  REQUIRE(got.count(static_cast<std::uint32_t>(titled)));
  REQUIRE(got.count(static_cast<std::uint32_t>(untitled)));
  REQUIRE(got.count(static_cast<std::uint32_t>(from_stdin)));
  REQUIRE(got.count(static_cast<std::uint32_t>(held)));
  CHECK(overflows == 0);
  const std::int64_t after = vigil::now_ns();

  const auto& t = got[static_cast<std::uint32_t>(titled)];
  CHECK(t.printer == fx.printer);
  CHECK(t.printer_uri.find("/printers/" + fx.printer) != std::string::npos);
  CHECK(t.title == "Quarterly report");
  CHECK(t.copies == 2);
  CHECK(t.state == "completed");
  CHECK(t.job_user == current_user());
  CHECK(t.origin_host == "localhost");
  CHECK(t.server == fx.server.socket());
  CHECK(t.document_path == fx.server.spool_dir() + "/d" + std::string(5 - std::min<std::size_t>(5, std::to_string(titled).size()), '0') + std::to_string(titled) + "-001");
  CHECK(t.bytes == 5001);  // the spooled document's size
  CHECK(!t.document_format.empty());
  CHECK(t.created_ns >= before / 1000000000 * 1000000000);
  CHECK(t.completed_ns >= t.created_ns);
  CHECK(t.completed_ns <= after);
  CHECK(t.time_ns >= t.completed_ns / 1000000000 * 1000000000);

  // No job-name in the request: recorded as the server named it, and the test says what it was.
  const auto& u = got[static_cast<std::uint32_t>(untitled)];
  WARN("a job created without job-name is recorded with title '" << u.title << "' (what cupsd stored)");
  CHECK(u.state == "completed");
  CHECK(u.job_user == current_user());
  CHECK(u.bytes == std::string("no title here\n").size());
  CHECK(u.copies == 1);

  CHECK(got[static_cast<std::uint32_t>(from_stdin)].title == "(stdin)");  // lp's name for piped input

  const auto& o = got[static_cast<std::uint32_t>(other)];
  CHECK(o.job_user == "alice");
  CHECK(o.title == "alice's secret plan");
  CHECK(o.origin_host == "localhost");

  const auto& h = got[static_cast<std::uint32_t>(held)];
  CHECK(h.state == "canceled");
  CHECK(h.title == "never printed");
  CHECK(h.pages == 0);
  CHECK(h.job_user == current_user());
}

TEST_CASE("hostile job titles reach the record as cupsd kept them", "[print]") {
  PrintFixture fx;
  if (!fx.why.empty()) {
    WARN("SKIPPED: no private cupsd: " << fx.why);
    return;
  }
  CupsPrintSource source(quick());
  REQUIRE(source.start(fx.spec()).ok());
  REQUIRE(source.subscribed());

  const std::vector<std::string> titles = {"two\nlines\tand a tab", std::string("bad utf-8 \xff\xfe\x80"),
                                           std::string(4096, 'L'), "quote \" backslash \\ percent %s %n"};
  std::map<int, std::string> sent;
  std::set<int> ids;
  for (const auto& title : titles) {
    std::string why;
    int id = print_titled(fx.server.socket(), fx.printer, title, why);
    if (id > 0) {
      sent[id] = title;
      ids.insert(id);
    } else {
      WARN("cupsd refused a job titled with " << title.size() << " hostile bytes: " << why);
    }
  }
  REQUIRE(!ids.empty());  // at least the printable ones are accepted
  auto got = collect(source, ids, 30s);
  for (auto& [id, title] : sent) {
    INFO("job " << id);
    REQUIRE(got.count(static_cast<std::uint32_t>(id)));
    const auto& a = got[static_cast<std::uint32_t>(id)];
    CHECK(a.state == "completed");
    if (a.title != title) WARN("cupsd kept " << a.title.size() << " of the " << title.size() << " bytes of a hostile title");
    // cupsd may shorten a name to IPP's 255-byte limit; what it kept is what is recorded.
    if (title.size() <= 255) CHECK(a.title == title);
    else CHECK(title.rfind(a.title, 0) == 0);
  }
}

TEST_CASE("print capture survives a cupsd restart and a subscription removed behind its back", "[print]") {
  PrintFixture fx;
  if (!fx.why.empty()) {
    WARN("SKIPPED: no private cupsd: " << fx.why);
    return;
  }
  vigil::test::TempDir files("vigil-print");
  const std::string doc = files.write("doc.txt", "restart me\n");
  auto tuning = quick();
  tuning.max_idle_interval = 300ms;  // notice the server going away without waiting CUPS' 60 s
  CupsPrintSource source(tuning);
  REQUIRE(source.start(fx.spec()).ok());
  REQUIRE(source.subscribed());

  std::string why;
  int first = fx.server.lp({"-d", fx.printer, "-t", "before restart", doc}, &why);
  REQUIRE(first > 0);
  REQUIRE(collect(source, {first}, 20s).count(static_cast<std::uint32_t>(first)));

  fx.server.stop();
  CHECK(wait_until([&] { return !source.subscribed(); }, 10s));
  REQUIRE(fx.server.start().empty());
  INFO("cupsd log: " << fx.server.error_log());
  REQUIRE(wait_until([&] { return source.subscribed(); }, 15s));
  int second = fx.server.lp({"-d", fx.printer, "-t", "after restart", doc}, &why);
  INFO(why);
  REQUIRE(second > 0);
  auto got = collect(source, {second}, 20s);
  REQUIRE(got.count(static_cast<std::uint32_t>(second)));
  CHECK(got[static_cast<std::uint32_t>(second)].title == "after restart");

  // Someone (an administrator, a cleanup) cancels the agent's subscription: it subscribes again.
  int sub = source.subscription_id();
  REQUIRE(sub > 0);
  std::uint64_t made = source.subscriptions_made();
  {
    http_t* http = httpConnect2(fx.server.socket().c_str(), 0, nullptr, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED, 1, 5000, nullptr);
    REQUIRE(http != nullptr);
    ipp_t* req = ippNewRequest(IPP_OP_CANCEL_SUBSCRIPTION);
    ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, "ipp://localhost/");
    ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr, cupsUser());
    ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id", sub);
    ippDelete(cupsDoRequest(http, req, "/"));
    INFO(cupsLastErrorString());
    REQUIRE(cupsLastError() <= IPP_STATUS_OK_CONFLICTING);
    httpClose(http);
  }
  REQUIRE(wait_until([&] { return source.subscriptions_made() > made; }, 10s));
  CHECK(source.subscriptions_made() == made + 1);
  REQUIRE(source.subscribed());
  int third = fx.server.lp({"-d", fx.printer, "-t", "after resubscribing", doc}, &why);
  REQUIRE(third > 0);
  got = collect(source, {third}, 20s);
  REQUIRE(got.count(static_cast<std::uint32_t>(third)));
  CHECK(got[static_cast<std::uint32_t>(third)].title == "after resubscribing");
}

TEST_CASE("without a visible spool, jobs are still reported at the server's pace", "[print]") {
  PrintFixture fx;
  if (!fx.why.empty()) {
    WARN("SKIPPED: no private cupsd: " << fx.why);
    return;
  }
  vigil::test::TempDir files("vigil-print");
  const std::string doc = files.write("remote.txt", "as if remote\n");
  PrintCaptureSpec spec = fx.spec();
  spec.spool_dir = files.file("not-the-spool");  // no hint, no document: a remote server's view
  auto tuning = quick();
  tuning.max_idle_interval = 1500ms;  // stands in for CUPS' notify-get-interval of 60 s
  CupsPrintSource source(tuning);
  REQUIRE(source.start(spec).ok());
  REQUIRE(source.subscribed());
  std::string why;
  int id = fx.server.lp({"-d", fx.printer, "-t", "paced", doc}, &why);
  REQUIRE(id > 0);
  auto t0 = std::chrono::steady_clock::now();
  auto got = collect(source, {id}, 20s);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(got.count(static_cast<std::uint32_t>(id)));
  const auto& a = got[static_cast<std::uint32_t>(id)];
  CHECK(a.document_path.empty());
  CHECK(a.bytes == 1024);  // job-k-octets, rounded up by CUPS, when the document is not readable
  CHECK(a.title == "paced");
  CHECK(took < 5s);
}

TEST_CASE("the subscription's lease is renewed before it expires", "[print]") {
  PrintFixture fx;
  if (!fx.why.empty()) {
    WARN("SKIPPED: no private cupsd: " << fx.why);
    return;
  }
  auto tuning = quick();
  tuning.lease = 4s;  // cupsd may end it after 3 s (whole seconds); we renew every 1.5 s
  CupsPrintSource source(tuning);
  REQUIRE(source.start(fx.spec()).ok());
  REQUIRE(source.subscribed());
  const int first = source.subscription_id();

  // Control: a subscription with the same lease that nobody renews is gone by then.
  http_t* http = httpConnect2(fx.server.socket().c_str(), 0, nullptr, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED, 1, 5000, nullptr);
  REQUIRE(http != nullptr);
  ipp_t* req = ippNewRequest(IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS);
  ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, "ipp://localhost/");
  ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr, cupsUser());
  ippAddString(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-events", nullptr, "job-completed");
  ippAddString(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-pull-method", nullptr, "ippget");
  ippAddInteger(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER, "notify-lease-duration", 4);
  ipp_t* resp = cupsDoRequest(http, req, "/");
  REQUIRE(resp != nullptr);
  ipp_attribute_t* id = ippFindAttribute(resp, "notify-subscription-id", IPP_TAG_INTEGER);
  REQUIRE(id != nullptr);
  const int control = ippGetInteger(id, 0);
  ippDelete(resp);

  std::this_thread::sleep_for(7s);
  req = ippNewRequest(IPP_OP_GET_NOTIFICATIONS);
  ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nullptr, "ipp://localhost/");
  ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nullptr, cupsUser());
  ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-ids", control);
  ippDelete(cupsDoRequest(http, req, "/"));
  CHECK(cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND);
  httpClose(http);

  CHECK(source.subscribed());
  CHECK(source.subscription_id() == first);
  CHECK(source.subscriptions_made() == 1);
}

TEST_CASE("print capture over TCP (host:port) sees jobs too", "[print]") {
  PrintFixture fx;
  if (!fx.why.empty()) {
    WARN("SKIPPED: no private cupsd: " << fx.why);
    return;
  }
  vigil::test::TempDir files("vigil-print");
  const std::string doc = files.write("tcp.txt", "over tcp\n");
  PrintCaptureSpec spec = fx.spec();
  spec.server = fx.server.host_port();
  CupsPrintSource source(quick());
  REQUIRE(source.start(spec).ok());
  INFO("cupsd log: " << fx.server.error_log());
  REQUIRE(source.subscribed());
  CHECK(source.server() == fx.server.host_port());
  std::string why;
  int id = fx.server.lp({"-d", fx.printer, "-t", "tcp job", doc}, &why);
  REQUIRE(id > 0);
  int other = fx.server.lp({"-U", "alice", "-d", fx.printer, "-t", "alice over tcp", doc}, &why);
  REQUIRE(other > 0);
  auto got = collect(source, {id, other}, 20s);
  REQUIRE(got.count(static_cast<std::uint32_t>(other)));
  const auto& o = got[static_cast<std::uint32_t>(other)];
  WARN("over TCP, another user's job is recorded with user '" << o.job_user << "' and title '" << o.title << "'");
  REQUIRE(got.count(static_cast<std::uint32_t>(id)));
  const auto& a = got[static_cast<std::uint32_t>(id)];
  CHECK(a.state == "completed");
  CHECK(a.printer == fx.printer);
  CHECK(a.server == fx.server.host_port());
  CHECK(a.title == "tcp job");
  CHECK(a.job_user == current_user());
}

TEST_CASE("print capture starts without a print server and stops promptly", "[print]") {
  vigil::test::TempDir dir("vigil-print");
  PrintCaptureSpec spec;
  spec.server = dir.file("no-such.sock");
  auto t = quick();
  t.start_wait = 500ms;
  auto began = std::chrono::steady_clock::now();
  {
    CupsPrintSource source(t);
    REQUIRE(source.start(spec).ok());
    CHECK_FALSE(source.subscribed());
    std::this_thread::sleep_for(300ms);
    auto stats = source.drain([](PrintActivity&&) { FAIL("no record expected"); });
    REQUIRE(stats.ok());
    CHECK(stats->activities == 0);
  }
  CHECK(std::chrono::steady_clock::now() - began < 5s);

  PrintCaptureSpec bad;
  bad.server = "printhost:notaport";
  CupsPrintSource source;
  CHECK_FALSE(source.start(bad).ok());
}

// ---------------------------------------------------------------------------------------------
// The agent's side: print.job events, classification of the spooled document, agent.toml.

TEST_CASE("a print record becomes a print.job event; hostile strings stay valid and reversible", "[print]") {
  PrintActivity a;
  a.time_ns = 1700000000123456789;
  a.printer = "office";
  a.printer_uri = "ipp://localhost/printers/office";
  a.title = "plan\n\xff\xfe";
  a.pages = 3;
  a.copies = 2;
  a.bytes = 4096;
  a.job_id = 17;
  a.state = "completed";
  a.state_reasons = "job-completed-successfully";
  a.job_user = "bob";
  a.origin_host = "localhost";
  a.document_format = "application/pdf";
  a.created_ns = 1700000000000000000;
  a.completed_ns = 1700000001000000000;
  a.server = "/run/cups/cups.sock";
  auto e = vigil::agent::make_print_event(a);
  CHECK(e.type() == "print.job");
  CHECK(e.time_ns() == a.time_ns);
  CHECK(e.user() == "bob");
  CHECK(e.login_uid() == 0xffffffffu);
  CHECK_FALSE(e.has_process());
  REQUIRE(e.has_print());
  const auto& p = e.print();
  CHECK(p.printer() == "office");
  CHECK(p.title() == vigil::agent::escape_non_utf8(a.title));
  CHECK(p.title().find("\\xff") != std::string::npos);
  CHECK(p.pages() == 3);
  CHECK(p.copies() == 2);
  CHECK(p.bytes() == 4096);
  CHECK(p.job_id() == 17);
  CHECK(p.state() == "completed");
  CHECK(p.job_user() == "bob");
  CHECK(p.origin_host() == "localhost");
  CHECK(p.document_format() == "application/pdf");
  CHECK(p.printer_uri() == a.printer_uri);
  CHECK(p.created_ns() == a.created_ns);
  CHECK(p.completed_ns() == a.completed_ns);
  CHECK(p.state_reasons() == a.state_reasons);
  CHECK(p.server() == a.server);
  CHECK_FALSE(p.has_classification());
  std::string wire;
  CHECK(e.SerializeToString(&wire));  // valid UTF-8 in every string field

  auto unreadable = vigil::agent::to_classification(vigil::Result<vigil::ScanResult>(vigil::err("gone")));
  CHECK(unreadable.status() == "unreadable");
  CHECK(unreadable.detail() == "gone");
}

TEST_CASE("print.job events from a real cupsd, with the spooled document classified", "[print]") {
  PrintFixture fx;
  if (!fx.why.empty()) {
    WARN("SKIPPED: no private cupsd: " << fx.why);
    return;
  }
  vigil::test::TempDir files("vigil-print");
  // A Visa test number with its context word, and an e-mail address: built-in types.
  const std::string doc = files.write("cards.txt", "Customer list\ncredit card 4111 1111 1111 1111\ncontact: jane.doe@example.com\n");
  auto classifier = vigil::Classifier::create({});
  REQUIRE(classifier.ok());
  std::shared_ptr<const vigil::Classifier> shared = std::move(*classifier);
  vigil::agent::PrintEventSource source(std::make_unique<CupsPrintSource>(quick()), fx.spec(), shared);
  CHECK(source.name() == "print");
  REQUIRE(source.start().ok());
  REQUIRE(source.pollable_fd() >= 0);

  std::string why;
  int id = fx.server.lp({"-d", fx.printer, "-t", "customers", doc}, &why);
  INFO(why);
  REQUIRE(id > 0);
  std::vector<vigil::v1::Event> events;
  auto end = std::chrono::steady_clock::now() + 20s;
  while (events.empty() && std::chrono::steady_clock::now() < end) {
    pollfd p{source.pollable_fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    auto stats = source.drain(events);
    REQUIRE(stats.ok());
    CHECK(stats->overflows == 0);
  }
  REQUIRE(events.size() == 1);
  const auto& e = events[0];
  CHECK(e.type() == "print.job");
  CHECK(e.user() == current_user());
  CHECK(e.print().job_id() == static_cast<std::uint32_t>(id));
  CHECK(e.print().title() == "customers");
  CHECK(e.print().printer() == fx.printer);
  CHECK(e.print().state() == "completed");
  CHECK(e.print().bytes() == std::filesystem::file_size(doc));
  REQUIRE(e.print().has_classification());
  const auto& c = e.print().classification();
  CHECK(c.status() == "scanned");
  CHECK(c.bytes_scanned() == std::filesystem::file_size(doc));
  std::map<std::string, std::string> found;
  for (const auto& f : c.findings()) found[f.type()] = std::to_string(f.count()) + ":" + f.confidence();
  CHECK(found["credit_card"] == "1:high");
  CHECK(found["email"] == "1:high");
}

TEST_CASE("agent.toml's print_capture and print_server are read, written and type-checked", "[print]") {
  vigil::test::TempDir dir("vigil-cfg");
  vigil::agent::AgentConfig c;
  c.server = "127.0.0.1:7443";
  c.device_id = "dev-1";
  auto fresh = vigil::test::must(vigil::agent::load_agent_config(dir.write("fresh.toml", vigil::agent::render_agent_config(c))));
  CHECK(fresh.print_capture);
  CHECK(fresh.print_server.empty());
  CHECK(fresh.print_spool_dir == "/var/spool/cups");
  c.print_capture = false;
  c.print_server = "/tmp/odd \"dir\"/cups.sock";
  c.print_spool_dir = "/srv/spool\\cups";
  auto set = vigil::test::must(vigil::agent::load_agent_config(dir.write("set.toml", vigil::agent::render_agent_config(c))));
  CHECK_FALSE(set.print_capture);
  CHECK(set.print_server == c.print_server);
  CHECK(set.print_spool_dir == c.print_spool_dir);

  auto bad = dir.write("bad.toml", "server = \"h:1\"\ndevice_id = \"d\"\nprint_capture = \"yes\"\n");
  auto r = vigil::agent::load_agent_config(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find(bad + ":3: print_capture must be true or false") != std::string::npos);
  bad = dir.write("bad2.toml", "server = \"h:1\"\ndevice_id = \"d\"\n\nprint_server = 631\n");
  r = vigil::agent::load_agent_config(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find(bad + ":4: print_server must be a string") != std::string::npos);
  bad = dir.write("bad3.toml", "server = \"h:1\"\ndevice_id = \"d\"\nprint_servers = \"x\"\n");
  r = vigil::agent::load_agent_config(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find(":3: unknown key 'print_servers'") != std::string::npos);

  // Registered with the runtime's optional sources only when enabled.
  auto has_print = [](const vigil::agent::AgentConfig& c) {
    vigil::agent::RuntimeOptions o;
    o.config = c;
    o.config.security_capture = o.config.session_capture = false;  // only print's own switch matters here
    auto sources = vigil::agent::make_event_sources(o);
    return sources.size() == 1 && sources[0]->name() == "print";
  };
  CHECK(has_print(fresh));
  CHECK_FALSE(has_print(set));
}
