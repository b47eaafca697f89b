// JSON views of stored events and devices, as the API and `vigilctl --json` print them: flat
// objects with device_id, seq, type, time (RFC 3339, ns), time_ns, user, login_uid, the process,
// and the body's fields at the top level (path, old_path, size, ... for file events).
#pragma once
#include <boost/json.hpp>

#include "collector/store/event_store.h"

namespace vigil::collector {

boost::json::object event_to_json(const StoredEvent& event);
boost::json::object device_to_json(const DeviceRecord& device);

}  // namespace vigil::collector
