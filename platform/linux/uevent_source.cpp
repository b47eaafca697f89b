// Devices from the kernel's uevent socket, volumes from mount-table changes. See uevent_source.h.
#include "platform/linux/uevent_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "platform/linux/unique_fd.h"
#include "shared/log.h"

namespace vigil::platform {

using agent::DeviceAction;
using agent::DeviceActivity;
using agent::DeviceClass;
using agent::DeviceSourceRecord;
using agent::VolumeAction;
using agent::VolumeActivity;

namespace {

constexpr std::string_view kComponent = "devices";
// The kernel's uevent environment is bounded by UEVENT_BUFFER_SIZE (2 KiB) plus the header; a
// larger buffer costs nothing and lets us notice (MSG_TRUNC) rather than guess.
constexpr std::size_t kRecvBufferBytes = 64 * 1024;
// Receive buffer asked of the kernel, so a burst (a USB hub with a dozen devices) is not lost.
constexpr int kSocketBufferBytes = 4 * 1024 * 1024;
// A drain() handles at most this many messages; the socket stays readable for the next one.
constexpr int kMaxMessagesPerDrain = 512;
// Devices remembered between add and remove (for the fields sysfs no longer has at remove).
constexpr std::size_t kMaxRemembered = 4096;
// Bytes read from a filesystem's directory when looking for its label.
constexpr std::size_t kMaxLabelDirBytes = 64 * 1024;

std::string errno_text(int e) {
  const char* d = strerrordesc_np(e);
  return d != nullptr ? d : "errno " + std::to_string(e);
}

std::int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// ---- sysfs ------------------------------------------------------------------------------------

bool path_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// First line of a sysfs attribute, trailing whitespace removed; nullopt when unreadable.
std::optional<std::string> read_attr(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return std::nullopt;
  char buf[4096];
  ssize_t n;
  do n = ::read(fd.get(), buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0) return std::nullopt;
  std::string s(buf, static_cast<std::size_t>(n));
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string attr_or_empty(const std::string& path) { return read_attr(path).value_or(""); }

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::optional<unsigned> parse_uint(std::string_view s, int base) {
  std::string t = trim(s);
  unsigned v = 0;
  if (t.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string hex4(std::string_view s) {
  std::string t = lower(trim(s));
  while (t.size() < 4) t.insert(t.begin(), '0');
  return t;
}

std::string parent_path(const std::string& p) {
  auto slash = p.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return p.substr(0, slash);
}

std::string base_name(std::string_view p) {
  auto slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

std::string real_path(const std::string& p) {
  char* r = ::realpath(p.c_str(), nullptr);
  if (r == nullptr) return "";
  std::string out(r);
  ::free(r);
  return out;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// What sysfs says about a USB device directory.
struct UsbSysfs {
  bool present = false;
  std::string vendor_id, product_id, serial, manufacturer, product;
  std::optional<unsigned> device_class;   // bDeviceClass
  std::optional<unsigned> num_interfaces; // bNumInterfaces of the active configuration
  std::vector<DeviceClass> interfaces;    // one per interface directory found
};

UsbSysfs read_usb_sysfs(const std::string& dir) {
  UsbSysfs u;
  u.present = path_exists(dir + "/idVendor");
  if (!u.present) return u;
  u.vendor_id = hex4(attr_or_empty(dir + "/idVendor"));
  u.product_id = hex4(attr_or_empty(dir + "/idProduct"));
  u.serial = attr_or_empty(dir + "/serial");
  u.manufacturer = attr_or_empty(dir + "/manufacturer");
  u.product = attr_or_empty(dir + "/product");
  if (auto c = read_attr(dir + "/bDeviceClass")) u.device_class = parse_uint(*c, 16);
  if (auto n = read_attr(dir + "/bNumInterfaces")) u.num_interfaces = parse_uint(*n, 10);
  for (const auto& name : list_dir(dir)) {
    if (name.find(':') == std::string::npos) continue;  // interfaces are "1-1:1.0"
    auto cls = read_attr(dir + "/" + name + "/bInterfaceClass");
    if (!cls) continue;
    auto code = parse_uint(*cls, 16);
    u.interfaces.push_back(usb_interface_class(code.value_or(0xff), attr_or_empty(dir + "/" + name + "/interface")));
  }
  return u;
}

// The nearest USB device at or above dir (a disk's sysfs directory), up to the sysfs root.
std::optional<std::string> usb_ancestor(std::string dir, const std::string& sysfs_root) {
  while (dir.size() > sysfs_root.size() + 1 && dir.compare(0, sysfs_root.size(), sysfs_root) == 0) {
    if (path_exists(dir + "/idVendor") && path_exists(dir + "/idProduct")) return dir;
    dir = parent_path(dir);
  }
  return std::nullopt;
}

// ---- filesystem probing ---------------------------------------------------------------------

std::uint16_t le16(const std::string& b, std::size_t o) {
  return o + 2 <= b.size() ? static_cast<std::uint16_t>(static_cast<unsigned char>(b[o]) | (static_cast<unsigned char>(b[o + 1]) << 8)) : 0;
}
std::uint32_t le32(const std::string& b, std::size_t o) {
  return o + 4 <= b.size() ? static_cast<std::uint32_t>(le16(b, o)) | (static_cast<std::uint32_t>(le16(b, o + 2)) << 16) : 0;
}
std::uint64_t le64(const std::string& b, std::size_t o) {
  return static_cast<std::uint64_t>(le32(b, o)) | (static_cast<std::uint64_t>(le32(b, o + 4)) << 32);
}
bool bytes_at(const std::string& b, std::size_t o, std::string_view what) {
  return o + what.size() <= b.size() && std::string_view(b).substr(o, what.size()) == what;
}

std::string uuid_text(const std::string& b, std::size_t o) {
  if (o + 16 > b.size()) return "";
  bool all_zero = true;
  std::string s;
  char hx[3];
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned char c = static_cast<unsigned char>(b[o + i]);
    all_zero = all_zero && c == 0;
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    std::snprintf(hx, sizeof hx, "%02x", c);
    s += hx;
  }
  return all_zero ? "" : s;
}

std::string serial_text(std::uint32_t id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04X-%04X", id >> 16, id & 0xffff);
  return buf;
}

// A fixed-size label field: up to the first NUL, trailing spaces removed.
std::string label_field(const std::string& b, std::size_t o, std::size_t len) {
  if (o >= b.size()) return "";
  std::string s = b.substr(o, std::min(len, b.size() - o));
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string utf16le_to_utf8(const std::string& b, std::size_t o, std::size_t units) {
  std::string out;
  for (std::size_t i = 0; i < units && o + 2 * i + 1 < b.size(); ++i) {
    std::uint32_t cp = le16(b, o + 2 * i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < units) {
      std::uint32_t lo = le16(b, o + 2 * (i + 1));
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        ++i;
      }
    }
    if (cp == 0) break;
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  return out;
}

class DeviceReader {
 public:
  explicit DeviceReader(int fd) : fd_(fd) {}
  std::string at(std::uint64_t offset, std::size_t len) const {
    std::string out(len, '\0');
    std::size_t got = 0;
    while (got < len) {
      ssize_t n = ::pread(fd_, out.data() + got, len - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
  }

 private:
  int fd_;
};

bool probe_exfat(const DeviceReader& dev, const std::string& boot, FsIdentity& id) {
  if (!bytes_at(boot, 3, "EXFAT   ") || boot.size() < 512) return false;
  id.type = "exfat";
  id.uuid = serial_text(le32(boot, 100));
  unsigned bps_shift = static_cast<unsigned char>(boot[108]);
  unsigned spc_shift = static_cast<unsigned char>(boot[109]);
  std::uint64_t heap = le32(boot, 88), root = le32(boot, 96);
  if (bps_shift < 9 || bps_shift > 12 || spc_shift > 25 - bps_shift || root < 2) return true;
  std::uint64_t offset = (heap + ((root - 2) << spc_shift)) << bps_shift;
  std::size_t len = std::min<std::size_t>(std::size_t{1} << (bps_shift + spc_shift), kMaxLabelDirBytes);
  std::string dir = dev.at(offset, len);
  for (std::size_t e = 0; e + 32 <= dir.size(); e += 32) {
    auto type = static_cast<unsigned char>(dir[e]);
    if (type == 0x00) break;
    if (type == 0x83) {  // volume label entry: character count, then UTF-16LE
      std::size_t n = std::min<std::size_t>(static_cast<unsigned char>(dir[e + 1]), 11);
      id.label = utf16le_to_utf8(dir, e + 2, n);
      break;
    }
  }
  return true;
}

bool probe_ntfs(const std::string& boot, FsIdentity& id) {
  if (!bytes_at(boot, 3, "NTFS    ")) return false;
  id.type = "ntfs";
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(le64(boot, 0x48)));
  id.uuid = buf;
  return true;  // the label lives in the MFT: not read
}

bool probe_vfat(const DeviceReader& dev, const std::string& boot, FsIdentity& id) {
  if (boot.size() < 512 || static_cast<unsigned char>(boot[510]) != 0x55 || static_cast<unsigned char>(boot[511]) != 0xaa)
    return false;
  const unsigned bps = le16(boot, 11);
  const unsigned spc = static_cast<unsigned char>(boot[13]);
  const unsigned reserved = le16(boot, 14);
  const unsigned nfats = static_cast<unsigned char>(boot[16]);
  if ((bps != 512 && bps != 1024 && bps != 2048 && bps != 4096) || spc == 0 || (spc & (spc - 1)) != 0 ||
      reserved == 0 || nfats == 0 || nfats > 4)
    return false;
  if (!bytes_at(boot, 0x36, "FAT") && !bytes_at(boot, 0x52, "FAT")) return false;
  const unsigned fat16_size = le16(boot, 22);
  const bool fat32 = fat16_size == 0;
  std::string boot_label;
  const std::size_t sig = fat32 ? 0x42 : 0x26;
  if (static_cast<unsigned char>(boot[sig]) == 0x29) {
    id.uuid = serial_text(le32(boot, sig + 1));
    boot_label = label_field(boot, sig + 5, 11);
  }
  id.type = "vfat";
  // The label Windows and mlabel change is the volume-id entry of the root directory; the boot
  // sector's copy is kept as a fallback.
  std::uint64_t offset = 0;
  std::size_t len = 0;
  if (fat32) {
    std::uint64_t first_data = reserved + std::uint64_t{nfats} * le32(boot, 36);
    std::uint32_t root_cluster = le32(boot, 44);
    if (root_cluster >= 2) {
      offset = (first_data + std::uint64_t{root_cluster - 2} * spc) * bps;
      len = std::min<std::size_t>(std::size_t{spc} * bps, kMaxLabelDirBytes);
    }
  } else {
    offset = (reserved + std::uint64_t{nfats} * fat16_size) * bps;
    len = std::min<std::size_t>(std::size_t{le16(boot, 17)} * 32, kMaxLabelDirBytes);
  }
  std::string dir_label;
  bool found = false;
  if (len > 0) {
    std::string dir = dev.at(offset, len);
    for (std::size_t e = 0; e + 32 <= dir.size(); e += 32) {
      auto first = static_cast<unsigned char>(dir[e]);
      if (first == 0x00) break;
      if (first == 0xe5) continue;
      auto attr = static_cast<unsigned char>(dir[e + 11]);
      if (attr == 0x0f || (attr & 0x08) == 0) continue;  // long-name piece, or not a volume id
      dir_label = label_field(dir, e, 11);
      if (!dir_label.empty() && static_cast<unsigned char>(dir_label[0]) == 0x05) dir_label[0] = static_cast<char>(0xe5);
      found = true;
      break;
    }
  }
  id.label = found ? dir_label : boot_label;
  if (id.label == "NO NAME") id.label.clear();
  return true;
}

bool probe_ext(const DeviceReader& dev, FsIdentity& id) {
  std::string sb = dev.at(1024, 1024);
  if (le16(sb, 56) != 0xef53) return false;
  const std::uint32_t compat = le32(sb, 92), incompat = le32(sb, 96);
  id.type = (incompat & (0x40 | 0x80 | 0x200)) != 0 ? "ext4" : (compat & 0x4) != 0 ? "ext3" : "ext2";
  id.uuid = uuid_text(sb, 104);
  id.label = label_field(sb, 120, 16);
  return true;
}

bool probe_xfs(const std::string& boot, FsIdentity& id) {
  if (!bytes_at(boot, 0, "XFSB")) return false;
  id.type = "xfs";
  id.uuid = uuid_text(boot, 32);
  id.label = label_field(boot, 108, 12);
  return true;
}

bool probe_btrfs(const DeviceReader& dev, FsIdentity& id) {
  std::string sb = dev.at(65536, 4096);
  if (!bytes_at(sb, 64, "_BHRfS_M")) return false;
  id.type = "btrfs";
  id.uuid = uuid_text(sb, 32);
  id.label = label_field(sb, 299, 256);
  return true;
}

// udev writes unsafe bytes of a label in its link name as \xNN.
std::string decode_udev_name(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      if (auto v = parse_uint(s.substr(i + 2, 2), 16)) {
        out.push_back(static_cast<char>(*v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The name of the link in dir that points at devnode ("" when none).
std::string udev_link_name(const std::string& dir, const std::string& devnode_real) {
  for (const auto& name : list_dir(dir))
    if (real_path(dir + "/" + name) == devnode_real) return decode_udev_name(name);
  return "";
}

bool is_partition_dir(const std::string& sysdir) { return path_exists(sysdir + "/partition"); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public helpers.

std::string Uevent::get(std::string_view key) const {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

Uevent parse_uevent(std::string_view payload) {
  Uevent u;
  std::size_t fields = 0;
  bool first = true;
  while (!payload.empty() && fields < kMaxUeventFields) {
    std::size_t z = payload.find('\0');
    std::string_view f = payload.substr(0, z);
    payload.remove_prefix(z == std::string_view::npos ? payload.size() : z + 1);
    if (f.empty()) {
      first = false;
      continue;
    }
    ++fields;
    std::size_t eq = f.find('=');
    std::size_t at = f.find('@');
    if (first && at != std::string_view::npos && (eq == std::string_view::npos || at < eq)) {
      // "add@/devices/..." (a devpath may contain '=' but the action never does)
      u.has_header = true;
      u.action = std::string(f.substr(0, at));
      u.devpath = std::string(f.substr(at + 1));
      first = false;
      continue;
    }
    first = false;
    if (eq == std::string_view::npos || eq == 0) {
      ++u.malformed_fields;
      continue;
    }
    u.env.emplace(std::string(f.substr(0, eq)), std::string(f.substr(eq + 1)));
  }
  if (auto a = u.get("ACTION"); !a.empty()) u.action = a;
  if (auto p = u.get("DEVPATH"); !p.empty()) u.devpath = p;
  u.subsystem = u.get("SUBSYSTEM");
  u.devtype = u.get("DEVTYPE");
  return u;
}

std::optional<std::pair<std::string, std::string>> parse_usb_product(std::string_view product) {
  std::size_t s1 = product.find('/');
  if (s1 == std::string_view::npos) return std::nullopt;
  std::string_view v = product.substr(0, s1), rest = product.substr(s1 + 1);
  std::string_view p = rest.substr(0, rest.find('/'));
  auto vn = parse_uint(v, 16), pn = parse_uint(p, 16);
  if (!vn || !pn || *vn > 0xffff || *pn > 0xffff) return std::nullopt;
  char vb[8], pb[8];
  std::snprintf(vb, sizeof vb, "%04x", *vn);
  std::snprintf(pb, sizeof pb, "%04x", *pn);
  return std::pair{std::string(vb), std::string(pb)};
}

DeviceClass usb_interface_class(unsigned code, std::string_view name) {
  switch (code) {
    case 0x08: return DeviceClass::MassStorage;
    case 0x06: return DeviceClass::Mtp;  // still image: PTP, and MTP devices that announce it
    case 0x03: return DeviceClass::Hid;
    default: break;
  }
  // Android phones announce MTP on a vendor-specific interface named "MTP".
  if (lower(trim(name)) == "mtp") return DeviceClass::Mtp;
  return DeviceClass::Other;
}

DeviceClass combine_device_classes(const std::vector<DeviceClass>& classes) {
  for (auto want : {DeviceClass::MassStorage, DeviceClass::Mtp, DeviceClass::Hid})
    if (std::find(classes.begin(), classes.end(), want) != classes.end()) return want;
  return DeviceClass::Other;
}

bool matches_any_glob(const std::string& devnode, const std::vector<std::string>& globs) {
  if (devnode.empty()) return false;
  for (const auto& g : globs)
    if (::fnmatch(g.c_str(), devnode.c_str(), 0) == 0) return true;
  return false;
}

FsIdentity probe_filesystem(const std::string& path) {
  FsIdentity id;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return id;
  DeviceReader dev(fd.get());
  std::string boot = dev.at(0, 4096);
  if (probe_exfat(dev, boot, id) || probe_ntfs(boot, id) || probe_vfat(dev, boot, id) || probe_xfs(boot, id) ||
      probe_ext(dev, id) || probe_btrfs(dev, id))
    return id;
  return FsIdentity{};
}

// ---------------------------------------------------------------------------------------------
// The source.

struct UeventSource::Impl {
  using Clock = std::chrono::steady_clock;
  using Sink = std::function<void(DeviceSourceRecord&&)>;

  struct Queued {
    DeviceSourceRecord record;
    bool held = false;                      // a USB add waiting for its interfaces
    Clock::time_point deadline{};
    std::vector<DeviceClass> seen_interfaces;  // from usb_interface uevents while held
    std::optional<unsigned> type_class;        // TYPE= first field (bDeviceClass)
  };
  struct Mounted {
    MountInfo mount;
    VolumeActivity volume;
  };

  Options opt;
  Counters counters;
  bool started = false;
  std::vector<std::string> removable_globs;
  UniqueFd netlink;
  UniqueFd mount_wake;   // in the epoll set: wakes the loop on a mount-table change
  UniqueFd mount_check;  // polled by drain(): a poll on mount_wake consumes the change
  UniqueFd timer;        // wakes the loop when a held USB device's wait is over
  UniqueFd epoll;
  std::vector<char> buf;
  std::deque<Queued> queue;
  std::unordered_map<std::string, DeviceActivity> connected;  // devpath -> as reported at add
  std::deque<std::string> connected_order;
  std::vector<MountInfo> table;
  std::vector<Mounted> mounted;  // volumes reported as mounted, by mount

  explicit Impl(Options o) : opt(std::move(o)) {}

  // --- start ---------------------------------------------------------------------------------

  Status start(const agent::DeviceCaptureSpec& spec) {
    if (started) return err("device capture already started");
    removable_globs = spec.removable_devices;
    std::string uevent_error, mount_error;
    if (opt.watch_uevents) {
      if (Status s = open_netlink(); !s) {
        uevent_error = s.error();
        netlink.reset();
      }
    } else {
      uevent_error = "disabled";
    }
    if (opt.watch_mounts) {
      if (Status s = open_mounts(); !s) {
        mount_error = s.error();
        mount_wake.reset();
        mount_check.reset();
      }
    } else {
      mount_error = "disabled";
    }
    if (!netlink && !mount_wake)
      return err("neither device uevents (" + uevent_error + ") nor the mount table (" + mount_error + ") can be watched");
    if (!netlink && opt.watch_uevents)
      log::warn(kComponent, "USB/block device uevents not watched; volumes only", {{"error", uevent_error}});
    if (!mount_wake && opt.watch_mounts)
      log::warn(kComponent, "mount table not watched; devices only", {{"error", mount_error}});
    timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer) return err("timerfd_create: " + errno_text(errno));
    epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return err("epoll_create1: " + errno_text(errno));
    auto add = [this](int fd, std::uint32_t events, const char* what) -> Status {
      epoll_event ev{};
      ev.events = events;
      ev.data.fd = fd;
      if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return err(std::string("epoll_ctl(") + what + "): " + errno_text(errno));
      return {};
    };
    if (netlink)
      if (Status s = add(netlink.get(), EPOLLIN, "uevent socket"); !s) return s;
    if (mount_wake)  // mountinfo signals a change as POLLPRI|POLLERR
      if (Status s = add(mount_wake.get(), EPOLLPRI, "mountinfo"); !s) return s;
    if (Status s = add(timer.get(), EPOLLIN, "timerfd"); !s) return s;
    buf.resize(kRecvBufferBytes);
    started = true;
    return {};
  }

  Status open_netlink() {
    netlink.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT));
    if (!netlink) return err("socket(NETLINK_KOBJECT_UEVENT): " + errno_text(errno));
    int size = kSocketBufferBytes;
    // SO_RCVBUFFORCE passes the system cap with CAP_NET_ADMIN; otherwise take what we can get.
    if (::setsockopt(netlink.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      (void)::setsockopt(netlink.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_pid = 0;     // let the kernel pick a port id
    sa.nl_groups = 1;  // the kernel's own uevents
    if (::bind(netlink.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      return err("bind(NETLINK_KOBJECT_UEVENT, group 1): " + errno_text(errno));
    return {};
  }

  Status open_mounts() {
    mount_wake.reset(::open(opt.mountinfo_path.c_str(), O_RDONLY | O_CLOEXEC));
    mount_check.reset(::open(opt.mountinfo_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!mount_wake || !mount_check) return err("open " + opt.mountinfo_path + ": " + errno_text(errno));
    auto t = read_mount_table(opt.mountinfo_path);
    if (!t) return err(t.error());
    table = std::move(*t);  // the baseline: mounts that exist now are not reported
    return {};
  }

  // --- drain ---------------------------------------------------------------------------------

  Result<agent::DrainStats> drain(const Sink& sink) {
    if (!started) return err("device capture not started");
    agent::DrainStats stats;
    if (netlink) {
      if (Status s = read_uevents(stats); !s) return err(s.error());
    }
    if (mount_check && mounts_changed()) rescan_mounts(realtime_ns());
    clear_timer();
    stats.activities += flush(sink, Clock::now());
    arm_timer();
    return stats;
  }

  Status read_uevents(agent::DrainStats& stats) {
    for (int i = 0; i < kMaxMessagesPerDrain; ++i) {
      sockaddr_nl sa{};
      iovec iov{buf.data(), buf.size()};
      msghdr msg{};
      msg.msg_name = &sa;
      msg.msg_namelen = sizeof sa;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      ssize_t n = ::recvmsg(netlink.get(), &msg, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == ENOBUFS) {  // the kernel dropped messages: the socket buffer overflowed
          ++stats.overflows;
          log::warn(kComponent, "uevent receive buffer overflowed: device events lost");
          continue;
        }
        return err("recvmsg(uevent): " + errno_text(errno));
      }
      ++counters.uevents;
      if ((msg.msg_flags & MSG_TRUNC) != 0) ++counters.truncated;
      if (sa.nl_pid != 0) {  // only the kernel speaks on group 1; anything else is not trusted
        ++counters.not_from_kernel;
        continue;
      }
      std::size_t len = std::min(static_cast<std::size_t>(n), buf.size());
      handle(parse_uevent(std::string_view(buf.data(), len)), realtime_ns());
    }
    return {};
  }

  void feed(std::string_view payload, std::int64_t time_ns, const Sink& sink) {
    ++counters.uevents;
    handle(parse_uevent(payload), time_ns);
    flush(sink, Clock::now());
  }

  // --- uevents -------------------------------------------------------------------------------

  void handle(const Uevent& u, std::int64_t time_ns) {
    if (u.action.empty()) {
      ++counters.without_action;
      return;
    }
    if (u.action != "add" && u.action != "remove") {
      ++counters.ignored;
      return;
    }
    if (u.subsystem == "usb") {
      const bool interface = u.devtype == "usb_interface" || (u.devtype.empty() && u.env.contains("INTERFACE"));
      const bool device = u.devtype == "usb_device" ||
                          (u.devtype.empty() && !interface && base_name(u.devpath).find(':') == std::string::npos);
      if (interface && u.action == "add") note_interface(u);
      if (device) return usb_device(u, time_ns);
    } else if (u.subsystem == "block" && (u.devtype == "disk" || (u.devtype.empty() && !u.env.contains("PARTN")))) {
      return block_disk(u, time_ns);
    }
    ++counters.ignored;
  }

  static std::uint64_t seqnum(const Uevent& u) {
    std::string s = u.get("SEQNUM");
    std::uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }

  std::string devnode_of(const Uevent& u) const {
    std::string name = u.get("DEVNAME");
    if (name.empty()) return "";
    return name.front() == '/' ? name : opt.dev_root + "/" + name;
  }

  // An interface of a USB device we are holding back: its class counts towards the device's.
  void note_interface(const Uevent& u) {
    std::string parent = parent_path(u.devpath);
    for (auto& q : queue) {
      auto* d = std::get_if<DeviceActivity>(&q.record);
      if (q.held && d != nullptr && d->devpath == parent) {
        std::string iface = u.get("INTERFACE");  // "8/6/80", decimal class/subclass/protocol
        if (auto cls = parse_uint(iface.substr(0, iface.find('/')), 10)) q.seen_interfaces.push_back(usb_interface_class(*cls));
      }
    }
  }

  void remember(const DeviceActivity& a) {
    if (!connected.contains(a.devpath)) connected_order.push_back(a.devpath);
    connected[a.devpath] = a;
    while (connected.size() > kMaxRemembered && !connected_order.empty()) {
      connected.erase(connected_order.front());
      connected_order.pop_front();
    }
  }

  std::optional<DeviceActivity> forget(const std::string& devpath) {
    auto it = connected.find(devpath);
    if (it == connected.end()) return std::nullopt;
    DeviceActivity a = std::move(it->second);
    connected.erase(it);
    std::erase(connected_order, devpath);
    return a;
  }

  void usb_device(const Uevent& u, std::int64_t time_ns) {
    DeviceActivity a;
    a.action = u.action == "add" ? DeviceAction::Connected : DeviceAction::Disconnected;
    a.time_ns = time_ns;
    a.bus = "usb";
    a.kernel_action = u.action;
    a.devpath = u.devpath;
    a.devnode = devnode_of(u);
    a.kernel_seqnum = seqnum(u);
    // Ids: udev's names when a udev-processed message is what we got, else the kernel's PRODUCT.
    if (!u.get("ID_VENDOR_ID").empty() || !u.get("ID_MODEL_ID").empty()) {
      a.vendor_id = hex4(u.get("ID_VENDOR_ID"));
      a.product_id = hex4(u.get("ID_MODEL_ID"));
    } else if (auto ids = parse_usb_product(u.get("PRODUCT"))) {
      std::tie(a.vendor_id, a.product_id) = *ids;
    }
    std::optional<unsigned> type_class;
    if (std::string t = u.get("TYPE"); !t.empty()) type_class = parse_uint(t.substr(0, t.find('/')), 10);

    if (a.action == DeviceAction::Disconnected) {
      // A remove of a device still held back: report its add first, with what is known.
      for (auto& q : queue)
        if (auto* d = std::get_if<DeviceActivity>(&q.record); q.held && d != nullptr && d->devpath == a.devpath) finalize(q);
      if (auto known = forget(a.devpath)) {
        if (a.vendor_id.empty()) a.vendor_id = known->vendor_id;
        if (a.product_id.empty()) a.product_id = known->product_id;
        a.serial = known->serial;
        a.vendor_name = known->vendor_name;
        a.product_name = known->product_name;
        a.device_class = known->device_class;
        if (a.devnode.empty()) a.devnode = known->devnode;
      } else {
        a.serial = u.get("ID_SERIAL_SHORT");
        a.vendor_name = u.get("ID_VENDOR");
        a.product_name = u.get("ID_MODEL");
        if (type_class && *type_class != 0) a.device_class = usb_interface_class(*type_class);
      }
      queue.push_back(Queued{std::move(a)});
      return;
    }

    UsbSysfs s = read_usb_sysfs(opt.sysfs_root + a.devpath);
    if (s.present) {
      if (a.vendor_id.empty()) a.vendor_id = s.vendor_id;
      if (a.product_id.empty()) a.product_id = s.product_id;
      a.serial = s.serial;
      a.vendor_name = s.manufacturer;
      a.product_name = s.product;
    }
    if (a.serial.empty()) a.serial = u.get("ID_SERIAL_SHORT");
    if (a.vendor_name.empty()) a.vendor_name = u.get("ID_VENDOR");
    if (a.product_name.empty()) a.product_name = u.get("ID_MODEL");
    Queued q{std::move(a)};
    q.type_class = type_class;
    // The kernel adds the interfaces right after the device's own uevent; wait for them when
    // sysfs does not have them all yet.
    bool complete = !s.present || (s.num_interfaces && s.interfaces.size() >= *s.num_interfaces && !s.interfaces.empty());
    if (!complete && opt.usb_settle_ms > 0) {
      q.held = true;
      q.deadline = Clock::now() + std::chrono::milliseconds(opt.usb_settle_ms);
      queue.push_back(std::move(q));
    } else {
      queue.push_back(std::move(q));
      finalize(queue.back());
    }
  }

  // Settles a queued USB add: its class from sysfs (and interface uevents seen), remembered for
  // its remove.
  void finalize(Queued& q) {
    q.held = false;
    auto& a = std::get<DeviceActivity>(q.record);
    UsbSysfs s = read_usb_sysfs(opt.sysfs_root + a.devpath);
    std::vector<DeviceClass> classes = q.seen_interfaces;
    classes.insert(classes.end(), s.interfaces.begin(), s.interfaces.end());
    std::optional<unsigned> device_class = s.device_class ? s.device_class : q.type_class;
    if (device_class && *device_class != 0) classes.push_back(usb_interface_class(*device_class));
    a.device_class = combine_device_classes(classes);
    if (s.present && a.serial.empty()) a.serial = s.serial;
    remember(a);
  }

  bool interfaces_complete(const Queued& q) const {
    const auto& a = std::get<DeviceActivity>(q.record);
    UsbSysfs s = read_usb_sysfs(opt.sysfs_root + a.devpath);
    if (!s.present) return true;  // gone: nothing more will come
    return s.num_interfaces && !s.interfaces.empty() && s.interfaces.size() >= *s.num_interfaces;
  }

  void block_disk(const Uevent& u, std::int64_t time_ns) {
    DeviceActivity a;
    a.action = u.action == "add" ? DeviceAction::Connected : DeviceAction::Disconnected;
    a.time_ns = time_ns;
    a.bus = "block";
    a.kernel_action = u.action;
    a.devpath = u.devpath;
    a.devnode = devnode_of(u);
    if (a.devnode.empty() && !u.devpath.empty()) a.devnode = opt.dev_root + "/" + base_name(u.devpath);
    a.kernel_seqnum = seqnum(u);
    a.device_class = DeviceClass::MassStorage;
    const std::string dir = opt.sysfs_root + u.devpath;
    auto fill_from_usb = [&](DeviceActivity& x) {
      if (auto usb = usb_ancestor(dir, opt.sysfs_root)) {
        UsbSysfs s = read_usb_sysfs(*usb);
        x.vendor_id = s.vendor_id;
        x.product_id = s.product_id;
        x.serial = s.serial;
        x.vendor_name = s.manufacturer;
        x.product_name = s.product;
        return true;
      }
      return false;
    };
    if (a.action == DeviceAction::Connected) {
      bool on_usb = fill_from_usb(a);
      a.removable = attr_or_empty(dir + "/removable") == "1" || on_usb || matches_any_glob(a.devnode, removable_globs);
      if (!a.removable) {
        ++counters.ignored;
        return;
      }
      remember(a);
    } else {
      if (auto known = forget(a.devpath)) {
        a.removable = known->removable;
        a.vendor_id = known->vendor_id;
        a.product_id = known->product_id;
        a.serial = known->serial;
        a.vendor_name = known->vendor_name;
        a.product_name = known->product_name;
      } else {
        bool on_usb = fill_from_usb(a);
        a.removable = attr_or_empty(dir + "/removable") == "1" || on_usb || matches_any_glob(a.devnode, removable_globs);
      }
      if (!a.removable) {
        ++counters.ignored;
        return;
      }
    }
    queue.push_back(Queued{std::move(a)});
  }

  // Hands over queued records in order; a held USB add holds back what came after it.
  std::uint64_t flush(const Sink& sink, Clock::time_point now) {
    for (auto& q : queue)
      if (q.held && (now >= q.deadline || interfaces_complete(q))) finalize(q);
    std::uint64_t n = 0;
    while (!queue.empty() && !queue.front().held) {
      DeviceSourceRecord r = std::move(queue.front().record);
      queue.pop_front();
      sink(std::move(r));
      ++n;
    }
    return n;
  }

  void clear_timer() {
    std::uint64_t expirations = 0;
    while (::read(timer.get(), &expirations, sizeof expirations) < 0 && errno == EINTR) {
    }
  }

  void arm_timer() {
    std::optional<Clock::time_point> next;
    for (const auto& q : queue)
      if (q.held && (!next || q.deadline < *next)) next = q.deadline;
    itimerspec its{};
    if (next) {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*next - Clock::now()).count();
      if (left < 1'000'000) left = 1'000'000;  // already due: fire almost at once
      its.it_value.tv_sec = static_cast<time_t>(left / 1'000'000'000);
      its.it_value.tv_nsec = static_cast<long>(left % 1'000'000'000);
    }
    (void)::timerfd_settime(timer.get(), 0, &its, nullptr);  // zero disarms
  }

  // --- mounts --------------------------------------------------------------------------------

  bool mounts_changed() const {
    pollfd p{mount_check.get(), POLLPRI, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR)) != 0;
  }

  void rescan_mounts(std::int64_t time_ns) {
    ++counters.mount_rescans;
    auto t = read_mount_table(opt.mountinfo_path);
    if (!t) {
      log::warn(kComponent, "reading the mount table failed", {{"error", t.error()}});
      return;
    }
    MountDiff diff = diff_mount_tables(table, *t);
    table = std::move(*t);
    for (const auto& m : diff.removed) {
      auto it = std::find_if(mounted.begin(), mounted.end(), [&](const Mounted& x) { return x.mount.same_mount(m); });
      std::optional<VolumeActivity> v;
      if (it != mounted.end()) {
        v = std::move(it->volume);
        mounted.erase(it);
      } else {
        v = describe(m);  // mounted before the agent started
      }
      if (!v) continue;
      v->action = VolumeAction::Unmounted;
      v->time_ns = time_ns;
      ++counters.unmounts_reported;
      queue.push_back(Queued{std::move(*v)});
    }
    for (const auto& m : diff.added) {
      auto v = describe(m);
      if (!v) continue;
      v->action = VolumeAction::Mounted;
      v->time_ns = time_ns;
      mounted.push_back(Mounted{m, *v});
      ++counters.mounts_reported;
      queue.push_back(Queued{std::move(*v)});
    }
  }

  std::vector<VolumeActivity> current_volumes() const {
    std::vector<VolumeActivity> out;
    const std::int64_t now = realtime_ns();
    for (const auto& m : table) {
      auto it = std::find_if(mounted.begin(), mounted.end(), [&](const Mounted& x) { return x.mount.same_mount(m); });
      std::optional<VolumeActivity> v = it != mounted.end() ? std::optional<VolumeActivity>(it->volume) : describe(m);
      if (!v) continue;
      v->action = VolumeAction::Mounted;
      v->time_ns = now;
      out.push_back(std::move(*v));
    }
    return out;
  }

  // A volume worth reporting (a block device or a network share), or nullopt.
  std::optional<VolumeActivity> describe(const MountInfo& m) const {
    VolumeActivity v;
    v.device = m.source;
    v.mount_point = m.mount_point;
    v.fstype = m.fstype;
    v.mount_type = m.fstype;
    v.read_only = m.read_only();
    if (is_network_share_fstype(m.fstype)) {
      v.network_share = true;
      return v;
    }
    // Which block device: the source when it is a device node (fuseblk, btrfs show the node but
    // not its number), else the mount's device number when sysfs knows it as a block device.
    std::string devnode;
    dev_t dev = 0;
    struct stat st {};
    if (!m.source.empty() && m.source.front() == '/' && ::stat(m.source.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
      devnode = m.source;
      dev = st.st_rdev;
    } else if (m.major != 0) {
      dev = makedev(m.major, m.minor);
    } else {
      return std::nullopt;
    }
    const std::string sys_link = opt.sysfs_root + "/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
    const std::string sysdir = real_path(sys_link);
    if (sysdir.empty()) return std::nullopt;  // not a block device
    const std::string name = base_name(sysdir);
    if (devnode.empty()) devnode = opt.dev_root + "/" + name;
    const std::string disk = is_partition_dir(sysdir) ? parent_path(sysdir) : sysdir;
    v.removable = attr_or_empty(sysdir + "/removable") == "1" || attr_or_empty(disk + "/removable") == "1" ||
                  usb_ancestor(disk, opt.sysfs_root).has_value() || matches_any_glob(m.source, removable_globs) ||
                  matches_any_glob(devnode, removable_globs) || matches_any_glob(opt.dev_root + "/" + name, removable_globs) ||
                  matches_any_glob(opt.dev_root + "/" + base_name(disk), removable_globs);
    // Label and UUID: udev's links when udev runs, else the filesystem's own superblock.
    const std::string node_real = real_path(devnode);
    if (!node_real.empty()) {
      v.label = udev_link_name(opt.dev_root + "/disk/by-label", node_real);
      v.uuid = udev_link_name(opt.dev_root + "/disk/by-uuid", node_real);
    }
    const bool generic_type = m.fstype == "fuseblk" || m.fstype.rfind("fuseblk.", 0) == 0;
    if (v.label.empty() || v.uuid.empty() || generic_type) {
      FsIdentity id = probe_filesystem(devnode);
      if (v.label.empty()) v.label = id.label;
      if (v.uuid.empty()) v.uuid = id.uuid;
      if (generic_type && !id.type.empty()) v.fstype = id.type;
    }
    return v;
  }
};

UeventSource::UeventSource() : UeventSource(Options{}) {}
UeventSource::UeventSource(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
UeventSource::~UeventSource() = default;

Status UeventSource::start(const agent::DeviceCaptureSpec& spec) { return impl_->start(spec); }
int UeventSource::pollable_fd() const { return impl_->epoll.get(); }
Result<agent::DrainStats> UeventSource::drain(const std::function<void(DeviceSourceRecord&&)>& sink) {
  return impl_->drain(sink);
}
void UeventSource::feed(std::string_view payload, std::int64_t time_ns, const std::function<void(DeviceSourceRecord&&)>& sink) {
  impl_->feed(payload, time_ns, sink);
}
std::vector<agent::VolumeActivity> UeventSource::current_volumes() const { return impl_->current_volumes(); }
bool UeventSource::uevents_active() const { return impl_->netlink.valid(); }
bool UeventSource::mounts_active() const { return impl_->mount_wake.valid(); }
const UeventSource::Counters& UeventSource::counters() const { return impl_->counters; }

}  // namespace vigil::platform

namespace vigil::agent {

std::unique_ptr<DeviceActivitySource> make_device_activity_source() {
  return std::make_unique<platform::UeventSource>();
}

}  // namespace vigil::agent
