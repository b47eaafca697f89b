// RecordedImport: brings recorded activity — events captured where no agent runs, or written by
// hand for a scenario — into the collector along the path an agent's upload takes: stored as
// batches of a device of their own through the BatchWriter, then evaluated by the policy engine.
//
// Promises:
// - Input is JSON lines, one `vigil.v1.Event` per line in protobuf's JSON mapping (field names
//   as in shared/proto/vigil.proto; 64-bit numbers as numbers or strings), plus an optional
//   "time" in RFC 3339 instead of time_ns. Blank lines and lines starting with '#' are skipped.
//   `seq` and the device are never taken from the input.
// - All or nothing: the batches of one import are stored in one transaction, and one bad line (not JSON, unknown field, wrong type, no type, no time, no
//   body) fails the import with up to 20 "line N: reason" messages and nothing is stored.
// - Provenance stays visible: the events belong to the device "recorded-<source>" (registered
//   with os "recorded" and the source as hostname), numbered after what that device already has.
// - Imports are serialised, so two imports of one source never race for seqs.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "collector/ingest/batch_writer.h"
#include "collector/store/event_store.h"
#include "shared/result.h"

namespace vigil::collector {

inline constexpr std::size_t kMaxRecordedEvents = 100'000;   // per import
inline constexpr std::size_t kRecordedEventsPerBatch = 5'000;

struct RecordedImportReport {
  std::string device_id;
  std::uint64_t first_seq = 0, last_seq = 0;
  std::size_t events = 0, batches = 0;
};

// "recorded-<source>" when source is 1..48 of [a-z0-9-], starting with a letter or digit.
Result<std::string> recorded_device_id(std::string_view source);

class RecordedImport {
 public:
  // on_commit: told of every stored batch after the commit (the policy engine's feed).
  RecordedImport(EventStore& store, BatchWriter::CommitListener on_commit)
      : store_(store), on_commit_(std::move(on_commit)) {}
  // Stores every event in one transaction, then hands the batches to on_commit. `now_ns` is the
  // receive time; "time" values may be at most a day ahead of it.
  Result<RecordedImportReport> import(std::string_view source, std::string_view jsonl, std::int64_t now_ns);

 private:
  EventStore& store_;
  BatchWriter::CommitListener on_commit_;
  std::mutex mu_;
};

}  // namespace vigil::collector
