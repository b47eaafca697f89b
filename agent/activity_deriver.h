// ActivityDeriver: turns raw file activity into what an investigator asks about, on the agent.
// OS-free: it sees FileActivity/VolumeActivity records and the classifier, never the kernel.
//
// Promises (implemented in agent/activity_deriver.cpp; see the issue 3 notes in docs/STATUS.md):
// - Every Create/Write/Rename/Delete still becomes its plain file.* event; Read records are not
//   spooled, only remembered per process (bounded) to name the source of a copy.
// - exfil.removable: a file written (closed after writing, or renamed into place) on a volume that
//   volume.mounted reported removable; exfil.network_share: the same on a network share. Both
//   carry the volume, the content type, the local source path when the same process read a file
//   outside that volume just before (most recent read of the same size, else the most recent),
//   and the classification of the written file.
// - file.archive_created: a new or rewritten file whose content (magic bytes, not its name) is an
//   archive or compressed stream: zip (and zip-based office formats are NOT archives), 7z, rar,
//   tar (ustar magic), gzip, bzip2, xz, zstd, lz4, cab.
// - file.extension_mismatch: the content type disagrees with what the extension claims (a PDF
//   named .txt); unknown extensions and content that cannot be typed say nothing.
// - Bulk: per (operation, process, volume) burst, the first `single_events_per_burst` derived
//   events go out one by one; the rest of the burst is counted into one file.bulk event emitted
//   when the burst goes quiet for `burst_quiet_ns` (tick) or reaches `max_bulk_files`. Plain
//   file.* events are not summarised (the collector needs them for reconciliation and counts).
// - Classification runs on files involved in exfiltration and archiving, bounded by ScanLimits;
//   when disabled (shed under pressure) the event says so (status skipped_load).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/capture.h"
#include "shared/classifier.h"
#include "vigil.pb.h"

namespace vigil::agent {

struct DerivationOptions {
  ScanLimits scan_limits{};
  std::uint32_t single_events_per_burst = 20;
  std::uint64_t max_bulk_files = 100000;
  std::int64_t burst_quiet_ns = 2'000'000'000;
  std::vector<std::string> priority_paths;  // globs: always classified
};

struct DerivationStats {
  std::uint64_t classified_files = 0;
  std::uint64_t classification_skipped = 0;
  std::uint64_t derived_events = 0;
  std::uint64_t summarised_files = 0;
};

class ActivityDeriver {
 public:
  ActivityDeriver(DerivationOptions options, std::shared_ptr<const Classifier> classifier);
  ~ActivityDeriver();
  // Volumes mounted when the agent starts, then each change.
  void on_volume(const VolumeActivity& volume);
  // Appends the plain event (not for Read) and any derived events to out.
  void on_file(const FileActivity& activity, std::vector<v1::Event>& out);
  // Closes bursts that went quiet; call every flush.
  void tick(std::int64_t now_ns, std::vector<v1::Event>& out);
  // Closes every open burst (shutdown).
  void flush_all(std::vector<v1::Event>& out);
  // Watchdog: shed classification under pressure (events then say skipped_load).
  void set_classification_enabled(bool enabled);
  bool classification_enabled() const;
  // Collection config from the collector: new rules and priority paths.
  void update(DerivationOptions options, std::shared_ptr<const Classifier> classifier);
  DerivationStats take_stats();  // since the last call

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
