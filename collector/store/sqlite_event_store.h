// SQLite implementation of EventStore (WAL, one writer connection, per-thread readers).
#pragma once
#include <memory>
#include <string>

#include "collector/store/event_store.h"

namespace vigil::collector {

// Creates the schema when missing. path is the database file (e.g. DATA_DIR/vigil.db).
Result<std::unique_ptr<EventStore>> open_sqlite_event_store(const std::string& path);

}  // namespace vigil::collector
