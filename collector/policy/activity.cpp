#include "collector/policy/activity.h"

#include <array>

namespace vigil::collector::policy {

namespace {

constexpr std::array<const char*, kIndCount> kNames{
    "exfil.removable", "exfil.network_share", "print.job", "file.archive_created",
    "file.extension_mismatch", "file.delete", "file.bulk", "security.firewall", "security.audit",
    "security.lsm", "security.sudoers", "security.pam", "security.sshd", "security.screen_lock",
    "agent.tamper", "file.sensitive"};

Ind security_indicator(std::string_view category) {
  if (category == "firewall") return kSecFirewall;
  if (category == "audit" || category == "auditd") return kSecAudit;
  if (category == "lsm") return kSecLsm;
  if (category == "sudoers") return kSecSudoers;
  if (category == "pam") return kSecPam;
  if (category == "sshd") return kSecSshd;
  if (category == "screen_lock") return kSecScreenLock;
  return kNone;
}

// A protection switched off, as opposed to edited: the state says so, or the thing went away.
bool switched_off(const v1::SecurityBody& s) {
  const auto& v = s.new_value();
  if (s.change() == "deleted") return true;
  if (v == "stopped" || v == "disabled" || v == "permissive" || v == "inactive" || v == "off" ||
      v == "none" || v == "flushed" || v == "empty" || v == "complain")
    return true;
  // A firewall ruleset that only lost rules (flushed or emptied without a state change).
  return s.change() == "modified" && s.lines_removed() > 0 && s.lines_added() == 0 &&
         (s.category() == "firewall");
}

Step exfil_step_of(std::string_view op) {
  if (op.starts_with("exfil.") || op == "print.job") return Step::Exfiltrate;
  if (op == "file.delete") return Step::Delete;
  if (op == "file.archive_created" || op == "file.extension_mismatch") return Step::Obfuscate;
  return Step::Collect;
}

std::string_view channel_of(std::string_view type) {
  if (type == "exfil.removable") return "removable";
  if (type == "exfil.network_share") return "network_share";
  if (type == "print.job") return "print";
  if (type == "file.archive_created") return "archive";
  return {};
}

}  // namespace

const char* indicator_name(Ind i) { return i < kIndCount ? kNames[i] : ""; }

Ind indicator_from_name(std::string_view id) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (id == kNames[i]) return static_cast<Ind>(i);
  return kNone;
}

Activity read_activity(const v1::Event& e) {
  Activity a;
  a.user = e.user();
  const std::string& t = e.type();
  switch (e.body_case()) {
    case v1::Event::kFile: {
      const auto& f = e.file();
      if (t == "exfil.removable") a.indicator = kExfilRemovable;
      else if (t == "exfil.network_share") a.indicator = kExfilNetworkShare;
      else if (t == "file.archive_created") a.indicator = kArchiveCreated;
      else if (t == "file.extension_mismatch") a.indicator = kExtensionMismatch;
      else if (t == "file.delete") a.indicator = kFileDelete;
      else return a;
      a.path = f.path();
      a.source_path = f.source_path();
      a.channel = channel_of(t);
      if (f.has_classification() && !f.classification().findings().empty()) a.findings = &f.classification().findings();
      if (!f.labels().empty()) a.labels = &f.labels();
      if (a.indicator <= kExfilNetworkShare) a.exfil_bytes = f.size();
      a.step = exfil_step_of(t);
      return a;
    }
    case v1::Event::kBulk: {
      if (t != "file.bulk") return a;
      const auto& b = e.bulk();
      a.indicator = kFileBulk;
      a.path = b.common_dir();
      a.channel = channel_of(b.operation());
      a.step = exfil_step_of(b.operation());
      if (!b.findings().empty()) a.findings = &b.findings();
      if (a.step == Step::Exfiltrate) a.exfil_bytes = b.bytes();
      return a;
    }
    case v1::Event::kPrint: {
      if (t != "print.job") return a;
      const auto& p = e.print();
      a.indicator = kPrintJob;
      if (a.user.empty()) a.user = p.job_user();
      a.path = p.title();
      a.channel = "print";
      a.step = Step::Exfiltrate;
      a.exfil_bytes = p.bytes();
      if (p.has_classification() && !p.classification().findings().empty()) a.findings = &p.classification().findings();
      return a;
    }
    case v1::Event::kSecurity: {
      if (t != "security.changed") return a;
      const auto& s = e.security();
      a.indicator = security_indicator(s.category());
      a.path = s.item();
      const auto c = a.indicator;
      a.security_violation = (c == kSecFirewall || c == kSecAudit || c == kSecLsm) && switched_off(s);
      return a;
    }
    case v1::Event::kTamper:
      if (t != "agent.tamper") return a;
      a.indicator = kAgentTamper;
      a.path = e.tamper().item();
      a.security_violation = true;
      return a;
    default:
      return a;
  }
}

std::string activity_summary(const v1::Event& e) {
  switch (e.body_case()) {
    case v1::Event::kFile:
      return e.file().source_path().empty() ? e.file().path() : e.file().source_path() + " -> " + e.file().path();
    case v1::Event::kBulk:
      return e.bulk().operation() + ": " + std::to_string(e.bulk().files()) + " files under " + e.bulk().common_dir();
    case v1::Event::kPrint:
      return e.print().printer() + ": " + e.print().title() + " (" + std::to_string(e.print().pages()) + " pages)";
    case v1::Event::kSecurity: {
      const auto& s = e.security();
      std::string out = s.category() + " " + s.item() + " " + s.change();
      if (!s.old_value().empty() || !s.new_value().empty()) out += " (" + s.old_value() + " -> " + s.new_value() + ")";
      return out;
    }
    case v1::Event::kTamper:
      return e.tamper().what() + " " + e.tamper().item();
    default:
      return e.type();
  }
}

}  // namespace vigil::collector::policy
