// Restart reconciliation: what changed under the watched roots while the agent was not running.
//
// Killing the agent must not be a way to copy or change files unseen. The spool keeps a
// checkpoint (path, size, mtime) of every regular file under the watched roots; the live pipeline
// keeps it current in the same transaction as its batches (checkpoint_updates_for), and at start
// reconcile_root() walks each root and compares: a file not in the checkpoint is a reconciled
// file.create, a changed size or mtime a file.write, a checkpointed file that is gone a
// file.delete. Each event carries FileBody.reconciled = true, time = when the agent found it,
// and no user or process: the change happened while nobody was watching, so who did it is
// unknown (the investigator sees the gap event and the file's mtime instead).
//
// Crash safety: reconcile_root() only reads. commit_reconcile() stores the events together with
// the matching checkpoint updates (spool.append(events, updates)), so a crash in the middle
// loses nothing and reports nothing twice: what was committed is no longer a difference, and
// what was not is found again on the next start.
//
// Startup, per watched root (apply each root's result before computing the next: roots may nest
// and share checkpoint entries):
//   auto r = reconcile_root(spool, root, excludes, now_ns(), kMaxReconcileEntries);
//   if (r) commit_reconcile(spool, *r);   // baselines a new root, or appends the events
//
// Paths in events and in the checkpoint are the escaped form (escape_non_utf8), as in live events.
// Only regular files are checkpointed: directories, symlinks, devices and sockets are not, and
// symlinks are never followed. Nothing here uses OS headers (std::filesystem only).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/spool.h"
#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::agent {

inline constexpr std::size_t kDefaultReconcileMaxEntries = 2'000'000;
// Events per batch when commit_reconcile() appends a large reconciliation.
inline constexpr std::size_t kReconcileBatchEvents = 1000;

struct ReconcileResult {
  std::string root;  // normalized (no trailing '/'), escaped form
  // true: the root had no baseline. events is empty and checkpoint_updates is the full list of
  // regular files found; commit_reconcile() records them with spool.baseline_root().
  bool baseline = false;
  // file.create | file.write | file.delete, reconciled = true. Not sequenced yet.
  std::vector<v1::Event> events;
  // Baseline: every file found. Otherwise one per event, same order (checkpoint_updates[i]
  // records what events[i] reports), so any prefix of both can be committed together.
  std::vector<CheckpointEntry> checkpoint_updates;
  std::uint64_t files_scanned = 0;   // regular files looked at
  std::uint64_t entries_walked = 0;  // directory entries of any type (what max_entries counts)
  // The walk stopped at max_entries: files beyond it were not looked at, so creations there are
  // not reported. Changes and deletions of checkpointed files are still found (each missed
  // checkpoint entry is checked directly). A truncated baseline holds only what was walked; the
  // walk order is the directory order, so later walks usually cover the same part first.
  bool truncated = false;
  // Directories that could not be read (permission denied, vanished during the walk). Their
  // checkpointed files are checked one by one, like in the truncated case.
  std::uint64_t unreadable_dirs = 0;
};

// Compares root (absolute path) with the spool's checkpoint; see the top of this file.
// exclude_prefixes: absolute paths never looked at (and never reported), matched on whole path
// components ("/a/cache" excludes "/a/cache/x", not "/a/cachefile"). max_entries bounds the walk.
// Fails if root is not absolute, or does not exist and was never baselined. A baselined root that
// is gone reports every checkpointed file under it as deleted.
Result<ReconcileResult> reconcile_root(const Spool& spool, const std::string& root,
                                       const std::vector<std::string>& exclude_prefixes,
                                       std::int64_t now_ns, std::size_t max_entries);

// Stores a reconcile_root() result: baseline_root() for a new root, else appends the events with
// their checkpoint updates in batches of at most batch_events (each batch one transaction).
// Returns the number of events appended.
Result<std::uint64_t> commit_reconcile(Spool& spool, ReconcileResult& result,
                                       std::size_t batch_events = kReconcileBatchEvents);

// Checkpoint updates for live file events, to append in the same transaction as the events:
// create/write: upsert (path, size, mtime); delete: remove path; rename: remove old_path and
// upsert path; read and non-file events: nothing. Directories (is_dir) are not checkpointed, and
// this overload cannot know the files inside a renamed or deleted directory (see the next one).
std::vector<CheckpointEntry> checkpoint_updates_for(const std::vector<v1::Event>& file_events);

// As above, and a directory rename moves the checkpoint entries under old_path to path (reading
// the spool's checkpoint, and taking the earlier events of the same list into account). Use this
// one when the capture reports directory renames: without it the files of a renamed directory
// would be reported as deleted and re-created by the next reconciliation. A directory delete
// needs nothing (a directory is removed only once empty, its files' deletes came first).
Result<std::vector<CheckpointEntry>> checkpoint_updates_for(const Spool& spool,
                                                            const std::vector<v1::Event>& file_events);

}  // namespace vigil::agent
