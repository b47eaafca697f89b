#include "collector/policy/drop_dir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "collector/policy/csv_import.h"
#include "shared/log.h"
#include "shared/time_util.h"

namespace vigil::collector::policy {

namespace fs = std::filesystem;

namespace {

// dir/sub/name, or with a time suffix when that name is taken.
fs::path free_target(const fs::path& dir, const std::string& sub, const std::string& name) {
  fs::path target = dir / sub / name;
  std::error_code ec;
  if (!fs::exists(target, ec)) return target;
  std::string stamp = format_rfc3339(now_ns(), 3);
  std::replace(stamp.begin(), stamp.end(), ':', '-');
  return dir / sub / (name + "." + stamp);
}

bool write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

DropDirImporter::DropDirImporter(std::shared_ptr<SqlitePolicyStore> store, DropDirOptions options)
    : store_(std::move(store)), opts_(std::move(options)) {}

DropDirImporter::~DropDirImporter() { stop(); }

Status DropDirImporter::start() {
  for (const auto& d : {opts_.hr_dir, opts_.attributes_dir}) {
    for (const char* sub : {"", "done", "failed"}) {
      std::error_code ec;
      fs::create_directories(fs::path(d) / sub, ec);
      if (ec) return err("creating the import directory " + (fs::path(d) / sub).string() + ": " + ec.message());
    }
  }
  log::info("import", "watching drop directories",
            {{"hr", opts_.hr_dir}, {"attributes", opts_.attributes_dir},
             {"poll_ms", std::to_string(opts_.poll.count())}});
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      scan_once();
      lock.lock();
      cv_.wait_for(lock, opts_.poll, [this] { return stopping_; });
    }
  });
  return {};
}

void DropDirImporter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t DropDirImporter::scan_once() {
  return scan_dir(opts_.hr_dir, true) + scan_dir(opts_.attributes_dir, false);
}

std::size_t DropDirImporter::scan_dir(const std::string& dir_name, bool hr) {
  const fs::path dir(dir_name);
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || it->path().extension() != ".csv") continue;
    std::error_code sec;
    if (!fs::is_regular_file(it->symlink_status(sec))) continue;
    auto mtime = fs::last_write_time(it->path(), sec);
    if (sec) continue;
    if (fs::file_time_type::clock::now() - mtime < opts_.settle) continue;  // maybe still being written
    files.push_back(it->path());
  }
  if (ec) {
    log::warn("import", "cannot read drop directory", {{"dir", dir_name}, {"error", ec.message()}});
    return 0;
  }
  std::sort(files.begin(), files.end());
  const char* kind = hr ? "HR" : "attributes";
  for (const auto& file : files) {
    const std::string name = file.filename().string();
    std::string report;
    bool clean = false;
    std::size_t imported = 0, updated = 0, unchanged = 0, rejected = 0;
    std::error_code sec;
    const auto size = fs::file_size(file, sec);
    if (sec) {
      report = "cannot read the file: " + sec.message() + "\n";
    } else if (size > kMaxCsvBytes) {
      report = "the file is " + std::to_string(size) + " bytes; the limit is " + std::to_string(kMaxCsvBytes) +
               " bytes (split it into smaller files). Nothing was imported.\n";
    } else {
      std::ifstream in(file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      auto r = hr ? import_hr_csv(*store_, text.str(), name) : import_attributes_csv(*store_, text.str());
      if (!r) {
        report = r.error() + "\nNothing was imported.\n";
      } else {
        imported = r->counts.imported, updated = r->counts.updated, unchanged = r->counts.unchanged;
        rejected = r->rejected;
        clean = rejected == 0;
        if (!clean) {
          std::ostringstream o;
          o << name << ": " << rejected << " rows rejected; " << imported << " imported, " << updated << " updated, "
            << unchanged << " unchanged.\nThe good rows ARE imported. Fix the lines below and drop the whole file "
            << "again (importing the same rows twice changes nothing).\n\n";
          for (const auto& e : r->errors) o << "line " << e.line << ": " << e.reason << "\n";
          if (r->errors.size() < rejected) o << "... and " << (rejected - r->errors.size()) << " more\n";
          report = o.str();
        }
      }
    }
    const fs::path target = free_target(dir, clean ? "done" : "failed", name);
    fs::rename(file, target, sec);
    if (sec) {
      // Leaving it would import it again on every poll: better to say so loudly once per poll.
      log::error("import", "cannot move an imported file", {{"file", file.string()}, {"error", sec.message()}});
      continue;
    }
    if (!clean && !write_text(target.string() + ".errors.txt", report))
      log::error("import", "cannot write the error report", {{"file", target.string() + ".errors.txt"}});
    if (clean)
      log::info("import", "imported", {{"kind", kind}, {"file", name}, {"imported", std::to_string(imported)},
                                       {"updated", std::to_string(updated)}, {"unchanged", std::to_string(unchanged)}});
    else
      log::warn("import", "import had errors",
                {{"kind", kind}, {"file", name}, {"imported", std::to_string(imported)},
                 {"rejected", std::to_string(rejected)}, {"report", target.string() + ".errors.txt"}});
  }
  return files.size();
}

}  // namespace vigil::collector::policy
