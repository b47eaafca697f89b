// Host facts on Windows: the DNS host name, and the OS as the registry names it plus the kernel
// version RtlGetVersion reports (GetVersionEx lies to unmanifested programs).
#include "agent/capture.h"
#include "platform/windows/win_util.h"

namespace vigil::agent {

namespace {
std::string reg_string(const wchar_t* value) {
  wchar_t buf[256];
  DWORD bytes = sizeof buf;
  if (RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", value, RRF_RT_REG_SZ, nullptr,
                   buf, &bytes) != ERROR_SUCCESS)
    return {};
  return win::narrow(buf, wcslen(buf));
}

using RtlGetVersionFn = LONG(WINAPI*)(OSVERSIONINFOW*);
}  // namespace

HostInfo host_info() {
  HostInfo h;
  wchar_t name[256];
  DWORD n = 256;
  if (GetComputerNameExW(ComputerNameDnsHostname, name, &n)) h.hostname = win::narrow(name, n);
  std::string os = reg_string(L"ProductName");
  if (os.empty()) os = "Windows";
  if (auto display = reg_string(L"DisplayVersion"); !display.empty()) os += " " + display;
  OSVERSIONINFOW v{};
  v.dwOSVersionInfoSize = sizeof v;
  if (HMODULE ntdll = GetModuleHandleW(L"ntdll.dll")) {
    auto fn = reinterpret_cast<RtlGetVersionFn>(reinterpret_cast<void*>(GetProcAddress(ntdll, "RtlGetVersion")));
    if (fn && fn(&v) == 0)
      os += "; NT " + std::to_string(v.dwMajorVersion) + "." + std::to_string(v.dwMinorVersion) + "." + std::to_string(v.dwBuildNumber);
  }
  h.os = os;
  return h;
}

}  // namespace vigil::agent
