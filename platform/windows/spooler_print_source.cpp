#include "platform/windows/spooler_print_source.h"

#include <winspool.h>

namespace vigil::win {

namespace {
WORD kJobFields[] = {JOB_NOTIFY_FIELD_PRINTER_NAME,  JOB_NOTIFY_FIELD_MACHINE_NAME,  JOB_NOTIFY_FIELD_USER_NAME,
                     JOB_NOTIFY_FIELD_DOCUMENT,      JOB_NOTIFY_FIELD_DATATYPE,      JOB_NOTIFY_FIELD_STATUS,
                     JOB_NOTIFY_FIELD_SUBMITTED,     JOB_NOTIFY_FIELD_TOTAL_PAGES,   JOB_NOTIFY_FIELD_PAGES_PRINTED,
                     JOB_NOTIFY_FIELD_TOTAL_BYTES,   JOB_NOTIFY_FIELD_DEVMODE};

PRINTER_NOTIFY_OPTIONS_TYPE job_type() {
  PRINTER_NOTIFY_OPTIONS_TYPE t{};
  t.Type = JOB_NOTIFY_TYPE;
  t.Count = sizeof kJobFields / sizeof kJobFields[0];
  t.pFields = kJobFields;
  return t;
}

std::string wide_field(const PRINTER_NOTIFY_INFO_DATA& d) {
  const auto* p = static_cast<const wchar_t*>(d.NotifyData.Data.pBuf);
  if (!p || d.NotifyData.Data.cbBuf < sizeof(wchar_t)) return {};
  std::size_t n = d.NotifyData.Data.cbBuf / sizeof(wchar_t);
  while (n > 0 && p[n - 1] == L'\0') --n;
  return narrow(p, n);
}
}  // namespace

std::string final_job_state(std::uint32_t s) {
  if (s & (JOB_STATUS_PRINTED | JOB_STATUS_COMPLETE)) return "completed";
  if (s & (JOB_STATUS_DELETED | JOB_STATUS_DELETING)) return (s & JOB_STATUS_ERROR) ? "aborted" : "canceled";
  return {};
}

agent::PrintActivity print_activity_from(std::uint32_t id, const SpoolerJob& j, const std::string& state,
                                         const std::string& server) {
  agent::PrintActivity a;
  a.time_ns = now_ns();
  a.completed_ns = a.time_ns;
  a.printer = j.printer;
  a.title = j.document;
  a.pages = j.pages_printed ? j.pages_printed : (state == "completed" ? j.total_pages : 0);
  a.copies = j.copies;
  a.bytes = j.total_bytes;
  a.job_id = id;
  a.state = state;
  a.job_user = j.user;
  a.origin_host = j.machine;
  a.document_format = j.datatype;
  a.created_ns = j.submitted_ns;
  a.server = server.empty() ? "local spooler" : server;
  return a;
}

SpoolerPrintSource::~SpoolerPrintSource() {
  if (stop_.valid()) SetEvent(stop_.get());
  if (worker_.joinable()) worker_.join();
  if (change_ != INVALID_HANDLE_VALUE) FindClosePrinterChangeNotification(change_);
  if (printer_) ClosePrinter(printer_);
}

Status SpoolerPrintSource::start(const agent::PrintCaptureSpec& spec) {
  if (auto s = queue_.open(); !s) return s;
  server_ = spec.server;
  std::wstring name = widen(server_);
  if (!OpenPrinterW(server_.empty() ? nullptr : name.data(), &printer_, nullptr))
    return err("print capture: cannot open the print server " + (server_.empty() ? std::string("(local)") : server_) +
               ": " + last_error_text());
  PRINTER_NOTIFY_OPTIONS_TYPE t = job_type();
  PRINTER_NOTIFY_OPTIONS o{};
  o.Version = 2;
  o.Count = 1;
  o.pTypes = &t;
  change_ = FindFirstPrinterChangeNotification(printer_, PRINTER_CHANGE_JOB, 0, &o);
  if (change_ == INVALID_HANDLE_VALUE) {
    const DWORD e = GetLastError();
    // Wine's spooler returns failure without an error code: it has no change notifications.
    return err("print capture: FindFirstPrinterChangeNotification: " +
               (e == 0 ? std::string("this print spooler does not support change notifications") : error_text(e)));
  }
  stop_.reset(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  if (!stop_.valid()) return err("print capture: CreateEvent: " + last_error_text());
  worker_ = std::thread([this] { run(); });
  return {};
}

void SpoolerPrintSource::apply(void* raw) {
  auto* info = static_cast<PRINTER_NOTIFY_INFO*>(raw);
  for (DWORD i = 0; i < info->Count; ++i) {
    const PRINTER_NOTIFY_INFO_DATA& d = info->aData[i];
    if (d.Type != JOB_NOTIFY_TYPE) continue;
    SpoolerJob& j = jobs_[d.Id];
    const DWORD num = d.NotifyData.adwData[0];
    switch (d.Field) {
      case JOB_NOTIFY_FIELD_PRINTER_NAME: j.printer = wide_field(d); break;
      case JOB_NOTIFY_FIELD_MACHINE_NAME: j.machine = wide_field(d); break;
      case JOB_NOTIFY_FIELD_USER_NAME: j.user = wide_field(d); break;
      case JOB_NOTIFY_FIELD_DOCUMENT: j.document = wide_field(d); break;
      case JOB_NOTIFY_FIELD_DATATYPE: j.datatype = wide_field(d); break;
      case JOB_NOTIFY_FIELD_STATUS: j.status = num; break;
      case JOB_NOTIFY_FIELD_TOTAL_PAGES: j.total_pages = num; break;
      case JOB_NOTIFY_FIELD_PAGES_PRINTED: j.pages_printed = num; break;
      case JOB_NOTIFY_FIELD_TOTAL_BYTES: j.total_bytes = num; break;
      case JOB_NOTIFY_FIELD_SUBMITTED:
        if (d.NotifyData.Data.pBuf && d.NotifyData.Data.cbBuf >= sizeof(SYSTEMTIME)) {
          FILETIME ft;
          if (SystemTimeToFileTime(static_cast<const SYSTEMTIME*>(d.NotifyData.Data.pBuf), &ft)) j.submitted_ns = filetime_to_ns(ft);
        }
        break;
      case JOB_NOTIFY_FIELD_DEVMODE:
        if (d.NotifyData.Data.pBuf && d.NotifyData.Data.cbBuf >= sizeof(DEVMODEW)) {
          const auto* dm = static_cast<const DEVMODEW*>(d.NotifyData.Data.pBuf);
          if (dm->dmFields & DM_COPIES) j.copies = static_cast<std::uint32_t>(dm->dmCopies);
        }
        break;
      default: break;
    }
  }
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const std::string state = final_job_state(it->second.status);
    if (!state.empty() && !it->second.reported) {
      queue_.push(print_activity_from(it->first, it->second, state, server_));
      it->second.reported = true;
    }
    // A deleted job is gone from the spooler: forget it (a reused id is a new job).
    if (it->second.status & JOB_STATUS_DELETED) it = jobs_.erase(it);
    else ++it;
  }
}

void SpoolerPrintSource::run() {
  const HANDLE waits[] = {stop_.get(), change_};
  bool refresh = false;
  for (;;) {
    const DWORD w = WaitForMultipleObjects(2, waits, FALSE, INFINITE);
    if (w != WAIT_OBJECT_0 + 1) return;
    DWORD cause = 0;
    PRINTER_NOTIFY_INFO* info = nullptr;
    PRINTER_NOTIFY_OPTIONS o{};
    o.Version = 2;
    o.Flags = refresh ? PRINTER_NOTIFY_OPTIONS_REFRESH : 0;
    if (!FindNextPrinterChangeNotification(change_, &cause, refresh ? &o : nullptr, reinterpret_cast<void**>(&info))) {
      queue_.count_lost(1);
      return;  // the spooler went away; the agent logs the loss, a restart re-subscribes
    }
    refresh = false;
    if (info) {
      if (info->Flags & PRINTER_NOTIFY_INFO_DISCARDED) {
        queue_.count_lost(1);
        refresh = true;
      } else {
        apply(info);
      }
      FreePrinterNotifyInfo(info);
    }
  }
}

Result<agent::DrainStats> SpoolerPrintSource::drain(const std::function<void(agent::PrintActivity&&)>& sink) {
  return queue_.drain(sink);
}

}  // namespace vigil::win

namespace vigil::agent {
std::unique_ptr<PrintActivitySource> make_print_activity_source() { return std::make_unique<win::SpoolerPrintSource>(); }
}  // namespace vigil::agent
