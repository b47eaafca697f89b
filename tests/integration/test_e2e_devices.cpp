// Removable media end to end through the real binaries: an enrolled agent configured with
// removable_devices = ["/dev/loop*"] (this machine has no USB bus; see docs/REMOVABLE_MEDIA.md)
// sees a real FAT-family filesystem on a loop device being mounted, written to and unmounted, and
// a uevent injected through the kernel for that loop device; the events reach the collector and
// `vigilctl events --type volume. --json` shows their fields. Needs root. Tag: [device].
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "tests/integration/harness.h"

using namespace vigil::testing;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

bool flag(const json::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_bool() && v->as_bool();
}

bool kernel_has_filesystem(const std::string& type) {
  std::string all = slurp("/proc/filesystems");
  return all.find("\t" + type + "\n") != std::string::npos;
}

// How this machine can mount a real FAT-family filesystem: the kernel's vfat driver when it has
// one, else exFAT through FUSE (exfat-fuse), which is a real exFAT implementation on the real
// loop device (mountinfo says fuseblk; the agent probes the superblock for the real type).
struct VolumePlan {
  std::string mkfs;                  // command making the filesystem, image path appended
  std::vector<std::string> mkfs_args;
  std::vector<std::string> mount;    // command mounting it, device and point appended; empty: mount(2)
  std::string kernel_type;           // for mount(2)
  std::string fstype;                // what the event must say
  std::string mount_type;            // what the mount table says, when different
  std::string label;
  std::string why_not_vfat;          // non-empty when vfat could not be used
  bool fuse() const { return !mount.empty(); }
};

std::optional<VolumePlan> pick_fat_plan() {
  VolumePlan p;
  std::string mkfs_vfat = find_program("mkfs.vfat");
  if (kernel_has_filesystem("vfat") && !mkfs_vfat.empty()) {
    p.mkfs = mkfs_vfat;
    p.mkfs_args = {"-n", "VIGILUSB"};
    p.label = "VIGILUSB";
    p.kernel_type = "vfat";
    p.fstype = "vfat";
    return p;
  }
  p.why_not_vfat = mkfs_vfat.empty() ? "mkfs.vfat is not installed (dosfstools)"
                                     : "this kernel has no vfat driver (not in /proc/filesystems, no modules)";
  std::string mkfs_exfat = find_program("mkfs.exfat"), fuse_exfat = find_program("mount.exfat-fuse");
  if (kernel_has_filesystem("exfat") && !mkfs_exfat.empty()) {
    p.mkfs = mkfs_exfat;
    p.mkfs_args = {"-L", "VIGILUSB"};
    p.label = "VIGILUSB";
    p.kernel_type = "exfat";
    p.fstype = "exfat";
    return p;
  }
  if (!mkfs_exfat.empty() && !fuse_exfat.empty() && ::access("/dev/fuse", R_OK | W_OK) == 0) {
    p.mkfs = mkfs_exfat;
    p.mkfs_args = {"-L", "VIGILUSB"};
    p.label = "VIGILUSB";
    p.mount = {fuse_exfat};
    p.fstype = "exfat";
    p.mount_type = "fuseblk";
    return p;
  }
  return std::nullopt;
}

std::optional<VolumePlan> ext4_plan() {
  VolumePlan p;
  p.mkfs = find_program("mkfs.ext4");
  if (p.mkfs.empty() || !kernel_has_filesystem("ext4")) return std::nullopt;
  p.mkfs_args = {"-q", "-F", "-L", "VIGILEXT"};
  p.label = "VIGILEXT";
  p.kernel_type = "ext4";
  p.fstype = "ext4";
  return p;
}

const json::object* find_event(const std::vector<json::object>& events, const std::string& type,
                               const std::function<bool(const json::object&)>& pred) {
  for (const auto& e : events)
    if (str(e, "type") == type && pred(e)) return &e;
  return nullptr;
}

}  // namespace

// Mounts a fresh filesystem made per plan on a loop device under a watched directory while an
// enrolled agent runs, writes a file on it, unmounts it; checks what reached the collector.
void removable_volume_scenario(const VolumePlan* plan, const std::string& tag) {
  if (find_program("losetup").empty()) {
    WARN("SKIPPED: losetup not installed (util-linux): no loop device, removable media not tested");
    return;
  }

  Deployment d(tag);
  d.start_collector();
  std::string adir = d.enroll_agent("a1");
  // The documented override: loop devices count as removable media (docs/REMOVABLE_MEDIA.md).
  std::string cfg = slurp(adir + "/agent.toml");
  auto at = cfg.find("removable_devices = ");
  REQUIRE(at != std::string::npos);
  cfg.replace(at, cfg.find('\n', at) - at, "removable_devices = [\"/dev/loop*\"]");
  spit(adir + "/agent.toml", cfg);
  std::string device = d.device_id(adir);

  const std::string image = d.dir() + "/stick.img";
  { std::ofstream(image).flush(); }
  std::filesystem::resize_file(image, 64 << 20);
  std::vector<std::string> mkfs{plan->mkfs};
  mkfs.insert(mkfs.end(), plan->mkfs_args.begin(), plan->mkfs_args.end());
  mkfs.push_back(image);
  auto made = run_command(mkfs);
  INFO("mkfs: " << made.out << made.err);
  REQUIRE(made.exit_code == 0);

  // The agent watches the parent of the mount point: file capture extends to filesystems mounted
  // below a watched path after start.
  const std::string media = d.dir() + "/media";
  MountGuard mnt{media + "/USB STICK"};
  std::filesystem::create_directories(mnt.point);
  Process agent = d.start_agent(adir, {media});
  std::this_thread::sleep_for(1500ms);
  REQUIRE(agent.running());

  LoopDevice loop(image);
  if (loop.node.empty()) {
    WARN("SKIPPED: no loop device could be attached (losetup -f --show failed): removable media not tested");
    return;
  }
  const std::string loop_name = loop.node.substr(5);

  // A uevent for the disk, injected through the kernel: device.connected (bus block).
  std::ofstream("/sys/class/block/" + loop_name + "/uevent") << "add";

  if (plan->mount.empty()) {
    REQUIRE(::mount(loop.node.c_str(), mnt.point.c_str(), plan->kernel_type.c_str(), 0, nullptr) == 0);
  } else {
    std::vector<std::string> m = plan->mount;
    m.push_back(loop.node);
    m.push_back(mnt.point);
    auto r = run_command(m);
    INFO("mount: " << r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
  mnt.mounted = true;

  auto mounted_here = [&](const json::object& e) { return str(e, "mount_point") == mnt.point; };
  std::vector<json::object> events;
  bool seen_mount = eventually([&] {
    events = d.events(device, "volume.");
    return find_event(events, "volume.mounted", mounted_here) != nullptr;
  }, 20s);
  INFO("agent log: " << slurp(adir + ".log"));
  REQUIRE(seen_mount);

  // Written after the mount was seen, so the agent has had the chance to watch the new filesystem.
  const std::string copied = mnt.point + "/quarterly report.txt";
  {
    std::ofstream f(copied, std::ios::binary);
    f << std::string(100000, 'q');
  }
  auto file_seen = [&] {
    for (const auto& e : d.events(device, "file."))
      if (str(e, "path") == copied) return true;
    return false;
  };
  bool seen_file = eventually(file_seen, plan->fuse() ? 3s : 20s);

  ::sync();
  REQUIRE(::umount2(mnt.point.c_str(), 0) == 0);
  mnt.mounted = false;

  bool seen_unmount = eventually([&] {
    events = d.events(device, "volume.");
    return find_event(events, "volume.unmounted", mounted_here) != nullptr;
  }, 20s);
  REQUIRE(seen_unmount);

  const auto& m = *find_event(events, "volume.mounted", mounted_here);
  CHECK(str(m, "device") == loop.node);
  CHECK(str(m, "fstype") == plan->fstype);
  if (!plan->mount_type.empty()) CHECK(str(m, "mount_type") == plan->mount_type);
  CHECK(str(m, "label") == plan->label);
  CHECK(!str(m, "uuid").empty());
  CHECK(flag(m, "removable"));
  CHECK_FALSE(flag(m, "network_share"));
  CHECK_FALSE(flag(m, "read_only"));
  CHECK(str(m, "device_id") == device);
  const auto& u = *find_event(events, "volume.unmounted", mounted_here);
  CHECK(str(u, "device") == loop.node);
  CHECK(str(u, "label") == plan->label);
  CHECK(str(u, "time") >= str(m, "time"));
  for (const auto& e : events) CHECK(str(e, "type").rfind("volume.", 0) == 0);  // the prefix filter

  INFO("agent log at the end: " << slurp(adir + ".log"));
  if (!plan->fuse()) {
    CHECK(seen_file);  // the write on the removable volume, as a file event under its mount point
  } else {
    // fanotify cannot mark FUSE filesystems (they report no fsid): the agent says so in its log,
    // and the write is not captured. Known limit of file capture, not of volume capture.
    WARN("file capture on " << plan->fstype << " through FUSE is not possible (fanotify refuses FUSE "
         "filesystems); the write on it was " << (seen_file ? "captured" : "NOT captured"));
    CHECK(slurp(adir + ".log").find("filesystem not watched") != std::string::npos);
  }

  auto devices = d.events(device, "device.connected");
  const auto* c = find_event(devices, "device.connected", [&](const json::object& e) { return str(e, "devnode") == loop.node; });
  REQUIRE(c != nullptr);
  CHECK(str(*c, "bus") == "block");
  CHECK(flag(*c, "removable"));
  CHECK(str(*c, "action") == "add");
  CHECK(str(*c, "devpath") == "/devices/virtual/block/" + loop_name);

  agent.signal(SIGTERM);
  CHECK(agent.wait(10s) == 0);
}

TEST_CASE("a removable FAT-family volume mounted, written and unmounted reaches the collector", "[device][e2e]") {
  auto plan = pick_fat_plan();
  if (!plan) {
    WARN("SKIPPED: no way to mount a FAT-family filesystem here (no vfat/exfat in the kernel, no "
         "mkfs.exfat + exfat-fuse + /dev/fuse): removable FAT media not tested end to end");
    return;
  }
  if (!plan->why_not_vfat.empty())
    WARN("vfat not used: " << plan->why_not_vfat << "; testing a real " << plan->fstype << " filesystem"
                           << (plan->fuse() ? " through FUSE (" + plan->mount[0] + ")" : std::string()) << " instead");
  removable_volume_scenario(&*plan, "e2e-dev-fat");
}

TEST_CASE("a write on a removable ext4 volume mounted below a watched path is a file event", "[device][e2e]") {
  auto plan = ext4_plan();
  if (!plan) {
    WARN("SKIPPED: mkfs.ext4 (e2fsprogs) or the kernel's ext4 driver is missing");
    return;
  }
  removable_volume_scenario(&*plan, "e2e-dev-ext4");
}
