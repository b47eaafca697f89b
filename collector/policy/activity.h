// Activity: what the policy engine needs from one event, read once (indicator, user, channel,
// findings, bytes exfiltrated, paths, whether it is a security violation). Pure functions, no
// state; an event that is no indicator comes back with indicator == kNone.
//
// Indicator ids are the strings of model.h's IndicatorSetting comment; inside the engine they are
// small integers (Ind) so counting per user and day is an array index, not a string hash.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vigil.pb.h"

namespace vigil::collector::policy {

enum Ind : std::uint8_t {
  kExfilRemovable, kExfilNetworkShare, kPrintJob, kArchiveCreated, kExtensionMismatch, kFileDelete,
  kFileBulk, kSecFirewall, kSecAudit, kSecLsm, kSecSudoers, kSecPam, kSecSshd, kSecScreenLock,
  kAgentTamper, kFileSensitive, kIndCount, kNone = 255
};

// "exfil.removable" ... ; "" for kNone.
const char* indicator_name(Ind i);
// kNone for an unknown id.
Ind indicator_from_name(std::string_view id);

// Steps of the collect -> obfuscate -> exfiltrate -> clean up sequence.
enum class Step : std::uint8_t { None, Collect, Obfuscate, Exfiltrate, Delete };

struct Activity {
  Ind indicator = kNone;
  Step step = Step::None;
  std::string_view user;                       // Event.user (print.job: job_user when empty)
  std::string_view channel;                    // DLP channel: removable | network_share | print | archive | ""
  const google::protobuf::RepeatedPtrField<v1::Finding>* findings = nullptr;  // null: none
  std::uint64_t exfil_bytes = 0;               // bytes that left through an exfiltration channel
  std::string_view path;                       // the file (bulk: common_dir; print: title)
  std::string_view source_path;                // exfil: the local file it came from
  bool security_violation = false;             // a protection switched off (see SCORING.md)
  const google::protobuf::RepeatedPtrField<std::string>* labels = nullptr;  // the file's sensitivity labels
  bool has_findings() const { return findings && !findings->empty(); }
};

Activity read_activity(const v1::Event& e);

// Human summary for an explained activity: path, printer and title, security item, ...
std::string activity_summary(const v1::Event& e);

}  // namespace vigil::collector::policy
