// Restart reconciliation against real files in a temporary directory and a real spool.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "agent/reconciler.h"
#include "agent/spool.h"
#include "shared/batch_codec.h"
#include "shared/limits.h"

using namespace vigil;
using namespace vigil::agent;
namespace fs = std::filesystem;

namespace {

struct Sandbox {
  fs::path dir;   // temp dir: holds the spool and the watched root
  fs::path root;  // canonical watched root
  Sandbox() {
    std::string tmpl = (fs::temp_directory_path() / "vigil-recon-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir = fs::canonical(tmpl);
    root = dir / "watched";
    fs::create_directories(root);
  }
  ~Sandbox() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string spool_path() const { return (dir / "spool.db").string(); }
  std::string at(const std::string& rel) const { return (root / rel).string(); }
  void write(const std::string& rel, const std::string& content) const {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel, std::ios::binary | std::ios::trunc) << content;
  }
};

std::unique_ptr<Spool> open_spool(const Sandbox& sb) {
  auto s = Spool::open(sb.spool_path(), "dev-r", {});
  INFO((s.ok() ? std::string() : s.error()));
  REQUIRE(s.ok());
  return std::move(s).value();
}

ReconcileResult reconcile(const Spool& spool, const Sandbox& sb, const std::vector<std::string>& excludes = {},
                          std::size_t max_entries = 100000, std::int64_t now = 1'800'000'000'000'000'000) {
  auto r = reconcile_root(spool, sb.root.string(), excludes, now, max_entries);
  INFO((r.ok() ? std::string() : r.error()));
  REQUIRE(r.ok());
  return std::move(r).value();
}

// path -> type of the reconciled events.
std::map<std::string, std::string> by_path(const ReconcileResult& r) {
  std::map<std::string, std::string> m;
  for (const auto& e : r.events) m[e.file().path()] = e.type();
  return m;
}

void baseline(Spool& spool, const Sandbox& sb, const std::vector<std::string>& excludes = {}) {
  auto r = reconcile(spool, sb, excludes);
  REQUIRE(r.baseline);
  CHECK(r.events.empty());
  auto c = commit_reconcile(spool, r);
  REQUIRE(c.ok());
  CHECK(*c == 0);
}

std::int64_t mtime_ns(const std::string& p) {
  auto sys = std::chrono::file_clock::to_sys(fs::last_write_time(p));
  return std::chrono::duration_cast<std::chrono::nanoseconds>(sys.time_since_epoch()).count();
}

v1::Event live(const std::string& type, const std::string& path, std::uint64_t size = 0,
               std::int64_t mtime = 0, const std::string& old_path = "", bool is_dir = false) {
  v1::Event e;
  e.set_type(type);
  e.set_time_ns(1);
  auto* f = e.mutable_file();
  f->set_path(path);
  f->set_old_path(old_path);
  f->set_size(size);
  f->set_mtime_ns(mtime);
  f->set_is_dir(is_dir);
  return e;
}

}  // namespace

TEST_CASE("a root seen for the first time is baselined without events", "[reconcile]") {
  Sandbox sb;
  sb.write("a.txt", "hello");
  sb.write("sub/b.txt", "world!");
  sb.write("sub/deeper/c.bin", std::string(1000, 'x'));
  fs::create_directories(sb.root / "emptydir");
  auto spool = open_spool(sb);

  auto r = reconcile(*spool, sb);
  CHECK(r.baseline);
  CHECK(r.events.empty());
  CHECK(r.files_scanned == 3);
  CHECK_FALSE(r.truncated);
  CHECK(r.root == sb.root.string());
  REQUIRE(r.checkpoint_updates.size() == 3);  // regular files only, not directories
  std::map<std::string, CheckpointEntry> cp;
  for (const auto& c : r.checkpoint_updates) cp[c.path] = c;
  REQUIRE(cp.count(sb.at("sub/deeper/c.bin")));
  CHECK(cp[sb.at("sub/deeper/c.bin")].size == 1000);
  CHECK(cp[sb.at("a.txt")].mtime_ns == mtime_ns(sb.at("a.txt")));

  REQUIRE(commit_reconcile(*spool, r).ok());
  auto b = spool->root_baselined(sb.root.string());
  REQUIRE(b.ok());
  CHECK(*b);
  CHECK(spool->batch_count() == 0);  // a baseline is not an event
  auto stored = spool->checkpoint_under(sb.root.string());
  REQUIRE(stored.ok());
  CHECK(stored->size() == 3);

  // Nothing changed: nothing to report.
  auto again = reconcile(*spool, sb);
  CHECK_FALSE(again.baseline);
  CHECK(again.events.empty());
}

TEST_CASE("changes made while the agent was down come back as reconciled events", "[reconcile]") {
  Sandbox sb;
  sb.write("keep.txt", "unchanged");
  sb.write("grow.txt", "short");
  sb.write("touch.txt", "same size");
  sb.write("gone.txt", "bye");
  sb.write("dir/gone-too.txt", "bye");
  const std::string spool_path = sb.spool_path();
  {
    auto spool = open_spool(sb);
    baseline(*spool, sb);
  }
  // The agent is down: someone copies, edits and deletes files.
  sb.write("new.txt", "fresh file");
  sb.write("newdir/inside.txt", "nested");
  sb.write("grow.txt", "much longer than before");
  const auto touch = sb.at("touch.txt");
  fs::last_write_time(touch, fs::last_write_time(touch) - std::chrono::hours(3));
  fs::remove(sb.at("gone.txt"));
  fs::remove_all(sb.root / "dir");

  auto spool = open_spool(sb);
  const std::int64_t now = 1'900'000'000'000'000'000;
  auto r = reconcile(*spool, sb, {}, 100000, now);
  CHECK_FALSE(r.baseline);
  auto m = by_path(r);
  CHECK(m.size() == 6);
  CHECK(m[sb.at("new.txt")] == "file.create");
  CHECK(m[sb.at("newdir/inside.txt")] == "file.create");
  CHECK(m[sb.at("grow.txt")] == "file.write");
  CHECK(m[sb.at("touch.txt")] == "file.write");
  CHECK(m[sb.at("gone.txt")] == "file.delete");
  CHECK(m[sb.at("dir/gone-too.txt")] == "file.delete");
  CHECK(m.count(sb.at("keep.txt")) == 0);
  REQUIRE(r.checkpoint_updates.size() == r.events.size());
  for (std::size_t i = 0; i < r.events.size(); ++i) {
    const auto& e = r.events[i];
    const auto& f = e.file();
    CHECK(f.reconciled());
    CHECK(e.time_ns() == now);
    CHECK(e.user().empty());
    CHECK_FALSE(e.has_process());
    CHECK(e.login_uid() == 0xffffffffu);
    CHECK(r.checkpoint_updates[i].path == f.path());
    CHECK(r.checkpoint_updates[i].removed == (e.type() == "file.delete"));
    if (e.type() == "file.write" && f.path() == sb.at("grow.txt")) {
      CHECK(f.size() == 23);
      CHECK(f.mtime_ns() == mtime_ns(sb.at("grow.txt")));
    }
    if (e.type() == "file.delete" && f.path() == sb.at("gone.txt")) CHECK(f.size() == 3);  // last known
  }

  // Committed with its checkpoint updates in one transaction: the next start finds nothing new.
  auto c = commit_reconcile(*spool, r);
  REQUIRE(c.ok());
  CHECK(*c == 6);
  CHECK(spool->batch_count() == 1);
  auto p = spool->pending(0, 10);
  REQUIRE(p.ok());
  auto d = decode_batch(p->front().zstd_payload, {limits::kMaxDecompressedBytes, limits::kMaxBatchEvents});
  REQUIRE(d.ok());
  CHECK(d->events_size() == 6);
  CHECK(r.events.front().seq() == 1);  // handed back with their seqs
  auto again = reconcile(*spool, sb);
  CHECK(again.events.empty());
}

TEST_CASE("a large reconciliation is committed in several batches", "[reconcile]") {
  Sandbox sb;
  auto spool = open_spool(sb);
  baseline(*spool, sb);
  for (int i = 0; i < 25; ++i) sb.write("f" + std::to_string(i), "x");
  auto r = reconcile(*spool, sb);
  REQUIRE(r.events.size() == 25);
  auto c = commit_reconcile(*spool, r, 10);
  REQUIRE(c.ok());
  CHECK(*c == 25);
  CHECK(spool->batch_count() == 3);
  CHECK(spool->next_seq() == 26);
  CHECK(reconcile(*spool, sb).events.empty());
}

TEST_CASE("excluded prefixes are neither walked nor reported, on whole components", "[reconcile]") {
  Sandbox sb;
  auto spool = open_spool(sb);
  const std::vector<std::string> excludes = {sb.at("cache") + "/", sb.at("logs/app.log")};
  sb.write("cache/old.bin", "o");
  baseline(*spool, sb, excludes);
  auto stored = spool->checkpoint_under(sb.root.string());
  REQUIRE(stored.ok());
  CHECK(stored->empty());

  sb.write("cache/blob.bin", "x");
  sb.write("cache/deep/er.bin", "y");
  fs::remove(sb.at("cache/old.bin"));
  sb.write("cachefile.txt", "not excluded: different name");
  sb.write("logs/app.log", "excluded file");
  sb.write("logs/app.log.1", "not excluded");
  auto r = reconcile(*spool, sb, excludes);
  auto m = by_path(r);
  CHECK(m.size() == 2);
  CHECK(m.count(sb.at("cachefile.txt")) == 1);
  CHECK(m.count(sb.at("logs/app.log.1")) == 1);
}

TEST_CASE("symlinks are not followed and not checkpointed", "[reconcile]") {
  Sandbox sb;
  fs::create_directories(sb.dir / "outside");
  std::ofstream(sb.dir / "outside" / "secret.txt") << "s";
  auto spool = open_spool(sb);
  baseline(*spool, sb);
  fs::create_directory_symlink(sb.dir / "outside", sb.root / "link-to-outside");
  fs::create_symlink(sb.dir / "outside" / "secret.txt", sb.root / "file-link");
  auto r = reconcile(*spool, sb);
  CHECK(r.events.empty());
  CHECK(r.files_scanned == 0);
}

TEST_CASE("max_entries stops the walk and says so; deletions are still found", "[reconcile]") {
  Sandbox sb;
  for (int i = 0; i < 20; ++i) sb.write("f" + std::to_string(i) + ".txt", "x");
  auto spool = open_spool(sb);
  baseline(*spool, sb);
  fs::remove(sb.at("f3.txt"));
  sb.write("f7.txt", "changed content");
  auto r = reconcile(*spool, sb, {}, 5);
  CHECK(r.truncated);
  CHECK(r.entries_walked == 5);
  auto m = by_path(r);
  CHECK(m[sb.at("f3.txt")] == "file.delete");
  CHECK(m[sb.at("f7.txt")] == "file.write");
  CHECK(m.size() == 2);
}

TEST_CASE("a baselined root that is gone reports its files deleted; a new missing root is an error", "[reconcile]") {
  Sandbox sb;
  sb.write("a", "1");
  sb.write("b/c", "2");
  auto spool = open_spool(sb);
  baseline(*spool, sb);
  fs::remove_all(sb.root);
  auto r = reconcile(*spool, sb);
  auto m = by_path(r);
  CHECK(m.size() == 2);
  CHECK(m[sb.at("a")] == "file.delete");
  CHECK(m[sb.at("b/c")] == "file.delete");

  auto missing = reconcile_root(*spool, (sb.dir / "never-there").string(), {}, 1, 100);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("never-there") != std::string::npos);
  CHECK_FALSE(reconcile_root(*spool, "relative/path", {}, 1, 100).ok());
}

TEST_CASE("file names that are not UTF-8 are escaped consistently", "[reconcile]") {
  Sandbox sb;
  auto spool = open_spool(sb);
  baseline(*spool, sb);
  sb.write("bad\xff\xfe.txt", "x");
  sb.write("back\\slash.txt", "y");
  auto r = reconcile(*spool, sb);
  auto m = by_path(r);
  REQUIRE(m.size() == 2);
  CHECK(m.count(sb.at("bad\\xff\\xfe.txt")) == 1);
  CHECK(m.count(sb.at("back\\\\slash.txt")) == 1);
  REQUIRE(commit_reconcile(*spool, r).ok());
  CHECK(reconcile(*spool, sb).events.empty());
  // Unvisited (truncated walk) and deleted: found through the unescaped path.
  fs::remove(sb.root / "bad\xff\xfe.txt");
  sb.write("back\\slash.txt", "changed");
  auto t = reconcile(*spool, sb, {}, 0);
  CHECK(t.truncated);
  auto tm = by_path(t);
  CHECK(tm[sb.at("bad\\xff\\xfe.txt")] == "file.delete");
  CHECK(tm[sb.at("back\\\\slash.txt")] == "file.write");
}

TEST_CASE("checkpoint_updates_for turns live file events into checkpoint updates", "[reconcile]") {
  std::vector<v1::Event> ev = {
      live("file.create", "/w/a.txt", 10, 100),
      live("file.write", "/w/a.txt", 20, 200),
      live("file.rename", "/w/b.txt", 20, 200, "/w/a.txt"),
      live("file.delete", "/w/c.txt"),
      live("file.create", "/w/newdir", 0, 0, "", true),
      live("file.read", "/w/b.txt", 20, 200),
  };
  v1::Event loss;
  loss.set_type("agent.loss");
  loss.mutable_loss()->set_events(3);
  ev.push_back(loss);
  auto u = checkpoint_updates_for(ev);
  REQUIRE(u.size() == 5);
  CHECK((u[0].path == "/w/a.txt" && u[0].size == 10 && u[0].mtime_ns == 100 && !u[0].removed));
  CHECK((u[1].path == "/w/a.txt" && u[1].size == 20 && !u[1].removed));
  CHECK((u[2].path == "/w/a.txt" && u[2].removed));
  CHECK((u[3].path == "/w/b.txt" && u[3].size == 20 && u[3].mtime_ns == 200 && !u[3].removed));
  CHECK((u[4].path == "/w/c.txt" && u[4].removed));
}

TEST_CASE("checkpoint_updates_for with the spool moves the files of a renamed directory", "[reconcile]") {
  Sandbox sb;
  auto spool = open_spool(sb);
  std::vector<v1::Event> seed = {live("file.create", "/w/proj/a.txt", 1, 11),
                                 live("file.create", "/w/proj/sub/b.txt", 2, 22),
                                 live("file.create", "/w/project-other/c.txt", 3, 33)};
  auto seed_updates = checkpoint_updates_for(seed);
  REQUIRE(spool->append(seed, seed_updates).ok());

  // In one list: a new file in the directory, then the directory renamed, then a file under the
  // new name deleted.
  std::vector<v1::Event> ev = {live("file.create", "/w/proj/new.txt", 4, 44),
                               live("file.rename", "/w/moved", 0, 0, "/w/proj", true),
                               live("file.delete", "/w/moved/sub/b.txt")};
  auto u = checkpoint_updates_for(*spool, ev);
  REQUIRE(u.ok());
  REQUIRE(spool->append(ev, *u).ok());
  auto old_dir = spool->checkpoint_under("/w/proj");
  REQUIRE(old_dir.ok());
  CHECK(old_dir->empty());
  auto moved = spool->checkpoint_under("/w/moved");
  REQUIRE(moved.ok());
  REQUIRE(moved->size() == 2);
  CHECK((*moved)[0].path == "/w/moved/a.txt");
  CHECK((*moved)[0].size == 1);
  CHECK((*moved)[0].mtime_ns == 11);
  CHECK((*moved)[1].path == "/w/moved/new.txt");
  auto other = spool->checkpoint_under("/w/project-other");
  REQUIRE(other.ok());
  CHECK(other->size() == 1);  // a sibling that shares the name prefix is untouched

  // rm -r: the files go first, then the (empty) directory, which needs no update of its own.
  std::vector<v1::Event> del = {live("file.delete", "/w/moved/a.txt"), live("file.delete", "/w/moved/new.txt"),
                                live("file.delete", "/w/moved", 0, 0, "", true)};
  auto du = checkpoint_updates_for(*spool, del);
  REQUIRE(du.ok());
  CHECK(du->size() == 2);
  REQUIRE(spool->append(del, *du).ok());
  auto gone = spool->checkpoint_under("/w/moved");
  REQUIRE(gone.ok());
  CHECK(gone->empty());
}

TEST_CASE("a directory rename is followed through the unfolded checkpoint log and after a fold", "[reconcile]") {
  // Enough live updates that the spool folds its checkpoint log (65536) in between.
  Sandbox sb;
  auto spool = open_spool(sb);
  std::vector<v1::Event> seed = {live("file.create", "/big/dir/keep.txt", 7, 70)};
  REQUIRE(spool->append(seed, checkpoint_updates_for(seed)).ok());
  for (int b = 0; b < 70; ++b) {
    std::vector<CheckpointEntry> ups;
    for (int k = 0; k < 1000; ++k) ups.push_back({"/big/other/f" + std::to_string(b * 1000 + k), 1, 1, false});
    std::vector<v1::Event> one = {live("file.write", "/big/other/x")};
    REQUIRE(spool->append(one, ups).ok());
  }
  std::vector<v1::Event> late = {live("file.create", "/big/dir/late.txt", 8, 80)};
  REQUIRE(spool->append(late, checkpoint_updates_for(late)).ok());  // in the log, not folded yet
  std::vector<v1::Event> mv = {live("file.rename", "/big/moved", 0, 0, "/big/dir", true)};
  auto u = checkpoint_updates_for(*spool, mv);
  REQUIRE(u.ok());
  REQUIRE(u->size() == 4);
  REQUIRE(spool->append(mv, *u).ok());
  auto moved = spool->checkpoint_under("/big/moved");
  REQUIRE(moved.ok());
  REQUIRE(moved->size() == 2);
  CHECK((*moved)[0].path == "/big/moved/keep.txt");
  CHECK((*moved)[1].path == "/big/moved/late.txt");
  CHECK((*moved)[1].mtime_ns == 80);
  auto other = spool->checkpoint_under("/big/other");
  REQUIRE(other.ok());
  CHECK(other->size() == 70000);
}

TEST_CASE("live checkpoint updates keep the next reconciliation quiet", "[reconcile]") {
  Sandbox sb;
  auto spool = open_spool(sb);
  baseline(*spool, sb);
  // The agent sees these live and spools them with their checkpoint updates.
  sb.write("live.txt", "seen live");
  const auto p = sb.at("live.txt");
  std::vector<v1::Event> ev = {live("file.create", p, fs::file_size(p), mtime_ns(p))};
  auto u = checkpoint_updates_for(ev);
  REQUIRE(spool->append(ev, u).ok());
  CHECK(reconcile(*spool, sb).events.empty());
}
