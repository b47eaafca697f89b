// EventStore: where the collector keeps what agents send, the device registry and enrollment
// tokens. SQLite now (sqlite_event_store.h); PostgreSQL will implement the same interface.
//
// Promises:
// - append_batches() stores every batch of the call in one durable transaction, or none of them;
//   the call returns only after the commit, so acking after it never acks what a crash can lose.
// - Idempotent on (device_id, seq): a batch whose exact range is already stored is reported
//   Duplicate and changes nothing; a batch that partially overlaps stored seqs is Rejected.
// - Batches are stored as received (the agent's zstd blob) and indexed by (device, seq range),
//   time range and (user, day, type, channel) with per-key event counts and times; queries
//   decode only candidate batches, and totals come from the index where the filters allow.
// - Device counters (events received, last seen, highest seq, events reported lost) move in the
//   same transaction as the batches that change them.
// - Every method is safe to call from any thread; queries run concurrently with ingest.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "collector/store/activity_query.h"
#include "shared/result.h"
#include "vigil.pb.h"

namespace vigil::collector {

struct IncomingBatch {
  std::string device_id;           // from the verified client certificate, never from the payload
  const v1::EventBatch* decoded;   // validated by decode_batch(); used to build the index
  std::string_view zstd_payload;   // stored as is
};

enum class AppendOutcome { Stored, Duplicate, Rejected };

struct AppendResult {
  AppendOutcome outcome;
  std::string reason;  // for Rejected
};

struct EventQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> user;
  std::optional<std::string> type;        // exact type, or a prefix ending in '.' ("file.")
  std::optional<std::string> path_glob;   // fnmatch(3) pattern on the file path
  std::optional<std::int64_t> since_ns;   // inclusive
  std::optional<std::int64_t> until_ns;   // exclusive
  std::size_t limit = 1000;               // the most recent `limit` matches
};

struct StoredEvent {
  std::string device_id;
  v1::Event event;
};

// One page of an activity query (activity_query.h).
struct ActivityPage {
  std::vector<StoredEvent> events;             // newest first
  std::optional<ActivityPosition> next;        // set when more matches follow
  std::optional<std::uint64_t> total;          // when count_total
};

struct DeviceRecord {
  std::string device_id;
  std::string hostname;
  std::string os;
  std::string agent_version;
  std::string status = "active";          // active | blocked
  std::int64_t enrolled_ns = 0;
  std::int64_t first_seen_ns = 0;         // first upload or hello; 0 until then
  std::int64_t last_seen_ns = 0;
  std::uint64_t events_received = 0;
  std::uint64_t batches_received = 0;
  std::uint64_t highest_seq = 0;
  std::uint64_t events_lost = 0;          // sum of agent.loss counts the device reported
};

enum class TokenCheck { Accepted, Unknown, Expired, UsedUp };

// What a device's stored seqs look like, for audits and tests.
struct SeqCoverage {
  std::uint64_t events = 0;               // stored events
  std::uint64_t highest_seq = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;  // missing inclusive ranges in 1..highest
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  virtual Result<std::vector<AppendResult>> append_batches(std::span<const IncomingBatch> batches,
                                                           std::int64_t now_ns) = 0;
  // Newest `limit` matches, returned oldest first (by time, then device, then seq).
  virtual Result<std::vector<StoredEvent>> query_events(const EventQuery& query) = 0;
  // Investigator queries (activity_query.h). The default says the store cannot answer them.
  virtual Result<ActivityPage> query_activity(const ActivityQuery& query);
  // Every user name activity was stored for, sorted (resolving a shown name back to real ones).
  virtual Result<std::vector<std::string>> activity_users();
  virtual Result<SeqCoverage> seq_coverage(const std::string& device_id) = 0;

  virtual Status register_device(const DeviceRecord& device) = 0;
  virtual Result<std::optional<DeviceRecord>> find_device(const std::string& device_id) = 0;
  virtual Result<std::vector<DeviceRecord>> list_devices() = 0;
  // On each agent connection: identity as the agent reports it, and last seen.
  virtual Status device_hello(const std::string& device_id, const std::string& hostname,
                              const std::string& os, const std::string& agent_version,
                              std::int64_t now_ns) = 0;
  virtual Status set_device_status(const std::string& device_id, const std::string& status) = 0;

  // Tokens are stored by SHA-256 only; consume is atomic (two agents racing for the last use:
  // one wins).
  virtual Status add_enroll_token(const std::string& token_sha256, std::int64_t expires_ns,
                                  std::uint32_t uses) = 0;
  virtual Result<TokenCheck> consume_enroll_token(const std::string& token_sha256,
                                                  std::int64_t now_ns) = 0;

  // siem: the events of the stored batches after position `after_batch` (the store's own,
  // increasing batch position; 0 = from the start), in the order they were stored, at most
  // max_batches batches. Lets an exporter resume exactly where it stopped.
  struct PositionedBatch {
    std::int64_t position = 0;
    std::vector<StoredEvent> events;
  };
  virtual Result<std::vector<PositionedBatch>> batches_after(std::int64_t after_batch, std::size_t max_batches) {
    (void)after_batch;
    (void)max_batches;
    return err("this event store cannot be read by position");
  }
};

}  // namespace vigil::collector
