#include "platform/windows/device_notify_source.h"

#include <cfgmgr32.h>
#include <initguid.h>
#include <usbiodef.h>
#include <winioctl.h>

#include <algorithm>
#include <cctype>

// Exported by cfgmgr32 since Windows 8 (mingw-w64's header has the types, not the calls). Looked
// up at run time: where it is missing (Windows 7, Wine) start() says so instead of the process
// aborting on an unresolved import.
using CmRegisterFn = CONFIGRET(WINAPI*)(PCM_NOTIFY_FILTER, PVOID, PCM_NOTIFY_CALLBACK, PHCMNOTIFICATION);
using CmUnregisterFn = CONFIGRET(WINAPI*)(HCMNOTIFICATION);

namespace vigil::win {

namespace {
constexpr DWORD kVolumeRescanMs = 5000;  // mapped network drives raise no device notification

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

// "Ven_SanDisk" -> "SanDisk" (underscores stand for spaces in USBSTOR ids).
std::string field_after(const std::string& part, const std::string& prefix) {
  if (lower(part.substr(0, prefix.size())) != lower(prefix)) return {};
  std::string v = part.substr(prefix.size());
  std::replace(v.begin(), v.end(), '_', ' ');
  return v;
}

bool hex4(const std::string& s) {
  return s.size() == 4 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

DWORD CALLBACK on_cm_notification(HCMNOTIFICATION, PVOID context, CM_NOTIFY_ACTION action, PCM_NOTIFY_EVENT_DATA data,
                                  DWORD) {
  if (action != CM_NOTIFY_ACTION_DEVICEINTERFACEARRIVAL && action != CM_NOTIFY_ACTION_DEVICEINTERFACEREMOVAL)
    return ERROR_SUCCESS;
  if (data->FilterType != CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE) return ERROR_SUCCESS;
  const bool volume = IsEqualGUID(data->u.DeviceInterface.ClassGuid, GUID_DEVINTERFACE_VOLUME);
  static_cast<DeviceNotifySource*>(context)->on_interface(action == CM_NOTIFY_ACTION_DEVICEINTERFACEARRIVAL,
                                                          data->u.DeviceInterface.SymbolicLink, volume);
  return ERROR_SUCCESS;
}
}  // namespace

bool parse_device_interface_path(const std::string& path, agent::DeviceActivity& out) {
  // \\?\USB#VID_0781&PID_5567#4C530001#{a5dcbf10-...}
  std::string p = path;
  if (p.rfind("\\\\?\\", 0) == 0 || p.rfind("\\??\\", 0) == 0) p = p.substr(4);
  const auto parts = split(p, '#');
  if (parts.size() < 3) return false;
  const std::string bus = lower(parts[0]);
  out.devpath = path;
  if (bus == "usb") {
    for (const auto& f : split(parts[1], '&')) {
      const std::string lf = lower(f);
      if (lf.rfind("vid_", 0) == 0 && hex4(lf.substr(4))) out.vendor_id = lf.substr(4);
      if (lf.rfind("pid_", 0) == 0 && hex4(lf.substr(4, 4))) out.product_id = lf.substr(4, 4);
    }
    if (out.vendor_id.empty()) return false;
    out.bus = "usb";
    // A serial with '&' is one Windows made up (no serial on the device): not a serial.
    if (parts[2].find('&') == std::string::npos) out.serial = parts[2];
    return true;
  }
  if (bus == "usbstor") {
    out.bus = "block";
    out.device_class = agent::DeviceClass::MassStorage;
    out.removable = true;
    for (const auto& f : split(parts[1], '&')) {
      if (auto v = field_after(f, "Ven_"); !v.empty()) out.vendor_name = v;
      if (auto v = field_after(f, "Prod_"); !v.empty()) out.product_name = v;
    }
    std::string serial = parts[2];
    if (auto amp = serial.rfind('&'); amp != std::string::npos) serial = serial.substr(0, amp);  // "&0": the LUN
    if (serial.find('&') == std::string::npos) out.serial = serial;
    return true;
  }
  return false;
}

std::vector<agent::VolumeActivity> list_volumes() {
  std::vector<agent::VolumeActivity> out;
  const DWORD mask = GetLogicalDrives();
  for (int i = 0; i < 26; ++i) {
    if (!(mask & (1u << i))) continue;
    const std::wstring root = std::wstring(1, static_cast<wchar_t>(L'A' + i)) + L":\\";
    const UINT type = GetDriveTypeW(root.c_str());
    if (type == DRIVE_NO_ROOT_DIR || type == DRIVE_UNKNOWN) continue;
    agent::VolumeActivity v;
    v.action = agent::VolumeAction::Mounted;
    v.time_ns = now_ns();
    v.mount_point = narrow(root.substr(0, 2));  // "E:": a path under it is "E:/..."
    v.removable = type == DRIVE_REMOVABLE;
    v.network_share = type == DRIVE_REMOTE;
    wchar_t label[MAX_PATH + 1] = {}, fs[MAX_PATH + 1] = {};
    DWORD serial = 0, maxlen = 0, flags = 0;
    // An empty card reader or CD drive has no volume: it is not mounted.
    if (!GetVolumeInformationW(root.c_str(), label, MAX_PATH, &serial, &maxlen, &flags, fs, MAX_PATH)) continue;
    v.label = narrow(label, wcslen(label));
    v.fstype = narrow(fs, wcslen(fs));
    v.read_only = (flags & FILE_READ_ONLY_VOLUME) != 0;
    char hex[16];
    std::snprintf(hex, sizeof hex, "%04X-%04X", static_cast<unsigned>(serial >> 16), static_cast<unsigned>(serial & 0xffff));
    v.uuid = hex;
    if (v.network_share) {
      wchar_t remote[1024];
      DWORD len = 1024;
      const std::wstring letter = root.substr(0, 2);
      if (QueryDosDeviceW(letter.c_str(), remote, len)) v.device = narrow(remote, wcslen(remote));
    } else {
      wchar_t vol[MAX_PATH] = {};
      if (GetVolumeNameForVolumeMountPointW(root.c_str(), vol, MAX_PATH)) v.device = narrow(vol, wcslen(vol));
    }
    out.push_back(std::move(v));
  }
  return out;
}

DeviceNotifySource::~DeviceNotifySource() {
  // Unregistering waits for callbacks in flight, so none runs on a destroyed object.
  if (!registrations_.empty()) {
    auto unregister = reinterpret_cast<CmUnregisterFn>(
        reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"cfgmgr32.dll"), "CM_Unregister_Notification")));
    for (void* r : registrations_) unregister(static_cast<HCMNOTIFICATION>(r));
  }
  if (stop_.valid()) SetEvent(stop_.get());
  if (worker_.joinable()) worker_.join();
}

Status DeviceNotifySource::start(const agent::DeviceCaptureSpec&) {
  if (auto s = queue_.open(); !s) return s;
  stop_.reset(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  rescan_.reset(CreateEventW(nullptr, FALSE, FALSE, nullptr));
  if (!stop_.valid() || !rescan_.valid()) return err("device capture: CreateEvent: " + last_error_text());
  // Wine exports CM_Register_Notification as a stub that aborts the process when called.
  if (GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version"))
    return err("device capture: not available under Wine (its CM_Register_Notification is a stub)");
  HMODULE cfgmgr = LoadLibraryW(L"cfgmgr32.dll");  // stays loaded: callbacks live in it
  auto cm_register = cfgmgr ? reinterpret_cast<CmRegisterFn>(reinterpret_cast<void*>(GetProcAddress(cfgmgr, "CM_Register_Notification")))
                            : nullptr;
  auto cm_unregister = cfgmgr ? GetProcAddress(cfgmgr, "CM_Unregister_Notification") : nullptr;
  if (!cm_register || !cm_unregister)
    return err("device capture: this system has no CM_Register_Notification (Windows 8 or later is needed)");
  for (const GUID& g : {GUID_DEVINTERFACE_USB_DEVICE, GUID_DEVINTERFACE_DISK, GUID_DEVINTERFACE_VOLUME}) {
    CM_NOTIFY_FILTER f{};
    f.cbSize = sizeof f;
    f.FilterType = CM_NOTIFY_FILTER_TYPE_DEVICEINTERFACE;
    f.u.DeviceInterface.ClassGuid = g;
    HCMNOTIFICATION h = nullptr;
    const CONFIGRET cr = cm_register(&f, this, on_cm_notification, &h);
    if (cr != CR_SUCCESS)
      return err("device capture: CM_Register_Notification failed (CONFIGRET " + std::to_string(cr) + ")");
    registrations_.push_back(h);
  }
  {
    std::lock_guard lock(mu_);
    for (auto& v : list_volumes()) volumes_[v.mount_point] = v;
  }
  worker_ = std::thread([this] { run(); });
  return {};
}

void DeviceNotifySource::on_interface(bool arrival, const std::wstring& link, bool is_volume) {
  if (is_volume) {
    SetEvent(rescan_.get());
    return;
  }
  agent::DeviceActivity d;
  d.action = arrival ? agent::DeviceAction::Connected : agent::DeviceAction::Disconnected;
  d.kernel_action = arrival ? "arrival" : "removal";
  d.time_ns = now_ns();
  if (!parse_device_interface_path(narrow(link), d)) return;  // a fixed internal disk: not a device event
  queue_.push(agent::DeviceSourceRecord{std::move(d)});
}

void DeviceNotifySource::rescan_volumes() {
  std::map<std::string, agent::VolumeActivity> now;
  for (auto& v : list_volumes()) now[v.mount_point] = v;
  std::vector<agent::VolumeActivity> changes;
  {
    std::lock_guard lock(mu_);
    for (auto& [mp, v] : now)
      if (!volumes_.count(mp)) changes.push_back(v);
    for (auto& [mp, v] : volumes_)
      if (!now.count(mp)) {
        agent::VolumeActivity gone = v;
        gone.action = agent::VolumeAction::Unmounted;
        gone.time_ns = now_ns();
        changes.push_back(std::move(gone));
      }
    volumes_ = std::move(now);
  }
  for (auto& c : changes) queue_.push(agent::DeviceSourceRecord{std::move(c)});
}

void DeviceNotifySource::run() {
  const HANDLE waits[] = {stop_.get(), rescan_.get()};
  for (;;) {
    const DWORD w = WaitForMultipleObjects(2, waits, FALSE, kVolumeRescanMs);
    if (w == WAIT_OBJECT_0 || w == WAIT_FAILED) return;
    rescan_volumes();
  }
}

std::vector<agent::VolumeActivity> DeviceNotifySource::current_volumes() const {
  std::lock_guard lock(mu_);
  std::vector<agent::VolumeActivity> out;
  for (auto& [mp, v] : volumes_) out.push_back(v);
  return out;
}

Result<agent::DrainStats> DeviceNotifySource::drain(const std::function<void(agent::DeviceSourceRecord&&)>& sink) {
  return queue_.drain(sink);
}

}  // namespace vigil::win

namespace vigil::agent {
std::unique_ptr<DeviceActivitySource> make_device_activity_source() { return std::make_unique<win::DeviceNotifySource>(); }
}  // namespace vigil::agent
