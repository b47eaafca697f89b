#include "agent/reconciler.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <map>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "agent/event_builder.h"

namespace vigil::agent {

namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kUnsetLoginUid = 0xffffffffu;

// "/a/b/" -> "/a/b"; "/" stays "/".
std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// Absolute, without "." / ".." / repeated slashes, with symlinks in the existing part resolved
// (the kernel reports resolved paths in live events, so the checkpoint must use them too).
std::string canonical_path(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::path(p), ec);
  if (ec) c = fs::path(p).lexically_normal();
  return strip_trailing_slashes(c.generic_string());
}

// path is prefix, or below it on a component boundary.
bool is_under(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return !path.empty() && path.front() == '/';
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

bool excluded(std::string_view raw, const std::vector<std::string>& excludes) {
  return std::any_of(excludes.begin(), excludes.end(),
                     [&](const std::string& x) { return is_under(raw, x); });
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Inverse of escape_non_utf8(): "\\\\" -> '\', "\\xNN" -> byte NN. Needed to stat a checkpointed
// path, which is stored in the escaped form events carry.
std::string unescape_path(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '\\') {
      out.push_back('\\');
      i += 2;
    } else if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && hex_digit(s[i + 2]) >= 0 &&
               hex_digit(s[i + 3]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(s[i + 2]) * 16 + hex_digit(s[i + 3])));
      i += 4;
    } else {
      out.push_back(s[i]);
      ++i;
    }
  }
  return out;
}

std::int64_t to_unix_ns(fs::file_time_type t) {
  // libstdc++ 12 has file_clock::to_sys (not yet clock_cast); its file_time_type is in ns.
  auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(sys.time_since_epoch()).count();
}

struct FoundFile {
  std::string path;  // escaped
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// size and mtime of a regular file; false when it cannot be read (gone, no permission).
bool stat_file(const fs::path& p, std::uint64_t& size, std::int64_t& mtime_ns) {
  std::error_code ec;
  auto sz = fs::file_size(p, ec);
  if (ec) return false;
  auto mt = fs::last_write_time(p, ec);
  if (ec) return false;
  size = sz;
  mtime_ns = to_unix_ns(mt);
  return true;
}

struct Walk {
  std::vector<FoundFile> files;
  std::uint64_t entries = 0;
  std::uint64_t unreadable_dirs = 0;
  bool truncated = false;
};

// Depth-first over real directories only (symlinks are never followed). A directory that cannot
// be read is counted and skipped, not fatal: the rest of the root is still compared.
Walk walk_root(const std::string& root, const std::vector<std::string>& excludes, std::size_t max_entries) {
  Walk w;
  std::vector<fs::path> dirs{fs::path(root)};
  const fs::directory_iterator end;
  while (!dirs.empty() && !w.truncated) {
    fs::path dir = std::move(dirs.back());
    dirs.pop_back();
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      ++w.unreadable_dirs;
      continue;
    }
    while (it != end) {
      if (w.entries >= max_entries) {
        w.truncated = true;
        break;
      }
      ++w.entries;
      const fs::directory_entry& entry = *it;
      std::string raw = entry.path().generic_string();
      if (!excluded(raw, excludes)) {
        std::error_code sec;
        const auto st = entry.symlink_status(sec);  // from the dirent type: usually no syscall
        if (!sec && fs::is_directory(st)) {
          dirs.push_back(entry.path());
        } else if (!sec && fs::is_regular_file(st)) {
          FoundFile f;
          if (stat_file(entry.path(), f.size, f.mtime_ns)) {  // gone meanwhile: not there
            f.path = escape_non_utf8(raw);
            w.files.push_back(std::move(f));
          }
        }
      }
      it.increment(ec);
      if (ec) {  // the iterator is at its end now; what was left of this directory is unseen
        ++w.unreadable_dirs;
        break;
      }
    }
  }
  return w;
}

v1::Event reconciled_event(const char* type, const std::string& path, std::uint64_t size,
                           std::int64_t mtime_ns, std::int64_t now_ns) {
  v1::Event e;
  e.set_time_ns(now_ns);
  e.set_type(type);
  // Who did it and with which process is unknown: it happened while the agent was not running.
  // login_uid is "unset", user and process are left empty on purpose.
  e.set_login_uid(kUnsetLoginUid);
  auto* f = e.mutable_file();
  f->set_path(path);
  f->set_size(size);
  f->set_mtime_ns(mtime_ns);
  f->set_reconciled(true);
  return e;
}

CheckpointEntry upsert(const std::string& path, std::uint64_t size, std::int64_t mtime_ns) {
  return CheckpointEntry{path, size, mtime_ns, false};
}
CheckpointEntry removal(const std::string& path) { return CheckpointEntry{path, 0, 0, true}; }

// Updates for one event that needs no knowledge of the checkpoint.
template <typename Emit>
void simple_updates(const v1::Event& e, Emit&& emit) {
  if (!e.has_file()) return;
  const auto& f = e.file();
  const std::string& type = e.type();
  if (type == "file.create" || type == "file.write") {
    if (!f.is_dir() && !f.path().empty()) emit(upsert(f.path(), f.size(), f.mtime_ns()));
  } else if (type == "file.rename") {
    if (!f.old_path().empty()) emit(removal(f.old_path()));
    if (!f.is_dir() && !f.path().empty()) emit(upsert(f.path(), f.size(), f.mtime_ns()));
  } else if (type == "file.delete") {
    if (!f.path().empty()) emit(removal(f.path()));
  }
}

}  // namespace

Result<ReconcileResult> reconcile_root(const Spool& spool, const std::string& root_in,
                                       const std::vector<std::string>& exclude_prefixes,
                                       std::int64_t now_ns, std::size_t max_entries) {
  if (root_in.empty() || !fs::path(root_in).is_absolute())
    return err("cannot reconcile watched root \"" + root_in + "\": not an absolute path");
  const std::string root = canonical_path(root_in);
  std::vector<std::string> excludes;
  for (const auto& x : exclude_prefixes)
    if (!x.empty() && fs::path(x).is_absolute()) excludes.push_back(canonical_path(x));

  ReconcileResult out;
  out.root = escape_non_utf8(root);
  auto baselined = spool.root_baselined(out.root);
  if (!baselined) return err("cannot reconcile " + root + ": " + baselined.error());
  out.baseline = !*baselined;

  std::error_code ec;
  const auto root_status = fs::status(root, ec);  // the root itself may be a symlink: follow it
  Walk walk;
  if (fs::is_directory(root_status)) {
    walk = walk_root(root, excludes, max_entries);
  } else if (fs::is_regular_file(root_status)) {  // a single watched file
    FoundFile f;
    if (!excluded(root, excludes) && stat_file(root, f.size, f.mtime_ns)) {
      f.path = out.root;
      walk.files.push_back(std::move(f));
    }
    walk.entries = 1;
  } else if (root_status.type() == fs::file_type::not_found) {
    if (out.baseline) return err("cannot baseline watched root " + root + ": it does not exist");
    // Baselined before and gone now: everything under it was deleted; found below.
  } else if (ec) {
    return err("cannot read watched root " + root + ": " + ec.message());
  } else {
    return err("cannot reconcile watched root " + root + ": not a directory or regular file");
  }
  std::sort(walk.files.begin(), walk.files.end(),
            [](const FoundFile& a, const FoundFile& b) { return a.path < b.path; });
  out.files_scanned = walk.files.size();
  out.entries_walked = walk.entries;
  out.truncated = walk.truncated;
  out.unreadable_dirs = walk.unreadable_dirs;

  if (out.baseline) {
    out.checkpoint_updates.reserve(walk.files.size());
    for (auto& f : walk.files) out.checkpoint_updates.push_back(upsert(f.path, f.size, f.mtime_ns));
    return out;
  }

  auto checkpoint = spool.checkpoint_under(out.root);
  if (!checkpoint) return err("cannot reconcile " + root + ": " + checkpoint.error());
  std::unordered_map<std::string_view, std::size_t> known;
  known.reserve(checkpoint->size());
  for (std::size_t i = 0; i < checkpoint->size(); ++i) known.emplace((*checkpoint)[i].path, i);
  std::vector<bool> seen(checkpoint->size(), false);

  auto report = [&](const char* type, const std::string& path, std::uint64_t size, std::int64_t mtime,
                    bool removed) {
    out.events.push_back(reconciled_event(type, path, size, mtime, now_ns));
    out.checkpoint_updates.push_back(removed ? removal(path) : upsert(path, size, mtime));
  };

  for (const auto& f : walk.files) {
    auto it = known.find(f.path);
    if (it == known.end()) {
      report("file.create", f.path, f.size, f.mtime_ns, false);
      continue;
    }
    seen[it->second] = true;
    const auto& c = (*checkpoint)[it->second];
    if (c.size != f.size || c.mtime_ns != f.mtime_ns) report("file.write", f.path, f.size, f.mtime_ns, false);
  }

  // Checkpointed files the walk did not see: gone, or in a part of the tree it did not reach
  // (truncated, unreadable directory, excluded). Look at each one directly to tell which.
  for (std::size_t i = 0; i < checkpoint->size(); ++i) {
    if (seen[i]) continue;
    const auto& c = (*checkpoint)[i];
    const std::string raw = unescape_path(c.path);
    if (excluded(raw, excludes)) continue;  // no longer watched there: neither report nor forget
    std::error_code sec;
    const auto st = fs::symlink_status(raw, sec);
    if (st.type() == fs::file_type::not_found) {  // ENOENT, or a parent is no longer a directory
      report("file.delete", c.path, c.size, c.mtime_ns, true);
    } else if (sec) {
      continue;  // cannot tell (permission): say nothing rather than guess
    } else if (fs::is_regular_file(st)) {
      FoundFile f;
      if (stat_file(raw, f.size, f.mtime_ns) && (f.size != c.size || f.mtime_ns != c.mtime_ns))
        report("file.write", c.path, f.size, f.mtime_ns, false);
    } else {
      // Replaced by a directory, symlink or special file: the regular file that was there is gone.
      report("file.delete", c.path, c.size, c.mtime_ns, true);
    }
  }
  return out;
}

Result<std::uint64_t> commit_reconcile(Spool& spool, ReconcileResult& result, std::size_t batch_events) {
  if (result.baseline) {
    if (auto s = spool.baseline_root(result.root, result.checkpoint_updates); !s) return err(s.error());
    return std::uint64_t{0};
  }
  if (result.events.size() != result.checkpoint_updates.size())
    return err("reconcile result for " + result.root + " has " + std::to_string(result.events.size()) +
               " events but " + std::to_string(result.checkpoint_updates.size()) + " checkpoint updates");
  if (batch_events == 0) batch_events = kReconcileBatchEvents;
  std::uint64_t appended = 0;
  for (std::size_t at = 0; at < result.events.size(); at += batch_events) {
    const std::size_t n = std::min(batch_events, result.events.size() - at);
    const auto first = result.events.begin() + static_cast<std::ptrdiff_t>(at);
    std::vector<v1::Event> chunk(std::make_move_iterator(first), std::make_move_iterator(first + static_cast<std::ptrdiff_t>(n)));
    const auto ufirst = result.checkpoint_updates.begin() + static_cast<std::ptrdiff_t>(at);
    std::vector<CheckpointEntry> updates(ufirst, ufirst + static_cast<std::ptrdiff_t>(n));
    auto r = spool.append(chunk, updates);
    std::move(chunk.begin(), chunk.end(), first);  // hand the events back, now with their seqs
    if (!r)
      return err("reconcile of " + result.root + ": appended " + std::to_string(appended) + " of " +
                 std::to_string(result.events.size()) + " events, then: " + r.error());
    appended += n;
  }
  return appended;
}

std::vector<CheckpointEntry> checkpoint_updates_for(const std::vector<v1::Event>& file_events) {
  std::vector<CheckpointEntry> out;
  for (const auto& e : file_events) simple_updates(e, [&](CheckpointEntry c) { out.push_back(std::move(c)); });
  return out;
}

Result<std::vector<CheckpointEntry>> checkpoint_updates_for(const Spool& spool,
                                                            const std::vector<v1::Event>& file_events) {
  std::vector<CheckpointEntry> out;
  std::map<std::string, CheckpointEntry> overlay;  // latest update per path made by this list
  auto emit = [&](CheckpointEntry c) {
    overlay[c.path] = c;
    out.push_back(std::move(c));
  };
  // Regular files checkpointed below dir, as they will be once the updates so far are applied.
  auto files_under = [&](const std::string& dir_in) -> Result<std::vector<CheckpointEntry>> {
    const std::string dir = strip_trailing_slashes(dir_in);
    auto stored = spool.checkpoint_under(dir);
    if (!stored) return err(stored.error());
    std::map<std::string, CheckpointEntry> files;
    for (auto& c : *stored)
      if (c.path != dir) files.emplace(c.path, std::move(c));
    for (auto it = overlay.lower_bound(dir); it != overlay.end() && it->first.starts_with(dir); ++it) {
      if (it->first == dir || !is_under(it->first, dir)) continue;
      if (it->second.removed)
        files.erase(it->first);
      else
        files[it->first] = it->second;
    }
    std::vector<CheckpointEntry> v;
    v.reserve(files.size());
    for (auto& [p, c] : files) v.push_back(std::move(c));
    return v;
  };

  for (const auto& e : file_events) {
    if (!e.has_file() || !e.file().is_dir()) {
      simple_updates(e, emit);
      continue;
    }
    const auto& f = e.file();
    if (e.type() == "file.rename" && !f.old_path().empty() && !f.path().empty()) {
      const std::string from = strip_trailing_slashes(f.old_path());
      const std::string to = strip_trailing_slashes(f.path());
      auto kids = files_under(from);
      if (!kids) return err("checkpoint updates for the rename of " + from + ": " + kids.error());
      for (const auto& k : *kids) {
        emit(removal(k.path));
        emit(upsert(to + k.path.substr(from.size()), k.size, k.mtime_ns));
      }
    }
    // A directory delete needs nothing: a directory is only removed once empty, and each file in
    // it was deleted (and reported) first. If those deletes were lost (kernel queue overflow),
    // the stale entries make the next reconciliation report the files deleted, which they are.
  }
  return out;
}

}  // namespace vigil::agent
