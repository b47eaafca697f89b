// UeventSource: agent::DeviceActivitySource on Linux.
//
// Devices: the kernel's uevents (NETLINK_KOBJECT_UEVENT, multicast group 1: what the kernel
// itself sends, not udev's re-broadcast, so it works without udevd). Reported:
//  - subsystem "usb", DEVTYPE usb_device, add/remove -> device.connected/disconnected, bus "usb":
//    vendor/product id from PRODUCT= (or udev's ID_VENDOR_ID/ID_MODEL_ID when present), serial,
//    manufacturer and product strings from sysfs, class from the interfaces' bInterfaceClass
//    (08 mass_storage, 06 still image = mtp, also an interface named "MTP", 03 hid, else other;
//    when several, the first of mass_storage > mtp > hid). A new device whose interfaces are not
//    in sysfs yet is held back until they are (or usb_settle_ms passed): the kernel creates them
//    just after the device's own uevent. remove reuses what was learned at add (sysfs is gone).
//  - subsystem "block", DEVTYPE disk, add/remove of a *removable* disk -> bus "block", with its
//    device node and the USB ids of the device it sits on, if any.
//  Only messages from the kernel (sender port 0) are accepted. A uevent missing fields is
//  reported with what it has (empty ids, class other); one without an action is counted, not
//  reported. A receive-buffer overrun (ENOBUFS) is counted as DrainStats::overflows.
//
// Volumes: the mount table (/proc/self/mountinfo; the kernel flags a change with POLLPRI) is
// re-read on change and diffed with the previous read. A new mount of a block device (the source
// is a block device node, or the mount's device number is a block device's) or of a network
// share (cifs, smb3, nfs, nfs4, sshfs, ...) -> volume.mounted; its disappearance ->
// volume.unmounted with what was recorded at mount. Label and UUID come from udev's
// /dev/disk/by-label and by-uuid links when they exist, else from reading the filesystem's own
// superblock (vfat, exfat, ext2/3/4, xfs, btrfs, ntfs: no libblkid). For fuseblk mounts
// (exfat-fuse, ntfs-3g) the filesystem type is the probed one and mount_type says "fuseblk".
// removable: sysfs "removable" of the device or of its whole disk, or the disk sits on USB, or
// the device node matches one of DeviceCaptureSpec::removable_devices (loop devices are not
// removable otherwise). Mounts that exist at start() are the baseline, not reported; a mount and
// unmount that both happen between two reads of the table are not seen.
//
// Not thread-safe: start() and drain() belong to one loop.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/capture.h"
#include "platform/linux/mount_table.h"

namespace vigil::platform {

// ---------------------------------------------------------------------------------------------
// Uevent payloads: "action@devpath\0KEY=VALUE\0KEY=VALUE\0..." from the kernel.

struct Uevent {
  std::string action;      // ACTION=, or the header's when ACTION= is missing
  std::string devpath;     // DEVPATH=, or the header's
  std::string subsystem;   // SUBSYSTEM=
  std::string devtype;     // DEVTYPE=
  std::map<std::string, std::string, std::less<>> env;  // every KEY=VALUE (the first of duplicates)
  bool has_header = false;           // began with "action@devpath"
  std::size_t malformed_fields = 0;  // non-empty fields without '=' (after the header)
  std::string get(std::string_view key) const;  // "" when absent
};

// Never fails: garbage yields an Uevent with nothing in it. Input of any size is accepted (the
// kernel's are at most a few KiB); only the first kMaxUeventFields fields are kept.
inline constexpr std::size_t kMaxUeventFields = 512;
Uevent parse_uevent(std::string_view payload);

// PRODUCT=781/5567/100 (hex, no leading zeros) -> {"0781", "5567"}; nullopt when malformed.
std::optional<std::pair<std::string, std::string>> parse_usb_product(std::string_view product);
// One interface's class code (bInterfaceClass) and name (its iInterface string, may be empty).
agent::DeviceClass usb_interface_class(unsigned class_code, std::string_view interface_name = {});
// The device's class from its interfaces (mass_storage > mtp > hid > other).
agent::DeviceClass combine_device_classes(const std::vector<agent::DeviceClass>& classes);

// Whether a device node matches one of the removable_devices globs (fnmatch).
bool matches_any_glob(const std::string& devnode, const std::vector<std::string>& globs);

// ---------------------------------------------------------------------------------------------
// Filesystem identity read from the device itself (no libblkid).

struct FsIdentity {
  std::string type;   // vfat, exfat, ext2, ext3, ext4, xfs, btrfs, ntfs; empty: not recognised
  std::string label;
  std::string uuid;   // 8-4-4-4-12 lowercase; vfat/exfat "XXXX-XXXX"; ntfs 16 hex digits
};
// Reads at most a few hundred KiB from the start of path (a block device or an image file).
FsIdentity probe_filesystem(const std::string& path);

// ---------------------------------------------------------------------------------------------
// The source.

class UeventSource final : public agent::DeviceActivitySource {
 public:
  struct Options {
    std::string sysfs_root = "/sys";              // tests point these at a fixture tree
    std::string dev_root = "/dev";
    std::string mountinfo_path = "/proc/self/mountinfo";
    int usb_settle_ms = 1000;                     // wait for a new USB device's interfaces
    bool watch_uevents = true;
    bool watch_mounts = true;
  };

  struct Counters {
    std::uint64_t uevents = 0;          // messages received
    std::uint64_t not_from_kernel = 0;  // dropped: sender was not the kernel
    std::uint64_t truncated = 0;        // larger than the receive buffer (parsed as far as read)
    std::uint64_t without_action = 0;   // dropped: no action in it
    std::uint64_t ignored = 0;          // not a USB device / removable disk add or remove
    std::uint64_t mount_rescans = 0;
    std::uint64_t mounts_reported = 0;
    std::uint64_t unmounts_reported = 0;
  };

  UeventSource();
  explicit UeventSource(Options options);
  ~UeventSource() override;
  UeventSource(const UeventSource&) = delete;
  UeventSource& operator=(const UeventSource&) = delete;

  // Fails only when neither uevents nor the mount table can be watched; when one of them cannot,
  // it logs a warning and goes on with the other (uevents_active()/mounts_active() say which).
  Status start(const agent::DeviceCaptureSpec& spec) override;
  int pollable_fd() const override;
  Result<agent::DrainStats> drain(const std::function<void(agent::DeviceSourceRecord&&)>& sink) override;
  // Every block-device or network-share mount of the table as last read (the baseline at start,
  // then as of the last drain()), described as volume.mounted would describe it.
  std::vector<agent::VolumeActivity> current_volumes() const override;

  // Interprets one uevent as if it had come from the kernel socket (what drain() does with each
  // message); for tests of the interpretation against a fixture sysfs. Records are handed to
  // sink now, or at a later drain()/feed when held back for a USB device's interfaces.
  void feed(std::string_view payload, std::int64_t time_ns,
            const std::function<void(agent::DeviceSourceRecord&&)>& sink);

  bool uevents_active() const;
  bool mounts_active() const;
  const Counters& counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::platform
