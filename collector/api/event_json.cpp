#include "collector/api/event_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "shared/time_util.h"

namespace vigil::collector {

namespace json = boost::json;

namespace {

// Bodies added after the first API (derived, print, security, session) are flattened by
// reflection with the proto field names, so a new field shows up without code here. Unlike
// protobuf's JSON printer, 64-bit integers stay numbers.
void merge_body(const google::protobuf::Message& body, json::object& o);

json::value scalar_or_message(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f,
                              int index) {
  using FD = google::protobuf::FieldDescriptor;
  const auto* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FD::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FD::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FD::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case FD::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
    case FD::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
    case FD::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case FD::CPPTYPE_ENUM: return json::string(rep ? r->GetRepeatedEnum(m, f, index)->name() : r->GetEnum(m, f)->name());
    case FD::CPPTYPE_STRING: return json::string(rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f));
    case FD::CPPTYPE_MESSAGE: {
      json::object sub;
      merge_body(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), sub);
      return sub;
    }
  }
  return nullptr;
}

void merge_body(const google::protobuf::Message& body, json::object& o) {
  const auto* d = body.GetDescriptor();
  const auto* r = body.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_map()) {
      json::object map;
      for (int k = 0; k < r->FieldSize(body, f); ++k) {
        const auto& entry = r->GetRepeatedMessage(body, f, k);
        const auto* ed = entry.GetDescriptor();
        json::value key = scalar_or_message(entry, ed->field(0), 0);
        std::string key_text = key.is_string() ? std::string(key.as_string()) : json::serialize(key);
        map[key_text] = scalar_or_message(entry, ed->field(1), 0);
      }
      o[f->name()] = std::move(map);
    } else if (f->is_repeated()) {
      json::array a;
      for (int k = 0; k < r->FieldSize(body, f); ++k) a.push_back(scalar_or_message(body, f, k));
      o[f->name()] = std::move(a);
    } else if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE && !r->HasField(body, f)) {
      continue;
    } else {
      o[f->name()] = scalar_or_message(body, f, 0);
    }
  }
}

// The derived fields of a file event, only when set (plain file events stay as they were).
void merge_derived_file_fields(const v1::FileBody& f, json::object& o) {
  if (!f.content_type().empty()) o["content_type"] = f.content_type();
  if (!f.extension_type().empty()) o["extension_type"] = f.extension_type();
  if (!f.source_path().empty()) o["source_path"] = f.source_path();
  if (!f.sha256().empty()) o["sha256"] = f.sha256();
  if (f.has_volume()) {
    json::object v;
    merge_body(f.volume(), v);
    o["volume"] = std::move(v);
  }
  if (f.has_classification()) {
    json::object c;
    merge_body(f.classification(), c);
    o["classification"] = std::move(c);
  }
}

}  // namespace

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
      merge_derived_file_fields(f, o);
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
      o["config_version"] = h.config_version();
      if (!h.pressure().empty()) o["pressure"] = h.pressure();
      if (h.shedding_size()) {
        json::array a;
        for (const auto& s : h.shedding()) a.emplace_back(s);
        o["shedding"] = std::move(a);
      }
      o["classified_files"] = h.classified_files();
      o["classification_skipped"] = h.classification_skipped();
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
    case v1::Event::kBulk: merge_body(e.bulk(), o); break;
    case v1::Event::kPrint: merge_body(e.print(), o); break;
    case v1::Event::kSecurity: merge_body(e.security(), o); break;
    case v1::Event::kTamper: merge_body(e.tamper(), o); break;
    case v1::Event::kSession: merge_body(e.session(), o); break;
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
