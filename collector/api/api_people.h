// Privacy helpers the routes that return people share (auth area): events seen through a
// caller's population scope and user filter, and the bootstrap admin's privacy rules.
#pragma once
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "collector/api/api_access.h"
#include "collector/store/event_store.h"
#include "shared/result.h"

namespace vigil::collector {

namespace auth { class AuthService; }

// The events of q that the caller may see and, when user_filter is set, whose user it names (a
// pseudonym or, for callers shown names, the real name). Without a scope and with a plain name
// this is one store query; otherwise the store is read newest first, page by page, until q.limit
// events are found or kMaxScopedScan events were looked at (then `truncated` is set).
inline constexpr std::size_t kMaxScopedScan = 2'000'000;
Result<std::vector<StoredEvent>> scoped_events(EventStore& store, EventQuery q, const Caller& caller,
                                               const std::string& user_filter, bool* truncated = nullptr);

// Replaces a real user name with what the caller is shown in an event's JSON: "user", and the
// /home/<user>/ prefix of "path", "old_path" and "source_path".
void show_event_user(boost::json::object& event, const Caller& caller);

// Free text in a response for a caller shown pseudonyms: every string (or list of strings) under
// one of kFreeTextKeys, at any depth, gets the real names it holds replaced (Caller::shown_text);
// `also` names the users the response is about (an alert's, a case's). Identifiers (ids, device
// ids, hashes) are under other keys and stay as they are. No-op for callers shown real names.
inline constexpr std::string_view kFreeTextKeys[] = {"detail", "summary", "reason", "text", "title",
                                                     "resolution_reason", "path", "old_path", "source_path",
                                                     "paths", "error"};
void hide_names_in(boost::json::value& v, const Caller& caller, const std::vector<std::string>& also = {});
void hide_names_in(boost::json::object& o, const Caller& caller, const std::vector<std::string>& also = {});

void decorate_bootstrap_caller(const auth::AuthService& service, Caller& caller);

}  // namespace vigil::collector
