#include "collector/cases/case_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "collector/api/event_json.h"
#include "collector/cases/case_json.h"
#include "collector/cases/notice_template.h"
#include "collector/policy/alert_json.h"
#include "shared/crypto.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::collector::cases {

namespace json = boost::json;
using policy::AlertStatus;

namespace {

CaseError storage(const std::string& what) { return fail(Failure::Storage, what); }

std::string identity(const std::string& s) { return s; }

// Writes content to dir/name with mode 0600 and returns its SHA-256.
Result<std::string> write_file(const std::string& dir, const std::string& name, const std::string& content) {
  const std::string path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return err("cannot create " + path);
  std::size_t at = 0;
  while (at < content.size()) {
    ssize_t n = ::write(fd, content.data() + at, content.size() - at);
    if (n <= 0) {
      ::close(fd);
      return err("writing " + path + " failed");
    }
    at += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return err("syncing " + path + " failed");
  return crypto::sha256_hex(content);
}

// Every triage decision on record, and the status of every case (by number) they may point to.
struct TriageState {
  std::vector<TriageRecord> records;
  std::map<std::int64_t, CaseStatus> case_status;
};

Result<TriageState> triage_state(CaseStore& store) {
  auto records = store.triage_records();
  if (!records) return err(records.error());
  auto all = store.cases({});
  if (!all) return err(all.error());
  TriageState out{std::move(*records), {}};
  for (const auto& c : *all) out.case_status[c.n] = c.status;
  return out;
}

}  // namespace

CaseService::CaseService(std::unique_ptr<CaseStore> store, policy::PolicyEngine& engine, EventStore& events,
                         std::shared_ptr<const policy::PolicyDirectory> people, std::string exports_dir,
                         std::unique_ptr<Mailer> mailer)
    : store_(std::move(store)),
      engine_(engine),
      events_(events),
      people_(std::move(people)),
      exports_dir_(std::move(exports_dir)),
      mailer_(std::move(mailer)) {}

Status CaseService::reconcile() {
  std::lock_guard lock(mu_);
  auto state = triage_state(*store_);
  if (!state) return err(state.error());
  auto& status = state->case_status;
  std::size_t fixed = 0;
  for (const auto& r : state->records) {
    AlertStatus want = AlertStatus::Dismissed;
    if (r.decision == Decision::Confirmed)
      want = status[r.case_n] == CaseStatus::Resolved ? AlertStatus::Resolved : AlertStatus::Confirmed;
    auto a = engine_.alert(r.alert_id);
    if (!a || a->status == want) continue;
    if (auto st = engine_.set_alert_status(r.alert_id, want); !st) return st;
    ++fixed;
  }
  if (fixed) log::info("cases", "alert statuses re-applied from cases.db", {{"alerts", std::to_string(fixed)}});
  return {};
}

CaseResult<TriageOutcome> CaseService::triage(const TriageRequest& r) {
  if (r.alert_ids.empty()) return fail(Failure::BadInput, "'alert_ids' must name at least one alert");
  if (r.alert_ids.size() > kMaxBulkAlerts)
    return fail(Failure::BadInput, "at most " + std::to_string(kMaxBulkAlerts) + " alerts per request");
  std::set<std::string> distinct(r.alert_ids.begin(), r.alert_ids.end());
  if (distinct.size() != r.alert_ids.size()) return fail(Failure::BadInput, "'alert_ids' names an alert more than once");
  if (r.action == TriageAction::Dismiss && r.reason.empty())
    return fail(Failure::BadInput, "dismissing needs a 'reason' (why the activity is not a risk)");

  std::lock_guard lock(mu_);
  auto records = store_->triage_records();
  if (!records) return storage(records.error());
  std::map<std::string, TriageRecord> decided;
  for (auto& x : *records) decided.emplace(x.alert_id, std::move(x));

  // Every alert first; nothing is written unless all of them pass.
  std::vector<policy::Alert> alerts;
  for (const auto& id : r.alert_ids) {
    auto a = engine_.alert(id);
    if (!a) return fail(Failure::NotFound, "no alert '" + id + "'");
    if (auto it = decided.find(id); it != decided.end() || a->status != AlertStatus::NeedsReview) {
      std::string what = it != decided.end() ? std::string(to_string(it->second.decision)) : policy::to_string(a->status);
      if (it != decided.end() && it->second.case_n) what += " into case c-" + std::to_string(it->second.case_n);
      return fail(Failure::Conflict, "alert '" + id + "' was already triaged (" + what + "); nothing was changed");
    }
    alerts.push_back(std::move(*a));
  }
  const std::int64_t now = now_ns();
  TriageOutcome out;
  out.alert_ids = r.alert_ids;
  switch (r.action) {
    case TriageAction::Dismiss: {
      if (auto st = store_->dismiss(r.alert_ids, r.reason, r.by, now); !st) return storage(st.error());
      break;
    }
    case TriageAction::Confirm: {
      for (const auto& a : alerts)
        if (a.user != alerts.front().user)
          return fail(Failure::Conflict, "a case is about one user: alerts '" + alerts.front().id + "' and '" + a.id +
                                             "' are about different users; nothing was changed");
      std::string title = r.title;
      if (title.empty()) title = "Alert " + alerts.front().id + " (" + policy::to_string(alerts.front().severity) + ")";
      auto c = store_->open_case(alerts.front().user, title, r.alert_ids, r.by, now);
      if (!c) return storage(c.error());
      out.kase = std::move(*c);
      break;
    }
    case TriageAction::Attach: {
      auto c = load_case(r.case_id);
      if (!c) return c.failure();
      if (c->status == CaseStatus::Resolved)
        return fail(Failure::Conflict, "case '" + r.case_id + "' is resolved; alerts can only join an open case");
      for (const auto& a : alerts)
        if (a.user != c->user)
          return fail(Failure::Conflict, "alert '" + a.id + "' is about another user than case '" + r.case_id +
                                             "'; nothing was changed");
      if (auto st = store_->attach(c->n, r.alert_ids, r.by, now); !st) return storage(st.error());
      auto fresh = load_case(r.case_id);
      if (!fresh) return fresh.failure();
      out.kase = std::move(*fresh);
      break;
    }
  }
  const AlertStatus status = r.action == TriageAction::Dismiss ? AlertStatus::Dismissed : AlertStatus::Confirmed;
  for (const auto& id : r.alert_ids)
    if (auto st = engine_.set_alert_status(id, status); !st)  // recorded already: reconcile() repairs it
      log::error("cases", "alert status not applied", {{"alert", id}, {"error", st.error()}});
  return out;
}

Result<std::map<std::string, AlertTriage>> CaseService::triage_view() {
  auto state = triage_state(*store_);
  if (!state) return err(state.error());
  auto& status = state->case_status;
  std::map<std::string, AlertTriage> out;
  for (auto& r : state->records) {
    AlertTriage t{r, std::nullopt};
    if (r.case_n) t.case_status = status[r.case_n];
    out.emplace(r.alert_id, std::move(t));
  }
  return out;
}

Result<std::vector<Case>> CaseService::cases(const CaseFilter& filter) { return store_->cases(filter); }

CaseResult<Case> CaseService::load_case(const std::string& id) {
  auto n = parse_prefixed_id(id, 'c');
  if (!n) return fail(Failure::NotFound, "no case '" + id + "' (case ids look like c-1)");
  auto c = store_->find_case(*n);
  if (!c) return storage(c.error());
  if (!*c) return fail(Failure::NotFound, "no case '" + id + "'");
  return std::move(**c);
}

CaseResult<Case> CaseService::find_case(const std::string& id) { return load_case(id); }

std::vector<policy::Alert> CaseService::alerts_of(const Case& c) const {
  std::vector<policy::Alert> out;
  for (const auto& id : c.alert_ids)
    if (auto a = engine_.alert(id)) out.push_back(std::move(*a));
  return out;
}

CaseResult<Note> CaseService::add_note(const std::string& case_id, const std::string& author, const std::string& text) {
  if (text.empty() || text.size() > kMaxNote) return fail(Failure::BadInput, "'text' must be 1 to 20000 characters");
  std::lock_guard lock(mu_);
  auto c = load_case(case_id);
  if (!c) return c.failure();
  if (c->status == CaseStatus::Resolved)
    return fail(Failure::Conflict, "case '" + case_id + "' is resolved and read-only");
  auto n = store_->add_note(c->n, author, text, now_ns());
  if (!n) return storage(n.error());
  return std::move(*n);
}

Result<std::vector<Note>> CaseService::notes(const Case& c) { return store_->notes(c.n); }

CaseResult<Case> CaseService::close(const std::string& case_id, Resolution resolution, const std::string& reason,
                                    const std::string& by) {
  if (resolution == Resolution::None) return fail(Failure::BadInput, "'resolution' must be benign or confirmed");
  std::lock_guard lock(mu_);
  auto c = load_case(case_id);
  if (!c) return c.failure();
  if (c->status == CaseStatus::Resolved)
    return fail(Failure::Conflict, "case '" + case_id + "' is already resolved (" + to_string(c->resolution) + ")");
  if (auto st = store_->resolve(c->n, resolution, reason, by, now_ns()); !st) return storage(st.error());
  for (const auto& id : c->alert_ids)
    if (auto st = engine_.set_alert_status(id, AlertStatus::Resolved); !st)
      log::error("cases", "alert status not applied", {{"alert", id}, {"error", st.error()}});
  return load_case(case_id);
}

CaseResult<EscalationPackage> CaseService::escalate(const std::string& case_id, const std::string& reason,
                                                    const std::string& by) {
  std::lock_guard lock(mu_);
  auto c = load_case(case_id);
  if (!c) return c.failure();
  if (c->status == CaseStatus::Resolved)
    return fail(Failure::Conflict, "case '" + case_id + "' is resolved; only an active case can be escalated");
  if (c->status == CaseStatus::Escalated)
    return fail(Failure::Conflict, "case '" + case_id + "' was already escalated (package " + c->export_dir + ")");
  const std::int64_t now = now_ns();
  auto pkg = write_package(*c, reason, by, now);
  if (!pkg) return pkg.failure();
  if (auto st = store_->mark_escalated(c->n, pkg->dir, by, now); !st) {
    std::error_code ec;
    std::filesystem::remove_all(pkg->dir, ec);
    return storage(st.error());
  }
  return pkg;
}

CaseResult<EscalationPackage> CaseService::write_package(const Case& c, const std::string& reason, const std::string& by,
                                                         std::int64_t now) {
  // Gather everything before creating the directory, so a storage error leaves nothing behind.
  const auto alerts = alerts_of(c);
  std::size_t missing = 0;
  auto evidence = evidence_events(events_, alerts, &missing);
  if (!evidence) return storage(evidence.error());
  auto notes = store_->notes(c.n);
  if (!notes) return storage(notes.error());
  auto sent = store_->notices(c.n);
  if (!sent) return storage(sent.error());

  std::vector<std::pair<std::string, std::string>> contents;
  {
    json::object o = case_to_json(c, identity);
    o["escalation_reason"] = reason;
    contents.emplace_back("case.json", json::serialize(o) + "\n");
  }
  {
    json::array a;
    for (const auto& al : alerts) a.emplace_back(policy::alert_to_json(al, true));
    contents.emplace_back("alerts.json", json::serialize(a) + "\n");
  }
  {
    std::string lines;
    for (const auto& ev : *evidence) {
      json::object o = event_to_json(ev.event);
      o["alert_id"] = ev.alert_id;
      lines += json::serialize(o) + "\n";
    }
    contents.emplace_back("events.jsonl", std::move(lines));
  }
  {
    json::array a;
    for (const auto& f : case_files(*evidence)) a.emplace_back(file_to_json(f));
    contents.emplace_back("files.json", json::serialize(a) + "\n");
  }
  {
    json::array a;
    for (const auto& n : *notes) a.emplace_back(note_to_json(n));
    contents.emplace_back("notes.json", json::serialize(a) + "\n");
  }
  {
    json::array a;
    for (const auto& m : *sent) a.emplace_back(notice_to_json(m, true));
    contents.emplace_back("notices.json", json::serialize(a) + "\n");
  }

  std::string stamp = format_rfc3339(now, 0);  // 2026-12-06T19:30:00Z -> 20261206T193000Z
  stamp.erase(std::remove_if(stamp.begin(), stamp.end(), [](char ch) { return ch == '-' || ch == ':'; }), stamp.end());
  ::mkdir(exports_dir_.c_str(), 0700);
  const std::string dir = exports_dir_ + "/" + c.id() + "-" + stamp;
  if (::mkdir(dir.c_str(), 0700) != 0) return storage("cannot create the export directory " + dir);
  auto cleanup = [&] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  };
  EscalationPackage pkg{dir, {}};
  json::array files;
  for (const auto& [name, text] : contents) {
    auto sha = write_file(dir, name, text);
    if (!sha) {
      cleanup();
      return storage(sha.error());
    }
    pkg.files.emplace_back(name, *sha);
    files.emplace_back(json::object{{"name", name}, {"bytes", text.size()}, {"sha256", *sha}});
  }
  json::object manifest;
  manifest["case_id"] = c.id();
  manifest["created"] = format_rfc3339(now, 3);
  manifest["created_by"] = by;
  manifest["reason"] = reason;
  manifest["events"] = evidence->size();
  manifest["events_no_longer_stored"] = missing;
  manifest["files"] = std::move(files);
  if (auto sha = write_file(dir, "manifest.json", json::serialize(manifest) + "\n"); !sha) {
    cleanup();
    return storage(sha.error());
  }
  return pkg;
}

Result<std::vector<CaseFile>> CaseService::files(const Case& c, const FileFilter& filter) {
  auto evidence = evidence_events(events_, alerts_of(c));
  if (!evidence) return err(evidence.error());
  std::vector<CaseFile> out;
  for (auto& f : case_files(*evidence))
    if (file_matches(f, filter)) out.push_back(std::move(f));
  return out;
}

Result<ActivityOverTime> CaseService::activity(const Case& c, std::optional<std::int64_t> since,
                                               std::optional<std::int64_t> until) {
  return activity_over_time(events_, c.user, alerts_of(c), since, until, now_ns());
}

CaseResult<NoticeTemplate> CaseService::add_template(const std::string& name, const std::string& subject,
                                                     const std::string& body, const std::string& by) {
  if (auto st = check_template(name, subject, body); !st) return fail(Failure::BadInput, st.error());
  auto t = store_->add_template(NoticeTemplate{0, name, subject, body, by, now_ns()});
  if (!t) return storage(t.error());
  if (!*t) return fail(Failure::Conflict, "a notice template named '" + name + "' exists already");
  return std::move(**t);
}

Result<std::vector<NoticeTemplate>> CaseService::templates() { return store_->templates(); }

CaseResult<Notice> CaseService::send_notice(const std::string& case_id, const std::string& ref, const std::string& sender) {
  auto c = load_case(case_id);
  if (!c) return c.failure();
  if (c->status == CaseStatus::Resolved) return fail(Failure::Conflict, "case '" + case_id + "' is resolved and read-only");
  auto all = store_->templates();
  if (!all) return storage(all.error());
  const NoticeTemplate* t = nullptr;
  for (const auto& x : *all)
    if (x.id() == ref || x.name == ref) t = &x;
  if (!t) return fail(Failure::NotFound, "no notice template '" + ref + "'");

  const std::int64_t now = now_ns();
  std::map<std::string, std::string> values{{"user", c->user},
                                            {"case_id", c->id()},
                                            {"case_title", c->title},
                                            {"sender", sender},
                                            {"date", format_rfc3339(now, 0).substr(0, 10)}};
  Notice m;
  m.case_n = c->n;
  m.template_name = t->name;
  m.subject = render_template(t->subject, values);
  m.body = render_template(t->body, values);
  m.sender = sender;
  m.at_ns = now;
  Failure kind = Failure::Delivery;
  for (const auto& a : people_->user_attributes())
    if (a.user == c->user) m.recipient = a.email;
  if (m.subject.find_first_of("\r\n") != std::string::npos) {
    m.error = "the filled-in subject is not one line";
    kind = Failure::BadInput;
  } else if (m.recipient.empty()) {
    m.error = "the user has no 'email' attribute (import it with the user attributes)";
    kind = Failure::Conflict;
  } else if (!mailer_) {
    m.error = "no SMTP relay is configured (collector.toml [smtp])";
    kind = Failure::Unavailable;
  } else if (auto st = mailer_->send(MailMessage{m.recipient, m.subject, m.body}); !st) {
    m.error = st.error();
  } else {
    m.delivered = true;
  }
  auto saved = store_->add_notice(m);
  if (!saved) return storage("the notice was " + std::string(m.delivered ? "sent" : "not sent") +
                             " but could not be recorded: " + saved.error());
  if (!m.delivered) return fail(kind, "notice " + saved->id() + " was not delivered (recorded on the case): " + m.error);
  return std::move(*saved);
}

Result<std::vector<Notice>> CaseService::notices(const Case& c) { return store_->notices(c.n); }

}  // namespace vigil::collector::cases
