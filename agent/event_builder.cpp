#include "agent/event_builder.h"

#include <cstdio>

namespace vigil::agent {

const char* file_event_type(FileAction action) {
  switch (action) {
    case FileAction::Create: return "file.create";
    case FileAction::Write: return "file.write";
    case FileAction::Rename: return "file.rename";
    case FileAction::Delete: return "file.delete";
    case FileAction::Read: return "file.read";
  }
  return "file.unknown";
}

std::string escape_non_utf8(const std::string& raw) {
  std::string out;
  out.reserve(raw.size());
  auto esc = [&out](unsigned char c) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out.append(buf);
  };
  const auto* s = reinterpret_cast<const unsigned char*>(raw.data());
  std::size_t n = raw.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = len > 0 && i + len <= n;
    for (std::size_t k = 1; valid && k < len; ++k) valid = (s[i + k] & 0xc0) == 0x80;
    if (valid && len == 2) valid = c >= 0xc2;
    if (valid && len == 3) {
      unsigned cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu);
      valid = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
    }
    if (valid && len == 4) {
      unsigned cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) | ((s[i + 2] & 0x3fu) << 6) | (s[i + 3] & 0x3fu);
      valid = cp >= 0x10000 && cp <= 0x10ffff;
    }
    if (!valid) { esc(c); ++i; continue; }
    if (c == '\\') { out.append("\\\\"); ++i; continue; }
    out.append(raw, i, len);
    i += len;
  }
  return out;
}

v1::Event make_file_event(const FileActivity& a) {
  v1::Event e;
  e.set_time_ns(a.time_ns);
  e.set_type(file_event_type(a.action));
  e.set_login_uid(a.process.login_uid);
  e.set_user(escape_non_utf8(a.process.user));
  auto* p = e.mutable_process();
  p->set_pid(a.process.pid);
  p->set_ppid(a.process.ppid);
  p->set_exe(escape_non_utf8(a.process.exe));
  p->set_comm(escape_non_utf8(a.process.comm));
  p->set_uid(a.process.uid);
  p->set_parent_exe(escape_non_utf8(a.process.parent_exe));
  auto* f = e.mutable_file();
  f->set_path(escape_non_utf8(a.path));
  if (!a.old_path.empty()) f->set_old_path(escape_non_utf8(a.old_path));
  f->set_size(a.size);
  f->set_inode(a.inode);
  f->set_is_dir(a.is_dir);
  f->set_mtime_ns(a.mtime_ns);
  return e;
}

const char* device_class_name(DeviceClass c) {
  switch (c) {
    case DeviceClass::MassStorage: return "mass_storage";
    case DeviceClass::Mtp: return "mtp";
    case DeviceClass::Hid: return "hid";
    case DeviceClass::Other: return "other";
  }
  return "other";
}

namespace {
constexpr std::uint32_t kNoLoginUid = 0xffffffffu;
}

v1::Event make_device_event(const DeviceActivity& a) {
  v1::Event e;
  e.set_time_ns(a.time_ns);
  e.set_type(a.action == DeviceAction::Connected ? "device.connected" : "device.disconnected");
  e.set_login_uid(kNoLoginUid);
  auto* d = e.mutable_device();
  d->set_bus(escape_non_utf8(a.bus));
  d->set_vendor_id(escape_non_utf8(a.vendor_id));
  d->set_product_id(escape_non_utf8(a.product_id));
  d->set_serial(escape_non_utf8(a.serial));
  d->set_device_class(device_class_name(a.device_class));
  d->set_vendor_name(escape_non_utf8(a.vendor_name));
  d->set_product_name(escape_non_utf8(a.product_name));
  d->set_devpath(escape_non_utf8(a.devpath));
  d->set_action(escape_non_utf8(a.kernel_action));
  d->set_devnode(escape_non_utf8(a.devnode));
  d->set_removable(a.removable);
  d->set_kernel_seqnum(a.kernel_seqnum);
  return e;
}

v1::Event make_volume_event(const VolumeActivity& a) {
  v1::Event e;
  e.set_time_ns(a.time_ns);
  e.set_type(a.action == VolumeAction::Mounted ? "volume.mounted" : "volume.unmounted");
  e.set_login_uid(kNoLoginUid);
  auto* v = e.mutable_volume();
  v->set_device(escape_non_utf8(a.device));
  v->set_fstype(escape_non_utf8(a.fstype));
  if (!a.mount_type.empty() && a.mount_type != a.fstype) v->set_mount_type(escape_non_utf8(a.mount_type));
  v->set_label(escape_non_utf8(a.label));
  v->set_uuid(escape_non_utf8(a.uuid));
  v->set_mount_point(escape_non_utf8(a.mount_point));
  v->set_removable(a.removable);
  v->set_network_share(a.network_share);
  v->set_read_only(a.read_only);
  return e;
}

}  // namespace vigil::agent
