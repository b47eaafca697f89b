// LogindWatch: screen lock and unlock from systemd-logind over the system D-Bus (sd-bus).
//
// Promises:
//  - start() fails (and the session source runs on utmp alone) when there is no system bus or
//    nobody owns org.freedesktop.login1;
//  - a session's LockedHint (set by the screen locker through logind, PropertiesChanged on
//    org.freedesktop.login1.Session) turning true is a Lock, turning false an Unlock; repeats of
//    the same value are not reported. The Lock/Unlock *signals* are requests to lock, not proof a
//    locker ran, so they are not used;
//  - user, uid, tty, remote host and type come from the session object at the time of the change
//    (a synchronous property read, bounded by sd-bus's method timeout).
// Not thread-safe.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/capture.h"
#include "shared/result.h"

struct sd_bus;
struct sd_bus_slot;
struct sd_bus_message;

namespace vigil::platform {

class LogindWatch {
 public:
  LogindWatch() = default;
  ~LogindWatch();
  LogindWatch(const LogindWatch&) = delete;
  LogindWatch& operator=(const LogindWatch&) = delete;

  Status start();
  int fd() const;
  // Processes what the bus has pending; appends lock/unlock activities.
  Status drain(std::vector<agent::SessionActivity>& out);

  // One PropertiesChanged message (called from the bus callback).
  void handle(sd_bus_message* m);

 private:

  sd_bus* bus_ = nullptr;
  sd_bus_slot* slot_ = nullptr;
  std::map<std::string, bool> locked_;  // session id -> last LockedHint
  std::vector<agent::SessionActivity>* out_ = nullptr;
};

}  // namespace vigil::platform
