// Case evidence: what a case's alerts point at in the event store, read back for investigators.
// - the stored events behind every explained activity of the case's alerts (the alert keeps
//   device, seq and time; the event store is asked for that device and exact time),
// - the files involved (content explorer): path, hashes, size, type, classification, channel,
//   device — one row per evidence event that carries a file or document,
// - the user's activity over time: per-day buckets a chart can draw, with all stored events of
//   the user and the scored activities by the severity of the alert they raised.
// Pure reads; nothing here changes storage.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "collector/policy/model.h"
#include "collector/store/event_store.h"
#include "shared/result.h"

namespace vigil::collector::cases {

struct EvidenceEvent {
  std::string alert_id;
  StoredEvent event;
};

// Events behind the activities of `alerts` (deduplicated by device and seq, oldest first);
// activities whose event is no longer stored are skipped and counted in *missing.
Result<std::vector<EvidenceEvent>> evidence_events(EventStore& store, const std::vector<policy::Alert>& alerts,
                                                   std::size_t* missing = nullptr);

struct CaseFile {
  std::string alert_id, device_id, event_type, channel;  // channel: removable | network_share | print | archive | local
  std::uint64_t seq = 0;
  std::int64_t time_ns = 0;
  std::string path, source_path, sha256, content_type, extension_type;
  std::uint64_t size = 0;
  std::uint64_t files = 1;                 // a bulk summary stands for several files
  std::string volume;                      // label or mount point of the volume written to
  std::vector<std::pair<std::string, std::uint32_t>> findings;  // sensitive type -> count
  std::vector<std::string> tags;           // finding types, "sensitive", "extension_mismatch", "bulk"
};

struct FileFilter {
  std::optional<std::string> source;  // a channel or a device id
  std::optional<std::string> type;    // content or extension type (pdf, docx, zip, ...)
  std::optional<std::string> tag;     // a finding type, "sensitive", "extension_mismatch", "bulk"
};

std::vector<CaseFile> case_files(const std::vector<EvidenceEvent>& evidence);
bool file_matches(const CaseFile& f, const FileFilter& filter);

struct DayBucket {
  std::int32_t day = 0;        // days since the epoch (UTC)
  std::uint64_t events = 0;    // every stored event of the user that day
  std::uint64_t scored = 0;    // explained activities of the case's alerts that day
  double score = 0;            // their points
  std::uint64_t low = 0, medium = 0, high = 0;  // scored activities by their alert's severity
};

struct ActivityOverTime {
  std::int64_t since_ns = 0, until_ns = 0;
  std::vector<DayBucket> days;  // every day of [since, until), zeros included, oldest first
  bool events_truncated = false;  // the store had more events than the bound counted
};

// since/until: defaults to 14 days before the first activity to the day after the last (or
// now); at most kMaxActivityDays.
inline constexpr std::int64_t kMaxActivityDays = 366;
Result<ActivityOverTime> activity_over_time(EventStore& store, const std::string& user,
                                            const std::vector<policy::Alert>& alerts, std::optional<std::int64_t> since,
                                            std::optional<std::int64_t> until, std::int64_t now);

}  // namespace vigil::collector::cases
