// SiemOutbox: the durable queue between the collector and the SIEM (DATA_DIR/siem.db, 0600).
//
// Promises:
// - push() commits (synchronous=FULL) before it returns: whatever was pushed survives a crash or
//   restart of the collector.
// - The "sent" cursor only moves forward, and only when the forwarder says the bytes of every
//   item up to it reached the receiver (siem_forwarder.h); items after it are sent again after a
//   restart or reconnect (at-least-once).
// - advance() prunes the items it passes, keeping the file bounded by what the SIEM has not yet
//   received.
// - Thread-safe (one connection behind a mutex).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collector/siem/syslog_format.h"
#include "shared/result.h"

namespace vigil::collector::siem {

class SiemOutbox {
 public:
  static Result<std::unique_ptr<SiemOutbox>> open(const std::string& path);
  ~SiemOutbox();

  // Appends the item (its seq is assigned here) and returns the seq.
  Result<std::int64_t> push(const OutboxItem& item);
  // Appends every item and sets the named cursor, in one transaction: a crash leaves both or neither.
  Status push_all(const std::vector<OutboxItem>& items, const std::string& cursor, std::int64_t value);
  // Items after the sent cursor, oldest first.
  Result<std::vector<OutboxItem>> pending(std::size_t limit);
  Status advance(std::int64_t sent_seq);
  Result<std::int64_t> sent_cursor();
  // A named cursor of the forwarder's own (the event store position for include_events).
  Result<std::int64_t> cursor(const std::string& name);
  Status set_cursor(const std::string& name, std::int64_t value);

  struct Impl;

 private:
  explicit SiemOutbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::mutex mu_;
};

}  // namespace vigil::collector::siem
