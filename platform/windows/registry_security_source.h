// RegistrySecuritySource: security-relevant settings on Windows, from registry change
// notifications (RegNotifyChangeKeyValue, asynchronous, one event per watched key), and agent
// tamper from the agent's own files and service entry.
// Watched (HKLM; see docs/WINDOWS.md for why these keys):
//   firewall      ...\SharedAccess\Parameters\FirewallPolicy (profiles, rules), Policies\...\WindowsFirewall
//   antimalware   SOFTWARE\Microsoft\Windows Defender, Policies\Microsoft\Windows Defender
//   audit         SYSTEM\...\Control\Lsa (values), SECURITY\Policy\PolAdtEv (readable by SYSTEM only)
//   uac           SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System
//   screen_lock   SOFTWARE\Policies\Microsoft\Windows\Control Panel\Desktop
//   remote_access SYSTEM\...\Control\Terminal Server (values)
//   agent         SYSTEM\...\Services\VigilAgent (the service entry: a change is agent.tamper)
// What it promises:
// - After start() it holds a snapshot of every watched value; a notification (or the periodic
//   recheck, which also picks up keys created after start) re-reads the key and reports each
//   value created, modified or deleted: item "HKLM\<key>\<subkey>:<value>", old and new value
//   (REG_DWORD/QWORD as decimal, strings as text cut at 512 bytes, other types as "sha256:<hex>")
//   and their sha256 digests.
// - Registry notifications do not name who changed a value: changed_by stays "" (never guessed).
// - The agent's files (SecurityCaptureSpec::agent_paths plus the running executable) are
//   re-digested at every recheck; a changed digest is agent.tamper binary_modified/config_modified.
// - Bounded: at most 4096 values and 8 levels below each watched key.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/capture.h"
#include "platform/windows/record_queue.h"
#include "platform/windows/win_util.h"

namespace vigil::win {

struct WatchedKey {
  std::string category;
  HKEY root = HKEY_LOCAL_MACHINE;
  std::string subkey;
  bool subtree = true;
  bool tamper = false;  // changes are agent.tamper, not security.setting_changed
};
const std::vector<WatchedKey>& default_watched_keys();

using RegistrySnapshot = std::map<std::string, std::string>;  // item -> rendered value
// Every value under key (subtree as the watch says), rendered as the promises above say; an
// absent key is an empty snapshot.
RegistrySnapshot snapshot_key(const WatchedKey& key);
// The changes from `before` to `after` as SecurityChange records for `key`.
std::vector<agent::SecurityChange> diff_snapshots(const WatchedKey& key, const RegistrySnapshot& before,
                                                  const RegistrySnapshot& after);

class RegistrySecuritySource final : public agent::SecurityActivitySource {
 public:
  // keys: what to watch (default_watched_keys() in production; tests watch their own).
  explicit RegistrySecuritySource(std::vector<WatchedKey> keys = default_watched_keys());
  ~RegistrySecuritySource() override;
  Status start(const agent::SecurityCaptureSpec& spec) override;
  int pollable_fd() const override { return queue_.pollable_fd(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::SecurityRecord&&)>& sink) override;

 private:
  struct Watch;
  void run();
  void arm(Watch& w);
  void recheck(Watch& w);
  void recheck_files();

  std::vector<std::unique_ptr<Watch>> watches_;
  std::map<std::string, std::string> file_digests_;  // agent path -> sha256 ("" when absent)
  std::int64_t recheck_ms_ = 30000;
  UniqueHandle stop_;
  std::thread worker_;
  RecordQueue<agent::SecurityRecord> queue_;
};

}  // namespace vigil::win
