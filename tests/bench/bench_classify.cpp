// bench_classify: content classifier throughput, one thread (= one core).
// Usage: bench_classify [megabytes=256] [runs=5]
// Generates realistic text in memory (English-like prose, numbers of every kind: prices, dates,
// phone and order numbers, 16-digit ids, versions, IPs; a sprinkle of true positives: cards,
// SSNs, IBANs, emails, AWS key ids, PEM headers, plus words and ids the custom rules look for),
// then scans it with Classifier::scan and reports, per configuration, the median of `runs` timed
// runs (after one warm-up) in GB/s (1e9 bytes/s) of this thread's CPU time (wall-clock alongside):
//   standard  all built-in types + 22 custom patterns in 14 rules: 12 keywords in 4 keyword lists
//             and 10 regexes with a literal part (ids, tickets, invoices, password assignments,
//             JWTs, SWIFT codes, dates of birth, internal URLs)
//   built-ins all built-in types, no custom rules
//   heavy     all built-in types + 57 custom patterns in 24 rules (43 keywords, 14 regexes of
//             which 5 start with a character class: IPv4, US phone, passport-like, UK NINO,
//             SHA-256 hex), to show what such rules cost
// and the standard configuration on pure random bytes and through scan_file (page cache warm).
// Goal (issue 3): >= 1 GB/s per core on text with 20+ patterns.
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "shared/classifier.h"

using namespace vigil;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kWords[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
    "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
    "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when",
    "will", "would", "who", "so", "no", "report", "quarter", "revenue", "customer", "service", "team",
    "project", "meeting", "schedule", "review", "budget", "forecast", "update", "system", "network",
    "account", "policy", "process", "release", "version", "support", "request", "issue", "status",
    "approval", "contract", "vendor", "invoice", "shipment", "warehouse", "inventory", "product",
    "market", "analysis", "growth", "strategy", "operations", "finance", "legal", "security", "compliance",
    "employee", "manager", "director", "office", "travel", "expense", "deadline", "draft", "final",
    "document", "spreadsheet", "presentation", "summary", "details", "attached", "please", "thanks",
    "regards", "tomorrow", "yesterday", "week", "month", "year", "today", "morning", "afternoon",
    "discussed", "agreed", "planned", "completed", "pending", "delayed", "approved", "rejected", "signed",
    "database", "server", "backup", "migration", "deployment", "incident", "outage", "latency",
    "throughput", "capacity", "storage", "memory", "cluster", "region", "pipeline", "dashboard",
    "metrics", "alert", "ticket", "priority", "owner", "stakeholder", "roadmap", "milestone", "launch",
    "design", "prototype", "feedback", "research", "training", "onboarding", "benefits", "payroll",
    "audit", "risk", "control", "evidence", "finding", "remediation", "exception", "waiver", "renewal",
    "pricing", "discount", "margin", "target", "pipeline", "lead", "opportunity", "partner", "channel",
    "north", "south", "east", "west", "central", "global", "local", "regional", "annual", "monthly",
    "new", "old", "large", "small", "high", "low", "first", "last", "next", "previous", "other", "same",
    "important", "urgent", "minor", "major", "critical", "optional", "required", "available", "current"};
constexpr std::size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

const char* const kTruePositives[] = {
    "Card on file: 4111 1111 1111 1111 exp 09/27.",
    "paid with 5500-0000-0000-0004",
    "Employee SSN 536-22-8761 updated.",
    "Wire to IBAN GB82 WEST 1234 5698 7654 32 today.",
    "beneficiary DE89370400440532013000",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAtestkeymaterialnotarealkeyAAAAAAAAAAAAAAAA\n",
    "Contact TCK-004512 owner EMP204518 about project titan (confidential).",
    "Patient diagnosis attached; salary review pending; INV-2024-004512.",
    "Bluebird merger: do not distribute. password: Winter2024!x ACCT-00412345",
    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "SWIFT code: DEUTDEFF500, DOB: 04/07/1985, see https://wiki.corp.example.com/hr",
};
constexpr std::size_t kTpCount = sizeof(kTruePositives) / sizeof(kTruePositives[0]);

const char* const kFirst[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"};
const char* const kDomains[] = {"example.com", "corp.example.org", "mail.example.net", "example.co.uk"};

std::string number_token(std::mt19937_64& rng) {
  char buf[64];
  switch (rng() % 12) {
    case 0:
      std::snprintf(buf, sizeof buf, "%u", static_cast<unsigned>(rng() % 1000));
      break;
    case 1:
      std::snprintf(buf, sizeof buf, "$%u,%03u.%02u", static_cast<unsigned>(rng() % 100), static_cast<unsigned>(rng() % 1000),
                    static_cast<unsigned>(rng() % 100));
      break;
    case 2:
      std::snprintf(buf, sizeof buf, "20%02u-%02u-%02u", static_cast<unsigned>(rng() % 30), static_cast<unsigned>(1 + rng() % 12),
                    static_cast<unsigned>(1 + rng() % 28));
      break;
    case 3:
      std::snprintf(buf, sizeof buf, "%02u:%02u", static_cast<unsigned>(rng() % 24), static_cast<unsigned>(rng() % 60));
      break;
    case 4:
      std::snprintf(buf, sizeof buf, "555-%03u-%04u", static_cast<unsigned>(rng() % 1000), static_cast<unsigned>(rng() % 10000));
      break;
    case 5:
      std::snprintf(buf, sizeof buf, "ORD-2024-%06u", static_cast<unsigned>(rng() % 1000000));
      break;
    case 6:
      std::snprintf(buf, sizeof buf, "%u.%u%%", static_cast<unsigned>(rng() % 100), static_cast<unsigned>(rng() % 10));
      break;
    case 7:  // 16-digit ids: some start like cards, ~10% of those pass Luhn (realistic false positives)
      std::snprintf(buf, sizeof buf, "%08llu%08llu", static_cast<unsigned long long>(rng() % 100000000ULL),
                    static_cast<unsigned long long>(rng() % 100000000ULL));
      break;
    case 8:
      std::snprintf(buf, sizeof buf, "%u.%u.%u", static_cast<unsigned>(rng() % 10), static_cast<unsigned>(rng() % 30),
                    static_cast<unsigned>(rng() % 100));
      break;
    case 9:
      std::snprintf(buf, sizeof buf, "10.%u.%u.%u", static_cast<unsigned>(rng() % 256), static_cast<unsigned>(rng() % 256),
                    static_cast<unsigned>(rng() % 256));
      break;
    case 10:
      std::snprintf(buf, sizeof buf, "%u", static_cast<unsigned>(1990 + rng() % 40));
      break;
    default:
      std::snprintf(buf, sizeof buf, "#%u", static_cast<unsigned>(rng() % 100000));
      break;
  }
  return buf;
}

std::string make_text(std::size_t bytes) {
  std::mt19937_64 rng(20240601);
  std::string out;
  out.reserve(bytes + 4096);
  std::size_t next_tp = 8192;
  while (out.size() < bytes) {
    const std::size_t words = 6 + rng() % 18;
    for (std::size_t w = 0; w < words; ++w) {
      const unsigned r = static_cast<unsigned>(rng() % 100);
      std::string tok;
      if (r < 8) {
        tok = number_token(rng);
      } else if (r < 9 && rng() % 8 == 0) {  // an email address every few KB
        tok = std::string(kFirst[rng() % 10]) + "." + kFirst[rng() % 10] + "@" + kDomains[rng() % 4];
      } else {
        tok = kWords[rng() % kWordCount];
      }
      if (w == 0 && !tok.empty() && tok[0] >= 'a' && tok[0] <= 'z') tok[0] = static_cast<char>(tok[0] - 32);
      out += tok;
      out += (w + 1 == words) ? ". " : (rng() % 12 == 0 ? ", " : " ");
    }
    if (rng() % 6 == 0) out += "\n\n";
    if (out.size() >= next_tp) {
      out += kTruePositives[rng() % kTpCount];
      out += "\n";
      next_tp = out.size() + 4096 + rng() % 24576;  // one every ~16 KB on average
    }
  }
  out.resize(bytes);
  return out;
}

std::string make_random(std::size_t bytes) {
  std::mt19937_64 rng(7);
  std::string out(bytes, '\0');
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(&out[i], &v, 8);
  }
  return out;
}

ClassifierRule kw(const char* id, std::vector<std::string> words) {
  ClassifierRule r;
  r.id = id;
  r.kind = ClassifierRule::Kind::Keywords;
  r.keywords = std::move(words);
  return r;
}
ClassifierRule re(const char* id, const char* expr, bool ci = false) {
  ClassifierRule r;
  r.id = id;
  r.kind = ClassifierRule::Kind::Regex;
  r.regex = expr;
  r.case_insensitive = ci;
  return r;
}

// 22 custom patterns: 12 keywords (4 lists) and 10 regexes with a literal part.
std::vector<ClassifierRule> standard_rules() {
  return {
      kw("confidential", {"confidential", "internal use only", "do not distribute"}),
      kw("codenames", {"bluebird", "nightjar", "kestrel"}),
      kw("finance_terms", {"merger", "acquisition", "earnings guidance"}),
      kw("hr_terms", {"salary", "severance", "performance review"}),
      re("ticket", R"(\bTCK-\d{6}\b)"),
      re("employee_id", R"(\bEMP\d{6}\b)"),
      re("invoice", R"(\bINV-\d{4}-\d{5,7}\b)"),
      re("project_code", R"(\bPRJ-[A-Z]{3}-\d{3}\b)"),
      re("account_number", R"(\bACCT-\d{8}\b)"),
      re("password_assignment", R"(\bpass(?:word|wd)?\s*[:=]\s*\S{6,64})", true),
      re("jwt", R"(\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"),
      re("swift_bic", R"(\bswift(?: code)?:?\s*[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b)", true),
      re("date_of_birth", R"(\b(?:dob|date of birth)\s*[:=]?\s*\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b)", true),
      re("internal_url", R"(https?://[a-z0-9.-]+\.corp\.example\.com)"),
  };
}

// 57 custom patterns: 43 keywords (10 lists) and 14 regexes, 5 of them class-led.
std::vector<ClassifierRule> heavy_rules() {
  return {
      kw("confidential", {"confidential", "internal use only", "do not distribute", "proprietary"}),
      kw("codenames", {"titan", "bluebird", "nightjar", "kestrel", "osprey"}),
      kw("finance_terms", {"merger", "acquisition", "earnings guidance", "insider", "material nonpublic"}),
      kw("hr_terms", {"salary", "termination", "disciplinary", "performance review", "severance"}),
      kw("legal_terms", {"privileged", "attorney-client", "litigation hold", "settlement"}),
      kw("health_terms", {"diagnosis", "prescription", "medical record", "patient"}),
      kw("security_terms", {"password", "credential", "vpn", "private key", "root access"}),
      kw("customer_terms", {"customer list", "pricing sheet", "price list", "contract value"}),
      kw("export_control", {"itar", "ear99", "export controlled"}),
      kw("source_code", {"#include", "def main", "public static void", "import java"}),
      re("ticket", R"(\bTCK-\d{6}\b)"),
      re("employee_id", R"(\bEMP\d{6}\b)"),
      re("ipv4", R"(\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b)"),
      re("us_phone", R"(\b\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b)"),
      re("passport_like", R"(\b[A-Z]\d{8}\b)"),
      re("invoice", R"(\bINV-\d{4}-\d{5,7}\b)"),
      re("password_assignment", R"(\bpass(?:word|wd)?\s*[:=]\s*\S{6,64})", true),
      re("jwt", R"(\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"),
      re("uk_nino", R"(\b[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]\b)"),
      re("project_code", R"(\bPRJ-[A-Z]{3}-\d{3}\b)"),
      re("sha256_hex", R"(\b[a-f0-9]{64}\b)"),
      re("swift_bic", R"(\bswift(?: code)?:?\s*[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b)", true),
      re("date_of_birth", R"(\b(?:dob|date of birth)\s*[:=]?\s*\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b)", true),
      re("internal_url", R"(https?://[a-z0-9.-]+\.corp\.example\.com)"),
  };
}

std::size_t pattern_total(const std::vector<ClassifierRule>& rules) {
  std::size_t n = 0;
  for (const auto& r : rules) n += r.kind == ClassifierRule::Kind::Keywords ? r.keywords.size() : 1;
  return n;
}

// CPU time of this thread: what "per core" means when other processes share the machine (wall
// time is reported too; on an idle machine the two agree).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Measurement {
  double median_gbps = 0;  // by thread CPU time
  double min_gbps = 0;
  double max_gbps = 0;
  double median_wall_gbps = 0;
  ScanResult last;
};

template <typename Fn>
Measurement measure(std::size_t bytes, int runs, Fn&& fn) {
  if (!fn().ok()) std::fprintf(stderr, "warm-up scan failed\n");  // page in data, grow scratch pool
  std::vector<double> gbps, wall;
  Measurement m;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    const double c0 = thread_cpu_seconds();
    auto r = fn();
    const double s = thread_cpu_seconds() - c0;
    wall.push_back(static_cast<double>(bytes) / std::chrono::duration<double>(Clock::now() - t0).count() / 1e9);
    if (!r.ok()) {
      std::fprintf(stderr, "scan failed: %s\n", r.error().c_str());
      std::exit(1);
    }
    if (r->bytes_scanned != bytes || r->timed_out || r->truncated) {
      std::fprintf(stderr, "scan incomplete: %zu of %zu bytes\n", r->bytes_scanned, bytes);
      std::exit(1);
    }
    gbps.push_back(static_cast<double>(bytes) / s / 1e9);
    m.last = std::move(r).value();
  }
  std::sort(gbps.begin(), gbps.end());
  std::sort(wall.begin(), wall.end());
  m.median_gbps = gbps[gbps.size() / 2];
  m.median_wall_gbps = wall[wall.size() / 2];
  m.min_gbps = gbps.front();
  m.max_gbps = gbps.back();
  return m;
}

void report(const char* label, const Measurement& m) {
  std::printf("%-46s %6.2f GB/s per core (min %.2f, max %.2f; wall-clock median %.2f GB/s)\n", label, m.median_gbps,
              m.min_gbps, m.max_gbps, m.median_wall_gbps);
}

std::unique_ptr<Classifier> build(const char* name, const std::vector<ClassifierRule>& rules) {
  const auto t0 = Clock::now();
  auto c = Classifier::create(rules);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!c.ok()) {
    std::fprintf(stderr, "create %s: %s\n", name, c.error().c_str());
    std::exit(1);
  }
  std::printf("%-9s: %zu built-in types + %zu custom rules (%zu custom patterns) = %zu Hyperscan expressions, "
              "compiled in %.0f ms\n",
              name, builtin_type_ids().size(), rules.size(), pattern_total(rules), (*c)->pattern_count(), ms);
  return std::move(c).value();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t mb = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::size_t bytes = mb << 20;
  ScanLimits limits;
  limits.max_bytes = bytes;
  limits.max_time = std::chrono::hours(1);

  std::printf("bench_classify: %zu MiB per input, %d timed runs after a warm-up (median reported), 1 thread\n", mb,
              runs);
  const auto standard = build("standard", standard_rules());
  const auto builtin = build("built-ins", {});
  const auto heavy = build("heavy", heavy_rules());

  const auto g0 = Clock::now();
  const std::string text = make_text(bytes);
  std::printf("generated %zu bytes of text in %.1f s\n\n", text.size(),
              std::chrono::duration<double>(Clock::now() - g0).count());

  const auto t_std = measure(bytes, runs, [&] { return standard->scan(text, limits); });
  report("text, standard (22 custom patterns):", t_std);
  std::printf("  findings: %s\n", render_findings(t_std.last.findings).c_str());
  report("text, built-ins only:", measure(bytes, runs, [&] { return builtin->scan(text, limits); }));
  const auto t_heavy = measure(bytes, runs, [&] { return heavy->scan(text, limits); });
  report("text, heavy (57 custom patterns):", t_heavy);

  // What one more rule costs on top of the standard set (first 64 MiB of the text): literal-led
  // rules are nearly free, rules that start with a character class are not.
  {
    const std::size_t part = std::min<std::size_t>(bytes, 64 << 20);
    const std::string_view head(text.data(), part);
    ScanLimits l = limits;
    l.max_bytes = part;
    const double base = measure(part, runs, [&] { return standard->scan(head, l); }).median_gbps;
    std::printf("cost of one more rule on top of standard (%zu MiB, CPU s per GB added; standard alone %.2f GB/s):\n",
                part >> 20, base);
    for (const auto& extra : heavy_rules()) {
      const bool wanted = extra.id == "legal_terms" || extra.id == "ipv4" || extra.id == "us_phone" ||
                          extra.id == "passport_like" || extra.id == "uk_nino" || extra.id == "sha256_hex";
      if (!wanted) continue;
      auto rules = standard_rules();
      rules.push_back(extra);
      auto c = Classifier::create(rules);
      if (!c.ok()) return 1;
      const double g = measure(part, runs, [&] { return (*c)->scan(head, l); }).median_gbps;
      std::printf("  + %-15s %-60.60s %+.2f s/GB (%.2f GB/s)\n", extra.id.c_str(),
                  extra.kind == ClassifierRule::Kind::Regex ? extra.regex.c_str() : "(4 keywords)", 1 / g - 1 / base, g);
    }
  }

  // scan_file on the same text (page cache warm after the warm-up run): adds pread copies.
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path = std::string(tmpdir != nullptr ? tmpdir : "/tmp") + "/bench_classify-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd >= 0) {
    ::close(fd);
    std::ofstream(path, std::ios::binary).write(text.data(), static_cast<std::streamsize>(text.size()));
    report("text file, standard (scan_file):", measure(bytes, runs, [&] { return standard->scan_file(path, limits); }));
    std::filesystem::remove(path);
  }
  // Many small files (the exfiltration case: a folder copied to a stick): per-file cost.
  {
    const std::string dir = std::string(tmpdir != nullptr ? tmpdir : "/tmp") + "/bench_classify-small-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    constexpr int kFiles = 2000;
    constexpr std::size_t kFileBytes = 4096;
    std::vector<std::string> paths;
    for (int i = 0; i < kFiles; ++i) {
      paths.push_back(dir + "/f" + std::to_string(i) + ".txt");
      std::ofstream(paths.back(), std::ios::binary).write(text.data() + static_cast<std::size_t>(i) * kFileBytes, kFileBytes);
    }
    ScanLimits small;  // defaults: 8 MiB, 200 ms
    std::vector<double> per_file_us;
    for (int r = 0; r < runs + 1; ++r) {
      const double c0 = thread_cpu_seconds();
      for (const auto& p : paths)
        if (!standard->scan_file(p, small).ok()) std::exit(1);
      if (r > 0) per_file_us.push_back((thread_cpu_seconds() - c0) / kFiles * 1e6);
    }
    std::sort(per_file_us.begin(), per_file_us.end());
    std::printf("%-46s %6.1f us CPU per file (median of %d runs over %d files)\n", "4 KiB files, standard (scan_file):",
                per_file_us[per_file_us.size() / 2], runs, kFiles);
    std::filesystem::remove_all(dir);
  }
  {
    const std::string junk = make_random(bytes);
    const auto rnd = measure(bytes, runs, [&] { return standard->scan(junk, limits); });
    report("random bytes, standard:", rnd);
    std::printf("  findings: %s\n", render_findings(rnd.last.findings).c_str());
  }
  return 0;
}
