// Devices and volumes: the uevent payload and mountinfo parsers as logic; the interpretation of
// USB uevents against a fixture sysfs tree (this machine has no USB bus); and UeventSource
// against the real kernel: uevents injected through /sys/class/block/loopN/uevent on a loop
// device the test attaches, a real filesystem mounted and unmounted on it, and the superblock
// probe on images made by the real mkfs tools. Needs root. Tag: [device].
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_config.h"
#include "agent/event_builder.h"
#include "platform/linux/mount_table.h"
#include "platform/linux/uevent_source.h"
#include "tests/unit/test_support.h"

using namespace std::chrono_literals;
using vigil::agent::DeviceAction;
using vigil::agent::DeviceActivity;
using vigil::agent::DeviceClass;
using vigil::agent::DeviceSourceRecord;
using vigil::agent::VolumeAction;
using vigil::agent::VolumeActivity;
using vigil::platform::UeventSource;
namespace fs = std::filesystem;
namespace vp = vigil::platform;

namespace {

std::string payload(std::initializer_list<std::string> fields) {
  std::string p;
  for (const auto& f : fields) {
    p += f;
    p.push_back('\0');
  }
  return p;
}

void put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

struct Collected {
  std::vector<DeviceActivity> devices;
  std::vector<VolumeActivity> volumes;
  std::function<void(DeviceSourceRecord&&)> sink() {
    return [this](DeviceSourceRecord&& r) {
      if (auto* d = std::get_if<DeviceActivity>(&r)) devices.push_back(std::move(*d));
      else volumes.push_back(std::move(std::get<VolumeActivity>(r)));
    };
  }
};

// Runs a program (no shell) and returns its exit code and standard output.
struct Run {
  int code = -1;
  std::string out;
};
Run run(const std::vector<std::string>& argv) {
  int pipefd[2];
  REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  Run r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == ' ')) r.out.pop_back();
  return r;
}

bool have_program(const std::string& name) { return run({"sh", "-c", "command -v " + name}).code == 0; }

std::string image_file(const vigil::test::TempDir& dir, const std::string& name, std::uintmax_t bytes) {
  std::string p = dir.file(name);
  { std::ofstream(p).flush(); }
  fs::resize_file(p, bytes);
  return p;
}

// A loop device attached to a file; detached on destruction whatever happened.
struct LoopDevice {
  std::string node;  // /dev/loopN, empty when none could be attached
  std::string name;  // loopN
  bool sent_remove = false;
  explicit LoopDevice(const std::string& file) {
    Run r = run({"losetup", "-f", "--show", file});
    if (r.code == 0 && r.out.rfind("/dev/loop", 0) == 0) {
      node = r.out;
      name = node.substr(5);
    }
  }
  ~LoopDevice() {
    if (node.empty()) return;
    // A synthetic "remove" made udev (where it runs) drop the node: announce the device again.
    if (sent_remove) std::ofstream("/sys/class/block/" + name + "/uevent") << "add";
    run({"losetup", "-d", node});
  }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
};

// A mount that is undone on destruction whatever happened.
struct MountGuard {
  std::string point;
  bool mounted = false;
  ~MountGuard() {
    if (mounted) ::umount2(point.c_str(), MNT_DETACH);
  }
};

// Polls and drains until done() or the timeout.
bool drain_until(UeventSource& src, Collected& got, const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = 5s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd p{src.pollable_fd(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
    auto r = src.drain(got.sink());
    REQUIRE(r.ok());
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Logic: the uevent payload.

TEST_CASE("a kernel USB uevent payload parses into action, devpath and its fields", "[device]") {
  auto u = vp::parse_uevent(payload({"add@/devices/pci0000:00/0000:00:14.0/usb1/1-2", "ACTION=add",
                                     "DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2", "SUBSYSTEM=usb",
                                     "MAJOR=189", "MINOR=3", "DEVNAME=bus/usb/001/004", "DEVTYPE=usb_device",
                                     "PRODUCT=781/5567/100", "TYPE=0/0/0", "BUSNUM=001", "DEVNUM=004", "SEQNUM=4242"}));
  CHECK(u.has_header);
  CHECK(u.action == "add");
  CHECK(u.devpath == "/devices/pci0000:00/0000:00:14.0/usb1/1-2");
  CHECK(u.subsystem == "usb");
  CHECK(u.devtype == "usb_device");
  CHECK(u.get("PRODUCT") == "781/5567/100");
  CHECK(u.get("NOPE").empty());
  CHECK(u.malformed_fields == 0);
  auto ids = vp::parse_usb_product(u.get("PRODUCT"));
  REQUIRE(ids);
  CHECK(ids->first == "0781");
  CHECK(ids->second == "5567");
}

TEST_CASE("uevent payloads with missing fields, garbage or a huge size never break the parser", "[device]") {
  SECTION("header only") {
    auto u = vp::parse_uevent("remove@/devices/x");
    CHECK(u.action == "remove");
    CHECK(u.devpath == "/devices/x");
    CHECK(u.subsystem.empty());
  }
  SECTION("no header: ACTION and DEVPATH fields are enough") {
    auto u = vp::parse_uevent(payload({"ACTION=add", "DEVPATH=/devices/y", "SUBSYSTEM=block"}));
    CHECK_FALSE(u.has_header);
    CHECK(u.action == "add");
    CHECK(u.devpath == "/devices/y");
  }
  SECTION("fields without '=' and empty keys are counted, not kept") {
    auto u = vp::parse_uevent(payload({"add@/d", "GARBAGE", "=value", "KEY=", "A=b=c"}));
    CHECK(u.malformed_fields == 2);
    CHECK(u.env.count("KEY") == 1);
    CHECK(u.get("A") == "b=c");
  }
  SECTION("the empty payload and lone separators") {
    CHECK(vp::parse_uevent("").action.empty());
    CHECK(vp::parse_uevent(std::string(64, '\0')).env.empty());
    CHECK(vp::parse_uevent("@").action.empty());
    CHECK(vp::parse_uevent("====").malformed_fields == 1);
  }
  SECTION("random bytes") {
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
      std::string junk(rng() % 300, '\0');
      for (auto& c : junk) c = static_cast<char>(rng() % 4 == 0 ? '\0' : rng() % 4 == 0 ? '=' : rng() % 256);
      auto u = vp::parse_uevent(junk);
      CHECK(u.env.size() <= vp::kMaxUeventFields);
    }
  }
  SECTION("a huge payload keeps a bounded number of fields") {
    std::string big = "add@/devices/big";
    big.push_back('\0');
    for (int i = 0; i < 200000; ++i) big += "K" + std::to_string(i) + "=" + std::string(20, 'v') + '\0';
    auto u = vp::parse_uevent(big);
    CHECK(u.action == "add");
    CHECK(u.env.size() == vp::kMaxUeventFields - 1);
  }
  SECTION("malformed PRODUCT values") {
    CHECK_FALSE(vp::parse_usb_product(""));
    CHECK_FALSE(vp::parse_usb_product("781"));
    CHECK_FALSE(vp::parse_usb_product("zz/1/1"));
    CHECK_FALSE(vp::parse_usb_product("12345/1/1"));
    CHECK(vp::parse_usb_product("1d6b/2")->second == "0002");
  }
}

TEST_CASE("USB classes map to mass_storage, mtp, hid or other", "[device]") {
  CHECK(vp::usb_interface_class(0x08) == DeviceClass::MassStorage);
  CHECK(vp::usb_interface_class(0x06) == DeviceClass::Mtp);
  CHECK(vp::usb_interface_class(0xff, "MTP") == DeviceClass::Mtp);
  CHECK(vp::usb_interface_class(0x03) == DeviceClass::Hid);
  CHECK(vp::usb_interface_class(0x09) == DeviceClass::Other);
  CHECK(vp::combine_device_classes({DeviceClass::Hid, DeviceClass::MassStorage}) == DeviceClass::MassStorage);
  CHECK(vp::combine_device_classes({DeviceClass::Other, DeviceClass::Hid}) == DeviceClass::Hid);
  CHECK(vp::combine_device_classes({}) == DeviceClass::Other);
}

// ---------------------------------------------------------------------------------------------
// Interpretation against a fixture sysfs tree (no USB bus here).

TEST_CASE("a USB stick's add and remove become connected/disconnected with ids, serial and class", "[device]") {
  vigil::test::TempDir sys("vigil-sysfs");
  const std::string devpath = "/devices/pci0000:00/0000:00:14.0/usb1/1-2";
  const std::string dir = sys.path.string() + devpath;
  put(dir + "/idVendor", "0781\n");
  put(dir + "/idProduct", "5567\n");
  put(dir + "/serial", "4C530001231120115142\n");
  put(dir + "/manufacturer", "SanDisk\n");
  put(dir + "/product", "Cruzer Blade\n");
  put(dir + "/bDeviceClass", "00\n");
  put(dir + "/bNumInterfaces", " 1\n");
  put(dir + "/1-2:1.0/bInterfaceClass", "08\n");
  UeventSource::Options o;
  o.sysfs_root = sys.path.string();
  UeventSource src(o);
  Collected got;
  auto add = payload({"add@" + devpath, "ACTION=add", "DEVPATH=" + devpath, "SUBSYSTEM=usb", "DEVTYPE=usb_device",
                      "DEVNAME=bus/usb/001/004", "PRODUCT=781/5567/100", "TYPE=0/0/0", "SEQNUM=77"});
  src.feed(add, 1000, got.sink());
  REQUIRE(got.devices.size() == 1);
  const auto& a = got.devices[0];
  CHECK(a.action == DeviceAction::Connected);
  CHECK(a.bus == "usb");
  CHECK(a.vendor_id == "0781");
  CHECK(a.product_id == "5567");
  CHECK(a.serial == "4C530001231120115142");
  CHECK(a.vendor_name == "SanDisk");
  CHECK(a.product_name == "Cruzer Blade");
  CHECK(a.device_class == DeviceClass::MassStorage);
  CHECK(a.devnode == "/dev/bus/usb/001/004");
  CHECK(a.kernel_seqnum == 77);
  CHECK(a.time_ns == 1000);

  // At remove the sysfs directory is gone; what was learned at add is reported again.
  fs::remove_all(sys.path / "devices");
  src.feed(payload({"remove@" + devpath, "ACTION=remove", "DEVPATH=" + devpath, "SUBSYSTEM=usb",
                    "DEVTYPE=usb_device", "PRODUCT=781/5567/100"}),
           2000, got.sink());
  REQUIRE(got.devices.size() == 2);
  const auto& r = got.devices[1];
  CHECK(r.action == DeviceAction::Disconnected);
  CHECK(r.kernel_action == "remove");
  CHECK(r.serial == "4C530001231120115142");
  CHECK(r.device_class == DeviceClass::MassStorage);
  auto e = vigil::agent::make_device_event(r);
  CHECK(e.type() == "device.disconnected");
  CHECK(e.device().device_class() == "mass_storage");
  CHECK(e.device().vendor_id() == "0781");
}

TEST_CASE("a USB device whose interfaces are not in sysfs yet is held until they are", "[device]") {
  vigil::test::TempDir sys("vigil-sysfs");
  const std::string devpath = "/devices/pci0000:00/usb1/1-4";
  const std::string dir = sys.path.string() + devpath;
  put(dir + "/idVendor", "04e8\n");
  put(dir + "/idProduct", "6860\n");
  put(dir + "/bNumInterfaces", " 2\n");
  put(dir + "/1-4:1.1/bInterfaceClass", "ff\n");
  UeventSource::Options o;
  o.sysfs_root = sys.path.string();
  o.usb_settle_ms = 60000;
  UeventSource src(o);
  Collected got;
  src.feed(payload({"add@" + devpath, "SUBSYSTEM=usb", "DEVTYPE=usb_device", "PRODUCT=4e8/6860/400"}), 1, got.sink());
  CHECK(got.devices.empty());
  // The phone's MTP interface appears (a vendor-specific class named "MTP"), with its uevent.
  put(dir + "/1-4:1.0/bInterfaceClass", "ff\n");
  put(dir + "/1-4:1.0/interface", "MTP\n");
  src.feed(payload({"add@" + devpath + "/1-4:1.0", "SUBSYSTEM=usb", "DEVTYPE=usb_interface", "INTERFACE=255/255/0"}), 2,
           got.sink());
  REQUIRE(got.devices.size() == 1);
  CHECK(got.devices[0].device_class == DeviceClass::Mtp);
  CHECK(got.devices[0].vendor_id == "04e8");

  SECTION("and reported with what is known when its wait is over") {
    UeventSource::Options quick = o;
    quick.usb_settle_ms = 20;
    UeventSource src2(quick);
    Collected got2;
    const std::string other = "/devices/pci0000:00/usb1/1-5";
    put(sys.path.string() + other + "/idVendor", "046d\n");
    put(sys.path.string() + other + "/bNumInterfaces", " 1\n");
    src2.feed(payload({"add@" + other, "SUBSYSTEM=usb", "DEVTYPE=usb_device", "PRODUCT=46d/c52b/1211", "TYPE=0/0/0"}), 1,
              got2.sink());
    CHECK(got2.devices.empty());
    std::this_thread::sleep_for(40ms);
    src2.feed(payload({"change@/devices/unrelated", "SUBSYSTEM=usb"}), 2, got2.sink());
    REQUIRE(got2.devices.size() == 1);
    CHECK(got2.devices[0].device_class == DeviceClass::Other);
    CHECK(got2.devices[0].product_id == "c52b");
  }
}

TEST_CASE("a USB uevent with missing fields is recorded with what it has", "[device]") {
  vigil::test::TempDir sys("vigil-sysfs");
  UeventSource::Options o;
  o.sysfs_root = sys.path.string();
  UeventSource src(o);
  Collected got;
  // Nothing but the header and the subsystem: a device (no ':' in its name), no ids, no sysfs.
  src.feed(payload({"add@/devices/pci0000:00/usb3/3-1", "SUBSYSTEM=usb"}), 5, got.sink());
  REQUIRE(got.devices.size() == 1);
  CHECK(got.devices[0].action == DeviceAction::Connected);
  CHECK(got.devices[0].vendor_id.empty());
  CHECK(got.devices[0].serial.empty());
  CHECK(got.devices[0].device_class == DeviceClass::Other);
  CHECK(got.devices[0].devpath == "/devices/pci0000:00/usb3/3-1");
  // No action at all: counted, not reported.
  src.feed(payload({"SUBSYSTEM=usb", "DEVTYPE=usb_device", "PRODUCT=1/2/3"}), 6, got.sink());
  CHECK(got.devices.size() == 1);
  CHECK(src.counters().without_action == 1);
  // A remove never seen added, with a malformed PRODUCT: still a disconnect.
  src.feed(payload({"remove@/devices/pci0000:00/usb3/3-9", "SUBSYSTEM=usb", "DEVTYPE=usb_device", "PRODUCT=zz"}), 7,
           got.sink());
  REQUIRE(got.devices.size() == 2);
  CHECK(got.devices[1].action == DeviceAction::Disconnected);
  CHECK(got.devices[1].vendor_id.empty());
  // bind/unbind/change, interfaces, other subsystems: not device events.
  src.feed(payload({"bind@/devices/pci0000:00/usb3/3-1", "SUBSYSTEM=usb", "DEVTYPE=usb_device"}), 8, got.sink());
  src.feed(payload({"add@/devices/pci0000:00/usb3/3-1/3-1:1.0", "SUBSYSTEM=usb", "DEVTYPE=usb_interface"}), 9, got.sink());
  src.feed(payload({"add@/devices/virtual/net/x", "SUBSYSTEM=net"}), 10, got.sink());
  src.feed(std::string(1 << 20, '\x01'), 11, got.sink());
  CHECK(got.devices.size() == 2);
}

TEST_CASE("block disk uevents are reported only for removable disks, with the configured override", "[device]") {
  vigil::test::TempDir sys("vigil-sysfs");
  put(sys.path.string() + "/devices/virtual/block/loop9/removable", "0\n");
  put(sys.path.string() + "/devices/pci0000:00/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb/removable", "1\n");
  put(sys.path.string() + "/devices/pci0000:00/usb2/2-1/idVendor", "0951\n");
  put(sys.path.string() + "/devices/pci0000:00/usb2/2-1/idProduct", "1666\n");
  put(sys.path.string() + "/devices/pci0000:00/usb2/2-1/serial", "E0D55EA574\n");
  UeventSource::Options o;
  o.sysfs_root = sys.path.string();
  auto loop_add = payload({"add@/devices/virtual/block/loop9", "SUBSYSTEM=block", "DEVTYPE=disk", "DEVNAME=loop9"});
  {
    UeventSource plain(o);
    Collected got;
    plain.feed(loop_add, 1, got.sink());
    CHECK(got.devices.empty());  // a loop device is not removable media by default
    plain.feed(payload({"add@/devices/pci0000:00/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb",
                        "SUBSYSTEM=block", "DEVTYPE=disk", "DEVNAME=sdb"}),
               2, got.sink());
    REQUIRE(got.devices.size() == 1);
    CHECK(got.devices[0].bus == "block");
    CHECK(got.devices[0].devnode == "/dev/sdb");
    CHECK(got.devices[0].removable);
    CHECK(got.devices[0].vendor_id == "0951");
    CHECK(got.devices[0].serial == "E0D55EA574");
  }
  UeventSource overridden(o);
  REQUIRE(overridden.start({{"/dev/loop*"}}).ok());
  Collected got;
  overridden.feed(loop_add, 1, got.sink());
  REQUIRE(got.devices.size() == 1);
  CHECK(got.devices[0].removable);
  CHECK(got.devices[0].devnode == "/dev/loop9");
  // Partitions are not disks.
  overridden.feed(payload({"add@/devices/virtual/block/loop9/loop9p1", "SUBSYSTEM=block", "DEVTYPE=partition",
                           "DEVNAME=loop9p1", "PARTN=1"}),
                  2, got.sink());
  CHECK(got.devices.size() == 1);
}

// ---------------------------------------------------------------------------------------------
// Logic: the mount table.

TEST_CASE("mountinfo lines parse with escapes, optional fields and odd sources", "[device]") {
  auto m = vp::parse_mountinfo_entry(
      "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue");
  REQUIRE(m);
  CHECK(m->mount_id == 36);
  CHECK(m->parent_id == 35);
  CHECK(m->major == 98);
  CHECK(m->minor == 0);
  CHECK(m->root == "/mnt1");
  CHECK(m->mount_point == "/mnt/parent");
  CHECK(m->optional_fields == std::vector<std::string>{"master:1", "shared:7"});
  CHECK(m->fstype == "ext3");
  CHECK(m->source == "/dev/root");
  CHECK(m->super_options == "rw,errors=continue");
  CHECK_FALSE(m->read_only());

  auto e = vp::parse_mountinfo_entry(
      "120 27 7:3 / /media/USB\\040STICK\\011tab\\012nl\\134back ro,nosuid - vfat /dev/loop3 rw,fmask=0022");
  REQUIRE(e);
  CHECK(e->mount_point == "/media/USB STICK\ttab\nnl\\back");
  CHECK(e->optional_fields.empty());
  CHECK(e->read_only());

  auto share = vp::parse_mountinfo_entry("200 27 0:55 / /mnt/share rw,relatime shared:80 - cifs //srv/My\\040Docs rw,vers=3.1.1");
  REQUIRE(share);
  CHECK(share->source == "//srv/My Docs");
  CHECK(vp::is_network_share_fstype(share->fstype));
  CHECK(vp::is_network_share_fstype("fuse.sshfs"));
  CHECK(vp::is_network_share_fstype("nfs4"));
  CHECK_FALSE(vp::is_network_share_fstype("vfat"));

  auto empty_source = vp::parse_mountinfo_entry("201 27 0:56 / /mnt/x rw - fuse.thing  rw,user_id=0");
  REQUIRE(empty_source);
  CHECK(empty_source->source.empty());
  CHECK(empty_source->super_options == "rw,user_id=0");

  auto no_super = vp::parse_mountinfo_entry("202 27 0:57 / /mnt/y rw - tmpfs none");
  REQUIRE(no_super);
  CHECK(no_super->super_options.empty());

  // Lone backslashes and short escapes are kept as written.
  CHECK(vp::unescape_mount_field("a\\0b\\") == "a\\0b\\");
  CHECK(vp::unescape_mount_field("\\101\\102") == "AB");

  for (const char* bad : {"", "garbage", "1 2 3:4 / /x rw - ext4", "1 2 3:4 / /x rw ext4 /dev/x rw",
                          "x 2 3:4 / /x rw - ext4 /dev/x rw", "1 2 34 / /x rw - ext4 /dev/x rw",
                          "1 2 3:y / /x rw - ext4 /dev/x rw"})
    CHECK_FALSE(vp::parse_mountinfo_entry(bad));

  auto table = vp::parse_mount_table(
      "1 0 8:1 / / rw - ext4 /dev/sda1 rw\nnot a line\n\n2 1 7:0 / /mnt rw - vfat /dev/loop0 rw\n");
  CHECK(table.size() == 2);
}

TEST_CASE("diffing two mount tables gives the mounts and unmounts", "[device]") {
  auto before = vp::parse_mount_table("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 7:0 / /mnt/a rw - vfat /dev/loop0 rw\n");
  auto after = vp::parse_mount_table(
      "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n3 1 7:1 / /mnt/b rw - vfat /dev/loop1 rw\n"
      // a reused id with another device is a different mount
      "2 1 7:5 / /mnt/c rw - ext4 /dev/loop5 rw\n");
  auto d = vp::diff_mount_tables(before, after);
  REQUIRE(d.added.size() == 2);
  CHECK(d.added[0].mount_point == "/mnt/b");
  CHECK(d.added[1].mount_point == "/mnt/c");
  REQUIRE(d.removed.size() == 1);
  CHECK(d.removed[0].mount_point == "/mnt/a");
  CHECK(vp::diff_mount_tables(after, after).added.empty());
}

// ---------------------------------------------------------------------------------------------
// The filesystem probe, on images made by the real mkfs tools.

TEST_CASE("labels and UUIDs are read from real vfat, exfat and ext4 images without blkid", "[device]") {
  vigil::test::TempDir dir("vigil-probe");
  bool tried = false;
  if (have_program("mkfs.vfat")) {
    tried = true;
    auto img = image_file(dir, "fat16.img", 64 << 20);
    REQUIRE(run({"mkfs.vfat", "-n", "VIGIL16", "-i", "1234abcd", img}).code == 0);
    auto id = vp::probe_filesystem(img);
    CHECK(id.type == "vfat");
    CHECK(id.label == "VIGIL16");
    CHECK(id.uuid == "1234-ABCD");
    auto img32 = image_file(dir, "fat32.img", 64 << 20);
    REQUIRE(run({"mkfs.vfat", "-F", "32", "-n", "VIGIL32", "-i", "0badf00d", img32}).code == 0);
    auto id32 = vp::probe_filesystem(img32);
    CHECK(id32.type == "vfat");
    CHECK(id32.label == "VIGIL32");
    CHECK(id32.uuid == "0BAD-F00D");
  } else {
    WARN("SKIPPED (vfat probe): mkfs.vfat not installed (dosfstools; scripts/bootstrap.sh installs it)");
  }
  if (have_program("mkfs.exfat")) {
    tried = true;
    auto img = image_file(dir, "exfat.img", 64 << 20);
    REQUIRE(run({"mkfs.exfat", "-L", "VIGILX", img}).code == 0);
    auto id = vp::probe_filesystem(img);
    CHECK(id.type == "exfat");
    CHECK(id.label == "VIGILX");
    if (have_program("blkid")) CHECK(id.uuid == run({"blkid", "-p", "-o", "value", "-s", "UUID", img}).out);
  } else {
    WARN("SKIPPED (exfat probe): mkfs.exfat not installed (exfatprogs)");
  }
  if (have_program("mkfs.ext4")) {
    tried = true;
    auto img = image_file(dir, "ext4.img", 32 << 20);
    REQUIRE(run({"mkfs.ext4", "-q", "-F", "-L", "vigil-ext", "-U", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", img}).code == 0);
    auto id = vp::probe_filesystem(img);
    CHECK(id.type == "ext4");
    CHECK(id.label == "vigil-ext");
    CHECK(id.uuid == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  }
  CHECK(tried);
  // Not a filesystem, too short, missing: nothing recognised, no crash.
  CHECK(vp::probe_filesystem(dir.write("zeros.img", std::string(8192, '\0'))).type.empty());
  CHECK(vp::probe_filesystem(dir.write("short.img", "EXF")).type.empty());
  CHECK(vp::probe_filesystem(dir.file("missing.img")).type.empty());
}

// ---------------------------------------------------------------------------------------------
// The real kernel: uevents injected through sysfs, a real mount.

TEST_CASE("uevents injected through a loop device's sysfs reach the source from the kernel", "[device]") {
  vigil::test::TempDir dir("vigil-uevent");
  LoopDevice loop(image_file(dir, "disk.img", 8 << 20));
  if (loop.node.empty()) {
    WARN("SKIPPED: no loop device could be attached (losetup -f --show failed): uevent injection not tested");
    return;
  }
  UeventSource src;
  REQUIRE(src.start({{loop.node}}).ok());
  if (!src.uevents_active()) {
    WARN("SKIPPED: the uevent netlink socket could not be opened here");
    return;
  }
  Collected got;
  REQUIRE(src.drain(got.sink()).ok());
  auto mine = [&](DeviceAction action) {
    for (const auto& d : got.devices)
      if (d.action == action && d.devnode == loop.node) return true;
    return false;
  };
  const std::string uevent = "/sys/class/block/" + loop.name + "/uevent";
  std::ofstream(uevent) << "add";
  REQUIRE(drain_until(src, got, [&] { return mine(DeviceAction::Connected); }));
  std::ofstream(uevent) << "remove";
  loop.sent_remove = true;
  REQUIRE(drain_until(src, got, [&] { return mine(DeviceAction::Disconnected); }));
  for (const auto& d : got.devices) {
    if (d.devnode != loop.node) continue;
    CHECK(d.bus == "block");
    CHECK(d.removable);  // through the override: the kernel says a loop device is not removable
    CHECK(d.devpath == "/devices/virtual/block/" + loop.name);
    CHECK(d.kernel_seqnum > 0);
    CHECK((d.kernel_action == "add" || d.kernel_action == "remove"));
  }
  CHECK(src.counters().not_from_kernel == 0);
  // Without the override the same device is not removable media: nothing is reported.
  UeventSource strict;
  REQUIRE(strict.start({}).ok());
  Collected none;
  std::ofstream(uevent) << "add";
  std::this_thread::sleep_for(300ms);
  drain_until(strict, none, [] { return false; }, 500ms);
  for (const auto& d : none.devices) CHECK(d.devnode != loop.node);
  CHECK(strict.counters().ignored > 0);
}

TEST_CASE("mounting and unmounting a real filesystem on a loop device is seen in the mount table", "[device]") {
  if (!have_program("mkfs.ext4")) {
    WARN("SKIPPED: mkfs.ext4 not installed (e2fsprogs)");
    return;
  }
  vigil::test::TempDir dir("vigil-mount");
  auto img = image_file(dir, "vol.img", 32 << 20);
  REQUIRE(run({"mkfs.ext4", "-q", "-F", "-L", "VIGILVOL", "-U", "11111111-2222-3333-4444-555555555555", img}).code == 0);
  LoopDevice loop(img);
  if (loop.node.empty()) {
    WARN("SKIPPED: no loop device could be attached (losetup -f --show failed): mounts not tested");
    return;
  }
  UeventSource src;
  REQUIRE(src.start({{"/dev/loop*"}}).ok());
  REQUIRE(src.mounts_active());
  Collected got;
  REQUIRE(src.drain(got.sink()).ok());
  MountGuard mnt{dir.file("mnt with space")};
  fs::create_directories(mnt.point);
  REQUIRE(::mount(loop.node.c_str(), mnt.point.c_str(), "ext4", MS_RDONLY, nullptr) == 0);
  mnt.mounted = true;
  auto find = [&](VolumeAction a) -> const VolumeActivity* {
    for (const auto& v : got.volumes)
      if (v.action == a && v.mount_point == mnt.point) return &v;
    return nullptr;
  };
  REQUIRE(drain_until(src, got, [&] { return find(VolumeAction::Mounted) != nullptr; }));
  {
    const auto& v = *find(VolumeAction::Mounted);
    CHECK(v.device == loop.node);
    CHECK(v.fstype == "ext4");
    CHECK(v.label == "VIGILVOL");
    CHECK(v.uuid == "11111111-2222-3333-4444-555555555555");
    CHECK(v.removable);
    CHECK_FALSE(v.network_share);
    CHECK(v.read_only);
  }
  REQUIRE(::umount2(mnt.point.c_str(), 0) == 0);
  mnt.mounted = false;
  REQUIRE(drain_until(src, got, [&] { return find(VolumeAction::Unmounted) != nullptr; }));
  CHECK(find(VolumeAction::Unmounted)->label == "VIGILVOL");
  CHECK(src.counters().mount_rescans > 0);
  auto e = vigil::agent::make_volume_event(*find(VolumeAction::Unmounted));
  CHECK(e.type() == "volume.unmounted");
  CHECK(e.volume().mount_point() == mnt.point);
}

TEST_CASE("a volume mounted before start is not an event but is among current_volumes()", "[device]") {
  if (!have_program("mkfs.ext4")) {
    WARN("SKIPPED: mkfs.ext4 not installed (e2fsprogs)");
    return;
  }
  vigil::test::TempDir dir("vigil-mount");
  auto img = image_file(dir, "vol.img", 32 << 20);
  REQUIRE(run({"mkfs.ext4", "-q", "-F", "-L", "EARLY", img}).code == 0);
  LoopDevice loop(img);
  if (loop.node.empty()) {
    WARN("SKIPPED: no loop device could be attached (losetup -f --show failed): mounts not tested");
    return;
  }
  MountGuard mnt{dir.file("early")};
  fs::create_directories(mnt.point);
  REQUIRE(::mount(loop.node.c_str(), mnt.point.c_str(), "ext4", 0, nullptr) == 0);
  mnt.mounted = true;
  UeventSource src;
  REQUIRE(src.start({{"/dev/loop*"}}).ok());
  REQUIRE(src.mounts_active());
  Collected got;
  drain_until(src, got, [] { return false; }, 300ms);
  for (const auto& v : got.volumes) CHECK(v.mount_point != mnt.point);  // the baseline: no event
  auto now = src.current_volumes();
  const VolumeActivity* early = nullptr;
  for (const auto& v : now)
    if (v.mount_point == mnt.point) early = &v;
  REQUIRE(early != nullptr);
  CHECK(early->action == VolumeAction::Mounted);
  CHECK(early->device == loop.node);
  CHECK(early->removable);
  CHECK(early->label == "EARLY");
  CHECK(early->fstype == "ext4");
  // Pseudo filesystems are not volumes.
  for (const auto& v : now) CHECK(v.mount_point != "/proc");
  REQUIRE(::umount2(mnt.point.c_str(), 0) == 0);
  mnt.mounted = false;
  REQUIRE(drain_until(src, got, [&] {
    for (const auto& v : got.volumes)
      if (v.mount_point == mnt.point && v.action == VolumeAction::Unmounted) return true;
    return false;
  }));
  for (const auto& v : src.current_volumes()) CHECK(v.mount_point != mnt.point);
}

// ---------------------------------------------------------------------------------------------
// The override in agent.toml.

TEST_CASE("agent.toml's removable_devices is read, written by enroll and type-checked", "[device]") {
  vigil::test::TempDir dir("vigil-cfg");
  vigil::agent::AgentConfig c;
  c.server = "127.0.0.1:7443";
  c.device_id = "dev-1";
  auto fresh = dir.write("fresh.toml", vigil::agent::render_agent_config(c));
  auto loaded = vigil::test::must(vigil::agent::load_agent_config(fresh));
  CHECK(loaded.removable_devices.empty());
  c.removable_devices = {"/dev/loop*", "/dev/sd[x-z]*"};
  auto set = dir.write("set.toml", vigil::agent::render_agent_config(c));
  CHECK(vigil::test::must(vigil::agent::load_agent_config(set)).removable_devices == c.removable_devices);
  auto bad = dir.write("bad.toml", "server = \"h:1\"\ndevice_id = \"d\"\nremovable_devices = \"/dev/loop*\"\n");
  auto r = vigil::agent::load_agent_config(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("removable_devices must be an array") != std::string::npos);
  CHECK(vp::matches_any_glob("/dev/loop12", {"/dev/loop*"}));
  CHECK_FALSE(vp::matches_any_glob("/dev/sda1", {"/dev/loop*"}));
  CHECK_FALSE(vp::matches_any_glob("", {"*"}));
}
