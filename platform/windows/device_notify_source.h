// DeviceNotifySource: USB devices and removable disks coming and going, and volumes (drive
// letters, mapped network drives) appearing and disappearing, on Windows.
// - Devices: CM_Register_Notification for the USB device and disk interface classes (a callback
//   on a system thread pool thread; works inside a service, needs no window). Vendor and product
//   ids and the serial come from the interface path (\\?\USB#VID_0781&PID_5567#SERIAL#{...});
//   USB mass storage disks (\\?\USBSTOR#Disk&Ven_X&Prod_Y&Rev_Z#SERIAL&0#{...}) are bus "block",
//   class MassStorage, removable, with the vendor and product names the path carries.
// - Volumes: a volume interface arriving or leaving (and, for mapped network drives, which raise
//   no device notification, a rescan every few seconds) makes the worker compare the drive
//   letters against its last view (mount point "E:", as paths under it read "E:/..."): new ones are Mounted, gone ones Unmounted, each with the file
//   system, label, serial (as uuid), removable and network_share from the volume itself.
// - Nothing guessed: a field the system does not give stays empty.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/capture.h"
#include "platform/windows/record_queue.h"
#include "platform/windows/win_util.h"

namespace vigil::win {

// Parses a device interface path (\\?\USB#VID_xxxx&PID_xxxx#serial#{guid} or \\?\USBSTOR#...) into
// the record's bus, ids, serial, names and class. False when the path is neither.
bool parse_device_interface_path(const std::string& path, agent::DeviceActivity& out);
// Volumes mounted now (drive letters), as Mounted records.
std::vector<agent::VolumeActivity> list_volumes();

class DeviceNotifySource final : public agent::DeviceActivitySource {
 public:
  DeviceNotifySource() = default;
  ~DeviceNotifySource() override;
  Status start(const agent::DeviceCaptureSpec& spec) override;
  int pollable_fd() const override { return queue_.pollable_fd(); }
  Result<agent::DrainStats> drain(const std::function<void(agent::DeviceSourceRecord&&)>& sink) override;
  std::vector<agent::VolumeActivity> current_volumes() const override;

  // Called on a thread-pool thread by the configuration manager.
  void on_interface(bool arrival, const std::wstring& symbolic_link, bool is_volume);

 private:
  void run();
  void rescan_volumes();

  RecordQueue<agent::DeviceSourceRecord> queue_;
  std::vector<void*> registrations_;  // HCMNOTIFICATION
  UniqueHandle stop_, rescan_;
  std::thread worker_;
  mutable std::mutex mu_;
  std::map<std::string, agent::VolumeActivity> volumes_;  // by mount point
};

}  // namespace vigil::win
