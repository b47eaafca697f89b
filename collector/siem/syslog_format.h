// What the SIEM receives: RFC 5424 syslog messages carrying JSON or CEF, framed by octet
// counting (RFC 6587 §3.4.1) for a TCP/TLS stream (docs/SIEM.md).
//
// Promises:
// - An outbox item (what was raised, formatted once when it is queued) becomes exactly one
//   syslog message; its outbox sequence number travels in structured data
//   ([vigil@32473 seq="N" kind="alert"]) so a receiver can drop the duplicates that
//   at-least-once delivery may produce after a reconnect.
// - Header fields are RFC 5424 PRINTUSASCII without spaces and within their length limits;
//   anything else is replaced, so a hostname or app name from the config cannot break framing.
// - CEF header fields escape '\' and '|', extension values escape '\', '=' and line breaks.
#pragma once
#include <cstdint>
#include <string>

#include "collector/policy/model.h"
#include "collector/store/event_store.h"

namespace vigil::collector::siem {

enum class SiemFormat { Json, Cef };

struct SyslogIdentity {
  std::string hostname = "-";     // HOSTNAME field
  std::string app_name = "vigil"; // APP-NAME field
  std::string procid = "-";
};

// One thing to send, as the outbox keeps it.
struct OutboxItem {
  std::int64_t seq = 0;
  std::string kind;               // "alert" or "event" (the MSGID)
  int severity = 6;               // syslog severity 0..7
  std::int64_t time_ns = 0;       // TIMESTAMP: when it happened
  std::string body;               // the MSG: JSON or CEF text
};

// The MSG and syslog severity of an alert raised or updated.
OutboxItem alert_item(const policy::Alert& alert, SiemFormat format);
OutboxItem event_item(const StoredEvent& event, SiemFormat format);

// "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG" (facility 13, log audit).
std::string syslog_message(const OutboxItem& item, const SyslogIdentity& id);
// "LEN SP MSG": RFC 6587 octet-counting framing.
std::string octet_frame(const std::string& message);

// This machine's name (gethostname), for the HOSTNAME field when the config names none.
std::string local_hostname();

std::string cef_escape_header(const std::string& s);
std::string cef_escape_value(const std::string& s);

}  // namespace vigil::collector::siem
