// Content classification: finds sensitive information types in bytes or a file and says how many
// of each, with what confidence. Results ride on events (DESIGN.md "Event model"); this type knows
// nothing about the schema, only how to find things and render them compactly. Depends on
// nothing above shared/ (Hyperscan, the C++ library).
//
// What a Classifier promises:
// - Built-in types (always on; ids are stable strings, see builtin_type_ids()). "Standing alone"
//   below means no letter, digit or underscore glued on either side.
//     credit_card            Visa 4 (13/16/19 digits), Mastercard 51-55 and 2221-2720 (16), Amex
//                            34/37 (15), Discover 6011/644-649/65/622126-622925 (16-19); standing
//                            alone, written contiguous, as 4-4-4-4[-3] or Amex 4-6-5 with one kind
//                            of separator (space or dash); issuer prefix, length and Luhn checked
//     us_ssn                 NNN-NN-NNNN standing alone; area 000/666/9xx, group 00, serial 0000
//                            and the voided 078-05-1120 / 219-09-9999 rejected, as are numbers
//                            glued to a longer dash/dot-separated number (1-800-55-1234)
//     iban                   upper case, electronic or print form (groups of 4, single spaces),
//                            standing alone; country known (SEPA + common IBAN countries), length
//                            as registered for it, ISO 7064 mod 97 == 1
//     email                  local@domain: the local part from its first letter/digit (<= 64 of
//                            [A-Za-z0-9._%+-], no leading/trailing/double dot), the domain without
//                            trailing dots (<= 253, labels of [A-Za-z0-9-], alphabetic TLD of 2+)
//     private_key            "-----BEGIN {RSA ,EC ,DSA ,OPENSSH ,ENCRYPTED ,}PRIVATE KEY-----",
//                            "-----BEGIN PGP PRIVATE KEY BLOCK-----"
//     aws_access_key_id      AKIA/ASIA + 16 of [A-Z2-7], standing alone
//     aws_secret_access_key  a 40-character [A-Za-z0-9/+] value with both cases, assigned (= : =>,
//                            optional quotes, up to 4 spaces each side) to aws_secret_access_key in
//                            any case and with _ space - or no separators (awsSecretAccessKey)
//     github_token           ghp_/gho_/ghu_/ghs_/ghr_ + 36, github_pat_ + 22 + _ + 59; standing
//                            alone, 10+ distinct characters (no ghp_xxxx... placeholders)
//     slack_token            xoxa-/xoxb-/xoxp-/xoxr- + 2+ dash-separated segments, 24+ characters,
//                            a digit somewhere
//     google_api_key         AIza + 35 of [0-9A-Za-z_-], standing alone
// - Custom rules pushed from the collector:
//     keyword lists  case-insensitive for ASCII letters; whole word: a keyword edge that is a word
//                    character [A-Za-z0-9_] must not touch another word character; whitespace
//                    inside a keyword matches any run of whitespace (line breaks included)
//     regexes        Hyperscan syntax (PCRE subset: no backreferences or lookaround), byte
//                    oriented, multi-line mode (^ and $ at line breaks), optionally
//                    case-insensitive; must not match the empty string
//   A rule of kind Builtin changes min_count of the built-in type with that id.
// - Counting: the number of occurrences (the same value twice counts twice). Engine reports that
//   overlap (a regex reports every end offset: TCK-\d{4,8} on TCK-123456 ends at 3 places) are one
//   occurrence. Only built-in hits that pass their validator count at all. For the rare custom
//   regex Hyperscan cannot track start offsets for (large bounded repeats after a variable
//   prefix, e.g. pass\s*=\s*\S{6,64}), an end offset less than max(min width, 2) bytes after
//   the previous one is taken as the same occurrence growing.
// - Confidence (per occurrence; a Finding carries the highest among its occurrences):
//     High    the validator passed AND corroborating context is within kContextWindow bytes
//             before or after the value: a keyword of the type starting a word (case-insensitive;
//             credit_card: card, credit, debit, visa, mastercard, amex, american express,
//             discover, cc#, ccn, cvv, cvc, expir, payment; us_ssn: ssn, social security, ss#,
//             ssa, taxpayer, tax id; iban: iban, bank, account, acct, swift, bic, sepa, transfer,
//             beneficiary, payee; email: email, e-mail, mail, contact; aws_access_key_id: aws,
//             amazon, access key, access_key, accesskey, key id, key_id; github_token: github,
//             token, oauth, bearer, authorization; slack_token: slack, token, bot, webhook,
//             bearer, authorization; google_api_key: google, api key, api_key, apikey, gcp,
//             firebase, maps, key=). The value itself is not searched (contact@x.com is Medium).
//             Type-specific: private_key is High when key material (a line of 32+ base64
//             characters, or Proc-Type:) follows the header within the window;
//             aws_secret_access_key is always High (its keyword is part of the match).
//     Medium  the validator passed, no corroborating context.
//     Low     the type has no validator: custom keyword and regex rules.
//   A candidate that fails its validator is dropped, never reported as Low.
// - A Finding is reported only when its count reaches the rule's min_count (default 1).
// - Bounded: at most ScanLimits::max_bytes are read and scanned (truncated says there was more;
//   a value cut by the limit is not counted) and scanning stops at max_time (timed_out; the
//   findings are what was counted until then). Any byte sequence is safe input.
// - scan() and scan_file() on the same bytes give the same result, whatever the chunk size: the
//   bytes go through one Hyperscan stream chunk by chunk, so matches straddling chunk boundaries
//   are found, and validation waits until the bytes around a hit (value and context window) have
//   been read.
// - Thread-safe: one Classifier may be used from any number of threads at once (scratch spaces
//   come from an internal pool, cloned on demand).
// - Errors are values: a bad custom rule names the rule id and carries Hyperscan's message; an
//   unreadable, non-regular (FIFO, directory, device), vanished or mid-scan-deleted file is an
//   error value.
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
  // Stable id reported in findings: 1-64 characters of [A-Za-z0-9_.-] (so the rendered form
  // stays parseable), unique, and (unless kind is Builtin) not one of the built-in ids.
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
  // How much is read from a file (and handed to the engines) at a time; results do not depend on
  // it. The time limit is checked every 256 KiB at most and every 256 engine reports. Values
  // below 64 are raised to 64.
  std::size_t chunk_bytes = 1 << 20;
};

struct ScanResult {
  std::vector<Finding> findings;  // sorted by type_id; only types that reached their min_count
  std::size_t bytes_scanned = 0;
  bool truncated = false;  // the input had more than max_bytes
  bool timed_out = false;  // max_time ran out after bytes_scanned bytes; findings so far
};

// Bytes on each side of an occurrence searched for corroborating keywords.
inline constexpr std::size_t kContextWindow = 96;

std::string_view to_string(Finding::Confidence c);  // "low" | "medium" | "high"
// "credit_card:3:high,email:12:medium" (findings in the order given; empty string for none).
std::string render_findings(const std::vector<Finding>& findings);
// The ids of the built-in types, in a fixed order.
std::vector<std::string> builtin_type_ids();

struct ClassifierOptions {
  // Instructions for the card/SSN/IBAN shape scanner. Auto: the best the CPU has. A lower level
  // gives the same results, slower (for tests and for ruling the SIMD code out when diagnosing).
  enum class Simd { Scalar, Sse2, Avx2, Auto };
  Simd simd = Simd::Auto;
};

class Classifier {
 public:
  // Compiles the built-in types plus `custom` into one Hyperscan streaming database. Fails with
  // the offending rule id on an invalid rule or pattern, or if the CPU lacks what Hyperscan needs.
  static Result<std::unique_ptr<Classifier>> create(const std::vector<ClassifierRule>& custom,
                                                    const ClassifierOptions& options = {});
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  Result<ScanResult> scan(std::string_view data, const ScanLimits& limits = {}) const;
  // Opens path (must be a regular file; symlinks are followed; O_NOATIME where permitted, so the
  // scan leaves access times alone) and scans it as scan_fd does.
  Result<ScanResult> scan_file(const std::string& path, const ScanLimits& limits = {}) const;
  // Scans the regular file open at fd from offset 0 (pread; fd's offset is untouched, fd is not
  // closed). `name` is only used in error messages. If the file has no link left (deleted before
  // or while it is scanned; checked after every chunk) the result is an error value saying so.
  Result<ScanResult> scan_fd(int fd, const std::string& name, const ScanLimits& limits = {}) const;

  // Number of Hyperscan expressions in the database (built-ins + custom), for diagnostics.
  std::size_t pattern_count() const;

 private:
  struct Impl;
  explicit Classifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
