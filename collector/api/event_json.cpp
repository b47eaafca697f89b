#include "collector/api/event_json.h"

#include "shared/time_util.h"

namespace vigil::collector {

namespace json = boost::json;

json::object event_to_json(const StoredEvent& se) {
  const auto& e = se.event;
  json::object o;
  o["device_id"] = se.device_id;
  o["seq"] = e.seq();
  o["type"] = e.type();
  o["time"] = format_rfc3339(e.time_ns());
  o["time_ns"] = e.time_ns();
  o["user"] = e.user();
  o["login_uid"] = e.login_uid();
  if (e.has_process()) {
    const auto& p = e.process();
    o["pid"] = p.pid();
    o["ppid"] = p.ppid();
    o["exe"] = p.exe();
    o["comm"] = p.comm();
    o["uid"] = p.uid();
    if (!p.parent_exe().empty()) o["parent_exe"] = p.parent_exe();
  }
  switch (e.body_case()) {
    case v1::Event::kFile: {
      const auto& f = e.file();
      o["path"] = f.path();
      if (!f.old_path().empty()) o["old_path"] = f.old_path();
      o["size"] = f.size();
      o["inode"] = f.inode();
      o["is_dir"] = f.is_dir();
      if (f.reconciled()) o["reconciled"] = true;
      if (f.mtime_ns()) o["mtime"] = format_rfc3339(f.mtime_ns());
      break;
    }
    case v1::Event::kLoss: {
      const auto& l = e.loss();
      o["first_seq"] = l.first_seq();
      o["last_seq"] = l.last_seq();
      o["events"] = l.events();
      o["batches"] = l.batches();
      o["bytes"] = l.bytes();
      if (l.first_time_ns()) o["first_time"] = format_rfc3339(l.first_time_ns());
      if (l.last_time_ns()) o["last_time"] = format_rfc3339(l.last_time_ns());
      o["reason"] = l.reason();
      break;
    }
    case v1::Event::kGap: {
      const auto& g = e.gap();
      o["from"] = format_rfc3339(g.from_ns());
      o["to"] = format_rfc3339(g.to_ns());
      o["clean_shutdown"] = g.clean_shutdown();
      o["reconciled_files"] = g.reconciled_files();
      break;
    }
    case v1::Event::kHealth: {
      const auto& h = e.health();
      o["spool_bytes"] = h.spool_bytes();
      o["spool_batches"] = h.spool_batches();
      o["dropped_events"] = h.dropped_events();
      o["cpu_percent"] = h.cpu_percent();
      o["rss_bytes"] = h.rss_bytes();
      break;
    }
    case v1::Event::kDevice: {
      const auto& d = e.device();
      o["bus"] = d.bus();
      o["action"] = d.action();
      o["vendor_id"] = d.vendor_id();
      o["product_id"] = d.product_id();
      o["serial"] = d.serial();
      o["device_class"] = d.device_class();
      o["vendor_name"] = d.vendor_name();
      o["product_name"] = d.product_name();
      o["devpath"] = d.devpath();
      o["devnode"] = d.devnode();
      o["removable"] = d.removable();
      if (d.kernel_seqnum()) o["kernel_seqnum"] = d.kernel_seqnum();
      break;
    }
    case v1::Event::kVolume: {
      const auto& v = e.volume();
      o["device"] = v.device();
      o["fstype"] = v.fstype();
      if (!v.mount_type().empty()) o["mount_type"] = v.mount_type();
      o["label"] = v.label();
      o["uuid"] = v.uuid();
      o["mount_point"] = v.mount_point();
      o["removable"] = v.removable();
      o["network_share"] = v.network_share();
      o["read_only"] = v.read_only();
      break;
    }
    case v1::Event::BODY_NOT_SET: break;
  }
  return o;
}

json::object device_to_json(const DeviceRecord& d) {
  json::object o;
  o["device_id"] = d.device_id;
  o["hostname"] = d.hostname;
  o["os"] = d.os;
  o["agent_version"] = d.agent_version;
  o["status"] = d.status;
  o["enrolled"] = d.enrolled_ns ? json::value(format_rfc3339(d.enrolled_ns, 3)) : json::value(nullptr);
  o["first_seen"] = d.first_seen_ns ? json::value(format_rfc3339(d.first_seen_ns, 3)) : json::value(nullptr);
  o["last_seen"] = d.last_seen_ns ? json::value(format_rfc3339(d.last_seen_ns, 3)) : json::value(nullptr);
  o["events_received"] = d.events_received;
  o["batches_received"] = d.batches_received;
  o["highest_seq"] = d.highest_seq;
  o["events_lost"] = d.events_lost;
  return o;
}

}  // namespace vigil::collector
