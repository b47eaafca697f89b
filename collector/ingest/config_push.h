// ConfigPushHub: wakes every connected agent's push coroutine when the collection config changes.
// Each connection subscribes a Waiter bound to its own strand; notify_all() may be called from any
// thread (the API's storage workers) and only posts to those strands, so a timer is only ever
// touched on the executor it belongs to.
//
// Promises:
// - A change that happens after subscribe() is never missed: `changed` is set before the wake-up
//   is posted, and the connection checks it before every wait.
// - A Waiter whose connection is gone costs nothing: the hub holds weak references and prunes them.
#pragma once
#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <mutex>
#include <vector>

namespace vigil::collector {

class ConfigPushHub {
 public:
  struct Waiter {
    explicit Waiter(boost::asio::any_io_executor ex)
        : timer(ex, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer timer;  // never expires; cancel() is the wake-up
    std::atomic<bool> changed{false};
  };

  std::shared_ptr<Waiter> subscribe(boost::asio::any_io_executor ex);
  void notify_all();
  std::size_t subscribers();

 private:
  std::mutex mu_;
  std::vector<std::weak_ptr<Waiter>> waiters_;
};

}  // namespace vigil::collector
