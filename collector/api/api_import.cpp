// POST /api/v1/recorded-activity?source=NAME: imports recorded activity (JSON lines of
// vigil.v1.Event, docs/RECORDED_ACTIVITY.md) as the device "recorded-NAME"; the policy engine
// evaluates it like an agent's upload. All or nothing; 400 lists the bad lines.
#include <boost/json.hpp>

#include "collector/api/api_handler.h"
#include "collector/ingest/recorded_import.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;

void ApiHandler::set_recorded_import(RecordedImport* importer) { recorded_import_ = importer; }

Dispatch ApiHandler::import_recorded(const HttpRequest& req, std::string_view query) const {
  auto params = checked_query(query, {"source"});
  if (!params) return {error_response(http::status::bad_request, params.error()), {}};
  std::string source;
  for (const auto& [name, value] : *params) source = value;
  if (source.empty()) return {error_response(http::status::bad_request, "query parameter 'source' is required"), {}};
  if (auto id = recorded_device_id(source); !id)
    return {error_response(http::status::bad_request, "query parameter 'source': " + id.error()), {}};
  if (recorded_import_ == nullptr)
    return {error_response(http::status::service_unavailable, "this collector does not import recorded activity"), {}};
  RecordedImport* importer = recorded_import_;
  return {std::nullopt, [importer, source, body = req.body()] {
            auto r = importer->import(source, body, now_ns());
            if (!r) return error_response(http::status::bad_request, r.error());
            json::object o;
            o["device_id"] = r->device_id;
            o["events"] = r->events;
            o["batches"] = r->batches;
            o["first_seq"] = r->first_seq;
            o["last_seq"] = r->last_seq;
            return json_response(http::status::ok, o);
          }};
}

}  // namespace vigil::collector
