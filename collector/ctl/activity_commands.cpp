#include "collector/ctl/activity_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"
#include "collector/ctl/session.h"

namespace vigil::ctl {

namespace json = boost::json;

namespace {

struct ActivityArgs {
  std::string user, device, type, channel, path, classification, since, until;
  std::size_t limit = 100;
  bool count = false, all = false, json = false;
  std::string cursor, format, output;

  // name=value pairs of the filters that were given.
  std::vector<std::pair<std::string, std::string>> filters() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [n, v] : {std::pair<const char*, const std::string*>{"user", &user}, {"device", &device},
                               {"type", &type}, {"channel", &channel}, {"path", &path},
                               {"classification", &classification}, {"since", &since}, {"until", &until}})
      if (!v->empty()) out.emplace_back(n, *v);
    return out;
  }
};

void add_filter_options(CLI::App* c, ActivityArgs& a) {
  c->add_option("--user", a.user, "only this user (the name as you see it: a pseudonym when names are hidden)");
  c->add_option("--device", a.device, "only this device id");
  c->add_option("--type", a.type, "event type (file.write) or a prefix ending in '.' (exfil.)");
  c->add_option("--channel", a.channel, "removable | network_share | print | file | device | security | session | agent | other");
  c->add_option("--path", a.path, "glob on the file path ('*' also crosses '/'): '*.docx', '/media/*'");
  c->add_option("--classification", a.classification, "a sensitive info type found in the content (credit_card, ...) or 'any'");
  c->add_option("--since", a.since, "from this time: RFC 3339 or a duration ago (30d, 12h)");
  c->add_option("--until", a.until, "before this time: RFC 3339 or a duration ago");
}

const json::array* events_of(const json::object& o, int& code) {
  auto* v = o.if_contains("events");
  if (!v || !v->is_array()) {
    complain("unexpected answer: no 'events' list");
    code = kFailure;
    return nullptr;
  }
  return &v->as_array();
}

int activity_query(const CtlFlags& flags, const ActivityArgs& a) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  std::string base = "/api/v1/activity?limit=" + std::to_string(a.limit);
  for (const auto& [n, v] : a.filters()) base += "&" + n + "=" + url_encode(v);
  if (a.count) base += "&count=true";
  std::string cursor = a.cursor;
  std::vector<std::vector<std::string>> rows;
  std::optional<std::int64_t> total;
  std::size_t shown = 0;
  for (;;) {
    auto r = call(*s, "GET", base + (cursor.empty() ? "" : "&cursor=" + url_encode(cursor)), "", code);
    if (!r) return code;
    auto* events = events_of(r->body, code);
    if (!events) return code;
    if (auto* t = r->body.if_contains("total"); t && t->is_int64()) total = t->as_int64();
    for (const auto& v : *events) {
      if (!v.is_object()) continue;
      ++shown;
      const auto& e = v.as_object();
      if (a.json) std::cout << json::serialize(e) << '\n';
      else
        rows.push_back({short_time(field_text(e, "time")), field_text(e, "device_id"), field_text(e, "user"),
                        field_text(e, "type"), field_text(e, "channel"), event_summary(e)});
    }
    auto* next = r->body.if_contains("next_cursor");
    cursor = next && next->is_string() ? std::string(next->as_string()) : "";
    if (cursor.empty() || !a.all) break;
  }
  if (a.json) {
    std::cout.flush();
  } else if (rows.empty()) {
    std::cout << "No activity matches.\n";
  } else {
    print_table(std::cout, {"TIME", "DEVICE", "USER", "TYPE", "CHANNEL", "WHAT"}, rows);
  }
  // Where to go on: on stderr, so --json output stays one event per line.
  if (total) std::cerr << shown << " of " << *total << " matching events shown\n";
  if (!cursor.empty()) std::cerr << "more: add --cursor " << cursor << " (or use --all)\n";
  return kOk;
}

int activity_export(const CtlFlags& flags, const ActivityArgs& a) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  json::object body;
  body["format"] = a.format;
  for (const auto& [n, v] : a.filters()) body[n] = v;
  auto started = call(*s, "POST", "/api/v1/activity/exports", json::serialize(body), code);
  if (!started) return code;
  const std::string name = field_text(started->body, "name");
  if (name.empty()) {
    complain("unexpected answer: the export has no name");
    return kFailure;
  }
  // Progress while it runs: redrawn in place on a terminal, a line now and then otherwise.
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto last_line = std::chrono::steady_clock::now() - std::chrono::hours(1);
  json::object status = started->body;
  for (;;) {
    const std::string state = field_text(status, "state");
    const auto done = status.if_contains("rows_done"), total = status.if_contains("rows_total");
    const double d = done && done->is_number() ? done->to_number<double>() : 0;
    const double t = total && total->is_number() ? total->to_number<double>() : 0;
    char line[160];
    std::snprintf(line, sizeof line, "exporting %s: %.0f / %.0f rows (%.0f%%)", name.c_str(), d, t, t > 0 ? 100 * d / t : 100.0);
    const auto now = std::chrono::steady_clock::now();
    if (tty) std::cerr << '\r' << line << std::flush;
    else if (state != "running" || now - last_line > std::chrono::seconds(2)) {
      std::cerr << line << '\n';
      last_line = now;
    }
    if (state != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto r = call(*s, "GET", "/api/v1/activity/exports/" + url_encode(name), "", code);
    if (!r) return code;
    status = std::move(r->body);
  }
  if (tty) std::cerr << '\n';
  if (field_text(status, "state") != "done") {
    complain("export " + name + " " + field_text(status, "state") + ": " + field_text(status, "error"));
    return kFailure;
  }
  auto res = s->client.request("GET", "/api/v1/activity/exports/" + url_encode(name) + "/content",
                               {{"Authorization", "Bearer " + s->settings.token}});
  if (!res) {
    complain(res.error());
    return kFailure;
  }
  if (res->status != 200) {
    complain("downloading " + name + ": the server answered " + std::to_string(res->status) + ": " + res->body.substr(0, 200));
    return kFailure;
  }
  const std::string out = a.output.empty() ? name : a.output;
  // The export holds people's activity: readable by its owner only, like on the server.
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    complain("cannot write " + out + ": " + std::strerror(errno));
    return kUsage;
  }
  std::string_view rest = res->body;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      complain("writing " + out + ": " + std::strerror(errno));
      ::close(fd);
      return kFailure;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::close(fd) != 0) {
    complain("writing " + out + ": " + std::strerror(errno));
    return kFailure;
  }
  if (a.json) {
    status["file"] = out;
    std::cout << json::serialize(status) << std::endl;
  } else {
    std::cout << "Exported " << field_text(status, "rows_done") << " events to " << out << " (" << res->body.size() << " bytes).\n";
  }
  return kOk;
}

}  // namespace

void add_activity_commands(CLI::App& app, const CtlFlags& flags, int& result) {
  auto a = std::make_shared<ActivityArgs>();
  auto* activity = app.add_subcommand("activity", "investigate all collected activity: query and export");
  activity->require_subcommand(1);

  auto* query = activity->add_subcommand("query", "events matching the filters, newest first");
  add_filter_options(query, *a);
  query->add_option("--limit", a->limit, "events per page (1-1000)")->check(CLI::Range(1, 1000));
  query->add_flag("--count", a->count, "also count every match (printed on stderr)");
  query->add_flag("--all", a->all, "follow the pages to the end");
  query->add_option("--cursor", a->cursor, "continue after the page that printed this cursor");
  query->add_flag("--json", a->json, "one JSON object per event per line");
  query->callback([&flags, &result, a] { result = activity_query(flags, *a); });

  auto* exp = activity->add_subcommand("export", "export the matching events to a file (runs on the server, then downloads)");
  add_filter_options(exp, *a);
  exp->add_option("--format", a->format, "csv | jsonl")->required()->check(CLI::IsMember({"csv", "jsonl"}));
  exp->add_option("--output,-o", a->output, "where to write it (default: the export's name in this directory)");
  exp->add_flag("--json", a->json, "print the finished export's status as one JSON object");
  exp->callback([&flags, &result, a] { result = activity_export(flags, *a); });
}

}  // namespace vigil::ctl
