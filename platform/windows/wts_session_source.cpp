#include "platform/windows/wts_session_source.h"

#include <wtsapi32.h>

namespace vigil::win {

namespace {
const wchar_t kClassName[] = L"VigilSessionWatch";

std::string query(DWORD session, WTS_INFO_CLASS what) {
  wchar_t* buf = nullptr;
  DWORD bytes = 0;
  if (!WTSQuerySessionInformationW(WTS_CURRENT_SERVER_HANDLE, session, what, &buf, &bytes) || !buf) return {};
  std::string s = narrow(buf, wcslen(buf));
  WTSFreeMemory(buf);
  return s;
}

LRESULT CALLBACK wnd_proc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp) {
  if (msg == WM_WTSSESSION_CHANGE) {
    auto* self = reinterpret_cast<WtsSessionSource*>(GetWindowLongPtrW(hwnd, GWLP_USERDATA));
    if (self) self->on_message(wp, lp);
    return 0;
  }
  return DefWindowProcW(hwnd, msg, wp, lp);
}
}  // namespace

bool session_activity_for(WPARAM code, DWORD id, agent::SessionActivity& a) {
  switch (code) {
    case WTS_SESSION_LOGON: a.action = agent::SessionAction::Logon; break;
    case WTS_SESSION_LOGOFF: a.action = agent::SessionAction::Logoff; break;
    case WTS_SESSION_LOCK: a.action = agent::SessionAction::Lock; break;
    case WTS_SESSION_UNLOCK: a.action = agent::SessionAction::Unlock; break;
    default: return false;
  }
  a.time_ns = now_ns();
  a.session_id = std::to_string(id);
  a.source = "wts";
  return true;
}

void WtsSessionSource::on_message(WPARAM code, LPARAM lp) {
  const DWORD id = static_cast<DWORD>(lp);
  agent::SessionActivity a;
  if (!session_activity_for(code, id, a)) return;
  const std::string user = query(id, WTSUserName), domain = query(id, WTSDomainName);
  a.user = domain.empty() || user.empty() ? user : domain + "\\" + user;
  a.remote_host = query(id, WTSClientName);
  const std::string station = query(id, WTSWinStationName);
  a.tty = station;
  a.kind = station.rfind("RDP", 0) == 0 ? "rdp" : station == "Console" ? "console" : "other";
  queue_.push(std::move(a));
}

WtsSessionSource::~WtsSessionSource() {
  if (thread_id_) PostThreadMessageW(thread_id_, WM_QUIT, 0, 0);
  if (worker_.joinable()) worker_.join();
}

Status WtsSessionSource::start(const agent::SessionCaptureSpec&) {
  if (auto s = queue_.open(); !s) return s;
  UniqueHandle ready(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!ready.valid()) return err("session capture: CreateEvent: " + last_error_text());
  std::string failure;
  worker_ = std::thread([this, h = ready.get(), &failure] { run(h, &failure); });
  WaitForSingleObject(ready.get(), INFINITE);
  if (!failure.empty()) {
    worker_.join();
    return err(failure);
  }
  return {};
}

// The window, its registration and its message loop all belong to this thread.
void WtsSessionSource::run(HANDLE ready, std::string* failure) {
  WNDCLASSEXW wc{};
  wc.cbSize = sizeof wc;
  wc.lpfnWndProc = wnd_proc;
  wc.hInstance = GetModuleHandleW(nullptr);
  wc.lpszClassName = kClassName;
  RegisterClassExW(&wc);  // fails harmlessly when a previous source registered it
  HWND hwnd = CreateWindowExW(0, kClassName, L"", 0, 0, 0, 0, 0, HWND_MESSAGE, nullptr, wc.hInstance, nullptr);
  if (!hwnd) {
    *failure = "session capture: cannot create a message-only window: " + last_error_text();
    SetEvent(ready);
    return;
  }
  SetWindowLongPtrW(hwnd, GWLP_USERDATA, reinterpret_cast<LONG_PTR>(this));
  if (!WTSRegisterSessionNotification(hwnd, NOTIFY_FOR_ALL_SESSIONS)) {
    *failure = "session capture: WTSRegisterSessionNotification: " + last_error_text();
    DestroyWindow(hwnd);
    SetEvent(ready);
    return;
  }
  thread_id_ = GetCurrentThreadId();
  SetEvent(ready);
  MSG msg;
  while (GetMessageW(&msg, nullptr, 0, 0) > 0) DispatchMessageW(&msg);
  WTSUnRegisterSessionNotification(hwnd);
  DestroyWindow(hwnd);
}

Result<agent::DrainStats> WtsSessionSource::drain(const std::function<void(agent::SessionActivity&&)>& sink) {
  return queue_.drain(sink);
}

}  // namespace vigil::win

namespace vigil::agent {
std::unique_ptr<SessionActivitySource> make_session_activity_source() { return std::make_unique<win::WtsSessionSource>(); }
}  // namespace vigil::agent
