// agent/activity_deriver.h: derived events from activity records built here about real files in
// temporary directories (the files are real and are read by the deriver; the records stand in for
// the kernel's, which tests/integration/test_e2e_exfil.cpp covers). Time is synthetic so bursts
// and source holds are exact. Tag: [deriver].
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "agent/activity_deriver.h"
#include "shared/crypto.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using namespace vigil::agent;
using vigil::test::TempDir;

namespace {

constexpr std::int64_t kT0 = 1'800'000'000'000'000'000;
constexpr std::int64_t kMs = 1'000'000;

std::shared_ptr<const Classifier> classifier() {
  static std::shared_ptr<const Classifier> c = [] {
    auto r = Classifier::create({});
    REQUIRE(r.ok());
    return std::shared_ptr<const Classifier>(std::move(*r));
  }();
  return c;
}

std::string put(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

FileActivity act(FileAction action, const std::string& path, std::int64_t t, std::uint32_t pid = 4242) {
  FileActivity a;
  a.action = action;
  a.path = path;
  a.time_ns = t;
  a.process.pid = pid;
  a.process.exe = "/usr/bin/cp";
  a.process.comm = "cp";
  a.process.user = "alice";
  a.process.login_uid = 1000;
  std::error_code ec;
  auto sz = std::filesystem::file_size(path, ec);
  if (!ec) a.size = sz;
  a.inode = 7;
  return a;
}

VolumeActivity volume(const std::string& mp, bool removable, bool network = false) {
  VolumeActivity v;
  v.device = network ? "//server/share" : "/dev/sdz1";
  v.fstype = network ? "cifs" : "vfat";
  v.label = "STICK";
  v.uuid = "1234-ABCD";
  v.mount_point = mp;
  v.removable = removable;
  v.network_share = network;
  return v;
}

// Everything the deriver has to say after the hold and quiet periods are over.
void settle(ActivityDeriver& d, std::vector<v1::Event>& out, std::int64_t now = kT0 + 3'600'000 * kMs) {
  REQUIRE(d.wait_idle(10000));
  d.tick(now, out);
  REQUIRE(d.wait_idle(10000));
  d.tick(now, out);
}

std::vector<const v1::Event*> of_type(const std::vector<v1::Event>& out, const std::string& type) {
  std::vector<const v1::Event*> r;
  for (const auto& e : out)
    if (e.type() == type) r.push_back(&e);
  return r;
}

const std::string kCards = "Payment card on file: 4111 1111 1111 1111, backup card 5555555555554444.\n";
const std::string kPdf = "%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

}  // namespace

TEST_CASE("a copy onto removable media is exfil.removable with source, volume, type and classification", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string src = put(dir.file("home/cards.txt"), kCards);
  const std::string mp = dir.file("media/STICK");
  std::filesystem::create_directories(mp);
  ActivityDeriver d({}, classifier());
  d.on_volume(volume(mp, true));
  std::vector<v1::Event> out;

  SECTION("the source read before the write (cat, dd, most tools)") {
    d.on_file(act(FileAction::Read, src, kT0), out);
    const std::string dst = put(mp + "/cards.txt", kCards);
    d.on_file(act(FileAction::Create, dst, kT0 + 1 * kMs), out);
    d.on_file(act(FileAction::Write, dst, kT0 + 2 * kMs), out);
  }
  SECTION("the source closed after the copy (GNU cp)") {
    const std::string dst = put(mp + "/cards.txt", kCards);
    d.on_file(act(FileAction::Create, dst, kT0), out);
    d.on_file(act(FileAction::Write, dst, kT0 + 1 * kMs), out);
    d.on_file(act(FileAction::Read, src, kT0 + 2 * kMs), out);
  }
  settle(d, out);
  // The plain events are all there, the read is not.
  CHECK(of_type(out, "file.create").size() == 1);
  CHECK(of_type(out, "file.write").size() == 1);
  CHECK(of_type(out, "file.read").empty());
  auto ex = of_type(out, "exfil.removable");
  REQUIRE(ex.size() == 1);
  const auto& f = ex[0]->file();
  CHECK(f.path() == mp + "/cards.txt");
  CHECK(f.source_path() == src);
  CHECK(f.content_type() == "text");
  CHECK(f.extension_type() == "text");
  CHECK(f.volume().mount_point() == mp);
  CHECK(f.volume().removable());
  CHECK(f.volume().label() == "STICK");
  CHECK(f.sha256() == crypto::sha256_hex(kCards));
  CHECK(f.classification().status() == "scanned");
  REQUIRE(f.classification().findings_size() == 1);
  CHECK(f.classification().findings(0).type() == "credit_card");
  CHECK(f.classification().findings(0).count() == 2);
  CHECK(f.classification().findings(0).confidence() == "high");
  CHECK(ex[0]->user() == "alice");
  CHECK(ex[0]->process().pid() == 4242);
  CHECK(of_type(out, "file.archive_created").empty());  // text is no archive
  auto st = d.take_stats();
  CHECK(st.classified_files == 1);
  CHECK(st.derived_events == 1);
}

TEST_CASE("the source: same size first, not a file on the stick, not one already used, not too old", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string mp = dir.file("stick");
  const std::string a = put(dir.file("a.txt"), std::string(100, 'a'));
  const std::string b = put(dir.file("b.txt"), std::string(200, 'b'));
  const std::string on_stick = put(mp + "/other.txt", std::string(100, 'o'));
  ActivityDeriver d({}, classifier());
  d.on_volume(volume(mp, true));
  std::vector<v1::Event> out;
  d.on_file(act(FileAction::Read, a, kT0), out);
  d.on_file(act(FileAction::Read, b, kT0 + 1 * kMs), out);
  d.on_file(act(FileAction::Read, on_stick, kT0 + 2 * kMs), out);
  const std::string c1 = put(mp + "/c1.txt", std::string(100, 'a'));
  d.on_file(act(FileAction::Write, c1, kT0 + 3 * kMs), out);  // a (same size), not b (newer)
  const std::string c2 = put(mp + "/c2.txt", std::string(100, 'a'));
  d.on_file(act(FileAction::Write, c2, kT0 + 4 * kMs), out);  // a is used: b is what is left
  const std::string c3 = put(mp + "/c3.txt", std::string(50, 'z'));
  d.on_file(act(FileAction::Write, c3, kT0 + 60'000 * kMs), out);  // reads too old: none
  const std::string c4 = put(mp + "/c4.txt", std::string(100, 'q'));
  d.on_file(act(FileAction::Read, a, kT0 + 60'001 * kMs, /*pid=*/99), out);  // another process
  d.on_file(act(FileAction::Write, c4, kT0 + 60'002 * kMs), out);
  settle(d, out);
  std::map<std::string, std::string> source;
  for (const auto* e : of_type(out, "exfil.removable")) source[e->file().path()] = e->file().source_path();
  REQUIRE(source.size() == 4);
  CHECK(source[c1] == a);
  CHECK(source[c2] == b);
  CHECK(source[c3].empty());
  CHECK(source[c4].empty());
}

TEST_CASE("network shares, fixed disks, unmounted volumes", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string share = dir.file("share"), disk = dir.file("disk"), gone = dir.file("gone");
  ActivityDeriver d({}, classifier());
  d.on_volume(volume(share, false, true));
  d.on_volume(volume(disk, false));
  d.on_volume(volume(gone, true));
  VolumeActivity u = volume(gone, true);
  u.action = VolumeAction::Unmounted;
  d.on_volume(u);
  // A fixed disk mounted inside a stick's tree is not the stick.
  d.on_volume(volume(disk + "/inner", true));
  VolumeActivity fixed_inside = volume(disk + "/inner/fixed", false);
  d.on_volume(fixed_inside);
  std::vector<v1::Event> out;
  d.on_file(act(FileAction::Write, put(share + "/x.txt", "hello\n"), kT0), out);
  d.on_file(act(FileAction::Write, put(disk + "/y.txt", "hello\n"), kT0), out);
  d.on_file(act(FileAction::Write, put(gone + "/z.txt", "hello\n"), kT0), out);
  d.on_file(act(FileAction::Write, put(disk + "/inner/fixed/w.txt", "hello\n"), kT0), out);
  d.on_file(act(FileAction::Write, put(disk + "/inner/v.txt", "hello\n"), kT0), out);
  settle(d, out);
  auto ns = of_type(out, "exfil.network_share");
  REQUIRE(ns.size() == 1);
  CHECK(ns[0]->file().path() == share + "/x.txt");
  CHECK(ns[0]->file().volume().network_share());
  auto rm = of_type(out, "exfil.removable");
  REQUIRE(rm.size() == 1);
  CHECK(rm[0]->file().path() == disk + "/inner/v.txt");
}

TEST_CASE("archives made here are file.archive_created; copies of archives are not", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string docs = put(dir.file("docs/a.txt"), kCards + std::string(3000, 'x'));
  REQUIRE(std::system(("tar czf " + dir.file("made.tar.gz") + " -C " + dir.file("docs") + " a.txt").c_str()) == 0);
  ActivityDeriver d({}, classifier());
  std::vector<v1::Event> out;
  // tar reads a.txt (another size) and writes the archive.
  d.on_file(act(FileAction::Read, docs, kT0, 10), out);
  d.on_file(act(FileAction::Write, dir.file("made.tar.gz"), kT0 + 1 * kMs, 10), out);
  // cp of the archive: same size read.
  std::filesystem::copy_file(dir.file("made.tar.gz"), dir.file("copy.tar.gz"));
  d.on_file(act(FileAction::Write, dir.file("copy.tar.gz"), kT0 + 2 * kMs, 11), out);
  d.on_file(act(FileAction::Read, dir.file("made.tar.gz"), kT0 + 3 * kMs, 11), out);
  // An office document is a zip but not an archive.
  const std::string docx = put(dir.file("r.docx"), std::string("PK\x03\x04", 4) + std::string(26, '\0') + "[Content_Types].xml");
  d.on_file(act(FileAction::Write, docx, kT0 + 4 * kMs, 12), out);
  settle(d, out);
  auto ar = of_type(out, "file.archive_created");
  REQUIRE(ar.size() == 1);
  CHECK(ar[0]->file().path() == dir.file("made.tar.gz"));
  CHECK(ar[0]->file().content_type() == "gzip");
  CHECK(ar[0]->file().source_path() == docs);
  CHECK(ar[0]->file().classification().status() == "scanned");  // compressed: nothing visible
  CHECK(ar[0]->file().sha256().size() == 64);
  CHECK(of_type(out, "file.extension_mismatch").empty());
}

TEST_CASE("without reads a local archive is judged by its writer: made by tar, copied by cp", "[deriver]") {
  TempDir dir("vigil-deriver");
  put(dir.file("docs/a.txt"), "some text\n");
  REQUIRE(std::system(("tar czf " + dir.file("made.tar.gz") + " -C " + dir.file("docs") + " a.txt").c_str()) == 0);
  std::filesystem::copy_file(dir.file("made.tar.gz"), dir.file("copy.tar.gz"));
  std::filesystem::copy_file(dir.file("made.tar.gz"), dir.file("busybox-copy.tar.gz"));
  ActivityDeriver d({}, classifier());
  CHECK_FALSE(d.exfil_volumes_mounted());
  d.set_reads_tracked(false);
  std::vector<v1::Event> out;
  FileActivity made = act(FileAction::Write, dir.file("made.tar.gz"), kT0, 10);
  made.process.exe = "/usr/bin/tar";
  made.process.comm = "tar";
  d.on_file(made, out);
  d.on_file(act(FileAction::Write, dir.file("copy.tar.gz"), kT0 + kMs, 11), out);  // cp
  FileActivity bb = act(FileAction::Write, dir.file("busybox-copy.tar.gz"), kT0 + 2 * kMs, 12);
  bb.process.exe = "/bin/busybox";  // a multi-call binary: its comm says what it is
  d.on_file(bb, out);
  settle(d, out);
  auto ar = of_type(out, "file.archive_created");
  REQUIRE(ar.size() == 1);
  CHECK(ar[0]->file().path() == dir.file("made.tar.gz"));
  CHECK(ar[0]->file().source_path().empty());

  // With a stick mounted the capture reports reads again: exfil_volumes_mounted says so.
  d.on_volume(volume(dir.file("stick"), true));
  CHECK(d.exfil_volumes_mounted());
  d.on_volume(volume(dir.file("fixed"), false));
  VolumeActivity gone = volume(dir.file("stick"), true);
  gone.action = VolumeAction::Unmounted;
  d.on_volume(gone);
  CHECK_FALSE(d.exfil_volumes_mounted());  // a fixed disk is nowhere to copy to
}

TEST_CASE("content that disagrees with its name, written or renamed", "[deriver]") {
  TempDir dir("vigil-deriver");
  ActivityDeriver d({}, classifier());
  std::vector<v1::Event> out;
  d.on_file(act(FileAction::Write, put(dir.file("notes.txt"), kPdf), kT0), out);
  d.on_file(act(FileAction::Write, put(dir.file("honest.pdf"), kPdf), kT0), out);
  d.on_file(act(FileAction::Write, put(dir.file("README"), kPdf), kT0), out);  // no extension
  put(dir.file("holiday.jpg"), kPdf);
  FileActivity r = act(FileAction::Rename, dir.file("holiday.jpg"), kT0 + kMs);
  r.old_path = dir.file("report.pdf");
  d.on_file(r, out);
  settle(d, out);
  auto mm = of_type(out, "file.extension_mismatch");
  REQUIRE(mm.size() == 2);
  CHECK(mm[0]->file().path() == dir.file("notes.txt"));
  CHECK(mm[0]->file().content_type() == "pdf");
  CHECK(mm[0]->file().extension_type() == "text");
  CHECK(mm[1]->file().path() == dir.file("holiday.jpg"));
  CHECK(mm[1]->file().old_path() == dir.file("report.pdf"));
  CHECK(mm[1]->file().extension_type() == "jpeg");
  CHECK(of_type(out, "file.rename").size() == 1);
}

TEST_CASE("a copy of 2000 files is 20 single events and one file.bulk with the counts", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string mp = dir.file("stick");
  ActivityDeriver d({}, classifier());
  d.on_volume(volume(mp, true));
  std::vector<v1::Event> out;
  std::uint64_t bytes = 0, with_cards = 0, summarised_bytes = 0;
  for (int i = 0; i < 2000; ++i) {
    const bool card = i % 100 == 0;
    std::string content = card ? kCards : "line " + std::to_string(i) + "\n";
    const std::string src = put(dir.file("src/d" + std::to_string(i % 4) + "/f" + std::to_string(i) + ".txt"), content);
    const std::string dst = put(mp + "/copy/d" + std::to_string(i % 4) + "/f" + std::to_string(i) + ".txt", content);
    d.on_file(act(FileAction::Create, dst, kT0 + i * kMs), out);
    d.on_file(act(FileAction::Write, dst, kT0 + i * kMs), out);
    d.on_file(act(FileAction::Read, src, kT0 + i * kMs), out);
    bytes += content.size();
    if (i >= 20) {
      summarised_bytes += content.size();
      if (card) ++with_cards;
    }
  }
  // Not yet quiet: nothing summarised has gone out.
  REQUIRE(d.wait_idle(10000));
  d.tick(kT0 + 2000 * kMs, out);
  CHECK(of_type(out, "file.bulk").empty());
  settle(d, out);
  CHECK(of_type(out, "file.write").size() == 2000);
  auto singles = of_type(out, "exfil.removable");
  CHECK(singles.size() == 20);
  for (const auto* e : singles) CHECK_FALSE(e->file().source_path().empty());
  auto bulk = of_type(out, "file.bulk");
  REQUIRE(bulk.size() == 1);
  const auto& b = bulk[0]->bulk();
  CHECK(b.operation() == "exfil.removable");
  CHECK(b.files() == 1980);
  CHECK(b.bytes() == summarised_bytes);
  CHECK(b.common_dir() == mp + "/copy");
  CHECK(b.sample_paths_size() == 10);
  CHECK(b.first_ns() == kT0 + 20 * kMs);
  CHECK(b.last_ns() == kT0 + 1999 * kMs);
  CHECK(b.volume().mount_point() == mp);
  CHECK(b.content_types().at("text") == 1980);
  CHECK(b.files_with_findings() == with_cards);
  REQUIRE(b.findings_size() == 1);
  CHECK(b.findings(0).type() == "credit_card");
  CHECK(b.findings(0).count() == 2 * with_cards);
  CHECK(bulk[0]->process().pid() == 4242);
  CHECK(bulk[0]->user() == "alice");
  auto st = d.take_stats();
  CHECK(st.summarised_files == 1980);
  CHECK(st.derived_events == 20);
  CHECK(st.classified_files == 2000);
  (void)bytes;
}

TEST_CASE("bursts: quiet gaps start a new burst, max_bulk_files splits one, processes are apart", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string mp = dir.file("stick");
  DerivationOptions o;
  o.single_events_per_burst = 2;
  o.max_bulk_files = 5;
  o.burst_quiet_ns = 1000 * kMs;
  ActivityDeriver d(o, classifier());
  d.on_volume(volume(mp, true));
  std::vector<v1::Event> out;
  auto write = [&](int i, std::int64_t t, std::uint32_t pid) {
    const std::string p = put(mp + "/f" + std::to_string(i) + ".txt", "x");
    d.on_file(act(FileAction::Write, p, t, pid), out);
  };
  for (int i = 0; i < 14; ++i) write(i, kT0 + i * kMs, 1);   // 2 singles + 5 + 5 + 2
  for (int i = 0; i < 3; ++i) write(100 + i, kT0 + i * kMs, 2);  // another process: its own burst
  for (int i = 0; i < 3; ++i) write(200 + i, kT0 + 5000 * kMs + i * kMs, 1);  // after a quiet gap
  settle(d, out);
  std::vector<std::uint64_t> counts;
  for (const auto* e : of_type(out, "file.bulk")) counts.push_back(e->bulk().files());
  // pid 1: 5, 5, 2; pid 2: 1; pid 1 after the gap: 1
  std::sort(counts.begin(), counts.end());
  CHECK(counts == std::vector<std::uint64_t>{1, 1, 2, 5, 5});
  CHECK(of_type(out, "exfil.removable").size() == 2 + 2 + 2);
}

TEST_CASE("shedding: classification skipped under load except for priority paths", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string mp = dir.file("stick");
  DerivationOptions o;
  o.priority_paths = {mp + "/hr/*"};
  ActivityDeriver d(o, classifier());
  d.on_volume(volume(mp, true));
  d.set_classification_enabled(false);
  CHECK_FALSE(d.classification_enabled());
  std::vector<v1::Event> out;
  d.on_file(act(FileAction::Write, put(mp + "/a.txt", kCards), kT0), out);
  d.on_file(act(FileAction::Write, put(mp + "/hr/b.txt", kCards), kT0), out);
  settle(d, out);
  auto ex = of_type(out, "exfil.removable");
  REQUIRE(ex.size() == 2);
  CHECK(ex[0]->file().classification().status() == "skipped_load");
  CHECK(ex[0]->file().sha256().empty());
  CHECK(ex[1]->file().classification().status() == "scanned");
  auto st = d.take_stats();
  CHECK(st.classification_skipped == 1);
  CHECK(st.classified_files == 1);
  // No classifier at all: disabled.
  ActivityDeriver none({}, nullptr);
  none.on_volume(volume(mp, true));
  std::vector<v1::Event> out2;
  none.on_file(act(FileAction::Write, mp + "/a.txt", kT0), out2);
  settle(none, out2);
  REQUIRE(of_type(out2, "exfil.removable").size() == 1);
  CHECK(of_type(out2, "exfil.removable")[0]->file().classification().status() == "disabled");
  // Turned off by the collection config: disabled too, even for priority paths.
  DerivationOptions off = o;
  off.classify = false;
  d.update(off, classifier());
  d.set_classification_enabled(true);
  std::vector<v1::Event> out3;
  d.on_file(act(FileAction::Write, put(mp + "/hr/c.txt", kCards), kT0 + 10 * kMs), out3);
  settle(d, out3);
  REQUIRE(of_type(out3, "exfil.removable").size() == 1);
  CHECK(of_type(out3, "exfil.removable")[0]->file().classification().status() == "disabled");
  CHECK(d.take_stats().classification_skipped == 0);
}

TEST_CASE("bounded scans, vanished files, renamed into place, hostile names", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string mp = dir.file("stick");
  DerivationOptions o;
  o.scan_limits.max_bytes = 4096;
  ActivityDeriver d(o, classifier());
  d.on_volume(volume(mp, true));
  std::vector<v1::Event> out;
  d.on_file(act(FileAction::Write, put(mp + "/big.txt", std::string(100000, 'b') + kCards), kT0), out);
  FileActivity gone = act(FileAction::Write, mp + "/gone.txt", kT0);
  d.on_file(gone, out);
  // rsync style: a temporary name, then renamed into place before the events went out.
  d.on_file(act(FileAction::Write, put(mp + "/.final.txt.Xy12", "data\n"), kT0 + kMs), out);
  std::filesystem::rename(mp + "/.final.txt.Xy12", mp + "/final.txt");
  FileActivity r = act(FileAction::Rename, mp + "/final.txt", kT0 + 2 * kMs);
  r.old_path = mp + "/.final.txt.Xy12";
  d.on_file(r, out);
  const std::string hostile = mp + "/bad\nname\xff\xfe.txt";
  d.on_file(act(FileAction::Write, put(hostile, kPdf), kT0 + 3 * kMs), out);
  settle(d, out);
  std::map<std::string, const v1::Event*> by_path;
  for (const auto* e : of_type(out, "exfil.removable")) by_path[e->file().path()] = e;
  REQUIRE(by_path.count(mp + "/big.txt"));
  CHECK(by_path[mp + "/big.txt"]->file().classification().status() == "truncated");
  CHECK(by_path[mp + "/big.txt"]->file().classification().bytes_scanned() == 4096);
  CHECK(by_path[mp + "/big.txt"]->file().sha256().empty());
  REQUIRE(by_path.count(mp + "/gone.txt"));
  CHECK(by_path[mp + "/gone.txt"]->file().classification().status() == "unreadable");
  CHECK(by_path[mp + "/gone.txt"]->file().content_type() == "unknown");
  CHECK(by_path.count(mp + "/final.txt") == 1);
  CHECK(by_path.count(mp + "/.final.txt.Xy12") == 0);
  const std::string escaped = mp + "/bad\nname\\xff\\xfe.txt";
  REQUIRE(by_path.count(escaped));
  CHECK(by_path[escaped]->file().content_type() == "pdf");
  auto mm = of_type(out, "file.extension_mismatch");
  REQUIRE(mm.size() == 1);
  CHECK(mm[0]->file().path() == escaped);
  for (const auto& e : out) CHECK(e.IsInitialized());
}

TEST_CASE("flush_all emits what is held and still open", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string mp = dir.file("stick");
  DerivationOptions o;
  o.single_events_per_burst = 1;
  ActivityDeriver d(o, classifier());
  d.on_volume(volume(mp, true));
  std::vector<v1::Event> out;
  for (int i = 0; i < 5; ++i) d.on_file(act(FileAction::Write, put(mp + "/f" + std::to_string(i), "x"), kT0 + i * kMs), out);
  d.flush_all(out);
  CHECK(of_type(out, "exfil.removable").size() == 1);
  auto bulk = of_type(out, "file.bulk");
  REQUIRE(bulk.size() == 1);
  CHECK(bulk[0]->bulk().files() == 4);
}

TEST_CASE("the file's sensitivity labels ride on its exfiltration event", "[deriver]") {
  TempDir dir("vigil-deriver");
  const std::string mp = dir.file("stick");
  std::filesystem::create_directories(mp);
  DerivationOptions o;
  std::vector<std::string> asked;
  o.read_labels = [&asked](const std::string& path) {
    asked.push_back(path);  // only the classification worker calls this, one job at a time here
    return path.ends_with("plan.odt") ? std::vector<std::string>{"Highly Confidential", "bad\xff"}
                                      : std::vector<std::string>{};
  };
  ActivityDeriver d(o, classifier());
  d.on_volume(volume(mp, true));
  std::vector<v1::Event> out;
  d.on_file(act(FileAction::Write, put(mp + "/plan.odt", "plan"), kT0), out);
  d.on_file(act(FileAction::Write, put(mp + "/menu.txt", "menu"), kT0 + kMs), out);
  // A plain cp: the copy has no labels of its own, its source has.
  const std::string src = put(dir.file("home/plan.odt"), "the plan, again");
  d.on_file(act(FileAction::Read, src, kT0 + 2 * kMs), out);
  d.on_file(act(FileAction::Write, put(mp + "/copy.odt", "the plan, again"), kT0 + 3 * kMs), out);
  settle(d, out);
  std::map<std::string, const v1::Event*> by_path;
  for (const auto* e : of_type(out, "exfil.removable")) by_path[e->file().path()] = e;
  REQUIRE(by_path.count(mp + "/plan.odt"));
  REQUIRE(by_path.count(mp + "/menu.txt"));
  const auto& labels = by_path[mp + "/plan.odt"]->file().labels();
  REQUIRE(labels.size() == 2);
  CHECK(labels[0] == "Highly Confidential");
  CHECK(labels[1] == "bad\\xff");  // escaped, so the event stays valid UTF-8
  CHECK(by_path[mp + "/menu.txt"]->file().labels().empty());
  REQUIRE(by_path.count(mp + "/copy.odt"));
  CHECK(by_path[mp + "/copy.odt"]->file().source_path() == src);
  CHECK(by_path[mp + "/copy.odt"]->file().labels_size() == 2);
  CHECK(asked.size() == 4);
}
