// Content classification: finds sensitive information types in bytes or a file and says how many
// of each, with what confidence. Results ride on events (DESIGN.md "Event model"); this type knows
// nothing about the schema, only how to find things and render them compactly.
//
// What a Classifier promises:
// - Built-in types (always on; ids are stable strings, see builtin_type_ids()):
//     credit_card            Visa/Mastercard/Amex/Discover, 13-19 digits, contiguous or grouped
//                            with spaces or dashes; issuer prefix/length and Luhn checked
//     us_ssn                 NNN-NN-NNNN; area 000/666/9xx, group 00, serial 0000 rejected, as
//                            are numbers glued to a longer dash/dot-separated number
//     iban                   electronic or print form; known country, its length, mod 97
//     email                  local@domain.tld, syntax checked
//     private_key            PEM/OpenSSH/PGP private key headers (RSA, EC, DSA, OPENSSH,
//                            ENCRYPTED, PKCS#8 "PRIVATE KEY", PGP)
//     aws_access_key_id      AKIA/ASIA + 16 of [A-Z2-7]
//     aws_secret_access_key  a 40-char secret assigned to aws_secret_access_key (any case, _ or
//                            space separated, = : or =>, optional quotes)
//     github_token           ghp_/gho_/ghu_/ghs_/ghr_ + 36, github_pat_ + 22 + _ + 59
//     slack_token            xoxa-/xoxb-/xoxp-/xoxr- tokens
//     google_api_key         AIza + 35
// - Custom rules pushed from the collector: keyword lists (case-insensitive for ASCII letters,
//   whole word: a keyword edge that is a word character [A-Za-z0-9_] must not touch another word
//   character; whitespace inside a keyword matches any run of whitespace) and regexes (Hyperscan
//   syntax, multi-line mode: ^ and $ match at line breaks; optionally case-insensitive). A rule of
//   kind Builtin changes min_count of the built-in type with that id.
// - Counting: the number of distinct occurrences. Pattern hits that overlap (the engine reports
//   every end offset of a match, e.g. "a@b.co" and "a@b.co.uk") count once; only hits that pass
//   the type's validator count at all.
// - Confidence (per occurrence; a Finding carries the highest of its occurrences):
//     High    the validator passed AND corroborating context is within kContextWindow bytes
//             before the occurrence or after it: a keyword of the type starting a word
//             (case-insensitive; e.g. "card", "visa", "cvv" for credit_card; "ssn", "social
//             security" for us_ssn; "iban", "bank", "swift" for iban; "aws", "access key" for AWS
//             key ids). Type-specific: private_key is High when key material (a base64 line of
//             32+ characters, or Proc-Type:) follows the header; aws_secret_access_key is always
//             High (its keyword is part of the match).
//     Medium  the validator passed, no corroborating context.
//     Low     the type has no validator: custom keyword and regex rules.
//   A candidate that fails its validator is dropped, never reported as Low.
// - A Finding is reported only when its count reaches the rule's min_count (default 1).
// - Bounded: at most ScanLimits::max_bytes are read/scanned (truncated says there was more) and
//   scanning stops at max_time (timed_out; findings then cover bytes_scanned). Any byte sequence
//   is safe input.
// - scan() and scan_file() on the same bytes give the same result: the file is streamed in
//   chunks through one Hyperscan stream, so matches straddling chunk boundaries are found, and
//   validation waits until the bytes around a hit (the context window) have been read.
// - Thread-safe: one Classifier may be used from any number of threads at once (scratch spaces
//   come from an internal pool, cloned on demand).
// - Errors are values: a bad custom rule names the rule id and carries Hyperscan's message; an
//   unreadable, non-regular, vanished or mid-scan-deleted file is an error value.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/result.h"

namespace vigil {

struct ClassifierRule {
  enum class Kind { Builtin, Keywords, Regex };
  // Stable id reported in findings: 1-64 characters of [a-z0-9_.-], unique, and (unless kind is
  // Builtin) not one of the built-in ids.
  std::string id;
  Kind kind = Kind::Keywords;
  std::vector<std::string> keywords;  // Keywords: at least one, each non-empty after trimming
  std::string regex;                  // Regex: must not match the empty string
  bool case_insensitive = false;      // Regex only (keywords are always case-insensitive)
  std::uint32_t min_count = 1;        // >= 1
};

struct Finding {
  enum class Confidence { Low, Medium, High };
  std::string type_id;
  std::uint32_t count = 0;  // saturates at UINT32_MAX
  Confidence confidence = Confidence::Low;
  bool operator==(const Finding&) const = default;
};

struct ScanLimits {
  std::size_t max_bytes = 8 << 20;
  std::chrono::milliseconds max_time{200};
  // How much is handed to the engine (and, for files, read) at a time; the time limit is checked
  // between chunks and every few hundred hits. Values below 64 are raised to 64.
  std::size_t chunk_bytes = 1 << 20;
};

struct ScanResult {
  std::vector<Finding> findings;  // sorted by type_id; only types that reached their min_count
  std::size_t bytes_scanned = 0;
  bool truncated = false;  // the input had more than max_bytes
  bool timed_out = false;  // max_time ran out; findings cover the first bytes_scanned bytes
};

// Bytes on each side of an occurrence searched for corroborating keywords.
inline constexpr std::size_t kContextWindow = 96;

std::string_view to_string(Finding::Confidence c);  // "low" | "medium" | "high"
// "credit_card:3:high,email:12:medium" (findings in the order given; empty string for none).
std::string render_findings(const std::vector<Finding>& findings);
// The ids of the built-in types, in a fixed order.
std::vector<std::string> builtin_type_ids();

class Classifier {
 public:
  // Compiles the built-in types plus `custom` into one Hyperscan streaming database. Fails with
  // the offending rule id on an invalid rule or pattern, or if the CPU lacks what Hyperscan needs.
  static Result<std::unique_ptr<Classifier>> create(const std::vector<ClassifierRule>& custom);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  Result<ScanResult> scan(std::string_view data, const ScanLimits& limits = {}) const;
  // Opens path (must be a regular file; symlinks are followed) and scans it as scan_fd does.
  Result<ScanResult> scan_file(const std::string& path, const ScanLimits& limits = {}) const;
  // Scans the regular file open at fd from offset 0 (pread; fd's offset is untouched, fd is not
  // closed). `name` is only used in error messages. If the file's last link disappears while it is
  // scanned (st_nlink drops to 0) the result is an error value: what was read may be incomplete.
  Result<ScanResult> scan_fd(int fd, const std::string& name, const ScanLimits& limits = {}) const;

  // Number of Hyperscan expressions in the database (built-ins + custom), for diagnostics.
  std::size_t pattern_count() const;

 private:
  struct Impl;
  explicit Classifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
