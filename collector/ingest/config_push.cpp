#include "collector/ingest/config_push.h"

#include <algorithm>

namespace vigil::collector {

std::shared_ptr<ConfigPushHub::Waiter> ConfigPushHub::subscribe(boost::asio::any_io_executor ex) {
  auto w = std::make_shared<Waiter>(std::move(ex));
  std::lock_guard lock(mu_);
  // Prune on the way in, so churn of short connections does not grow the list.
  std::erase_if(waiters_, [](const std::weak_ptr<Waiter>& p) { return p.expired(); });
  waiters_.push_back(w);
  return w;
}

void ConfigPushHub::notify_all() {
  std::lock_guard lock(mu_);
  std::erase_if(waiters_, [](const std::weak_ptr<Waiter>& p) { return p.expired(); });
  for (const auto& weak : waiters_) {
    auto w = weak.lock();
    if (!w) continue;
    w->changed.store(true);
    boost::asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
}

std::size_t ConfigPushHub::subscribers() {
  std::lock_guard lock(mu_);
  std::erase_if(waiters_, [](const std::weak_ptr<Waiter>& p) { return p.expired(); });
  return waiters_.size();
}

}  // namespace vigil::collector
