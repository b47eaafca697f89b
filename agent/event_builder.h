// Turns normalized capture records into schema events (seq is left for the spool to assign).
#pragma once
#include <string>

#include "agent/capture.h"
#include "vigil.pb.h"

namespace vigil::agent {

// "file.create" etc.
const char* file_event_type(FileAction action);
v1::Event make_file_event(const FileActivity& activity);
// "device.connected" / "device.disconnected"; the kernel acted, so no process or user is set.
v1::Event make_device_event(const DeviceActivity& activity);
// "volume.mounted" / "volume.unmounted".
v1::Event make_volume_event(const VolumeActivity& activity);
// "mass_storage" | "mtp" | "hid" | "other"
const char* device_class_name(DeviceClass c);
// Bytes that are not valid UTF-8 become \xNN so the event stays valid protobuf text; the
// original bytes are not lost (the escape is reversible).
std::string escape_non_utf8(const std::string& raw);

}  // namespace vigil::agent
