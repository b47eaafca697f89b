#include "platform/linux/logind_watch.h"

#include <systemd/sd-bus.h>

#include <cstring>

#include "shared/time_util.h"

namespace vigil::platform {

namespace {
constexpr const char* kLogind = "org.freedesktop.login1";
constexpr const char* kSessionIface = "org.freedesktop.login1.Session";

std::string get_string(sd_bus* bus, const char* path, const char* prop) {
  char* v = nullptr;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  std::string out;
  if (sd_bus_get_property_string(bus, kLogind, path, kSessionIface, prop, &e, &v) >= 0 && v) out = v;
  free(v);
  sd_bus_error_free(&e);
  return out;
}
int on_properties_changed(sd_bus_message* m, void* userdata, sd_bus_error*) {
  static_cast<LogindWatch*>(userdata)->handle(m);
  return 0;
}
}  // namespace

LogindWatch::~LogindWatch() {
  sd_bus_slot_unref(slot_);
  sd_bus_flush_close_unref(bus_);
}

Status LogindWatch::start() {
  if (int r = sd_bus_open_system(&bus_); r < 0) return err(std::string("system bus: ") + std::strerror(-r));
  sd_bus_error e = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  int has = 0;
  int r = sd_bus_call_method(bus_, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "NameHasOwner", &e, &reply, "s", kLogind);
  if (r >= 0) r = sd_bus_message_read(reply, "b", &has);
  sd_bus_message_unref(reply);
  sd_bus_error_free(&e);
  if (r < 0) return err(std::string("NameHasOwner: ") + std::strerror(-r));
  if (!has) return err("logind (org.freedesktop.login1) is not on the system bus");
  r = sd_bus_match_signal(bus_, &slot_, kLogind, nullptr, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                          &on_properties_changed, this);
  if (r < 0) return err(std::string("match PropertiesChanged: ") + std::strerror(-r));
  return {};
}

int LogindWatch::fd() const { return bus_ ? sd_bus_get_fd(bus_) : -1; }


void LogindWatch::handle(sd_bus_message* m) {
  const char* path = sd_bus_message_get_path(m);
  const char* iface = nullptr;
  if (!path || sd_bus_message_read(m, "s", &iface) < 0 || !iface || std::strcmp(iface, kSessionIface) != 0) return;
  char* id_raw = nullptr;
  if (sd_bus_path_decode(path, "/org/freedesktop/login1/session", &id_raw) <= 0) return;
  std::string id = id_raw;
  free(id_raw);
  int hint = -1;
  if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0) return;
  while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
    const char* name = nullptr;
    if (sd_bus_message_read(m, "s", &name) < 0) return;
    if (name && std::strcmp(name, "LockedHint") == 0) {
      int b = 0;
      if (sd_bus_message_read(m, "v", "b", &b) < 0) return;
      hint = b ? 1 : 0;
    } else if (sd_bus_message_skip(m, "v") < 0) {
      return;
    }
    sd_bus_message_exit_container(m);
  }
  if (hint < 0) return;
  auto it = locked_.find(id);
  if (it != locked_.end() && it->second == (hint == 1)) return;
  locked_[id] = hint == 1;
  agent::SessionActivity a;
  a.action = hint ? agent::SessionAction::Lock : agent::SessionAction::Unlock;
  a.time_ns = now_ns();
  a.session_id = id;
  a.source = "logind";
  a.user = get_string(bus_, path, "Name");
  a.tty = get_string(bus_, path, "TTY");
  a.remote_host = get_string(bus_, path, "RemoteHost");
  std::string type = get_string(bus_, path, "Type");
  a.kind = type == "x11" || type == "wayland" || type == "tty" ? type : type.empty() ? "other" : type;
  std::uint32_t leader = 0;
  sd_bus_error e = SD_BUS_ERROR_NULL;
  if (sd_bus_get_property_trivial(bus_, kLogind, path, kSessionIface, "Leader", &e, 'u', &leader) >= 0) a.leader_pid = leader;
  sd_bus_error_free(&e);
  if (out_) out_->push_back(std::move(a));
}

Status LogindWatch::drain(std::vector<agent::SessionActivity>& out) {
  out_ = &out;
  int r;
  while ((r = sd_bus_process(bus_, nullptr)) > 0) {
  }
  out_ = nullptr;
  if (r < 0) return err(std::string("sd_bus_process: ") + std::strerror(-r));
  return {};
}

}  // namespace vigil::platform
