// Content classifier (shared/classifier.h): validators, the corpus in data/classifier with its
// manifest of expected findings, custom rules, limits, files that vanish, chunk boundaries and
// hostile input.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shared/classifier.h"
#include "shared/classifier_validators.h"
#include "tests/unit/test_support.h"

using namespace vigil;
using vigil::test::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path kCorpus = fs::path(VIGIL_SOURCE_DIR) / "tests" / "unit" / "data" / "classifier";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::unique_ptr<Classifier> make(const std::vector<ClassifierRule>& rules = {}) {
  auto c = Classifier::create(rules);
  INFO((c.ok() ? std::string() : c.error()));
  REQUIRE(c.ok());
  return std::move(c).value();
}

std::string rendered(const Result<ScanResult>& r) {
  INFO((r.ok() ? std::string() : r.error()));
  REQUIRE(r.ok());
  return render_findings(r->findings);
}

std::string scan_str(const Classifier& c, std::string_view s, const ScanLimits& l = {}) { return rendered(c.scan(s, l)); }

ClassifierRule keywords(std::string id, std::vector<std::string> kws, std::uint32_t min_count = 1) {
  ClassifierRule r;
  r.id = std::move(id);
  r.kind = ClassifierRule::Kind::Keywords;
  r.keywords = std::move(kws);
  r.min_count = min_count;
  return r;
}

ClassifierRule regex(std::string id, std::string re, std::uint32_t min_count = 1, bool ci = false) {
  ClassifierRule r;
  r.id = std::move(id);
  r.kind = ClassifierRule::Kind::Regex;
  r.regex = std::move(re);
  r.min_count = min_count;
  r.case_insensitive = ci;
  return r;
}

// Tokens assembled at run time so the repository does not carry strings that secret scanners
// would flag; none of these is a real credential.
std::string fake_github_token() { return std::string("gh") + "p_" + "R4nd0mLooking7okenQx92LmZpT3vWs8KdN1"; }
std::string fake_github_pat() {
  return std::string("github") + "_pat_" + "11ABCDEFG0123456789xyz" + "_" +
         "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5kL7nP9rS1uV3xY5zA7cD9fG";
}
std::string fake_slack_token() { return std::string("xo") + "xb-" + "2635942065641-2343594206574-FGqddMF8t08v8N7Oq4i57vs1"; }
std::string fake_google_key() { return std::string("AI") + "za" + "SyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"; }

}  // namespace

TEST_CASE("classifier validators accept real values and reject look-alikes", "[classify]") {
  using namespace vigil::classify;
  CHECK(luhn_valid("4111111111111111"));
  CHECK(luhn_valid("79927398713"));
  CHECK_FALSE(luhn_valid("4111111111111112"));
  CHECK_FALSE(luhn_valid(""));
  CHECK_FALSE(luhn_valid("4111x11111111111"));

  CHECK(card_number_valid("4111 1111 1111 1111"));
  CHECK(card_number_valid("4111-1111-1111-1111"));
  CHECK(card_number_valid("4111111111111111"));
  CHECK(card_number_valid("3782 822463 10005"));
  CHECK(card_number_valid("378282246310005"));
  CHECK(card_number_valid("6011000990139424"));
  CHECK(card_number_valid("2221000000000009"));
  CHECK(card_number_valid("4222222222222"));
  CHECK_FALSE(card_number_valid("4111 1111-1111 1111"));  // mixed separators
  CHECK_FALSE(card_number_valid("4111 1111 1111 1112"));  // Luhn
  CHECK_FALSE(card_number_valid("3530111333300000"));     // JCB: not a supported brand
  CHECK_FALSE(card_number_valid("37828224631000"));       // Amex with 14 digits
  CHECK_FALSE(card_number_valid("3782 8224 6310 005"));   // Amex grouped 4-4-4-3
  CHECK_FALSE(card_number_valid("1234567812345678"));

  CHECK(ssn_valid("536-22-8761"));
  CHECK(ssn_valid("899-99-9999"));
  for (const char* bad : {"000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567",
                          "123-45-0000", "078-05-1120", "219-09-9999", "123456789", "12-345-6789", "123-45-678a"})
    CHECK_FALSE(ssn_valid(bad));

  CHECK(iban_valid("GB82 WEST 1234 5698 7654 32"));
  CHECK(iban_valid("GB82WEST12345698765432"));
  CHECK(iban_valid("DE89 3704 0044 0532 0130 00"));
  CHECK(iban_valid("NO93 8601 1117 947"));
  CHECK(iban_valid("IT60X0542811101000000123456"));
  CHECK_FALSE(iban_valid("GB82 WEST 1234 5698 7654 33"));   // checksum
  CHECK_FALSE(iban_valid("GB82 WEST 1234 5698 7654 3"));    // length for GB
  CHECK_FALSE(iban_valid("GB82 WEST 12345698 7654 32"));    // grouping
  CHECK_FALSE(iban_valid("ZZ82WEST12345698765432"));        // unknown country
  CHECK_FALSE(iban_valid("gb82west12345698765432"));        // lower case
  CHECK(iban_length_for_country("DE") == 22);
  CHECK(iban_length_for_country("US") == 0);

  CHECK(email_valid("alice.smith@example.com"));
  CHECK(email_valid("bob+tag@mail.example.co.uk"));
  for (const char* bad : {"john..doe@example.com", ".john@example.com", "john.@example.com", "foo@bar",
                          "@example.com", "user@-bad.example.com", "user@example.c", "user@example.123",
                          "user@exa_mple.com", "user@example..com"})
    CHECK_FALSE(email_valid(bad));

  CHECK(aws_key_id_valid("AKIAIOSFODNN7EXAMPLE"));
  CHECK(aws_key_id_valid("ASIAY34FZKBOKMUTVV7A"));
  CHECK_FALSE(aws_key_id_valid("AKIA1234567890123456"));
  CHECK_FALSE(aws_key_id_valid("AKIAIOSFODNN7EXAMPL"));
  CHECK(aws_secret_value_valid("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
  CHECK_FALSE(aws_secret_value_valid("da39a3ee5e6b4b0d3255bfef95601890afd80709"));

  CHECK(github_token_valid(fake_github_token()));
  CHECK(github_token_valid(fake_github_pat()));
  CHECK_FALSE(github_token_valid("ghp_" + std::string(36, 'x')));
  CHECK(slack_token_valid(fake_slack_token()));
  CHECK_FALSE(slack_token_valid("xoxb-your-token-goes-here-now"));
  CHECK(google_api_key_valid(fake_google_key()));
  CHECK_FALSE(google_api_key_valid(fake_google_key().substr(0, 38)));
}

TEST_CASE("classifier corpus: exact findings per file through scan and scan_file", "[classify]") {
  REQUIRE(fs::is_directory(kCorpus));
  std::ifstream manifest(kCorpus / "manifest.txt");
  REQUIRE(manifest);
  auto c = make();
  std::map<std::string, std::string> expected;
  std::string line;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string file, want;
    ls >> file >> want;
    REQUIRE(!want.empty());
    expected[file] = want == "-" ? "" : want;
  }
  REQUIRE(expected.size() >= 9);
  // Every corpus file is in the manifest (a new file without expectations would test nothing).
  for (const auto& e : fs::directory_iterator(kCorpus)) {
    const std::string name = e.path().filename().string();
    if (name != "manifest.txt") CHECK(expected.count(name) == 1);
  }
  for (const auto& [file, want] : expected) {
    INFO("corpus file " << file);
    const std::string path = (kCorpus / file).string();
    const std::string data = slurp(path);
    REQUIRE(!data.empty());
    auto r = c->scan(data);
    CHECK(rendered(r) == want);
    CHECK(r->bytes_scanned == data.size());
    CHECK_FALSE(r->truncated);
    CHECK_FALSE(r->timed_out);
    for (std::size_t chunk : {std::size_t{64}, std::size_t{97}, std::size_t{1} << 20}) {
      INFO("scan_file chunk " << chunk);
      ScanLimits l;
      l.chunk_bytes = chunk;
      auto fr = c->scan_file(path, l);
      CHECK(rendered(fr) == want);
      CHECK(fr->bytes_scanned == data.size());
    }
  }
}

TEST_CASE("classifier renders findings compactly", "[classify]") {
  CHECK(render_findings({}) == "");
  CHECK(render_findings({{"credit_card", 3, Finding::Confidence::High}, {"email", 12, Finding::Confidence::Medium},
                         {"project_x", 1, Finding::Confidence::Low}}) ==
        "credit_card:3:high,email:12:medium,project_x:1:low");
  const auto ids = builtin_type_ids();
  CHECK(ids.size() == 10);
  CHECK(std::find(ids.begin(), ids.end(), "credit_card") != ids.end());
}

TEST_CASE("classifier counts occurrences, not engine reports", "[classify]") {
  auto c = make();
  // One address is one occurrence, however many of its prefixes look like addresses (b.co, b.co.uk).
  CHECK(scan_str(*c, "x bob@mail.example.co.uk y") == "email:1:medium");
  // The same number twice is two occurrences; adjacent cards separated by one space are two.
  CHECK(scan_str(*c, "4111111111111111 and 4111111111111111") == "credit_card:2:medium");
  CHECK(scan_str(*c, "4111 1111 1111 1111 5500 0000 0000 0004") == "credit_card:2:medium");
  // A context keyword after the value also counts.
  CHECK(scan_str(*c, "4111111111111111 (visa)") == "credit_card:1:high");
  // A keyword inside the match itself does not corroborate it.
  CHECK(scan_str(*c, "contact@example.com") == "email:1:medium");
  // Email edges: leading punctuation and a trailing full stop are not part of the address; an
  // address glued to a word character is not one.
  CHECK(scan_str(*c, "..bob@example.com.") == "email:1:medium");
  CHECK(scan_str(*c, "<bob@example.com>, (amy@example.org)") == "email:2:medium");
  CHECK(scan_str(*c, "bob@example.com_x") == "");
  CHECK(scan_str(*c, "a@b@example.com") == "email:1:medium");
  // Context is a word start: "discard" does not contain the keyword "card" at a word start.
  CHECK(scan_str(*c, "discard 4111111111111111") == "credit_card:1:medium");
  // ... and it must be within kContextWindow bytes.
  CHECK(scan_str(*c, "card" + std::string(kContextWindow + 1, ' ') + "4111111111111111") == "credit_card:1:medium");
  CHECK(scan_str(*c, "card" + std::string(kContextWindow - 4, ' ') + "4111111111111111") == "credit_card:1:high");
}

TEST_CASE("classifier finds cloud tokens built at run time", "[classify]") {
  auto c = make();
  CHECK(scan_str(*c, "export GITHUB_TOKEN=" + fake_github_token() + "\n") == "github_token:1:high");
  CHECK(scan_str(*c, "x " + fake_github_pat() + " y") == "github_token:1:medium");
  CHECK(scan_str(*c, "ghp_" + std::string(36, 'x')) == "");
  CHECK(scan_str(*c, "slack bot: " + fake_slack_token()) == "slack_token:1:high");
  CHECK(scan_str(*c, "xoxb-your-token-goes-here-now") == "");
  CHECK(scan_str(*c, "q=" + fake_google_key() + "&z") == "google_api_key:1:medium");
  CHECK(scan_str(*c, "google maps: " + fake_google_key()) == "google_api_key:1:high");
  CHECK(scan_str(*c, fake_google_key() + "X") == "");  // longer than a key
  CHECK(scan_str(*c, "AWS_SECRET_ACCESS_KEY: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"") ==
        "aws_secret_access_key:1:high");
  CHECK(scan_str(*c, "{\"awsSecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}") ==
        "aws_secret_access_key:1:high");
  CHECK(scan_str(*c, "secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == "");  // no "aws"
  CHECK(scan_str(*c, "aws secret access key => wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX") == "");
}

TEST_CASE("classifier custom keyword lists: case-insensitive whole words", "[classify]") {
  auto c = make({keywords("project_titan", {"Project Titan", "titan-x", "  confidential ", "c++"}),
                 keywords("classified", {"top secret", "secret"})});
  CHECK(scan_str(*c, "PROJECT   TITAN kickoff") == "project_titan:1:low");
  CHECK(scan_str(*c, "project\ntitan and Project Titan") == "project_titan:2:low");
  CHECK(scan_str(*c, "Titanic projects, titan-xl, confidentiality, unconfidential") == "");
  CHECK(scan_str(*c, "TITAN-X, Confidential.") == "project_titan:2:low");
  CHECK(scan_str(*c, "we use C++ here") == "project_titan:1:low");
  // "top secret" contains "secret": one occurrence, not two.
  CHECK(scan_str(*c, "TOP SECRET memo") == "classified:1:low");
  CHECK(scan_str(*c, "secret secret") == "classified:2:low");
  CHECK(scan_str(*c, "secretary") == "");
}

TEST_CASE("classifier custom regexes, min_count and built-in thresholds", "[classify]") {
  auto c = make({regex("ticket", R"(TCK-\d{4,8})"), regex("codename", R"(\bfalcon\b)", 1, true),
                 regex("line_start", R"(^INTERNAL)"), regex("bulk_ip", R"(\b\d{1,3}(?:\.\d{1,3}){3}\b)", 3),
                 ClassifierRule{"email", ClassifierRule::Kind::Builtin, {}, {}, false, 3}});
  CHECK(c->pattern_count() >= builtin_type_ids().size() + 4);
  CHECK(scan_str(*c, "see TCK-123456 now") == "ticket:1:low");  // many end offsets, one hit
  CHECK(scan_str(*c, "TCK-1234 TCK-5678,TCK-9999") == "ticket:3:low");
  CHECK(scan_str(*c, "FALCON and Falcon") == "codename:2:low");
  CHECK(scan_str(*c, "x INTERNAL\nINTERNAL only\n") == "line_start:1:low");  // multi-line ^
  CHECK(scan_str(*c, "10.0.0.1 10.0.0.2") == "");                             // below min_count 3
  CHECK(scan_str(*c, "10.0.0.1 10.0.0.2 192.168.1.1") == "bulk_ip:3:low");
  CHECK(scan_str(*c, "a@example.com b@example.com") == "");  // email raised to min_count 3
  CHECK(scan_str(*c, "a@example.com b@example.com c@example.com") == "email:3:medium");
}

TEST_CASE("classifier counts regexes Hyperscan cannot track the start of", "[classify]") {
  // \S{6,64} after a variable prefix: Hyperscan refuses start-of-match tracking for this one, so
  // occurrences are told apart by end offsets (a report right after the previous one is the same
  // occurrence growing).
  auto c = make({regex("pw", R"(\bpass(?:word|wd)?\s*[:=]\s*\S{6,64})", 1, true), regex("fixed", R"(\bK\d{4}\b)")});
  CHECK(scan_str(*c, "password: hunter2hunter2 and PASSWD=abcdefghij, pass = zzzzzz") == "pw:3:low");
  CHECK(scan_str(*c, "password: short") == "");
  CHECK(scan_str(*c, "K1234 K5678 K123 K12345") == "fixed:2:low");
}

TEST_CASE("classifier rejects bad rules with the rule id", "[classify]") {
  auto bad = Classifier::create({keywords("ok_rule", {"fine"}), regex("broken_rule", "foo(bar")});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("broken_rule") != std::string::npos);
  CHECK(bad.error().find("does not compile") != std::string::npos);
  INFO(bad.error());

  auto empty_match = Classifier::create({regex("matches_empty", "a*")});
  REQUIRE_FALSE(empty_match.ok());
  CHECK(empty_match.error().find("matches_empty") != std::string::npos);

  auto backref = Classifier::create({regex("backref", R"((a)\1)")});
  REQUIRE_FALSE(backref.ok());
  CHECK(backref.error().find("backref") != std::string::npos);

  CHECK_FALSE(Classifier::create({regex("", "x")}).ok());
  CHECK_FALSE(Classifier::create({regex("has space", "x")}).ok());
  CHECK_FALSE(Classifier::create({regex("has:colon", "x")}).ok());
  CHECK_FALSE(Classifier::create({regex("dup", "x"), keywords("dup", {"y"})}).ok());
  CHECK_FALSE(Classifier::create({regex("credit_card", "x")}).ok());
  CHECK_FALSE(Classifier::create({keywords("nothing", {})}).ok());
  CHECK_FALSE(Classifier::create({keywords("blank", {"ok", "   "})}).ok());
  CHECK_FALSE(Classifier::create({regex("zero", "x", 0)}).ok());
  CHECK_FALSE(Classifier::create({regex("empty", "")}).ok());
  CHECK_FALSE(Classifier::create({ClassifierRule{"no_such_builtin", ClassifierRule::Kind::Builtin, {}, {}, false, 2}}).ok());
}

TEST_CASE("classifier stops at max_bytes and says so", "[classify]") {
  auto c = make();
  TempDir dir("vigil-classify");
  const std::string head = "contact alice@example.com\n";
  std::string data = head + std::string(8192, 'z') + "\nbob@example.com\n";
  const auto path = dir.write("big.txt", data);
  ScanLimits l;
  l.max_bytes = 4096;
  for (std::size_t chunk : {std::size_t{64}, std::size_t{1000}, std::size_t{1} << 20}) {
    l.chunk_bytes = chunk;
    auto fr = c->scan_file(path, l);
    CHECK(rendered(fr) == "email:1:high");
    CHECK(fr->truncated);
    CHECK(fr->bytes_scanned == 4096);
  }
  auto r = c->scan(data, l);
  CHECK(rendered(r) == "email:1:high");
  CHECK(r->truncated);
  CHECK(r->bytes_scanned == 4096);

  // "No limit" works too.
  l.max_bytes = std::numeric_limits<std::size_t>::max();
  CHECK(rendered(c->scan_file(path, l)) == "email:2:high");
  CHECK(scan_str(*c, data, l) == "email:2:high");

  // Exactly max_bytes long is not truncated.
  l.max_bytes = data.size();
  auto exact = c->scan_file(path, l);
  CHECK(rendered(exact) == "email:2:high");
  CHECK_FALSE(exact->truncated);
  CHECK_FALSE(c->scan(data, l)->truncated);

  // A hit cut by the limit is not half-counted.
  l.max_bytes = head.size() - 6;  // "contact alice@example"
  CHECK(scan_str(*c, data, l) == "");
  CHECK(rendered(c->scan_file(path, l)) == "");
}

TEST_CASE("classifier stops at max_time and says so", "[classify]") {
  auto c = make();
  std::string data(32 << 20, 'a');
  ScanLimits l;
  l.max_bytes = data.size();
  l.max_time = std::chrono::milliseconds(0);
  auto r = c->scan(data, l);
  REQUIRE(r.ok());
  CHECK(r->timed_out);
  CHECK(r->bytes_scanned < data.size());

  // Many hits: the deadline is also checked between engine reports.
  std::string dense;
  while (dense.size() < (16 << 20)) dense += "a@b.cc ";
  l.max_bytes = dense.size();
  l.max_time = std::chrono::milliseconds(5);
  l.chunk_bytes = dense.size();
  auto d = c->scan(dense, l);
  REQUIRE(d.ok());
  CHECK(d->timed_out);
  CHECK(d->bytes_scanned < dense.size());
}

TEST_CASE("classifier scan_file: vanished, deleted and odd files are error values", "[classify]") {
  auto c = make();
  TempDir dir("vigil-classify");
  auto missing = c->scan_file(dir.file("does-not-exist"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("does-not-exist") != std::string::npos);

  CHECK_FALSE(c->scan_file(dir.path.string()).ok());  // a directory
  const std::string fifo = dir.file("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto f = c->scan_file(fifo);  // must not block waiting for a writer
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().find("not a regular file") != std::string::npos);

  // Deleted after it was opened (the agent holds an fd from the event).
  const auto path = dir.write("gone.txt", "4111111111111111\n");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::unlink(path.c_str()) == 0);
  auto gone = c->scan_fd(fd, path);
  ::close(fd);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().find("deleted") != std::string::npos);

  // Deleted while a slow scan (64-byte chunks) is under way: an error value, never a crash.
  std::string big;
  while (big.size() < (8 << 20)) big += "order 4111 1111 1111 1111 shipped to bob@example.com today\n";
  bool saw_mid_scan_delete = false;
  for (int attempt = 0; attempt < 5 && !saw_mid_scan_delete; ++attempt) {
    const auto p = dir.write("slow.txt", big);
    ScanLimits l;
    l.chunk_bytes = 64;
    l.max_bytes = big.size();
    l.max_time = std::chrono::seconds(30);
    std::atomic<bool> started{false};
    Result<ScanResult> res = err("not run");
    std::thread t([&] {
      started = true;
      res = c->scan_file(p, l);
    });
    while (!started) std::this_thread::yield();
    // The scan takes hundreds of ms (128k reads of 64 bytes); 20 ms in, it is well under way.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::unlink(p.c_str());
    t.join();
    if (!res.ok()) {
      INFO(res.error());
      CHECK(res.error().find("deleted") != std::string::npos);
      saw_mid_scan_delete = res.error().find("while it was being scanned") != std::string::npos;
    }
  }
  CHECK(saw_mid_scan_delete);
}

TEST_CASE("classifier scan_file finds hits straddling chunk boundaries", "[classify]") {
  auto c = make({keywords("codeword", {"bluebird"}), regex("ticket", R"(TCK-\d{6})")});
  TempDir dir("vigil-classify");
  constexpr std::size_t kChunk = 4096;
  const std::vector<std::string> needles = {"card 4111 1111 1111 1111", "mail bob@example.com",
                                            "IBAN GB82 WEST 1234 5698 7654 32", "bluebird", "TCK-123456",
                                            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"};
  const std::vector<std::string> want = {"credit_card:1:high", "email:1:high", "iban:1:high", "codeword:1:low",
                                         "ticket:1:low", "private_key:1:high"};
  for (std::size_t i = 0; i < needles.size(); ++i) {
    const std::string& n = needles[i];
    for (std::size_t cut = 1; cut < n.size(); cut += 3) {
      // The needle starts `cut` bytes before the first chunk boundary (and again at the third).
      std::string data(kChunk - cut, '.');
      data += ' ' + n + ' ';
      data.resize(3 * kChunk - cut, '.');
      data += ' ' + n + ' ';
      data.resize(4 * kChunk, '.');
      const auto path = dir.write("straddle.txt", data);
      ScanLimits l;
      l.chunk_bytes = kChunk;
      INFO("needle " << n << " cut " << cut);
      std::string w = want[i];
      w.replace(w.find(":1:"), 3, ":2:");
      CHECK(rendered(c->scan_file(path, l)) == w);
      CHECK(scan_str(*c, data, l) == w);
    }
  }

  // Context in the previous chunk, value in the next: the confidence does not depend on chunking.
  std::string data(kChunk - 10, ' ');
  data += "SSN:      536-22-8761 end";
  const auto path = dir.write("context.txt", data);
  ScanLimits l;
  l.chunk_bytes = kChunk;
  CHECK(rendered(c->scan_file(path, l)) == "us_ssn:1:high");
}

TEST_CASE("classifier scan and scan_file agree on generated text at any chunk size", "[classify]") {
  auto c = make({keywords("kw", {"alpha", "omega"}), regex("re", R"(REF-\d{5})")});
  std::mt19937 rng(1234);
  const std::vector<std::string> parts = {"lorem ", "ipsum ", "4111 1111 1111 1111 ", "card ", "536-22-8761 ",
                                          "a.b@example.org ", "GB82WEST12345698765432 ", "alpha ", "OMEGA ",
                                          "REF-12345 ", "1234567812345678 ", "\n", "AKIAIOSFODNN7EXAMPLE ", "-- "};
  std::string data;
  while (data.size() < 200000) data += parts[rng() % parts.size()];
  TempDir dir("vigil-classify");
  const auto path = dir.write("gen.txt", data);
  ScanLimits whole;
  whole.max_bytes = data.size();
  whole.max_time = std::chrono::seconds(30);
  const std::string expect = scan_str(*c, data, whole);
  CHECK(expect.find("credit_card:") != std::string::npos);
  for (std::size_t chunk : {std::size_t{64}, std::size_t{100}, std::size_t{777}, std::size_t{4096}, std::size_t{65536}}) {
    ScanLimits l = whole;
    l.chunk_bytes = chunk;
    INFO("chunk " << chunk);
    CHECK(rendered(c->scan_file(path, l)) == expect);
    CHECK(scan_str(*c, data, l) == expect);
  }
  // The SIMD levels of the shape scanner (cards, SSNs, IBANs) agree with the plain C++ one, here
  // and on "digit soup" that puts card, SSN and IBAN shapes at every alignment.
  std::string soup;
  auto digits = [&](int n) {
    std::string d;
    for (int i = 0; i < n; ++i) d += static_cast<char>('0' + rng() % 10);
    return d;
  };
  const std::string seps = " -";
  while (soup.size() < (1 << 20)) {
    const char sep = seps[rng() % 2];
    switch (rng() % 9) {
      case 0: soup += digits(1 + static_cast<int>(rng() % 20)); break;
      case 1: soup += digits(3) + "-" + digits(2) + "-" + digits(4); break;  // SSN shape
      case 2: soup += std::to_string(2 + rng() % 5) + digits(3) + sep + digits(4) + sep + digits(4) + sep + digits(4); break;
      case 3: soup += "3" + std::to_string(rng() % 2 ? 4 : 7) + digits(2) + sep + digits(6) + sep + digits(5); break;
      case 4: soup += "GB" + digits(2) + "WEST" + digits(14); break;
      case 5: soup += std::string(1, "GDNFB"[rng() % 5]) + std::string(1, "BERL"[rng() % 4]) + digits(2); break;
      case 6: soup += std::string(1, seps[rng() % 2]); break;
      case 7: soup += "\n"; break;
      default: soup += std::string(1, static_cast<char>('A' + rng() % 26)); break;
    }
  }
  ScanLimits soup_limits = whole;
  soup_limits.max_bytes = soup.size();
  const std::string soup_expect = scan_str(*c, soup, soup_limits);
  CHECK(soup_expect.find("credit_card:") != std::string::npos);
  CHECK(soup_expect.find("us_ssn:") != std::string::npos);
  const auto soup_path = dir.write("soup.txt", soup);
  for (std::size_t chunk : {std::size_t{64}, std::size_t{333}, std::size_t{1} << 20}) {
    ScanLimits l = soup_limits;
    l.chunk_bytes = chunk;
    INFO("soup chunk " << chunk);
    CHECK(rendered(c->scan_file(soup_path, l)) == soup_expect);
  }
  for (auto simd : {ClassifierOptions::Simd::Scalar, ClassifierOptions::Simd::Sse2, ClassifierOptions::Simd::Avx2}) {
    auto s = Classifier::create({keywords("kw", {"alpha", "omega"}), regex("re", R"(REF-\d{5})")}, ClassifierOptions{simd});
    REQUIRE(s.ok());
    INFO("simd level " << static_cast<int>(simd));
    CHECK(scan_str(**s, data, whole) == expect);
    CHECK(scan_str(**s, soup, soup_limits) == soup_expect);
  }
}

TEST_CASE("classifier survives binary garbage and odd input", "[classify]") {
  auto c = make({keywords("kw", {"secret"}), regex("re", R"([\x00-\xff]{3}\x00)")});
  std::mt19937_64 rng(42);
  std::string junk(4 << 20, '\0');
  for (auto& ch : junk) ch = static_cast<char>(rng());
  ScanLimits l;
  l.max_bytes = junk.size();
  l.max_time = std::chrono::seconds(30);
  auto r = c->scan(junk, l);
  REQUIRE(r.ok());
  CHECK(r->bytes_scanned == junk.size());

  // Every byte value, NULs inside would-be hits, invalid UTF-8, high bytes around valid values.
  std::string odd;
  for (int i = 0; i < 256; ++i) odd += static_cast<char>(i);
  odd += std::string("4111\0" "1111 1111 1111", 19) + "\xff\xfe" + "bob@example.com" + "\xc3\x28" + "\x80" +
         "536-22-8761" + std::string(1, '\0');
  auto o = c->scan(odd);
  REQUIRE(o.ok());
  CHECK(render_findings(o->findings).find("email:1:") != std::string::npos);
  CHECK(render_findings(o->findings).find("us_ssn:1:") != std::string::npos);
  CHECK(render_findings(o->findings).find("credit_card") == std::string::npos);

  CHECK(scan_str(*c, "") == "");
  CHECK(c->scan("")->bytes_scanned == 0);
  TempDir dir("vigil-classify");
  CHECK(rendered(c->scan_file(dir.write("empty.txt", ""))) == "");
}

TEST_CASE("classifier is safe to use from several threads at once", "[classify]") {
  auto c = make({keywords("kw", {"bluebird"})});
  std::string data;
  for (int i = 0; i < 2000; ++i) data += "card 4111 1111 1111 1111, bob@example.com, bluebird; filler text here\n";
  const std::string expect = "credit_card:2000:high,email:2000:medium,kw:2000:low";
  ScanLimits l;
  l.max_time = std::chrono::seconds(30);
  l.chunk_bytes = 4096;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = c->scan(data, l);
        if (r.ok() && render_findings(r->findings) == expect) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 60);
}
