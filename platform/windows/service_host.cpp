// The agent as a Windows service (installers/windows installs it as "VigilAgent", LocalSystem,
// automatic start, running `vigil-agent.exe run --data-dir ...`). When the Service Control
// Manager started the process, run_hosted() connects to it, reports the service running, turns
// stop and shutdown controls into stop requests (recorded as agent.tamper, then a clean stop)
// and reports the exit code when the agent ends; started from a console, it just runs the agent.
#include <csignal>
#include <functional>

#include "agent/capture.h"
#include "platform/windows/stop_request_source.h"
#include "platform/windows/win_util.h"

namespace vigil::agent {

namespace {
wchar_t kServiceName[] = L"VigilAgent";
const std::function<int()>* g_body = nullptr;
SERVICE_STATUS_HANDLE g_status_handle = nullptr;
int g_exit_code = 0;

void report(DWORD state, DWORD exit_code = NO_ERROR) {
  SERVICE_STATUS st{};
  st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  st.dwCurrentState = state;
  st.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  st.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  st.dwServiceSpecificExitCode = exit_code;
  st.dwWaitHint = state == SERVICE_STOP_PENDING ? 30000 : 0;
  SetServiceStatus(g_status_handle, &st);
}

DWORD WINAPI on_control(DWORD control, DWORD, LPVOID, LPVOID) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
      report(SERVICE_STOP_PENDING);
      win::request_stop(SIGTERM, "SERVICE_CONTROL_STOP", "Service Control Manager");
      return NO_ERROR;
    case SERVICE_CONTROL_SHUTDOWN:
      report(SERVICE_STOP_PENDING);
      win::request_stop(SIGTERM, "SERVICE_CONTROL_SHUTDOWN", "Service Control Manager");
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE: return NO_ERROR;
    default: return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI service_main(DWORD, LPWSTR*) {
  g_status_handle = RegisterServiceCtrlHandlerExW(kServiceName, on_control, nullptr);
  if (!g_status_handle) {
    g_exit_code = 1;
    return;
  }
  report(SERVICE_RUNNING);
  g_exit_code = (*g_body)();
  report(SERVICE_STOPPED, static_cast<DWORD>(g_exit_code));
}
}  // namespace

int run_hosted(const std::function<int()>& body) {
  g_body = &body;
  SERVICE_TABLE_ENTRYW table[] = {{kServiceName, service_main}, {nullptr, nullptr}};
  if (StartServiceCtrlDispatcherW(table)) return g_exit_code;
  // Not started by the SCM (a console, a test, Wine without a service): run in the foreground.
  if (GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return body();
  return body();
}

}  // namespace vigil::agent
