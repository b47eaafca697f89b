// Uploader: drains the spool to the collector over mutual TLS on the agent's libuv loop.
//
// Promises:
// - Batches are sent oldest first, exactly as spooled, with at most the collector's in-flight
//   window outstanding; a batch leaves the spool only when the collector acks it (OK or
//   DUPLICATE). A REJECTED batch is dropped with an agent.loss event naming its range and the
//   collector's reason, so even that is never silent.
// - Any failure (refused, reset, timeout, bad frame) closes the connection and retries with
//   jittered exponential backoff (0.5 s doubling to 30 s); unacked batches are resent from the
//   oldest after reconnecting (the collector dedupes them).
// - Collection config: Hello carries the version the agent runs (config_version()); a
//   CollectionConfig from the collector goes to on_config, and the agent's answer goes back with
//   send_config_applied() (dropped when disconnected: the next Hello says what the agent runs).
#pragma once
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "agent/spool.h"
#include "agent/uv_tls_stream.h"

namespace vigil::agent {

struct UploaderOptions {
  std::string host;
  std::uint16_t port = 7443;
  std::shared_ptr<const TlsConfig> tls;
  std::string hostname, os, agent_version;
  std::uint64_t min_backoff_ms = 500;
  std::uint64_t max_backoff_ms = 30000;
  std::function<std::uint64_t()> config_version;                   // for Hello; null: 0
  std::function<void(const v1::CollectionConfig&)> on_config;      // null: configs are ignored
};

struct UploaderStats {
  std::uint64_t batches_acked = 0;
  std::uint64_t events_acked = 0;
  std::uint64_t batches_rejected = 0;
  std::uint64_t connects = 0;
  std::string last_error;
};

class Uploader {
 public:
  Uploader(uv_loop_t* loop, Spool& spool, UploaderOptions options);
  ~Uploader();
  void start();
  // New batches were spooled.
  void kick();
  void stop();
  bool connected() const;
  void send_config_applied(const v1::ConfigApplied& applied);
  const UploaderStats& stats() const { return stats_; }

 private:
  void connect_now();
  void schedule_reconnect(const std::string& reason);
  void on_frame(std::string frame);
  void send_more();

  uv_loop_t* loop_;
  Spool& spool_;
  UploaderOptions opts_;
  std::unique_ptr<UvTlsStream> stream_;
  uv_timer_t* retry_timer_;  // heap: released by uv_close's callback
  bool ready_ = false, stopped_ = true;
  std::uint32_t window_ = 1;
  std::uint64_t last_sent_seq_ = 0;
  std::deque<std::uint64_t> in_flight_;  // first_seq of sent, unacked batches, in order
  std::uint64_t attempt_ = 0;
  std::mt19937_64 rng_;
  UploaderStats stats_;
};

}  // namespace vigil::agent
