// JSON shapes of cases, notes, notice templates, notices, content-explorer files and activity
// buckets, shared by the API and the escalation package. Names of monitored users go through
// `shown` (the caller's pseudonymisation); the package passes the identity.
#pragma once
#include <boost/json.hpp>
#include <functional>
#include <string>

#include "collector/cases/case_evidence.h"
#include "collector/cases/case_model.h"

namespace vigil::collector::cases {

using ShowName = std::function<std::string(const std::string&)>;

boost::json::object case_to_json(const Case& c, const ShowName& shown);
boost::json::object note_to_json(const Note& n);
boost::json::object template_to_json(const NoticeTemplate& t);
// reveal: false hides the recipient address and the filled-in text (they name the user).
boost::json::object notice_to_json(const Notice& m, bool reveal);
boost::json::object file_to_json(const CaseFile& f);
boost::json::object activity_to_json(const ActivityOverTime& a);

}  // namespace vigil::collector::cases
