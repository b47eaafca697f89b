#include "platform/windows/registry_security_source.h"

#include <algorithm>
#include <cstring>

#include "shared/crypto.h"
#include "shared/file_util.h"

namespace vigil::win {

namespace {
constexpr std::size_t kMaxValues = 4096;
constexpr int kMaxDepth = 8;
constexpr std::size_t kMaxValueText = 512;

std::string render(DWORD type, const std::vector<BYTE>& data, DWORD size) {
  switch (type) {
    case REG_DWORD:
      if (size >= 4) {
        DWORD v;
        std::memcpy(&v, data.data(), 4);
        return std::to_string(v);
      }
      break;
    case REG_QWORD:
      if (size >= 8) {
        unsigned long long v;
        std::memcpy(&v, data.data(), 8);
        return std::to_string(v);
      }
      break;
    case REG_SZ:
    case REG_EXPAND_SZ:
    case REG_MULTI_SZ: {
      std::wstring w(reinterpret_cast<const wchar_t*>(data.data()), size / sizeof(wchar_t));
      if (type == REG_MULTI_SZ) std::replace(w.begin(), w.end(), L'\0', L'\n');
      while (!w.empty() && (w.back() == L'\0' || w.back() == L'\n')) w.pop_back();
      std::string s = narrow(w);
      if (s.size() > kMaxValueText) s = s.substr(0, kMaxValueText) + "...";
      return s;
    }
    default: break;
  }
  return "sha256:" + crypto::sha256_hex(std::string_view(reinterpret_cast<const char*>(data.data()), size));
}

void walk(HKEY key, const std::string& prefix, int depth, RegistrySnapshot& out) {
  std::vector<wchar_t> name(16384);
  std::vector<BYTE> data(64 * 1024);
  for (DWORD i = 0; out.size() < kMaxValues; ++i) {
    DWORD nlen = static_cast<DWORD>(name.size()), type = 0, dlen = static_cast<DWORD>(data.size());
    LSTATUS rc = RegEnumValueW(key, i, name.data(), &nlen, nullptr, &type, data.data(), &dlen);
    if (rc == ERROR_MORE_DATA) {
      data.resize(dlen);
      nlen = static_cast<DWORD>(name.size());
      rc = RegEnumValueW(key, i, name.data(), &nlen, nullptr, &type, data.data(), &dlen);
    }
    if (rc != ERROR_SUCCESS) break;
    out[prefix + ":" + narrow(name.data(), nlen)] = render(type, data, dlen);
  }
  if (depth <= 0) return;
  for (DWORD i = 0; out.size() < kMaxValues; ++i) {
    DWORD nlen = static_cast<DWORD>(name.size());
    if (RegEnumKeyExW(key, i, name.data(), &nlen, nullptr, nullptr, nullptr, nullptr) != ERROR_SUCCESS) break;
    HKEY child = nullptr;
    if (RegOpenKeyExW(key, name.data(), 0, KEY_READ, &child) != ERROR_SUCCESS) continue;
    UniqueKey owned(child);
    walk(child, prefix + "\\" + narrow(name.data(), nlen), depth - 1, out);
  }
}

std::string root_name(HKEY root) {
  if (root == HKEY_LOCAL_MACHINE) return "HKLM";
  if (root == HKEY_CURRENT_USER) return "HKCU";
  if (root == HKEY_USERS) return "HKU";
  return "HK?";
}

std::string file_digest(const std::string& path) {
  auto content = read_file(path);
  return content ? crypto::sha256_hex(*content) : std::string();
}
}  // namespace

const std::vector<WatchedKey>& default_watched_keys() {
  static const std::vector<WatchedKey> keys = {
      {"firewall", HKEY_LOCAL_MACHINE, "SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy", true, false},
      {"firewall", HKEY_LOCAL_MACHINE, "SOFTWARE\\Policies\\Microsoft\\WindowsFirewall", true, false},
      {"antimalware", HKEY_LOCAL_MACHINE, "SOFTWARE\\Microsoft\\Windows Defender", true, false},
      {"antimalware", HKEY_LOCAL_MACHINE, "SOFTWARE\\Policies\\Microsoft\\Windows Defender", true, false},
      {"audit", HKEY_LOCAL_MACHINE, "SYSTEM\\CurrentControlSet\\Control\\Lsa", false, false},
      {"audit", HKEY_LOCAL_MACHINE, "SECURITY\\Policy\\PolAdtEv", true, false},
      {"uac", HKEY_LOCAL_MACHINE, "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System", true, false},
      {"screen_lock", HKEY_LOCAL_MACHINE, "SOFTWARE\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop", true, false},
      {"remote_access", HKEY_LOCAL_MACHINE, "SYSTEM\\CurrentControlSet\\Control\\Terminal Server", false, false},
      {"agent", HKEY_LOCAL_MACHINE, "SYSTEM\\CurrentControlSet\\Services\\VigilAgent", true, true},
  };
  return keys;
}

RegistrySnapshot snapshot_key(const WatchedKey& k) {
  RegistrySnapshot out;
  HKEY key = nullptr;
  if (RegOpenKeyExW(k.root, widen(k.subkey).c_str(), 0, KEY_READ, &key) != ERROR_SUCCESS) return out;
  UniqueKey owned(key);
  walk(key, root_name(k.root) + "\\" + k.subkey, k.subtree ? kMaxDepth : 0, out);
  return out;
}

std::vector<agent::SecurityChange> diff_snapshots(const WatchedKey& k, const RegistrySnapshot& before,
                                                  const RegistrySnapshot& after) {
  std::vector<agent::SecurityChange> out;
  auto make = [&](const std::string& item, const std::string& change, const std::string* o, const std::string* n) {
    agent::SecurityChange c;
    c.time_ns = now_ns();
    c.category = k.category;
    c.item = item;
    c.change = change;
    if (o) c.old_value = *o, c.old_digest = crypto::sha256_hex(*o);
    if (n) c.new_value = *n, c.new_digest = crypto::sha256_hex(*n);
    out.push_back(std::move(c));
  };
  for (const auto& [item, value] : after) {
    auto it = before.find(item);
    if (it == before.end()) make(item, "created", nullptr, &value);
    else if (it->second != value) make(item, "modified", &it->second, &value);
  }
  for (const auto& [item, value] : before)
    if (!after.count(item)) make(item, "deleted", &value, nullptr);
  return out;
}

struct RegistrySecuritySource::Watch {
  WatchedKey key;
  UniqueKey handle;  // open while the key exists
  UniqueHandle event;
  RegistrySnapshot snapshot;
};

RegistrySecuritySource::RegistrySecuritySource(std::vector<WatchedKey> keys) {
  for (auto& k : keys) {
    auto w = std::make_unique<Watch>();
    w->key = std::move(k);
    watches_.push_back(std::move(w));
  }
}

RegistrySecuritySource::~RegistrySecuritySource() {
  if (stop_.valid()) SetEvent(stop_.get());
  if (worker_.joinable()) worker_.join();
}

void RegistrySecuritySource::arm(Watch& w) {
  if (!w.handle.get()) {
    HKEY key = nullptr;
    if (RegOpenKeyExW(w.key.root, widen(w.key.subkey).c_str(), 0, KEY_NOTIFY | KEY_READ, &key) != ERROR_SUCCESS) return;
    w.handle = UniqueKey(key);
  }
  const DWORD filter = REG_NOTIFY_CHANGE_NAME | REG_NOTIFY_CHANGE_LAST_SET | REG_NOTIFY_THREAD_AGNOSTIC;
  if (RegNotifyChangeKeyValue(w.handle.get(), w.key.subtree, filter, w.event.get(), TRUE) != ERROR_SUCCESS)
    w.handle.reset();  // deleted under us: reopened at the next recheck
}

Status RegistrySecuritySource::start(const agent::SecurityCaptureSpec& spec) {
  if (auto s = queue_.open(); !s) return s;
  if (watches_.size() > MAXIMUM_WAIT_OBJECTS - 1) return err("security capture: too many registry keys to watch");
  recheck_ms_ = spec.recheck_interval_ms > 0 ? spec.recheck_interval_ms : 30000;
  for (auto& w : watches_) {
    w->event.reset(CreateEventW(nullptr, FALSE, FALSE, nullptr));
    if (!w->event.valid()) return err("security capture: CreateEvent: " + last_error_text());
    w->snapshot = snapshot_key(w->key);
    arm(*w);
  }
  std::vector<std::string> files = spec.agent_paths;
  wchar_t exe[MAX_PATH];
  if (DWORD n = GetModuleFileNameW(nullptr, exe, MAX_PATH); n > 0 && n < MAX_PATH) files.push_back(narrow(exe, n));
  for (const auto& f : files) file_digests_[f] = file_digest(f);
  stop_.reset(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!stop_.valid()) return err("security capture: CreateEvent: " + last_error_text());
  worker_ = std::thread([this] { run(); });
  return {};
}

void RegistrySecuritySource::recheck(Watch& w) {
  RegistrySnapshot now = snapshot_key(w.key);
  for (auto& c : diff_snapshots(w.key, w.snapshot, now)) {
    if (w.key.tamper) {
      agent::TamperActivity t;
      t.time_ns = c.time_ns;
      t.what = "service_modified";
      t.item = c.item;
      t.old_digest = c.old_digest;
      t.new_digest = c.new_digest;
      t.detail = c.change + ": " + c.old_value + " -> " + c.new_value;
      queue_.push(agent::SecurityRecord{std::move(t)});
    } else {
      queue_.push(agent::SecurityRecord{std::move(c)});
    }
  }
  w.snapshot = std::move(now);
  arm(w);
}

void RegistrySecuritySource::recheck_files() {
  for (auto& [path, digest] : file_digests_) {
    const std::string now = file_digest(path);
    if (now == digest) continue;
    agent::TamperActivity t;
    t.time_ns = now_ns();
    const bool exe = path.size() > 4 && (path.compare(path.size() - 4, 4, ".exe") == 0 || path.compare(path.size() - 4, 4, ".EXE") == 0);
    t.what = exe ? "binary_modified" : "config_modified";
    t.item = path;
    t.old_digest = digest;
    t.new_digest = now;
    t.detail = now.empty() ? "removed" : digest.empty() ? "created" : "content changed";
    digest = now;
    queue_.push(agent::SecurityRecord{std::move(t)});
  }
}

void RegistrySecuritySource::run() {
  std::vector<HANDLE> waits{stop_.get()};
  for (auto& w : watches_) waits.push_back(w->event.get());
  for (;;) {
    const DWORD r = WaitForMultipleObjects(static_cast<DWORD>(waits.size()), waits.data(), FALSE, static_cast<DWORD>(recheck_ms_));
    if (r == WAIT_OBJECT_0 || r == WAIT_FAILED) return;
    if (r == WAIT_TIMEOUT) {
      for (auto& w : watches_) recheck(*w);
      recheck_files();
      continue;
    }
    const std::size_t i = r - WAIT_OBJECT_0 - 1;
    if (i < watches_.size()) recheck(*watches_[i]);
  }
}

Result<agent::DrainStats> RegistrySecuritySource::drain(const std::function<void(agent::SecurityRecord&&)>& sink) {
  return queue_.drain(sink);
}

}  // namespace vigil::win

namespace vigil::agent {
std::unique_ptr<SecurityActivitySource> make_security_activity_source() {
  return std::make_unique<win::RegistrySecuritySource>();
}
}  // namespace vigil::agent
