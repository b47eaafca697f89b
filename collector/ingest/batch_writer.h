// BatchWriter: the collector's single ingest writer. Connections hand it validated batches; it
// stores whatever has queued up in one durable transaction (group commit) and completes each
// submission only after that commit, so an ack sent on completion never covers a batch a crash
// could lose. Many agents therefore share one fsync instead of paying one each.
#pragma once
#include <boost/asio.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "collector/store/event_store.h"

namespace vigil::collector {

class BatchWriter {
 public:
  // A batch with the storage it needs to outlive the commit.
  struct Submission {
    std::string device_id;
    std::shared_ptr<const v1::EventBatch> decoded;
    std::string zstd_payload;
    // Called on the writer thread: the outcome, or an error when nothing could be stored (a
    // transient failure: the batch must not be acked, the agent resends it).
    std::function<void(Result<AppendResult>)> done;
  };

  // Called on the writer thread after each commit, once per batch that was newly stored (not
  // duplicates or rejects), before the submitters learn the outcome. It must be cheap (a queue
  // push: the policy engine's EngineFeed), since acks wait for it.
  using CommitListener = std::function<void(const std::string& device_id, std::shared_ptr<const v1::EventBatch>)>;

  explicit BatchWriter(EventStore& store, std::size_t max_group = 64, CommitListener on_commit = {});
  ~BatchWriter();
  void submit(Submission s);
  void stop();

  // Awaitable form: resumes the calling coroutine on its own executor with the outcome.
  template <typename CompletionToken>
  auto async_store(std::string device_id, std::shared_ptr<const v1::EventBatch> decoded,
                   std::string payload, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(Result<AppendResult>)>(
        [this](auto handler, std::string dev, std::shared_ptr<const v1::EventBatch> dec, std::string pl) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          submit({std::move(dev), std::move(dec), std::move(pl), [h](Result<AppendResult> r) {
                    auto ex = boost::asio::get_associated_executor(*h);
                    boost::asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
                  }});
        },
        token, std::move(device_id), std::move(decoded), std::move(payload));
  }

 private:
  void run();

  EventStore& store_;
  std::size_t max_group_;
  CommitListener on_commit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Submission> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vigil::collector
