#include "collector/activity/activity_exports.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "shared/crypto.h"
#include "shared/file_util.h"
#include "shared/time_util.h"

namespace vigil::collector {

namespace json = boost::json;

namespace {

constexpr std::size_t kExportPage = 2000;
constexpr std::size_t kFlushBytes = 1 << 20;

// Owns a file descriptor: every path out of the worker closes it.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return err(std::string("write: ") + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

json::object status_json(const ExportStatus& s) {
  json::object o;
  o["name"] = s.name;
  o["owner"] = s.owner;
  o["format"] = s.format;
  o["state"] = s.state;
  o["error"] = s.error;
  o["filters"] = s.filters;
  o["rows_done"] = s.rows_done;
  o["rows_total"] = s.rows_total;
  o["bytes"] = s.bytes;
  o["created_ns"] = s.created_ns;
  o["finished_ns"] = s.finished_ns;
  return o;
}

std::optional<ExportStatus> status_from_json(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  auto str = [&](const char* k) {
    auto* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  auto num = [&](const char* k) -> std::int64_t {
    auto* x = o.if_contains(k);
    return x && x->is_int64() ? x->as_int64() : x && x->is_uint64() ? static_cast<std::int64_t>(x->as_uint64()) : 0;
  };
  ExportStatus s;
  s.name = str("name");
  s.owner = str("owner");
  s.format = str("format");
  s.state = str("state");
  s.error = str("error");
  s.filters = str("filters");
  s.rows_done = static_cast<std::uint64_t>(num("rows_done"));
  s.rows_total = static_cast<std::uint64_t>(num("rows_total"));
  s.bytes = static_cast<std::uint64_t>(num("bytes"));
  s.created_ns = num("created_ns");
  s.finished_ns = num("finished_ns");
  return s;
}

}  // namespace

Result<std::unique_ptr<ActivityExports>> ActivityExports::open(EventStore& store, std::string dir) {
  if (auto st = ensure_dir(dir, 0700); !st) return err("exports directory " + dir + ": " + st.error());
  return std::make_unique<ActivityExports>(store, std::move(dir));
}

ActivityExports::~ActivityExports() {
  stopping_ = true;
  // Join outside the lock: a worker takes it to report progress. Jobs are never erased, so the
  // pointers stay valid.
  std::vector<std::thread*> workers;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, job] : jobs_) workers.push_back(&job->worker);
  }
  for (auto* w : workers)
    if (w->joinable()) w->join();
}

bool ActivityExports::valid_name(std::string_view name) {
  constexpr std::string_view kPrefix = "activity-";
  if (!name.starts_with(kPrefix)) return false;
  name.remove_prefix(kPrefix.size());
  std::string_view ext;
  if (name.size() == 32 + 4 && name.ends_with(".csv")) ext = ".csv";
  else if (name.size() == 32 + 6 && name.ends_with(".jsonl")) ext = ".jsonl";
  else return false;
  for (char c : name.substr(0, 32))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<ExportStatus> ActivityExports::start(ActivityQuery query, std::string format, std::string owner,
                                            std::string filters, ShowUser shown, HideNames hide) {
  if (format != "csv" && format != "jsonl") return err("'format' must be csv or jsonl; got '" + format + "'");
  {
    std::lock_guard lock(mu_);
    std::size_t running = 0;
    for (const auto& [n, j] : jobs_) running += j->status.state == "running";
    if (running >= kMaxRunningExports)
      return err(std::to_string(running) + " exports are running; wait for one to finish");
  }
  // Count first: an export too big to be useful is refused before it fills the disk.
  ActivityQuery count = query;
  count.limit = 1;
  count.after.reset();
  count.count_total = true;
  auto counted = store_.query_activity(count);
  if (!counted) return err("storage: " + counted.error());
  if (*counted->total > kMaxExportRows)
    return err("the export would hold " + std::to_string(*counted->total) + " rows, more than " +
               std::to_string(kMaxExportRows) + "; narrow the filters (a shorter time range, one user or type)");

  auto job = std::make_unique<Job>();
  job->status.name = "activity-" + crypto::sha256_hex(crypto::random_bytes(32)).substr(0, 32) + "." + format;
  job->status.owner = std::move(owner);
  job->status.format = format;
  job->status.state = "running";
  job->status.filters = std::move(filters);
  job->status.rows_total = *counted->total;
  job->status.created_ns = now_ns();
  ExportStatus snapshot = job->status;
  std::lock_guard lock(mu_);
  Job* raw = job.get();
  jobs_.emplace(snapshot.name, std::move(job));
  query.count_total = false;
  query.limit = kExportPage;
  raw->worker = std::thread([this, raw, query = std::move(query), shown = std::move(shown), hide = std::move(hide)]() mutable {
    run(raw, std::move(query), std::move(shown), std::move(hide));
  });
  return snapshot;
}

void ActivityExports::update(Job* job, const std::function<void(ExportStatus&)>& change) {
  std::lock_guard lock(mu_);
  change(job->status);
}

void ActivityExports::run(Job* job, ActivityQuery query, ShowUser shown, HideNames hide) {
  std::string name, format;
  {
    std::lock_guard lock(mu_);
    name = job->status.name;
    format = job->status.format;
  }
  const std::string final_path = path_of(name), part = final_path + ".part";
  auto fail = [&](const std::string& why) {
    ::unlink(part.c_str());
    update(job, [&](ExportStatus& s) {
      s.state = "failed";
      s.error = why;
      s.finished_ns = now_ns();
    });
    std::lock_guard lock(mu_);
    (void)write_file_atomic(final_path + ".json", json::serialize(status_json(job->status)), 0600);
  };
  Fd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return fail("creating " + part + ": " + std::strerror(errno));
  std::string buf = format == "csv" ? activity_csv_header() : std::string();
  std::uint64_t rows = 0, bytes = 0;
  for (;;) {
    if (stopping_) return fail("the collector stopped before the export finished");
    auto page = store_.query_activity(query);
    if (!page) return fail("storage: " + page.error());
    for (const auto& e : page->events) {
      auto o = activity_event_json(e, shown);
      if (hide) hide(o, e.event.user());
      if (format == "csv") {
        buf += activity_csv_row(e, o);
      } else {
        buf += json::serialize(o);
        buf += '\n';
      }
    }
    rows += page->events.size();
    if (buf.size() >= kFlushBytes || !page->next) {
      if (auto st = write_all(fd.get(), buf); !st) return fail(st.error());
      bytes += buf.size();
      buf.clear();
    }
    update(job, [&](ExportStatus& s) {
      s.rows_done = rows;
      s.bytes = bytes;
      // Ingest goes on while the export runs: newer events inside the range raise the total.
      s.rows_total = std::max(s.rows_total, rows);
    });
    if (!page->next) break;
    query.after = page->next;
  }
  if (::fsync(fd.get()) != 0) return fail(std::string("fsync: ") + std::strerror(errno));
  if (::rename(part.c_str(), final_path.c_str()) != 0) return fail(std::string("rename: ") + std::strerror(errno));
  update(job, [&](ExportStatus& s) {
    s.state = "done";
    s.rows_total = rows;
    s.finished_ns = now_ns();
  });
  std::lock_guard lock(mu_);
  (void)write_file_atomic(final_path + ".json", json::serialize(status_json(job->status)), 0600);
}

std::optional<ExportStatus> ActivityExports::status(const std::string& name) const {
  if (!valid_name(name)) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    if (auto it = jobs_.find(name); it != jobs_.end()) return it->second->status;
  }
  // Finished before a restart: its status record.
  auto text = read_file(path_of(name) + ".json");
  if (!text) return std::nullopt;
  auto s = status_from_json(*text);
  if (!s || s->name != name) return std::nullopt;
  return s;
}

}  // namespace vigil::collector
