#include "collector/store/activity_query.h"

#include "collector/store/event_store.h"

namespace vigil::collector {

namespace {

std::string_view channel_of_type(std::string_view type) {
  if (type == "exfil.removable") return "removable";
  if (type == "exfil.network_share") return "network_share";
  if (type.starts_with("print.")) return "print";
  if (type.starts_with("file.") || type.starts_with("exfil.")) return "file";
  if (type.starts_with("device.") || type.starts_with("volume.")) return "device";
  if (type.starts_with("security.")) return "security";
  if (type.starts_with("session.")) return "session";
  if (type.starts_with("agent.")) return "agent";
  return "other";
}

bool findings_have(const google::protobuf::RepeatedPtrField<v1::Finding>& findings, std::string_view info_type) {
  for (const auto& f : findings)
    if (info_type == "any" || f.type() == info_type) return true;
  return false;
}

}  // namespace

std::string_view activity_channel(const v1::Event& e) {
  // A burst summary travels the way its files did.
  if (e.type() == "file.bulk" && e.has_bulk()) {
    auto c = channel_of_type(e.bulk().operation());
    return c == "removable" || c == "network_share" ? c : "file";
  }
  return channel_of_type(e.type());
}

bool has_finding(const v1::Event& e, std::string_view info_type) {
  switch (e.body_case()) {
    case v1::Event::kFile: return e.file().has_classification() && findings_have(e.file().classification().findings(), info_type);
    case v1::Event::kPrint:
      return e.print().has_classification() && findings_have(e.print().classification().findings(), info_type);
    case v1::Event::kBulk: return findings_have(e.bulk().findings(), info_type);
    default: return false;
  }
}

Result<ActivityPage> EventStore::query_activity(const ActivityQuery&) {
  return err("this store cannot answer activity queries");
}

Result<std::vector<std::string>> EventStore::activity_users() {
  return err("this store cannot list activity users");
}

}  // namespace vigil::collector
