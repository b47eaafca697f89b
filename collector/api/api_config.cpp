// /api/v1/collection-config: read, replace and (per device) remove the collection config that
// agents are pushed. See docs/COLLECTION_CONFIG.md.
//   GET    [?device=ID]  the global config, or what the device must run (its override or the global)
//   PUT    [?device=ID]  replace the global config or set the device's override; the body is
//                        validated (rules compiled) before anything is stored: all or nothing
//   DELETE ?device=ID    the device follows the global config again
#include <algorithm>
#include <boost/json.hpp>

#include "collector/api/api_handler.h"
#include "collector/api/query_params.h"
#include "collector/config/config_json.h"
#include "shared/collection_config.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

Dispatch answer(HttpResponse r) { return Dispatch{std::move(r), {}}; }
Dispatch bad(std::string_view message) { return answer(error_response(http::status::bad_request, message)); }

// The optional ?device=ID; anything else is a 400 naming the parameter.
Result<std::string> device_param(std::string_view query) {
  auto params = parse_query(query);
  if (!params) return err(params.error());
  std::string device;
  bool seen = false;
  for (const auto& [name, value] : *params) {
    if (name != "device") return err("unknown query parameter '" + name + "' (accepted: device)");
    if (seen) return err("query parameter 'device' given more than once");
    seen = true;
    device = value;
  }
  return device;
}

json::object shown(const v1::CollectionConfig& c, std::string_view source, std::int64_t updated_ns) {
  auto o = collection_config_to_json(c);
  o["source"] = source;
  o["updated"] = updated_ns ? json::value(format_rfc3339(updated_ns, 3)) : json::value(nullptr);
  return o;
}

HttpResponse storage_error(const std::string& e) {
  return error_response(http::status::internal_server_error, "storage: " + e);
}

// 404 unless the device is enrolled: an override for a typo would never reach anyone.
std::optional<HttpResponse> require_device(EventStore& store, const std::string& device) {
  auto d = store.find_device(device);
  if (!d) return storage_error(d.error());
  if (!d->has_value()) return error_response(http::status::not_found, "no such device: " + device);
  return std::nullopt;
}

}  // namespace

void add_config_state(json::object& o, const DeviceConfigState* s) {
  o["config_version"] = s ? s->running_version : 0;
  o["config_reported"] = s && s->reported_ns ? json::value(format_rfc3339(s->reported_ns, 3)) : json::value(nullptr);
  o["config_error"] = s && !s->error.empty() ? json::value(s->error) : json::value(nullptr);
  o["config_error_version"] = s ? s->error_version : 0;
}

Dispatch ApiHandler::get_collection_config(const HttpRequest&, std::string_view query) const {
  auto device = device_param(query);
  if (!device) return bad(device.error());
  if (!configs_) return answer(error_response(http::status::service_unavailable, "collection configs are not available"));
  return Dispatch{std::nullopt, [&store = store_, configs = configs_, device = *device]() -> HttpResponse {
                    if (device.empty()) {
                      auto g = configs->latest("");
                      if (!g) return storage_error(g.error());
                      if (!*g) {
                        v1::CollectionConfig none;
                        none.set_classification_enabled(true);
                        return json_response(http::status::ok, shown(none, "none", 0));
                      }
                      return json_response(http::status::ok, shown((*g)->config, "global", (*g)->created_ns));
                    }
                    if (auto refused = require_device(store, device)) return std::move(*refused);
                    auto own = configs->latest(device);
                    if (!own) return storage_error(own.error());
                    auto eff = configs->effective(device);
                    if (!eff) return storage_error(eff.error());
                    if (!*eff) {
                      v1::CollectionConfig none;
                      none.set_classification_enabled(true);
                      return json_response(http::status::ok, shown(none, "none", 0));
                    }
                    const bool override_active = *own && !(*own)->inherits;
                    std::int64_t updated = 0;
                    if (override_active) {
                      updated = (*own)->created_ns;
                    } else {
                      auto g = configs->latest("");
                      if (!g) return storage_error(g.error());
                      // The newer of the global config and the override's removal.
                      updated = std::max(*g ? (*g)->created_ns : 0, *own ? (*own)->created_ns : 0);
                    }
                    auto o = shown(**eff, override_active ? "device" : "global", updated);
                    o["device"] = device;
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::put_collection_config(const HttpRequest& req, std::string_view query) const {
  auto device = device_param(query);
  if (!device) return bad(device.error());
  if (!configs_) return answer(error_response(http::status::service_unavailable, "collection configs are not available"));
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec) return bad("request body is not valid JSON: " + ec.message());
  auto parsed = collection_config_from_json(body);
  if (!parsed) return bad(parsed.error());
  // Validation compiles the rules (tens of milliseconds): it runs as part of the storage job,
  // off the I/O threads.
  return Dispatch{std::nullopt, [&store = store_, configs = configs_, device = *device,
                                 p = std::move(*parsed)]() -> HttpResponse {
                    if (auto v = validate_collection_config(p.config); !v)
                      return error_response(http::status::bad_request, "invalid collection config: " + v.error());
                    if (!device.empty())
                      if (auto refused = require_device(store, device)) return std::move(*refused);
                    auto r = configs->put(device, p.config, now_ns(), p.expected_version);
                    if (!r) return storage_error(r.error());
                    if (r->conflict)
                      return error_response(http::status::conflict,
                                            "the config changed meanwhile: 'version' is " + std::to_string(*p.expected_version) +
                                                " but the current version is " + std::to_string(r->current_version) +
                                                " (show it again, or leave 'version' out to overwrite)");
                    auto o = shown(r->stored, device.empty() ? "global" : "device", now_ns());
                    if (!device.empty()) o["device"] = device;
                    return json_response(http::status::ok, o);
                  }};
}

Dispatch ApiHandler::delete_collection_config(const HttpRequest&, std::string_view query) const {
  auto device = device_param(query);
  if (!device) return bad(device.error());
  if (device->empty())
    return bad("DELETE needs ?device=ID (a device override to remove); the global config is replaced with PUT");
  if (!configs_) return answer(error_response(http::status::service_unavailable, "collection configs are not available"));
  return Dispatch{std::nullopt, [&store = store_, configs = configs_, device = *device]() -> HttpResponse {
                    if (auto refused = require_device(store, device)) return std::move(*refused);
                    auto v = configs->remove_override(device, now_ns());
                    if (!v) return storage_error(v.error());
                    json::object o;
                    o["device"] = device;
                    o["removed"] = *v != 0;
                    o["version"] = *v;
                    return json_response(http::status::ok, o);
                  }};
}

}  // namespace vigil::collector
