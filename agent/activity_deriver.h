// ActivityDeriver: turns raw file activity into what an investigator asks about, on the agent.
// OS-free: it sees FileActivity/VolumeActivity records and the classifier, never the kernel
// (files are read through shared/ helpers). Rules and limits: docs/EXFILTRATION.md.
//
// Promises (implemented in agent/activity_deriver.cpp):
// - Every Create/Write/Rename/Delete still becomes its plain file.* event, appended at once and in
//   order; Read records are not spooled, only remembered per process (bounded: kReadsPerProcess
//   per process, kProcessesRemembered processes) to name the source of a copy.
// - exfil.removable: a regular file written (closed after writing) on a volume that on_volume
//   reported removable; exfil.network_share: the same on a network share. A file written under a
//   temporary name and renamed into place before its derived events went out is reported under
//   its final name. Both carry the volume, the content type, the local source path and the
//   classification of the written file. Source: a file the same process read outside that volume
//   within source_window_ns, not already used as the source of another copy: one of the same size
//   read before the write; else the next read by that process if it comes within source_hold_ns
//   (cp closes the destination before the source); else the most recent read before the write.
// - file.archive_created: a written file whose content (magic bytes, not its name) is an archive
//   or compressed stream: zip (zip-based office documents are NOT archives), 7z, rar, tar (ustar
//   magic), gzip, bzip2, xz, zstd, lz4, cab; unless it is a copy (its source has the same size).
// - file.extension_mismatch: a file written or renamed whose content type disagrees with what its
//   extension claims (shared/content_type.h is_mismatch); unknown either side says nothing.
// - Bulk: per (event type, process, volume) burst, the first `single_events_per_burst` derived
//   events go out one by one; the rest of the burst is counted into one file.bulk event emitted
//   when the burst goes quiet for `burst_quiet_ns` (tick) or reaches `max_bulk_files`. Plain
//   file.* events are not summarised (the collector needs them for reconciliation and counts).
// - Classification runs on every file that gets a derived event, off the caller's thread (one
//   worker; at most max_queued_classifications waiting, beyond that status skipped_load), bounded
//   by ScanLimits; the result (and sha256 when the whole file fit) rides on the derived events,
//   and a summary sums the findings of the files it counts. Derived events therefore come out of
//   on_file/tick a little after their plain event. When disabled (shed under pressure) events say
//   status skipped_load, except for files under priority_paths, which are always classified; with
//   no classifier, or classification turned off by options.classify, status disabled.
// - Derived events are only ever delayed, never lost: tick() emits what is ready, flush_all()
//   waits (bounded by shutdown_wait_ms) for the worker and emits everything still held.
// Not thread-safe: one thread calls every method (the worker is internal).
#pragma once
#include <cstddef>
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
  std::vector<std::string> priority_paths;  // globs (fnmatch): always classified
  std::int64_t source_window_ns = 10'000'000'000;  // how old a read may be to name a source
  std::int64_t source_hold_ns = 1'000'000'000;     // wait for a read that follows the write
  std::size_t max_queued_classifications = 4096;
  std::int64_t shutdown_wait_ms = 3000;            // flush_all: classification still running
  // Collection config's classification_enabled: false turns classification off by policy (events
  // say status disabled), apart from the watchdog's shedding (set_classification_enabled).
  bool classify = true;
  // The file's sensitivity labels, read on the classification worker with its content (the
  // platform's read_file_labels; null: labels are not read).
  std::function<std::vector<std::string>(const std::string& path)> read_labels;
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
  // Whether a removable volume or a network share is mounted now: somewhere to copy files to.
  bool exfil_volumes_mounted() const;
  // Whether reads reach on_file (true unless told otherwise). Without them a copy's source is
  // unknown, and a local archive counts as a copy when a copying program wrote it (cp, mv,
  // rsync, install, dd, cat, scp, sftp-server, rclone), else as made here (docs/DECISIONS.md).
  void set_reads_tracked(bool tracked);
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
  // Waits until no classification is queued or running (tests, benchmarks); false on timeout.
  bool wait_idle(std::int64_t timeout_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
