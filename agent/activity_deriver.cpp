#include "agent/activity_deriver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "agent/event_builder.h"
#include "shared/content_type.h"
#include "shared/file_inspect.h"

namespace vigil::agent {

namespace {

constexpr std::size_t kReadsPerProcess = 16;
constexpr std::size_t kProcessesRemembered = 1024;
constexpr std::size_t kMaxHeld = 4096;  // writes waiting for the read that names their source
constexpr std::size_t kSamplePaths = 10;

bool under(const std::string& path, const std::string& dir) {
  if (dir.empty()) return false;
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

// '*' any run of bytes ('/' included), '?' one byte; everything else literal. A pattern without
// wildcards also matches everything below it as a directory.
bool glob_match(std::string_view pat, std::string_view s) {
  std::size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == s[i])) { ++p; ++i; }
    else if (p < pat.size() && pat[p] == '*') { star = p++; mark = i; }
    else if (star != std::string_view::npos) { p = star + 1; i = ++mark; }
    else return false;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool matches_priority(const std::vector<std::string>& globs, const std::string& path) {
  for (const auto& g : globs) {
    if (g.find_first_of("*?") == std::string::npos ? (path == g || under(path, g)) : glob_match(g, path)) return true;
  }
  return false;
}

std::string base_name(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// Programs that copy bytes rather than make archives; by executable name, or by comm for
// multi-call binaries (busybox).
bool is_copying_program(const ProcessInfo& p) {
  static constexpr std::string_view kCopiers[] = {"cp", "mv", "rsync", "install", "dd", "cat", "scp", "sftp-server", "rclone"};
  const std::string exe = base_name(p.exe);
  for (std::string_view c : kCopiers)
    if (exe == c || p.comm == c) return true;
  return false;
}

std::string dir_of(const std::string& p) {
  auto s = p.rfind('/');
  if (s == std::string::npos) return "";
  return s == 0 ? "/" : p.substr(0, s);
}

// Longest common directory of a directory and a path's directory.
std::string common_dir(const std::string& dir, const std::string& path) {
  std::string other = dir_of(path);
  if (dir == other) return dir;
  std::size_t n = 0, last_slash = 0;
  while (n < dir.size() && n < other.size() && dir[n] == other[n]) {
    if (dir[n] == '/') last_slash = n;
    ++n;
  }
  // Whole components only: "/media/a" and "/media/ab" share "/media".
  const bool whole = (n == dir.size() && (n == other.size() || other[n] == '/')) ||
                     (n == other.size() && (n == dir.size() || dir[n] == '/'));
  if (whole) return dir.substr(0, n);
  return last_slash == 0 ? "/" : dir.substr(0, last_slash);
}

void fill_volume(v1::VolumeRef* r, const VolumeActivity& v) {
  r->set_device(escape_non_utf8(v.device));
  r->set_mount_point(escape_non_utf8(v.mount_point));
  r->set_fstype(escape_non_utf8(v.fstype));
  r->set_label(escape_non_utf8(v.label));
  r->set_uuid(escape_non_utf8(v.uuid));
  r->set_removable(v.removable);
  r->set_network_share(v.network_share);
}

int rank(std::string_view confidence) { return confidence == "high" ? 2 : confidence == "medium" ? 1 : 0; }

}  // namespace

struct ActivityDeriver::Impl {
  struct ReadRec {
    std::string path;
    std::uint64_t size = 0;
    std::int64_t time_ns = 0;
    bool used = false;  // already named as the source of a copy
  };
  struct ProcReads {
    std::deque<ReadRec> reads;
    std::list<std::uint32_t>::iterator lru;
  };
  struct Held {  // a write waiting for the read that names its source
    FileActivity a;
    std::optional<VolumeActivity> volume;
    ContentType content = ContentType::Unknown;
    std::int64_t deadline_ns = 0;
  };
  struct Derived {  // one file's derived events waiting for its classification
    std::vector<v1::Event> singles;
    std::vector<std::uint64_t> bursts;
  };
  struct FindingSum {
    std::uint64_t count = 0;
    int confidence = 0;
  };
  struct Burst {
    std::string type;
    std::tuple<std::string, std::uint32_t, std::string> key;
    ProcessInfo process;
    std::optional<VolumeActivity> volume;
    std::uint32_t singles = 0;
    std::uint64_t files = 0, bytes = 0, with_findings = 0;
    std::string common;
    std::vector<std::string> samples;
    std::int64_t first_ns = 0, last_ns = 0, last_activity_ns = 0;
    std::map<std::string, std::uint64_t> content_types;
    std::map<std::string, FindingSum> findings;
    std::uint32_t pending = 0;  // summarised files whose classification has not come back
    bool closed = false;
  };
  struct Job {
    std::uint64_t id = 0;
    std::string path;
    std::shared_ptr<const Classifier> classifier;
    ScanLimits limits;
    std::function<std::vector<std::string>(const std::string&)> read_labels;
    std::string source;  // the copy's source: a plain cp leaves the labels behind on it
  };
  struct Done {
    std::uint64_t id;
    Result<FileInspection> result;
    std::vector<std::string> labels;
  };

  DerivationOptions opt;
  std::shared_ptr<const Classifier> classifier;
  bool enabled = true;
  bool reads_tracked = true;
  std::vector<VolumeActivity> volumes;
  std::unordered_map<std::uint32_t, ProcReads> reads;
  std::list<std::uint32_t> lru;  // most recently reading process first
  std::deque<Held> held;
  std::unordered_map<std::uint64_t, Derived> waiting;
  std::uint64_t next_job = 1;
  std::map<std::uint64_t, Burst> bursts;  // by id: emitted in the order they were opened
  std::map<std::tuple<std::string, std::uint32_t, std::string>, std::uint64_t> open_bursts;
  std::uint64_t next_burst = 1;
  DerivationStats stats;

  std::mutex mu;
  std::condition_variable work_cv, idle_cv;
  std::deque<Job> jobs;
  std::deque<Done> done;
  std::size_t running = 0;
  bool stopping = false;
  std::thread worker;

  Impl(DerivationOptions o, std::shared_ptr<const Classifier> c) : opt(std::move(o)), classifier(std::move(c)) {
    worker = std::thread([this] { run_worker(); });
  }

  ~Impl() {
    {
      std::lock_guard lk(mu);
      stopping = true;
      jobs.clear();
    }
    work_cv.notify_all();
    worker.join();
  }

  // --- worker ----------------------------------------------------------------------------------

  void run_worker() {
    std::unique_lock lk(mu);
    for (;;) {
      work_cv.wait(lk, [&] { return stopping || !jobs.empty(); });
      if (stopping) return;
      Job j = std::move(jobs.front());
      jobs.pop_front();
      ++running;
      lk.unlock();
      auto r = inspect_file(j.path, j.classifier.get(), j.limits);
      std::vector<std::string> labels;
      if (r && j.read_labels) labels = labels_of(j);
      lk.lock();
      done.push_back(Done{j.id, std::move(r), std::move(labels)});
      --running;
      idle_cv.notify_all();
    }
  }

  bool wait_idle(std::int64_t timeout_ms) {
    std::unique_lock lk(mu);
    return idle_cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return jobs.empty() && running == 0; });
  }

  // --- volumes ---------------------------------------------------------------------------------

  void on_volume(const VolumeActivity& v) {
    std::erase_if(volumes, [&](const VolumeActivity& x) { return x.mount_point == v.mount_point; });
    if (v.action == VolumeAction::Mounted) volumes.push_back(v);
  }

  // The volume the path is on when that volume is removable or a network share (the innermost
  // mount wins: a fixed disk mounted inside a stick's tree is not the stick).
  const VolumeActivity* exfil_volume(const std::string& path) const {
    const VolumeActivity* best = nullptr;
    for (const auto& v : volumes)
      if ((path == v.mount_point || under(path, v.mount_point)) && (!best || v.mount_point.size() > best->mount_point.size())) best = &v;
    return best && (best->removable || best->network_share) ? best : nullptr;
  }

  bool exfil_volumes_mounted() const {
    return std::any_of(volumes.begin(), volumes.end(), [](const VolumeActivity& v) { return v.removable || v.network_share; });
  }

  // --- reads -----------------------------------------------------------------------------------

  void remember_read(const FileActivity& a) {
    auto it = reads.find(a.process.pid);
    if (it == reads.end()) {
      if (reads.size() >= kProcessesRemembered) {
        reads.erase(lru.back());
        lru.pop_back();
      }
      lru.push_front(a.process.pid);
      it = reads.emplace(a.process.pid, ProcReads{{}, lru.begin()}).first;
    } else {
      lru.splice(lru.begin(), lru, it->second.lru);
    }
    auto& q = it->second.reads;
    q.push_back(ReadRec{a.path, a.size, a.time_ns, false});
    if (q.size() > kReadsPerProcess) q.pop_front();
  }

  // A read before `before_ns` by pid, outside the volume: the newest unused one of `size`, else
  // (any_size) the newest unused one. Marks it used.
  std::optional<ReadRec> source_before(std::uint32_t pid, std::uint64_t size, const std::string& volume_mp,
                                       std::int64_t before_ns, bool any_size) {
    auto it = reads.find(pid);
    if (it == reads.end()) return std::nullopt;
    ReadRec* same = nullptr;
    ReadRec* newest = nullptr;
    for (auto r = it->second.reads.rbegin(); r != it->second.reads.rend(); ++r) {
      if (r->used || r->time_ns > before_ns || before_ns - r->time_ns > opt.source_window_ns) continue;
      if (!volume_mp.empty() && (r->path == volume_mp || under(r->path, volume_mp))) continue;
      if (!newest) newest = &*r;
      if (r->size == size) {
        same = &*r;
        break;
      }
    }
    ReadRec* pick = same ? same : any_size ? newest : nullptr;
    if (!pick) return std::nullopt;
    pick->used = true;
    return *pick;
  }

  // --- the activity ----------------------------------------------------------------------------

  void on_file(const FileActivity& a, std::vector<v1::Event>& out) {
    collect(out);
    if (a.action == FileAction::Read) {
      if (!a.is_dir) on_read(a, out);
    } else {
      out.push_back(make_file_event(a));
      if (!a.is_dir && a.action == FileAction::Write) on_write(a, out);
      if (!a.is_dir && a.action == FileAction::Rename) on_rename(a, out);
    }
    expire_held(a.time_ns, out);
    emit_ready(out);
  }

  void on_read(const FileActivity& a, std::vector<v1::Event>& out) {
    // cp closes the copy before the original: a held write of this process, same size, is a copy
    // of this file.
    for (auto h = held.begin(); h != held.end(); ++h) {
      if (h->a.process.pid != a.process.pid || h->a.size != a.size || h->a.path == a.path) continue;
      if (h->volume && (a.path == h->volume->mount_point || under(a.path, h->volume->mount_point))) continue;
      if (a.time_ns - h->a.time_ns > opt.source_hold_ns) continue;
      Held taken = std::move(*h);
      held.erase(h);
      remember_read(a);
      reads[a.process.pid].reads.back().used = true;
      derive(taken.a, taken.volume ? &*taken.volume : nullptr, taken.content, a.path, /*copy=*/true, out);
      return;
    }
    remember_read(a);
  }

  void on_write(const FileActivity& a, std::vector<v1::Event>& out) {
    const VolumeActivity* vol = exfil_volume(a.path);
    auto sniffed = a.content ? Result<ContentType>(*a.content) : sniff_file(a.path);
    const ContentType content = sniffed ? *sniffed : ContentType::Unknown;
    if (!vol && !is_archive(content)) {
      derive(a, nullptr, content, "", false, out);  // a mismatch at most
      return;
    }
    if (!vol && !reads_tracked) {
      // No read will come to say where it came from: judge the local archive by its writer.
      derive(a, nullptr, content, "", /*copy=*/is_copying_program(a.process), out);
      return;
    }
    // Copy or creation, and from where: a same-size read just before says it at once.
    if (auto src = source_before(a.process.pid, a.size, vol ? vol->mount_point : "", a.time_ns, false)) {
      derive(a, vol, content, src->path, true, out);
      return;
    }
    held.push_back(Held{a, vol ? std::optional<VolumeActivity>(*vol) : std::nullopt, content, a.time_ns + opt.source_hold_ns});
    if (held.size() > kMaxHeld) resolve_front(out);
  }

  void on_rename(const FileActivity& a, std::vector<v1::Event>& out) {
    // Written under a temporary name, renamed into place before its events went out.
    for (auto& h : held)
      if (!a.old_path.empty() && h.a.path == a.old_path) {
        h.a.path = a.path;
        return;
      }
    const VolumeActivity* vol = exfil_volume(a.path);
    const bool onto_volume = vol && (a.old_path.empty() || !(a.old_path == vol->mount_point || under(a.old_path, vol->mount_point)));
    // A rename within one place only matters when it changes what the name claims.
    if (!onto_volume && extension_type(a.path) == extension_type(a.old_path)) return;
    auto sniffed = sniff_file(a.path);
    derive(a, onto_volume ? vol : nullptr, sniffed ? *sniffed : ContentType::Unknown, onto_volume ? a.old_path : "",
           /*copy=*/true, out);
  }

  void resolve_front(std::vector<v1::Event>& out) {
    Held h = std::move(held.front());
    held.pop_front();
    auto src = source_before(h.a.process.pid, h.a.size, h.volume ? h.volume->mount_point : "", h.a.time_ns, true);
    derive(h.a, h.volume ? &*h.volume : nullptr, h.content, src ? src->path : "", src && src->size == h.a.size, out);
  }

  void expire_held(std::int64_t now_ns, std::vector<v1::Event>& out) {
    while (!held.empty() && held.front().deadline_ns <= now_ns) resolve_front(out);
  }

  // --- derived events --------------------------------------------------------------------------

  void derive(const FileActivity& a, const VolumeActivity* vol, ContentType content, const std::string& source,
              bool copy, std::vector<v1::Event>& out) {
    const ContentType claimed = extension_type(a.path);
    std::vector<const char*> types;
    if (vol) types.push_back(vol->removable ? "exfil.removable" : "exfil.network_share");
    if (is_archive(content) && !copy) types.push_back("file.archive_created");
    if (is_mismatch(content, claimed)) types.push_back("file.extension_mismatch");
    if (types.empty()) return;
    Derived d;
    const std::string vol_mp = vol ? vol->mount_point : "";
    for (const char* type : types) {
      Burst& b = burst_for(type, a, vol);
      if (b.singles < opt.single_events_per_burst) {
        ++b.singles;
        v1::Event e = make_file_event(a);
        e.set_type(type);
        auto* f = e.mutable_file();
        f->set_content_type(std::string(to_string(content)));
        if (claimed != ContentType::Unknown) f->set_extension_type(std::string(to_string(claimed)));
        if (!source.empty()) f->set_source_path(escape_non_utf8(source));
        if (vol && type[0] == 'e') fill_volume(f->mutable_volume(), *vol);
        d.singles.push_back(std::move(e));
        ++stats.derived_events;
      } else {
        const std::uint64_t id = open_bursts.at(b.key);
        summarise(b, a, content);
        d.bursts.push_back(id);
        ++stats.summarised_files;
        if (b.files >= opt.max_bulk_files) {
          // A very long burst: this summary goes out once its files are classified; counting goes
          // on in a new one (the burst's single events are already spent).
          b.closed = true;
          const auto key = b.key;
          open_bursts.erase(key);
          open_burst(key, b.type, b.process, b.volume, b.last_activity_ns, opt.single_events_per_burst);
        }
      }
    }
    classify(std::move(d), a.path, source, out);
  }

  Burst& burst_for(const char* type, const FileActivity& a, const VolumeActivity* vol) {
    auto key = std::make_tuple(std::string(type), a.process.pid, vol ? vol->mount_point : std::string());
    if (auto it = open_bursts.find(key); it != open_bursts.end()) {
      Burst& b = bursts.at(it->second);
      if (a.time_ns - b.last_activity_ns < opt.burst_quiet_ns) {
        b.last_activity_ns = std::max(b.last_activity_ns, a.time_ns);
        return b;
      }
      b.closed = true;
      open_bursts.erase(it);
    }
    return open_burst(key, type, a.process, vol ? std::optional<VolumeActivity>(*vol) : std::nullopt, a.time_ns, 0);
  }

  Burst& open_burst(const std::tuple<std::string, std::uint32_t, std::string>& key, const std::string& type,
                    const ProcessInfo& process, std::optional<VolumeActivity> vol, std::int64_t time_ns, std::uint32_t singles) {
    const std::uint64_t id = next_burst++;
    Burst& b = bursts[id];
    b.type = type;
    b.key = key;
    b.process = process;
    b.volume = std::move(vol);
    b.singles = singles;
    b.last_activity_ns = time_ns;
    open_bursts[key] = id;
    return b;
  }

  void summarise(Burst& b, const FileActivity& a, ContentType content) {
    if (b.files == 0) {
      b.first_ns = a.time_ns;
      b.common = dir_of(a.path);
    } else {
      b.common = common_dir(b.common, a.path);
    }
    ++b.files;
    b.bytes += a.size;
    b.last_ns = std::max(b.last_ns, a.time_ns);
    if (b.samples.size() < kSamplePaths) b.samples.push_back(a.path);
    ++b.content_types[std::string(to_string(content))];
    ++b.pending;
  }

  // The written file's labels, then its source's (a copy made without --preserve=xattr keeps
  // none of its own), within the reader's bound on how many.
  static std::vector<std::string> labels_of(const Job& j) {
    constexpr std::size_t kMaxLabels = 16;
    auto labels = j.read_labels(j.path);
    if (!j.source.empty())
      for (auto& l : j.read_labels(j.source))
        if (labels.size() < kMaxLabels && std::find(labels.begin(), labels.end(), l) == labels.end())
          labels.push_back(std::move(l));
    return labels;
  }

  void classify(Derived d, const std::string& path, const std::string& source, std::vector<v1::Event>& out) {
    const bool want = classifier && opt.classify && (enabled || matches_priority(opt.priority_paths, path));
    if (want) {
      std::lock_guard lk(mu);
      if (jobs.size() < opt.max_queued_classifications) {
        const std::uint64_t id = next_job++;
        waiting.emplace(id, std::move(d));
        jobs.push_back(Job{id, path, classifier, opt.scan_limits, opt.read_labels, source});
        work_cv.notify_one();
        return;
      }
    }
    v1::Classification c;
    const bool off = !classifier || !opt.classify;
    c.set_status(off ? "disabled" : "skipped_load");
    if (!off) ++stats.classification_skipped;
    if (want) c.set_detail("classification queue full");
    finish(d, c, "", {}, out);
  }

  void finish(Derived& d, const v1::Classification& c, const std::string& sha256,
              const std::vector<std::string>& labels, std::vector<v1::Event>& out) {
    for (auto& e : d.singles) {
      *e.mutable_file()->mutable_classification() = c;
      if (!sha256.empty()) e.mutable_file()->set_sha256(sha256);
      for (const auto& l : labels) e.mutable_file()->add_labels(escape_non_utf8(l));
      out.push_back(std::move(e));
    }
    for (std::uint64_t id : d.bursts) {
      auto it = bursts.find(id);
      if (it == bursts.end()) continue;
      Burst& b = it->second;
      if (b.pending) --b.pending;
      if (c.findings_size()) ++b.with_findings;
      for (const auto& f : c.findings()) {
        auto& s = b.findings[f.type()];
        s.count += f.count();
        s.confidence = std::max(s.confidence, rank(f.confidence()));
      }
    }
  }

  // Takes the worker's results and attaches them.
  void collect(std::vector<v1::Event>& out) {
    std::deque<Done> ready;
    {
      std::lock_guard lk(mu);
      ready.swap(done);
    }
    for (auto& r : ready) {
      auto it = waiting.find(r.id);
      if (it == waiting.end()) continue;  // given up at shutdown
      v1::Classification c;
      std::string sha;
      if (!r.result) {
        c.set_status("unreadable");
        c.set_detail(escape_non_utf8(r.result.error()));
      } else {
        const ScanResult& s = r.result->scan;
        c.set_status(s.timed_out ? "timed_out" : s.truncated ? "truncated" : "scanned");
        c.set_bytes_scanned(s.bytes_scanned);
        for (const auto& f : s.findings) {
          auto* pf = c.add_findings();
          pf->set_type(f.type_id);
          pf->set_count(f.count);
          pf->set_confidence(std::string(vigil::to_string(f.confidence)));
        }
        sha = r.result->sha256;
        ++stats.classified_files;
      }
      finish(it->second, c, sha, r.labels, out);
      waiting.erase(it);
    }
  }

  void emit_ready(std::vector<v1::Event>& out) {
    for (auto it = bursts.begin(); it != bursts.end();) {
      Burst& b = it->second;
      if (!b.closed || b.pending) {
        ++it;
        continue;
      }
      if (b.files) out.push_back(bulk_event(b));
      it = bursts.erase(it);
    }
  }

  v1::Event bulk_event(const Burst& b) const {
    FileActivity proto;
    proto.process = b.process;
    proto.time_ns = b.last_ns;
    v1::Event e = make_file_event(proto);  // the process and user, as on the files' events
    e.clear_file();
    e.set_type("file.bulk");
    auto* k = e.mutable_bulk();
    k->set_operation(b.type);
    k->set_files(b.files);
    k->set_bytes(b.bytes);
    k->set_common_dir(escape_non_utf8(b.common));
    for (const auto& s : b.samples) k->add_sample_paths(escape_non_utf8(s));
    k->set_first_ns(b.first_ns);
    k->set_last_ns(b.last_ns);
    if (b.volume) fill_volume(k->mutable_volume(), *b.volume);
    for (const auto& [type, sum] : b.findings) {
      auto* f = k->add_findings();
      f->set_type(type);
      f->set_count(static_cast<std::uint32_t>(std::min<std::uint64_t>(sum.count, UINT32_MAX)));
      f->set_confidence(sum.confidence == 2 ? "high" : sum.confidence == 1 ? "medium" : "low");
    }
    k->set_files_with_findings(b.with_findings);
    for (const auto& [type, n] : b.content_types) (*k->mutable_content_types())[type] = n;
    return e;
  }

  void tick(std::int64_t now_ns, std::vector<v1::Event>& out) {
    collect(out);
    expire_held(now_ns, out);
    for (auto it = open_bursts.begin(); it != open_bursts.end();) {
      Burst& b = bursts.at(it->second);
      if (now_ns - b.last_activity_ns >= opt.burst_quiet_ns) {
        b.closed = true;
        it = open_bursts.erase(it);
      } else {
        ++it;
      }
    }
    emit_ready(out);
  }

  void flush_all(std::vector<v1::Event>& out) {
    while (!held.empty()) resolve_front(out);
    wait_idle(opt.shutdown_wait_ms);
    collect(out);
    {
      std::lock_guard lk(mu);
      jobs.clear();  // not started within the wait: go out unclassified
    }
    for (auto& [id, d] : waiting) {
      v1::Classification c;
      c.set_status("skipped_load");
      c.set_detail("agent stopping");
      ++stats.classification_skipped;
      finish(d, c, "", {}, out);
    }
    waiting.clear();
    for (auto& [id, b] : bursts) {
      b.closed = true;
      b.pending = 0;
    }
    open_bursts.clear();
    emit_ready(out);
  }
};

ActivityDeriver::ActivityDeriver(DerivationOptions options, std::shared_ptr<const Classifier> classifier)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(classifier))) {}
ActivityDeriver::~ActivityDeriver() = default;

void ActivityDeriver::on_volume(const VolumeActivity& volume) { impl_->on_volume(volume); }
bool ActivityDeriver::exfil_volumes_mounted() const { return impl_->exfil_volumes_mounted(); }
void ActivityDeriver::set_reads_tracked(bool tracked) { impl_->reads_tracked = tracked; }
void ActivityDeriver::on_file(const FileActivity& activity, std::vector<v1::Event>& out) { impl_->on_file(activity, out); }
void ActivityDeriver::tick(std::int64_t now_ns, std::vector<v1::Event>& out) { impl_->tick(now_ns, out); }
void ActivityDeriver::flush_all(std::vector<v1::Event>& out) { impl_->flush_all(out); }
void ActivityDeriver::set_classification_enabled(bool enabled) { impl_->enabled = enabled; }
bool ActivityDeriver::classification_enabled() const { return impl_->enabled; }
void ActivityDeriver::update(DerivationOptions options, std::shared_ptr<const Classifier> classifier) {
  impl_->opt = std::move(options);
  impl_->classifier = std::move(classifier);
}
DerivationStats ActivityDeriver::take_stats() { return std::exchange(impl_->stats, DerivationStats{}); }
bool ActivityDeriver::wait_idle(std::int64_t timeout_ms) { return impl_->wait_idle(timeout_ms); }

}  // namespace vigil::agent
