// How one stored event is shown to investigators: the API's JSON (activity and JSONL exports)
// and a CSV row. User names go through `shown` (pseudonyms); every string is valid UTF-8, with
// bytes that are not escaped as \xNN, so a hostile file name cannot break the JSON or the CSV.
//
// CSV follows RFC 4180: every field that holds a comma, quote, CR or LF is quoted and its quotes
// doubled; rows end in CRLF. Text cells that a spreadsheet would run as a formula (starting with
// = + - @ or a tab/CR) get a leading apostrophe, so opening an export never executes a file name.
#pragma once
#include <boost/json.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "collector/store/event_store.h"

namespace vigil::collector {

using ShowUser = std::function<std::string(const std::string&)>;

std::string valid_utf8(std::string_view text);
// event_to_json() plus channel, with the user names shown and every string valid UTF-8.
boost::json::object activity_event_json(const StoredEvent& event, const ShowUser& shown);

std::string activity_csv_header();
// One CSV row (CRLF-terminated) of the event; `json` is its activity_event_json(), which rides
// along in the last column so nothing is lost.
std::string activity_csv_row(const StoredEvent& event, const boost::json::object& json);
std::string csv_field(std::string_view text, bool text_cell = true);

}  // namespace vigil::collector
