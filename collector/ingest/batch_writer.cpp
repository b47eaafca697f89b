#include "collector/ingest/batch_writer.h"

#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::collector {

BatchWriter::BatchWriter(EventStore& store, std::size_t max_group, CommitListener on_commit)
    : store_(store), max_group_(max_group), on_commit_(std::move(on_commit)), thread_([this] { run(); }) {}

BatchWriter::~BatchWriter() { stop(); }

void BatchWriter::submit(Submission s) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(s));
      cv_.notify_one();
      return;
    }
  }
  s.done(err("collector is shutting down"));
}

void BatchWriter::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchWriter::run() {
  for (;;) {
    std::vector<Submission> group;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && group.size() < max_group_) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<IncomingBatch> batches;
    batches.reserve(group.size());
    for (const auto& s : group) batches.push_back({s.device_id, s.decoded.get(), s.zstd_payload});
    auto results = store_.append_batches(batches, now_ns());
    if (!results) {
      // Nothing was stored: every submitter gets a failure and must not ack; the agents resend.
      log::error("ingest", "storing batches failed", {{"error", results.error()}, {"batches", std::to_string(group.size())}});
      for (auto& s : group) s.done(err("storage failure: " + results.error()));
      continue;
    }
    if (on_commit_)
      for (std::size_t i = 0; i < group.size(); ++i)
        if ((*results)[i].outcome == AppendOutcome::Stored) on_commit_(group[i].device_id, group[i].decoded);
    for (std::size_t i = 0; i < group.size(); ++i) group[i].done(Result<AppendResult>(std::move((*results)[i])));
  }
}

}  // namespace vigil::collector
