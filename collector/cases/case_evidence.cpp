#include "collector/cases/case_evidence.h"

#include <algorithm>
#include <set>

#include "collector/policy/activity.h"

namespace vigil::collector::cases {

namespace {

constexpr std::int64_t kNsPerDay = 86400LL * 1'000'000'000;
constexpr std::size_t kMaxEventsCounted = 100000;

std::int32_t day_of(std::int64_t t) {
  return static_cast<std::int32_t>(t >= 0 ? t / kNsPerDay : (t - kNsPerDay + 1) / kNsPerDay);
}

void add_findings(CaseFile& f, const google::protobuf::RepeatedPtrField<v1::Finding>& findings) {
  for (const auto& x : findings) {
    f.findings.emplace_back(x.type(), x.count());
    f.tags.push_back(x.type());
  }
  if (!findings.empty()) f.tags.push_back("sensitive");
}

std::string volume_name(const v1::VolumeRef& v) { return !v.label().empty() ? v.label() : v.mount_point(); }

}  // namespace

Result<std::vector<EvidenceEvent>> evidence_events(EventStore& store, const std::vector<policy::Alert>& alerts,
                                                   std::size_t* missing) {
  std::vector<EvidenceEvent> out;
  std::set<std::pair<std::string, std::uint64_t>> seen;
  std::size_t lost = 0;
  for (const auto& a : alerts) {
    for (const auto& act : a.activities) {
      if (!seen.insert({act.device_id, act.seq}).second) continue;
      EventQuery q;
      q.device_id = act.device_id;
      q.since_ns = act.time_ns;
      q.until_ns = act.time_ns + 1;
      q.limit = 1000;
      auto found = store.query_events(q);
      if (!found) return err("reading the events of alert " + a.id + ": " + found.error());
      bool hit = false;
      for (auto& e : *found)
        if (e.event.seq() == act.seq) {
          out.push_back(EvidenceEvent{a.id, std::move(e)});
          hit = true;
          break;
        }
      if (!hit) ++lost;
    }
  }
  std::sort(out.begin(), out.end(), [](const EvidenceEvent& x, const EvidenceEvent& y) {
    if (x.event.event.time_ns() != y.event.event.time_ns()) return x.event.event.time_ns() < y.event.event.time_ns();
    if (x.event.device_id != y.event.device_id) return x.event.device_id < y.event.device_id;
    return x.event.event.seq() < y.event.event.seq();
  });
  if (missing) *missing = lost;
  return out;
}

std::vector<CaseFile> case_files(const std::vector<EvidenceEvent>& evidence) {
  std::vector<CaseFile> out;
  for (const auto& ev : evidence) {
    const v1::Event& e = ev.event.event;
    CaseFile f;
    f.alert_id = ev.alert_id;
    f.device_id = ev.event.device_id;
    f.event_type = e.type();
    f.seq = e.seq();
    f.time_ns = e.time_ns();
    const auto activity = policy::read_activity(e);
    f.channel = activity.channel.empty() ? "local" : std::string(activity.channel);
    if (e.has_file()) {
      const auto& b = e.file();
      if (b.is_dir()) continue;
      f.path = b.path();
      f.source_path = b.source_path();
      f.sha256 = b.sha256();
      f.size = b.size();
      f.content_type = b.content_type();
      f.extension_type = b.extension_type();
      if (b.has_volume()) f.volume = volume_name(b.volume());
      if (b.has_classification()) add_findings(f, b.classification().findings());
      if (e.type() == "file.extension_mismatch") f.tags.push_back("extension_mismatch");
    } else if (e.has_bulk()) {
      const auto& b = e.bulk();
      f.path = b.common_dir();
      f.size = b.bytes();
      f.files = b.files();
      if (b.has_volume()) f.volume = volume_name(b.volume());
      add_findings(f, b.findings());
      f.tags.push_back("bulk");
      if (b.content_types_size() == 1) f.content_type = b.content_types().begin()->first;
    } else if (e.has_print()) {
      const auto& b = e.print();
      f.path = b.title();
      f.size = b.bytes();
      f.content_type = b.document_format();
      f.volume = b.printer();
      if (b.has_classification()) add_findings(f, b.classification().findings());
    } else {
      continue;  // security settings, sessions: no file involved
    }
    out.push_back(std::move(f));
  }
  return out;
}

bool file_matches(const CaseFile& f, const FileFilter& q) {
  if (q.source && f.channel != *q.source && f.device_id != *q.source) return false;
  if (q.type && f.content_type != *q.type && f.extension_type != *q.type) return false;
  if (q.tag && std::find(f.tags.begin(), f.tags.end(), *q.tag) == f.tags.end()) return false;
  return true;
}

Result<ActivityOverTime> activity_over_time(EventStore& store, const std::string& user,
                                            const std::vector<policy::Alert>& alerts, std::optional<std::int64_t> since,
                                            std::optional<std::int64_t> until, std::int64_t now) {
  std::int64_t first = INT64_MAX, last = INT64_MIN;
  for (const auto& a : alerts)
    for (const auto& act : a.activities) {
      first = std::min(first, act.time_ns);
      last = std::max(last, act.time_ns);
    }
  if (first == INT64_MAX) first = last = now;
  ActivityOverTime out;
  const std::int32_t from_day = since ? day_of(*since) : day_of(first) - 14;
  std::int32_t to_day = until ? day_of(*until - 1) + 1 : std::max(day_of(last), day_of(now)) + 1;
  if (to_day <= from_day) return err("'since' must be before 'until'");
  if (to_day - from_day > kMaxActivityDays) {
    if (until) return err("at most " + std::to_string(kMaxActivityDays) + " days can be drawn at once");
    to_day = from_day + static_cast<std::int32_t>(kMaxActivityDays);
  }
  out.since_ns = static_cast<std::int64_t>(from_day) * kNsPerDay;
  out.until_ns = static_cast<std::int64_t>(to_day) * kNsPerDay;
  out.days.resize(static_cast<std::size_t>(to_day - from_day));
  for (std::int32_t d = from_day; d < to_day; ++d) out.days[static_cast<std::size_t>(d - from_day)].day = d;
  auto bucket = [&](std::int64_t t) -> DayBucket* {
    if (t < out.since_ns || t >= out.until_ns) return nullptr;
    return &out.days[static_cast<std::size_t>(day_of(t) - from_day)];
  };
  EventQuery q;
  q.user = user;
  q.since_ns = out.since_ns;
  q.until_ns = out.until_ns;
  q.limit = kMaxEventsCounted;
  auto events = store.query_events(q);
  if (!events) return err("reading the user's events: " + events.error());
  out.events_truncated = events->size() >= kMaxEventsCounted;
  for (const auto& e : *events)
    if (auto* b = bucket(e.event.time_ns())) b->events++;
  for (const auto& a : alerts)
    for (const auto& act : a.activities)
      if (auto* b = bucket(act.time_ns)) {
        b->scored++;
        b->score += act.score;
        (a.severity == policy::Severity::High ? b->high : a.severity == policy::Severity::Medium ? b->medium : b->low)++;
      }
  return out;
}

}  // namespace vigil::collector::cases
