#include "collector/ingest/recorded_import.h"

#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>
#include <memory>
#include <vector>

#include "shared/batch_codec.h"
#include "shared/schema_version.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxReportedLines = 20;
constexpr std::int64_t kDayNs = 86'400'000'000'000;

// One line into an event, or why not.
Result<v1::Event> parse_line(std::string_view line, std::int64_t now_ns) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) return err("not JSON: " + ec.message());
  if (!v.is_object()) return err("not a JSON object");
  json::object& o = v.as_object();
  if (o.contains("seq")) return err("'seq' is assigned by the collector, not taken from the input");
  std::optional<std::int64_t> time_ns;
  if (auto* t = o.if_contains("time")) {
    if (!t->is_string()) return err("'time' must be an RFC 3339 string");
    auto parsed = parse_rfc3339(t->as_string());
    if (!parsed) return err("'time': " + parsed.error());
    time_ns = *parsed;
    o.erase("time");
    if (o.contains("time_ns") || o.contains("timeNs")) return err("give either 'time' or 'time_ns', not both");
  }
  v1::Event e;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(json::serialize(o), &e, opts);
  if (!st.ok()) return err(std::string(st.message()));
  if (time_ns) e.set_time_ns(*time_ns);
  if (e.type().empty()) return err("no 'type'");
  if (e.time_ns() <= 0) return err("no 'time' (RFC 3339) or 'time_ns'");
  if (e.time_ns() > now_ns + kDayNs) return err("time is more than a day in the future");
  if (e.body_case() == v1::Event::BODY_NOT_SET) return err("no body (file, print, security, session, ...)");
  return e;
}

}  // namespace

Result<std::string> recorded_device_id(std::string_view source) {
  if (source.empty() || source.size() > 48) return err("source must be 1 to 48 characters");
  for (char c : source)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return err("source may hold only a-z, 0-9 and '-'");
  if (source.front() == '-') return err("source must start with a letter or digit");
  return "recorded-" + std::string(source);
}

Result<RecordedImportReport> RecordedImport::import(std::string_view source, std::string_view jsonl, std::int64_t now_ns) {
  auto device_id = recorded_device_id(source);
  if (!device_id) return err(device_id.error());

  std::vector<v1::Event> events;
  std::vector<std::string> problems;
  std::size_t line_no = 0, bad = 0;
  for (std::size_t at = 0; at < jsonl.size();) {
    std::size_t end = jsonl.find('\n', at);
    if (end == std::string_view::npos) end = jsonl.size();
    std::string_view line = jsonl.substr(at, end - at);
    at = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos || line.front() == '#') continue;
    auto e = parse_line(line, now_ns);
    if (!e) {
      if (++bad <= kMaxReportedLines) problems.push_back("line " + std::to_string(line_no) + ": " + e.error());
      continue;
    }
    if (events.size() == kMaxRecordedEvents)
      return err("more than " + std::to_string(kMaxRecordedEvents) + " events in one import; split the file");
    events.push_back(std::move(*e));
  }
  if (bad) {
    std::string msg = std::to_string(bad) + " bad line(s), nothing imported";
    for (const auto& p : problems) msg += "; " + p;
    return err(msg);
  }
  if (events.empty()) return err("no events in the input");

  std::lock_guard lock(mu_);
  auto existing = store_.find_device(*device_id);
  if (!existing) return err(existing.error());
  std::uint64_t next_seq = 1;
  if (*existing) {
    next_seq = (*existing)->highest_seq + 1;
  } else {
    DeviceRecord d;
    d.device_id = *device_id;
    d.hostname = std::string(source);
    d.os = "recorded";
    d.agent_version = "import";
    d.enrolled_ns = now_ns;
    if (auto s = store_.register_device(d); !s) return err("registering " + *device_id + ": " + s.error());
  }

  // Every batch in one store transaction: a failure leaves nothing behind.
  std::vector<std::shared_ptr<v1::EventBatch>> batches;
  std::vector<std::string> payloads;
  RecordedImportReport report;
  report.device_id = *device_id;
  report.first_seq = next_seq;
  for (std::size_t from = 0; from < events.size(); from += kRecordedEventsPerBatch) {
    auto batch = std::make_shared<v1::EventBatch>();
    batch->set_schema_version(kSchemaVersion);
    batch->set_device_id(*device_id);
    batch->set_first_seq(next_seq);
    const std::size_t to = std::min(events.size(), from + kRecordedEventsPerBatch);
    for (std::size_t i = from; i < to; ++i) {
      v1::Event& e = *batch->add_events();
      e = std::move(events[i]);
      e.set_seq(next_seq++);
    }
    batch->set_last_seq(next_seq - 1);
    payloads.push_back(encode_batch(*batch));
    batches.push_back(std::move(batch));
  }
  std::vector<IncomingBatch> incoming;
  for (std::size_t i = 0; i < batches.size(); ++i) incoming.push_back({*device_id, batches[i].get(), payloads[i]});
  auto stored = store_.append_batches(incoming, now_ns);
  if (!stored) return err("storing the import: " + stored.error());
  for (std::size_t i = 0; i < stored->size(); ++i)
    if ((*stored)[i].outcome != AppendOutcome::Stored)
      return err("the store refused seqs " + std::to_string(batches[i]->first_seq()) + "-" +
                 std::to_string(batches[i]->last_seq()) + ": " + (*stored)[i].reason +
                 (stored->size() > 1 ? " (the import's other batches were stored)" : ""));
  for (auto& b : batches) {
    report.events += static_cast<std::size_t>(b->events_size());
    ++report.batches;
    if (on_commit_) on_commit_(*device_id, std::move(b));
  }
  report.last_seq = next_seq - 1;
  return report;
}

}  // namespace vigil::collector
