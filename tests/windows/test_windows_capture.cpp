// The Windows capture, on real Win32 APIs (under Wine here: make windows-check). Each test drives
// the API the source uses (the file system, the registry, a libuv loop) and checks what comes out.
#include <catch2/catch.hpp>

#include <uv.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "platform/windows/device_notify_source.h"
#include "platform/windows/directory_watch_source.h"
#include "platform/windows/file_labels.h"
#include "platform/windows/registry_security_source.h"
#include "platform/windows/spooler_print_source.h"
#include "platform/windows/stop_request_source.h"
#include "platform/windows/wake_socket.h"
#include "platform/windows/wts_session_source.h"
#include "tests/unit/test_support.h"

#include <winspool.h>
#include <wtsapi32.h>

using namespace vigil;
using namespace vigil::win;
using vigil::test::TempDir;

namespace {
// Drains `source` until `done` says it has what it waits for, or 10 s pass.
template <typename Source, typename Record, typename Done>
std::vector<Record> drain_until(Source& source, Done done) {
  std::vector<Record> got;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until && !done(got)) {
    auto st = source.drain([&](Record&& r) { got.push_back(std::move(r)); });
    REQUIRE(st.ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return got;
}
}  // namespace

TEST_CASE("a wake socket wakes a libuv loop polling its descriptor", "[windows]") {
  WakeSocket w;
  REQUIRE(w.open().ok());
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  uv_poll_t poll;
  REQUIRE(uv_poll_init(&loop, &poll, w.fd()) == 0);
  int fired = 0;
  poll.data = &fired;
  REQUIRE(uv_poll_start(&poll, UV_READABLE, [](uv_poll_t* h, int status, int) {
            if (status >= 0) ++*static_cast<int*>(h->data);
            uv_poll_stop(h);
          }) == 0);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    w.signal();
  });
  uv_run(&loop, UV_RUN_DEFAULT);  // returns once the callback stopped the poll
  t.join();
  CHECK(fired == 1);
  w.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("labels parse as the Linux reader's do", "[windows][labels]") {
  CHECK(parse_labels(" Confidential , HR ,,\tFinance\r\n") == std::vector<std::string>{"Confidential", "HR", "Finance"});
  CHECK(parse_labels("").empty());
  CHECK(parse_labels(std::string(129, 'x') + ",ok") == std::vector<std::string>{"ok"});
  std::string many;
  for (int i = 0; i < 20; ++i) many += "l" + std::to_string(i) + ",";
  auto l = parse_labels(many);
  REQUIRE(l.size() == 16);
  CHECK(l.front() == "l0");
  CHECK(l.back() == "l15");
}

TEST_CASE("labels are read from the file's vigil.labels stream, or not at all", "[windows][labels]") {
  TempDir dir;
  const std::string file = dir.write("doc.txt", "body");
  CHECK(agent::read_file_labels(file).empty());  // no stream yet
  CHECK(agent::read_file_labels(dir.file("missing.txt")).empty());
  // Alternate data streams need NTFS; where the file system has none the stream cannot be made,
  // and the reader must then still say "no labels" rather than fail.
  HANDLE h = CreateFileW(widen(file + ":vigil.labels").c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                         FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    WARN("no alternate data streams here: " << last_error_text());
    CHECK(agent::read_file_labels(file).empty());
    return;
  }
  const char text[] = "Secret, Board Only";
  DWORD wrote = 0;
  REQUIRE(WriteFile(h, text, sizeof text - 1, &wrote, nullptr));
  CloseHandle(h);
  CHECK(agent::read_file_labels(file) == std::vector<std::string>{"Secret", "Board Only"});
}

TEST_CASE("directory changes come out as create, write, rename and delete", "[windows][file]") {
  TempDir dir;
  const std::string root = dir.path.string();
  std::filesystem::create_directories(dir.path / "skip");
  DirectoryWatchSource src;
  agent::CaptureSpec spec;
  spec.watch_paths = {root};
  spec.exclude_paths = {(dir.path / "skip").string()};
  REQUIRE(src.start(spec).ok());
  CHECK(src.pollable_fd() >= 0);

  { std::ofstream(dir.file("skip\\ignored.txt")) << "x"; }
  { std::ofstream(dir.file("a.txt"), std::ios::binary) << "hello"; }
  std::filesystem::rename(dir.file("a.txt"), dir.file("b.txt"));
  std::filesystem::remove(dir.file("b.txt"));

  auto got = drain_until<DirectoryWatchSource, agent::FileActivity>(src, [](const std::vector<agent::FileActivity>& v) {
    return std::any_of(v.begin(), v.end(), [](auto& a) { return a.action == agent::FileAction::Delete; });
  });
  auto has = [&](agent::FileAction act, const std::string& name) {
    return std::any_of(got.begin(), got.end(), [&](auto& a) {
      return a.action == act && a.path.size() >= name.size() && a.path.compare(a.path.size() - name.size(), name.size(), name) == 0;
    });
  };
  CHECK(has(agent::FileAction::Create, "/a.txt"));
  CHECK(has(agent::FileAction::Rename, "/b.txt"));
  CHECK(has(agent::FileAction::Delete, "/b.txt"));
  for (const auto& a : got) {
    CHECK(a.path.find("ignored.txt") == std::string::npos);
    if (a.action == agent::FileAction::Rename) CHECK(a.old_path.substr(a.old_path.size() - 6) == "/a.txt");
    CHECK(a.path.find('\\') == std::string::npos);  // generic form throughout
    CHECK(a.process.pid == 0);  // ReadDirectoryChangesW names no process; nothing is made up
  }
}

TEST_CASE("a registry value changed under a watched key is a security change", "[windows][security]") {
  const std::string sub = "Software\\VigilTest\\Firewall" + std::to_string(GetCurrentProcessId());
  HKEY k = nullptr;
  REQUIRE(RegCreateKeyExW(HKEY_CURRENT_USER, widen(sub).c_str(), 0, nullptr, 0, KEY_ALL_ACCESS, nullptr, &k, nullptr) == ERROR_SUCCESS);
  DWORD on = 1;
  REQUIRE(RegSetValueExW(k, L"EnableFirewall", 0, REG_DWORD, reinterpret_cast<const BYTE*>(&on), sizeof on) == ERROR_SUCCESS);

  RegistrySecuritySource src({{"firewall", HKEY_CURRENT_USER, sub, true, false}});
  agent::SecurityCaptureSpec spec;
  spec.recheck_interval_ms = 60000;  // so what arrives within the test came from the notification
  REQUIRE(src.start(spec).ok());

  DWORD off = 0;
  REQUIRE(RegSetValueExW(k, L"EnableFirewall", 0, REG_DWORD, reinterpret_cast<const BYTE*>(&off), sizeof off) == ERROR_SUCCESS);
  auto got = drain_until<RegistrySecuritySource, agent::SecurityRecord>(src, [](const std::vector<agent::SecurityRecord>& v) {
    return !v.empty();
  });
  RegCloseKey(k);
  RegDeleteTreeW(HKEY_CURRENT_USER, widen(sub).c_str());
  REQUIRE(got.size() == 1);
  const auto* c = std::get_if<agent::SecurityChange>(&got[0]);
  REQUIRE(c);
  CHECK(c->category == "firewall");
  CHECK(c->item == "HKCU\\" + sub + ":EnableFirewall");
  CHECK(c->change == "modified");
  CHECK(c->old_value == "1");
  CHECK(c->new_value == "0");
  CHECK(c->old_digest.size() == 64);
  CHECK(c->changed_by.empty());
}

TEST_CASE("registry snapshots diff into created, modified and deleted", "[windows][security]") {
  WatchedKey k{"uac", HKEY_LOCAL_MACHINE, "X", true, false};
  RegistrySnapshot a{{"HKLM\\X:EnableLUA", "1"}, {"HKLM\\X:Gone", "a"}};
  RegistrySnapshot b{{"HKLM\\X:EnableLUA", "0"}, {"HKLM\\X\\Sub:New", "b"}};
  auto d = diff_snapshots(k, a, b);
  REQUIRE(d.size() == 3);
  std::map<std::string, std::string> by_item;
  for (auto& c : d) by_item[c.item] = c.change;
  CHECK(by_item["HKLM\\X:EnableLUA"] == "modified");
  CHECK(by_item["HKLM\\X\\Sub:New"] == "created");
  CHECK(by_item["HKLM\\X:Gone"] == "deleted");
}

TEST_CASE("device interface paths give bus, ids, serial and names", "[windows][devices]") {
  agent::DeviceActivity d;
  REQUIRE(parse_device_interface_path("\\\\?\\USB#VID_0781&PID_5567#4C530001230417116383#{a5dcbf10-6530-11d2-901f-00c04fb951ed}", d));
  CHECK(d.bus == "usb");
  CHECK(d.vendor_id == "0781");
  CHECK(d.product_id == "5567");
  CHECK(d.serial == "4C530001230417116383");

  agent::DeviceActivity s;
  REQUIRE(parse_device_interface_path(
      "\\\\?\\USBSTOR#Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00#4C530001230417116383&0#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}", s));
  CHECK(s.bus == "block");
  CHECK(s.device_class == agent::DeviceClass::MassStorage);
  CHECK(s.removable);
  CHECK(s.vendor_name == "SanDisk");
  CHECK(s.product_name == "Cruzer Blade");
  CHECK(s.serial == "4C530001230417116383");

  agent::DeviceActivity noserial;
  REQUIRE(parse_device_interface_path("\\\\?\\USB#VID_046D&PID_C077#5&2a4b3c&0&1#{a5dcbf10-6530-11d2-901f-00c04fb951ed}", noserial));
  CHECK(noserial.vendor_id == "046d");
  CHECK(noserial.serial.empty());  // Windows made that one up

  agent::DeviceActivity internal;
  CHECK_FALSE(parse_device_interface_path("\\\\?\\SCSI#Disk&Ven_NVMe&Prod_Samsung#4&1&0&000000#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}", internal));
}

TEST_CASE("the volumes mounted now include the system drive", "[windows][devices]") {
  auto v = list_volumes();
  REQUIRE(!v.empty());
  CHECK(std::any_of(v.begin(), v.end(), [](auto& x) { return x.mount_point == "C:" && !x.fstype.empty(); }));
}

TEST_CASE("spooler job states map to the final states of a print job", "[windows][print]") {
  CHECK(final_job_state(JOB_STATUS_PRINTING).empty());
  CHECK(final_job_state(JOB_STATUS_SPOOLING).empty());
  CHECK(final_job_state(JOB_STATUS_PRINTED) == "completed");
  CHECK(final_job_state(JOB_STATUS_PRINTED | JOB_STATUS_DELETED) == "completed");
  CHECK(final_job_state(JOB_STATUS_DELETING) == "canceled");
  CHECK(final_job_state(JOB_STATUS_ERROR | JOB_STATUS_DELETED) == "aborted");
  SpoolerJob j;
  j.printer = "HP LaserJet";
  j.document = "salaries.xlsx";
  j.user = "alice";
  j.total_pages = 3;
  j.total_bytes = 12345;
  auto a = print_activity_from(7, j, "completed", "");
  CHECK(a.job_id == 7);
  CHECK(a.pages == 3);
  CHECK(a.title == "salaries.xlsx");
  CHECK(a.server == "local spooler");
  CHECK(print_activity_from(7, j, "canceled", "").pages == 0);  // nothing printed
}

TEST_CASE("session notifications map to logon, logoff, lock and unlock", "[windows][sessions]") {
  agent::SessionActivity a;
  REQUIRE(session_activity_for(WTS_SESSION_LOCK, 2, a));
  CHECK(a.action == agent::SessionAction::Lock);
  CHECK(a.session_id == "2");
  REQUIRE(session_activity_for(WTS_SESSION_LOGON, 3, a));
  CHECK(a.action == agent::SessionAction::Logon);
  CHECK_FALSE(session_activity_for(WTS_CONSOLE_CONNECT, 1, a));
}

TEST_CASE("a stop request made before the source starts is delivered after", "[windows][stop]") {
  request_stop(SIGTERM, "SERVICE_CONTROL_STOP", "Service Control Manager");
  StopRequestSource src;
  REQUIRE(src.start({}).ok());
  std::vector<agent::StopRequest> got;
  REQUIRE(src.drain([&](agent::StopRequest&& r) { got.push_back(std::move(r)); }).ok());
  REQUIRE(got.size() == 1);
  CHECK(got[0].signal == SIGTERM);
  CHECK(got[0].signal_name == "SERVICE_CONTROL_STOP");
  StopRequestSource second;
  CHECK_FALSE(second.start({}).ok());  // one receiver per process
}
