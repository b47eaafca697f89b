// Spool: the agent's durable buffer between capture and upload (SQLite, WAL).
//
// Promises:
// - append() gives the events contiguous per-device seqs (continuing from the highest ever
//   assigned, which survives restarts and drops) and stores them as ONE zstd-compressed batch,
//   together with the checkpoint updates, in one transaction. After append() returns, the batch
//   survives a crash of the process (synchronous=NORMAL in WAL: process crash safe, not power
//   loss; documented in docs/).
// - A batch's bytes and seq range never change after append(): the uploader resends exactly what
//   was stored, so the collector can dedupe on it.
// - Batches leave the spool only through ack() (the collector committed them) or enforce_caps()
//   (over the byte or age cap: the oldest are dropped, and an agent.loss event with their seq
//   range and counts is appended in the same transaction, so a drop is never silent).
// - One Spool is used from one thread.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::agent {

struct SpoolLimits {
  std::uint64_t max_bytes = 512ull << 20;                 // compressed batch bytes
  std::int64_t max_age_ns = 14ll * 24 * 3600 * 1000000000;  // oldest batch kept
};

struct SpooledBatch {
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint32_t event_count = 0;
  std::uint64_t uncompressed_bytes = 0;
  std::int64_t created_ns = 0;
  std::string zstd_payload;  // zstd(EventBatch)
};

struct SeqRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

// What the agent last knew of a file under a watched root (for restart reconciliation).
struct CheckpointEntry {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool removed = false;  // true: forget this path
};

struct CapOutcome {
  std::uint64_t dropped_batches = 0;
  std::uint64_t dropped_events = 0;
  std::optional<SeqRange> loss_event;  // the agent.loss batch appended, if anything was dropped
};

// The previous run, as the spool recorded it.
struct RunState {
  bool first_run = true;           // no previous run recorded
  bool clean_shutdown = false;     // previous run ended through mark_clean_shutdown()
  std::int64_t last_heartbeat_ns = 0;
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> open(const std::string& path, const std::string& device_id,
                                             const SpoolLimits& limits);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // events: seq fields are overwritten. Empty input is an error.
  Result<SeqRange> append(std::vector<v1::Event>& events,
                          const std::vector<CheckpointEntry>& checkpoint_updates = {});
  // Oldest first, starting after after_seq (0 = from the oldest), at most max_batches.
  Result<std::vector<SpooledBatch>> pending(std::uint64_t after_seq, std::size_t max_batches);
  // Deletes the batch starting at first_seq. Acking an unknown batch is fine (already gone).
  Status ack(std::uint64_t first_seq);
  Result<CapOutcome> enforce_caps(std::int64_t now_ns);

  std::uint64_t next_seq() const;
  std::uint64_t bytes() const;           // compressed bytes of batches held
  std::uint64_t batch_count() const;

  // Run lifecycle: read once at start, then heartbeat periodically; clean shutdown on SIGTERM.
  RunState previous_run() const;
  Status heartbeat(std::int64_t now_ns);  // also marks this run as not yet cleanly shut down
  Status mark_clean_shutdown(std::int64_t now_ns);

  // Checkpoint of files under watched roots. roots already baselined are remembered.
  Result<std::vector<CheckpointEntry>> checkpoint_under(const std::string& root) const;
  Result<bool> root_baselined(const std::string& root) const;
  // Records a full baseline of root (replacing what was there) in one transaction.
  Status baseline_root(const std::string& root, const std::vector<CheckpointEntry>& entries);

  struct Impl;

 private:
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
