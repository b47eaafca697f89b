// JSON shapes of alerts, explained activities and users in scope, shared by the API and the
// AlertStore (which keeps activities as a JSON column). Parsing is lenient about missing fields
// (they take their defaults) so older rows still load.
#pragma once
#include <boost/json.hpp>
#include <vector>

#include "collector/policy/model.h"

namespace vigil::collector::policy {

boost::json::object activity_to_json(const ScoredActivity& a);
ScoredActivity activity_from_json(const boost::json::object& o);
boost::json::array activities_to_json(const std::vector<ScoredActivity>& list);
std::vector<ScoredActivity> activities_from_json(const boost::json::value& v);
boost::json::object trigger_to_json(const Trigger& t);
// with_activities: false for listings (count only).
boost::json::object alert_to_json(const Alert& a, bool with_activities);
boost::json::object in_scope_to_json(const UserInScope& u, std::int64_t now_ns);

}  // namespace vigil::collector::policy
