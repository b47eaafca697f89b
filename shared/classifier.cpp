// How the classifier finds things (see classifier.h for what it promises):
//
// Two finders run over the same bytes, chunk by chunk (256 KiB slices, so the second reads what
// the first just pulled into cache):
//   1. One Hyperscan streaming database: the built-in types that have a literal anchor (the '@' of
//      an email, "-----BEGIN ", AKIA/ASIA, secret_access_key, ghp_ and friends, xox?-, AIza) as
//      fixed-width expressions, so no start-of-match (SOM) tracking is needed for them, plus every
//      custom keyword and regex (SOM only where a custom expression has variable width).
//   2. A shape scanner (AVX2 or SSE2 bitmasks, same semantics in plain C++) for the digit-led
//      types: the start of a 4+ digit run beginning with 2-6 that continues like a card (card
//      candidates), NNN-NN-NNNN (SSN candidates), two capitals and two digits (IBAN candidates);
//      small parsers then cut the candidate value at each trigger.
// Why (bench_classify text, CPU time, this repository's 2-vCPU build VM): the built-in types as
// \b-delimited Hyperscan regexes ran at 0.14 GB/s with HS_FLAG_SOM_LEFTMOST and 0.40 GB/s without
// (SOM on the email expression alone: 0.18 vs 0.77 GB/s); the class-led card and IBAN expressions
// cost most of it. Anchored expressions + the shape scanner: ~2 GB/s for all built-in types.
//
// Candidates from both wait until the bytes around them (kRightReach after the hit, kLeftReach
// before it) have been read, then a validator re-parses the value around the hit from its end
// offset (a bounded window), checks it, and the hit is counted once per occurrence.
#include "shared/classifier.h"

#include <fcntl.h>
#include <hs/hs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <utility>

#if defined(__x86_64__) || defined(__SSE2__)
#include <immintrin.h>
#endif

#include "shared/classifier_validators.h"

namespace vigil {
namespace {

// ---- RAII for Hyperscan handles -----------------------------------------------------------------

struct DatabaseFree {
  void operator()(hs_database_t* p) const { hs_free_database(p); }
};
struct ScratchFree {
  void operator()(hs_scratch_t* p) const { hs_free_scratch(p); }
};
struct CompileErrorFree {
  void operator()(hs_compile_error_t* p) const { hs_free_compile_error(p); }
};
// Closing without scratch or callback discards end-of-stream matches: only for abandoned scans.
struct StreamDiscard {
  void operator()(hs_stream_t* p) const { hs_close_stream(p, nullptr, nullptr, nullptr); }
};
using DatabasePtr = std::unique_ptr<hs_database_t, DatabaseFree>;
using ScratchPtr = std::unique_ptr<hs_scratch_t, ScratchFree>;
using CompileErrorPtr = std::unique_ptr<hs_compile_error_t, CompileErrorFree>;
using StreamPtr = std::unique_ptr<hs_stream_t, StreamDiscard>;

struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// ---- Bytes ----------------------------------------------------------------------------------------

// Byte classes on int so that "no byte" (-1, outside the visible data) is in none of them.
bool is_digit(int c) { return c >= '0' && c <= '9'; }
bool is_upper(int c) { return c >= 'A' && c <= 'Z'; }
bool is_alnum(int c) { return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z'); }
bool is_word(int c) { return is_alnum(c) || c == '_'; }
bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
int lower_byte(int c) { return is_upper(c) ? c + ('a' - 'A') : c; }

// ---- Built-in types -----------------------------------------------------------------------------

enum class Check : std::uint8_t {
  None,  // custom rules: every hit counts, confidence Low
  Card,
  Ssn,
  Iban,
  Email,
  PrivateKey,
  AwsKeyId,
  AwsSecret,
  GithubToken,
  SlackToken,
  GoogleApiKey,
};

struct BuiltinPattern {
  const char* expression;
  unsigned flags;
};

struct BuiltinDef {
  const char* id;
  Check check;
  std::vector<BuiltinPattern> patterns;  // empty: found by the shape scanner
  std::vector<std::string> context;      // lower case; matched case-insensitively at a word start
};

// Bytes after a hit's end offset that validation may read: an email's domain (<= 260 scanned)
// after the first domain byte, then the context window after the address; pending hits wait until
// these are visible, so the outcome never depends on where chunks happen to end.
constexpr std::size_t kRightReach = 384;
// Bytes before a hit's start that validation may read: an email's local part (<= 64 + slack)
// before the '@', plus the context window.
constexpr std::size_t kLeftReach = 96 + kContextWindow;
// Bytes after a shape-scanner trigger that its parser may read (an IBAN in print form: 34 + 8 + 1).
constexpr std::size_t kShapeReach = 64;
// Bytes of earlier chunks kept when streaming a file.
constexpr std::size_t kCarry = 4096;
static_assert(kCarry >= kRightReach + kLeftReach + kShapeReach + 128);
static_assert(kRightReach >= 261 + kContextWindow + 2);

const std::vector<BuiltinDef>& builtin_defs() {
  static const std::vector<BuiltinDef> defs = {
      {"credit_card",
       Check::Card,
       {},
       {"card", "credit", "debit", "visa", "mastercard", "amex", "american express", "discover", "cc#", "ccn",
        "cvv", "cvc", "expir", "payment"}},
      {"us_ssn", Check::Ssn, {}, {"ssn", "social security", "ss#", "ssa", "taxpayer", "tax id"}},
      {"iban",
       Check::Iban,
       {},
       {"iban", "bank", "account", "acct", "swift", "bic", "sepa", "transfer", "beneficiary", "payee"}},
      {"email",
       Check::Email,
       {{R"([A-Za-z0-9._%+-]@[A-Za-z0-9])", 0}},
       {"email", "e-mail", "mail", "contact"}},
      {"private_key",
       Check::PrivateKey,
       {{"-----BEGIN PRIVATE KEY-----", 0},
        {"-----BEGIN RSA PRIVATE KEY-----", 0},
        {"-----BEGIN EC PRIVATE KEY-----", 0},
        {"-----BEGIN DSA PRIVATE KEY-----", 0},
        {"-----BEGIN OPENSSH PRIVATE KEY-----", 0},
        {"-----BEGIN ENCRYPTED PRIVATE KEY-----", 0},
        {"-----BEGIN PGP PRIVATE KEY BLOCK-----", 0}},
       {}},
      {"aws_access_key_id",
       Check::AwsKeyId,
       {{R"((?:AKIA|ASIA)[A-Z0-9]{16})", 0}},
       {"aws", "amazon", "access key", "access_key", "accesskey", "key id", "key_id"}},
      {"aws_secret_access_key",
       Check::AwsSecret,
       // Anchored on the literal after "aws" (a 3-letter anchor is common in text: laws, draws);
       // the validator checks for "aws" before it.
       {{"secret_access_key", HS_FLAG_CASELESS},
        {"secret access key", HS_FLAG_CASELESS},
        {"secret-access-key", HS_FLAG_CASELESS},
        {"secretaccesskey", HS_FLAG_CASELESS}},
       {}},
      {"github_token",
       Check::GithubToken,
       // One expression per prefix: gh[pousr]_ would anchor on "gh", which English is full of.
       {{R"(ghp_[A-Za-z0-9]{36})", 0},
        {R"(gho_[A-Za-z0-9]{36})", 0},
        {R"(ghu_[A-Za-z0-9]{36})", 0},
        {R"(ghs_[A-Za-z0-9]{36})", 0},
        {R"(ghr_[A-Za-z0-9]{36})", 0},
        {R"(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})", 0}},
       {"github", "token", "oauth", "bearer", "authorization"}},
      {"slack_token",
       Check::SlackToken,
       {{R"(xox[abpr]-[0-9A-Za-z])", 0}},
       {"slack", "token", "bot", "webhook", "bearer", "authorization"}},
      {"google_api_key",
       Check::GoogleApiKey,
       {{R"(AIza[0-9A-Za-z_-]{35})", 0}},
       {"google", "api key", "api_key", "apikey", "gcp", "firebase", "maps", "key="}},
  };
  return defs;
}

// ---- Compiled form ------------------------------------------------------------------------------

struct TypeInfo {
  std::string id;
  Check check = Check::None;
  std::vector<std::string> context;
  std::uint32_t min_count = 1;
  const char* rule_kind = "built-in type";
};

// Where a hit starts. Som: Hyperscan reports it (HS_FLAG_SOM_LEFTMOST). Fixed: the expression has
// one width, start = end - width, no SOM needed. EndOnly: a custom regex Hyperscan cannot compile
// with SOM; a report less than max(width, 2) bytes after the previous one of the same rule is taken
// as the same occurrence growing (width is then the expression's minimum width).
enum class Start : std::uint8_t { Som, Fixed, EndOnly };

struct PatternMeta {
  std::uint32_t type = 0;
  Start start = Start::Som;
  std::uint32_t width = 0;
};

bool valid_rule_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id)
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

// A Hyperscan expression for one keyword: bytes escaped, whitespace runs as \s+, \b on edges that
// are word characters. Sets *literal_len to the byte length when the hit length is fixed, else 0.
std::string keyword_expression(std::string_view kw, std::uint32_t* literal_len) {
  std::string out;
  bool has_space = false;
  if (is_word(static_cast<unsigned char>(kw.front()))) out += "\\b";
  for (std::size_t i = 0; i < kw.size(); ++i) {
    const auto c = static_cast<unsigned char>(kw[i]);
    if (is_space(c)) {
      while (i + 1 < kw.size() && is_space(static_cast<unsigned char>(kw[i + 1]))) ++i;
      out += "\\s+";
      has_space = true;
    } else if (is_alnum(c)) {
      out += static_cast<char>(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    }
  }
  if (is_word(static_cast<unsigned char>(kw.back()))) out += "\\b";
  *literal_len = has_space ? 0 : static_cast<std::uint32_t>(kw.size());
  return out;
}

// How to find where a custom regex's hits start: Fixed when it has one width, else SOM when
// Hyperscan can compile it so, else EndOnly. Errors (syntax, unsupported constructs, empty match)
// name the rule.
Result<PatternMeta> plan_regex(const ClassifierRule& r, unsigned flags, std::uint32_t type) {
  const std::string where = "classifier rule '" + r.id + "' (regex): pattern does not compile: ";
  hs_expr_info_t* info_raw = nullptr;
  hs_compile_error_t* cerr = nullptr;
  if (hs_expression_info(r.regex.c_str(), flags, &info_raw, &cerr) != HS_SUCCESS) {
    CompileErrorPtr guard(cerr);
    return err(where + (cerr != nullptr && cerr->message != nullptr ? cerr->message : "unknown error"));
  }
  std::unique_ptr<hs_expr_info_t, decltype(&std::free)> info(info_raw, &std::free);
  if (info->min_width == 0) return err(where + "it can match the empty string");
  if (info->max_width == info->min_width) return PatternMeta{type, Start::Fixed, info->min_width};
  hs_database_t* db = nullptr;
  const hs_error_t rc = hs_compile(r.regex.c_str(), flags | HS_FLAG_SOM_LEFTMOST,
                                   HS_MODE_STREAM | HS_MODE_SOM_HORIZON_LARGE, nullptr, &db, &cerr);
  const DatabasePtr db_guard(db);
  const CompileErrorPtr err_guard(cerr);
  if (rc == HS_SUCCESS) return PatternMeta{type, Start::Som, 0};
  return PatternMeta{type, Start::EndOnly, info->min_width};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && is_space(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Scratch spaces for concurrent scans: one per scan in flight, cloned from a prototype that is
// never lent out (cloning reads it), kept for reuse afterwards.
class ScratchPool {
 public:
  explicit ScratchPool(ScratchPtr proto) : proto_(std::move(proto)) {}

  Result<ScratchPtr> acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        ScratchPtr s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    hs_scratch_t* s = nullptr;
    if (hs_clone_scratch(proto_.get(), &s) != HS_SUCCESS)
      return err("classifier: cannot allocate Hyperscan scratch space");
    return ScratchPtr(s);
  }
  void release(ScratchPtr s) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(s));
  }

 private:
  ScratchPtr proto_;
  std::mutex mu_;
  std::vector<ScratchPtr> free_;
};

struct ScratchLease {
  ScratchPool* pool;
  ScratchPtr scratch;
  ~ScratchLease() {
    if (scratch) pool->release(std::move(scratch));
  }
};

struct Compiled {
  DatabasePtr db;
  std::unique_ptr<ScratchPool> pool;
  std::vector<TypeInfo> types;
  std::vector<PatternMeta> patterns;
  std::uint32_t card_type = 0, ssn_type = 0, iban_type = 0;  // found by the shape scanner
  ClassifierOptions::Simd simd = ClassifierOptions::Simd::Scalar;  // resolved: never Auto
};

// The bytes a scan can currently see: absolute stream offsets [lo, hi) at `base` (base[0] is lo).
struct View {
  const char* base;
  std::uint64_t lo;
  std::uint64_t hi;

  int at(std::uint64_t off) const {  // -1 outside (also for "offset -1", which wraps around)
    if (off < lo || off >= hi) return -1;
    return static_cast<unsigned char>(base[off - lo]);
  }
  std::string_view text(std::uint64_t from, std::uint64_t to) const {
    return std::string_view(base + (from - lo), static_cast<std::size_t>(to - from));
  }
};

struct Span {
  std::uint64_t from;
  std::uint64_t to;
};

struct Candidate {
  std::uint32_t type;
  std::uint64_t from;
  std::uint64_t to;
};

// ---- Shape scanner: card, SSN and IBAN candidates -------------------------------------------------

// Exactly `count` digits at `at`, not followed by another digit.
bool digit_group(const View& v, std::uint64_t at, int count) {
  for (int i = 0; i < count; ++i)
    if (!is_digit(v.at(at + static_cast<std::uint64_t>(i)))) return false;
  return !is_digit(v.at(at + static_cast<std::uint64_t>(count)));
}

// p starts a run of 4+ digits whose first is 2-6. Emits the card layouts that start there and end
// at a word boundary: 13-19 contiguous digits, 4-4-4-4 or 4-4-4-4-3 and Amex 4-6-5 with one kind
// of separator (space or dash). Validation (issuer, length, Luhn) comes later.
template <typename Emit>
void shape_card(const View& v, std::uint64_t p, std::uint32_t type, Emit& emit) {
  if (is_word(v.at(p - 1))) return;
  std::uint64_t n = 4;
  while (n < 20 && is_digit(v.at(p + n))) ++n;
  if (n >= 13 && n <= 19 && !is_word(v.at(p + n))) emit(Candidate{type, p, p + n});
  if (n != 4) return;
  const int sep = v.at(p + 4);
  if (sep != ' ' && sep != '-') return;
  if (digit_group(v, p + 5, 4) && v.at(p + 9) == sep && digit_group(v, p + 10, 4) && v.at(p + 14) == sep &&
      digit_group(v, p + 15, 4)) {
    const std::uint64_t e = p + 19;
    if (v.at(e) == sep && digit_group(v, e + 1, 3) && !is_word(v.at(e + 4))) emit(Candidate{type, p, e + 4});
    if (!is_word(v.at(e))) emit(Candidate{type, p, e});
  }
  if (digit_group(v, p + 5, 6) && v.at(p + 11) == sep && digit_group(v, p + 12, 5) && !is_word(v.at(p + 17)))
    emit(Candidate{type, p, p + 17});
}

// p starts NNN-NN-NNNN; emitted when it stands alone as a word.
template <typename Emit>
void shape_ssn(const View& v, std::uint64_t p, std::uint32_t type, Emit& emit) {
  if (is_word(v.at(p - 1)) || is_word(v.at(p + 11))) return;
  emit(Candidate{type, p, p + 11});
}

// p starts [A-Z]{2}[0-9]{2}; emits the IBAN of the registered length for that country, in
// electronic form or in print form (groups of four separated by single spaces), ending at a word
// boundary.
template <typename Emit>
void shape_iban(const View& v, std::uint64_t p, std::uint32_t type, Emit& emit) {
  if (is_word(v.at(p - 1))) return;
  const char cc[2] = {static_cast<char>(v.at(p)), static_cast<char>(v.at(p + 1))};
  const int len = classify::iban_length_for_country(std::string_view(cc, 2));
  if (len == 0) return;
  auto bban_char = [](int c) { return is_digit(c) || is_upper(c); };
  std::uint64_t q = p + 4;
  if (v.at(q) == ' ') {
    int chars = 4;
    while (chars < len) {
      if (v.at(q) != ' ') return;
      ++q;
      int group = 0;
      while (group < 4 && chars < len && bban_char(v.at(q))) {
        ++q;
        ++group;
        ++chars;
      }
      if (group == 0 || (group < 4 && chars < len)) return;
    }
  } else {
    for (int i = 4; i < len; ++i, ++q)
      if (!bban_char(v.at(q))) return;
  }
  if (is_word(v.at(q))) return;
  emit(Candidate{type, p, q});
}

// Byte-class bitmasks for the 80 bytes at b: bit i of d/u/h/s/f says byte b[i] (i < 64) is a digit,
// an upper-case letter, a dash, a space, a digit 2-6; d4/u4/h4/s4 hold bytes 64-79 the same way.
struct BlockMasks {
  std::uint64_t d, u, h, s, f;
  std::uint64_t d4, u4, h4, s4;
};

// Trigger positions of one 64-byte block from its masks; prev_d/prev_u: byte p-1 is a digit/capital.
struct BlockTriggers {
  std::uint64_t card, ssn, iban;
};

inline BlockTriggers block_triggers(const BlockMasks& m, bool prev_digit, bool prev_upper) {
  const std::uint64_t prev_d = (m.d << 1) | (prev_digit ? 1u : 0u);
  const std::uint64_t prev_u = (m.u << 1) | (prev_upper ? 1u : 0u);
  // Bit i of VIGIL_SHIFTED(x, k) is byte p + i + k.
#define VIGIL_SHIFTED(x, k) (((m.x) >> (k)) | ((m.x##4) << (64 - (k))))
  const std::uint64_t d1 = VIGIL_SHIFTED(d, 1), d2 = VIGIL_SHIFTED(d, 2), d3 = VIGIL_SHIFTED(d, 3);
  BlockTriggers t;
  // A 4+ digit run starting with 2-6 that goes on as 13+ digits or as "NNNN-NNNN"/"NNNN NNNN"
  // (every card layout shape_card accepts does one or the other).
  t.card = m.f & d1 & d2 & d3 & ~prev_d;
  if (t.card != 0) {
    const std::uint64_t d5_8 = VIGIL_SHIFTED(d, 5) & VIGIL_SHIFTED(d, 6) & VIGIL_SHIFTED(d, 7) & VIGIL_SHIFTED(d, 8);
    const std::uint64_t longer = VIGIL_SHIFTED(d, 4) & d5_8 & VIGIL_SHIFTED(d, 9) & VIGIL_SHIFTED(d, 10) &
                                 VIGIL_SHIFTED(d, 11) & VIGIL_SHIFTED(d, 12);
    const std::uint64_t grouped = (VIGIL_SHIFTED(h, 4) | VIGIL_SHIFTED(s, 4)) & d5_8;
    t.card &= longer | grouped;
  }
  t.iban = m.u & VIGIL_SHIFTED(u, 1) & d2 & d3 & ~prev_d & ~prev_u;
  t.ssn = m.d & d1 & d2 & VIGIL_SHIFTED(h, 3);
  if (t.ssn != 0)
    t.ssn &= VIGIL_SHIFTED(d, 4) & VIGIL_SHIFTED(d, 5) & VIGIL_SHIFTED(h, 6) & VIGIL_SHIFTED(d, 7) & VIGIL_SHIFTED(d, 8) &
             VIGIL_SHIFTED(d, 9) & VIGIL_SHIFTED(d, 10);
#undef VIGIL_SHIFTED
  return t;
}

template <typename Emit>
void block_dispatch(const Compiled& c, const View& v, std::uint64_t p, BlockTriggers t, Emit& emit) {
  for (; t.card != 0; t.card &= t.card - 1)
    shape_card(v, p + static_cast<std::uint64_t>(__builtin_ctzll(t.card)), c.card_type, emit);
  for (; t.ssn != 0; t.ssn &= t.ssn - 1)
    shape_ssn(v, p + static_cast<std::uint64_t>(__builtin_ctzll(t.ssn)), c.ssn_type, emit);
  for (; t.iban != 0; t.iban &= t.iban - 1)
    shape_iban(v, p + static_cast<std::uint64_t>(__builtin_ctzll(t.iban)), c.iban_type, emit);
}

// The block loop, for positions [p, limit) while 80 bytes are readable; returns where it stopped.
// BODY is shared by the SSE2 and AVX2 versions; only how the masks are computed differs.
// (Skipping blocks without two adjacent digits after the digit mask was tried: faster on random
// bytes, ~20% slower on prose, where half the blocks have some and the branch mispredicts.)
#define VIGIL_SHAPE_BLOCK_LOOP(DIGITS, REST)                                            \
  bool prev_digit = is_digit(v.at(p - 1)), prev_upper = is_upper(v.at(p - 1));          \
  while (p + 64 <= limit && p + 80 <= v.hi) {                                           \
    const char* b = v.base + (p - v.lo);                                                \
    BlockMasks m;                                                                       \
    DIGITS;                                                                             \
    REST;                                                                               \
    const BlockTriggers t = block_triggers(m, prev_digit, prev_upper);                  \
    if ((t.card | t.ssn | t.iban) != 0) block_dispatch(c, v, p, t, emit);              \
    prev_digit = (m.d >> 63) != 0;                                                      \
    prev_upper = (m.u >> 63) != 0;                                                      \
    p += 64;                                                                            \
  }                                                                                     \
  return p;

#if defined(__SSE2__)
// Signed-compare range test: (x - lo) as unsigned < n  <=>  ((x - lo) ^ 0x80) as signed < n - 128.
inline std::uint64_t sse2_range(__m128i x, char lo, int n) {
  const __m128i t = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
  return static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmplt_epi8(t, _mm_set1_epi8(static_cast<char>(n - 128)))));
}
inline std::uint64_t sse2_eq(__m128i x, char c) {
  return static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(c))));
}
template <typename Emit>
std::uint64_t shape_blocks_sse2(const Compiled& c, const View& v, std::uint64_t p, std::uint64_t limit, Emit& emit) {
  __m128i x[5];
  VIGIL_SHAPE_BLOCK_LOOP(
      {
        for (int k = 0; k < 5; ++k) x[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16 * k));
        m.d = sse2_range(x[0], '0', 10) | sse2_range(x[1], '0', 10) << 16 | sse2_range(x[2], '0', 10) << 32 |
              sse2_range(x[3], '0', 10) << 48;
        m.d4 = sse2_range(x[4], '0', 10);
      },
      {
        m.u = m.h = m.s = m.f = 0;
        for (int k = 0; k < 4; ++k) {
          m.u |= sse2_range(x[k], 'A', 26) << (16 * k);
          m.h |= sse2_eq(x[k], '-') << (16 * k);
          m.s |= sse2_eq(x[k], ' ') << (16 * k);
          m.f |= sse2_range(x[k], '2', 5) << (16 * k);
        }
        m.u4 = sse2_range(x[4], 'A', 26);
        m.h4 = sse2_eq(x[4], '-');
        m.s4 = sse2_eq(x[4], ' ');
      })
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define VIGIL_CLASSIFIER_AVX2 1
__attribute__((target("avx2"))) inline std::uint64_t avx2_range(__m256i x, char lo, int n) {
  const __m256i t = _mm256_add_epi8(x, _mm256_set1_epi8(static_cast<char>(0x80 - lo)));
  return static_cast<std::uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(n - 128)), t)));
}
__attribute__((target("avx2"))) inline std::uint64_t avx2_eq(__m256i x, char c) {
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(c))));
}

template <typename Emit>
__attribute__((target("avx2"))) std::uint64_t shape_blocks_avx2(const Compiled& c, const View& v, std::uint64_t p,
                                                                  std::uint64_t limit, Emit& emit) {
  __m256i x0, x1;
  __m128i x4;
  VIGIL_SHAPE_BLOCK_LOOP(
      {
        x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
        x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
        x4 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 64));
        m.d = avx2_range(x0, '0', 10) | avx2_range(x1, '0', 10) << 32;
        m.d4 = sse2_range(x4, '0', 10);
      },
      {
        m.u = avx2_range(x0, 'A', 26) | avx2_range(x1, 'A', 26) << 32;
        m.h = avx2_eq(x0, '-') | avx2_eq(x1, '-') << 32;
        m.s = avx2_eq(x0, ' ') | avx2_eq(x1, ' ') << 32;
        m.f = avx2_range(x0, '2', 5) | avx2_range(x1, '2', 5) << 32;
        m.u4 = sse2_range(x4, 'A', 26);
        m.h4 = sse2_eq(x4, '-');
        m.s4 = sse2_eq(x4, ' ');
      })
}

#endif
#undef VIGIL_SHAPE_BLOCK_LOOP

// Scalar twin of the SIMD card filter: after the first 4 digits at p, 9 more digits or a space or
// dash and 4 more digits.
inline bool card_continues(const View& v, std::uint64_t p) {
  bool d5_8 = true;
  for (std::uint64_t k = 5; k <= 8; ++k) d5_8 = d5_8 && is_digit(v.at(p + k));
  if (!d5_8) return false;
  const int c4 = v.at(p + 4);
  if (c4 == ' ' || c4 == '-') return true;
  if (!is_digit(c4)) return false;
  for (std::uint64_t k = 9; k <= 12; ++k)
    if (!is_digit(v.at(p + k))) return false;
  return true;
}

// Runs the shape parsers on every trigger position in [next, limit). Triggers: the start of a run
// of 4+ digits beginning with 2-6 (card), NNN-NN-NNNN (SSN), two capitals and two digits not
// preceded by a letter or digit (IBAN). The SIMD block loop and the scalar loop compute the same
// sets; the scalar one covers what is left near the end of the visible bytes.
class ShapeScanner {
 public:
  template <typename Emit>
  void run(const Compiled& c, const View& v, std::uint64_t limit, Emit& emit) {
    std::uint64_t p = std::max(next_, v.lo);
    switch (c.simd) {
      case ClassifierOptions::Simd::Avx2:
#if defined(VIGIL_CLASSIFIER_AVX2)
        p = shape_blocks_avx2(c, v, p, limit, emit);
#endif
        break;
      case ClassifierOptions::Simd::Sse2:
#if defined(__SSE2__)
        p = shape_blocks_sse2(c, v, p, limit, emit);
#endif
        break;
      default:
        break;
    }
    for (; p < limit; ++p) {
      const int c0 = v.at(p);
      if (is_digit(c0)) {
        if (!is_digit(v.at(p + 1)) || !is_digit(v.at(p + 2))) continue;
        if (c0 >= '2' && c0 <= '6' && is_digit(v.at(p + 3)) && !is_digit(v.at(p - 1)) && card_continues(v, p))
          shape_card(v, p, c.card_type, emit);
        if (v.at(p + 3) == '-' && is_digit(v.at(p + 4)) && is_digit(v.at(p + 5)) && v.at(p + 6) == '-' &&
            is_digit(v.at(p + 7)) && is_digit(v.at(p + 8)) && is_digit(v.at(p + 9)) && is_digit(v.at(p + 10)))
          shape_ssn(v, p, c.ssn_type, emit);
      } else if (is_upper(c0)) {
        const int prev = v.at(p - 1);
        if (is_upper(v.at(p + 1)) && is_digit(v.at(p + 2)) && is_digit(v.at(p + 3)) && !is_digit(prev) && !is_upper(prev))
          shape_iban(v, p, c.iban_type, emit);
      }
    }
    next_ = std::max(next_, p);
  }

 private:
  std::uint64_t next_ = 0;
};

// ---- Validation ---------------------------------------------------------------------------------

bool is_local_char(int c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
bool is_domain_char(int c) { return is_alnum(c) || c == '.' || c == '-'; }
bool is_b64_char(int c) { return is_alnum(c) || c == '/' || c == '+'; }

// An email address around the '@' at `at`: the local part is the run of local characters before
// it, from its first word character (<= 64); the domain the run of domain characters after it
// without trailing dots or dashes (<= 253), not followed by a word character.
std::optional<Span> parse_email(const View& v, std::uint64_t at) {
  std::uint64_t r = at;
  while (is_local_char(v.at(r - 1))) {
    --r;
    if (at - r > 80) return std::nullopt;
  }
  while (r < at && !is_word(v.at(r))) ++r;
  if (r == at) return std::nullopt;
  std::uint64_t e = at + 1;
  while (is_domain_char(v.at(e))) {
    ++e;
    if (e - at > 260) return std::nullopt;
  }
  while (e > at + 1 && (v.at(e - 1) == '.' || v.at(e - 1) == '-')) --e;
  if (is_word(v.at(e))) return std::nullopt;
  if (!classify::email_valid(v.text(r, e))) return std::nullopt;
  return Span{r, e};
}

// The value after an aws_secret_access_key name ending at `end`: optional quote, up to 4 spaces,
// = or : or =>, up to 4 spaces, optional quote, 40 secret characters, then no further one.
std::optional<Span> parse_aws_secret(const View& v, std::uint64_t end) {
  std::uint64_t q = end;
  if (v.at(q) == '"' || v.at(q) == '\'') ++q;
  for (int i = 0; i < 4 && is_space(v.at(q)); ++i) ++q;
  if (v.at(q) == '=' && v.at(q + 1) == '>') {
    q += 2;
  } else if (v.at(q) == '=' || v.at(q) == ':') {
    ++q;
  } else {
    return std::nullopt;
  }
  for (int i = 0; i < 4 && is_space(v.at(q)); ++i) ++q;
  if (v.at(q) == '"' || v.at(q) == '\'') ++q;
  for (std::uint64_t i = 0; i < 40; ++i)
    if (!is_b64_char(v.at(q + i))) return std::nullopt;
  if (is_b64_char(v.at(q + 40))) return std::nullopt;  // a longer blob
  if (!classify::aws_secret_value_valid(v.text(q, q + 40))) return std::nullopt;
  return Span{q, q + 40};
}

std::optional<Span> validate(Check check, const View& v, std::uint64_t from, std::uint64_t to) {
  // Tokens: a word on its own (nothing word-like glued on either side).
  const bool alone = !is_word(v.at(from - 1)) && !is_word(v.at(to));
  switch (check) {
    case Check::None:
      return Span{from, to};
    case Check::Card:
      if (!classify::card_number_valid(v.text(from, to))) return std::nullopt;
      return Span{from, to};
    case Check::Ssn:
      if (!classify::ssn_valid(v.text(from, to))) return std::nullopt;
      // Part of a longer dash- or dot-separated number (1-123-45-6789, 123-45-6789-01).
      if ((v.at(from - 1) == '-' || v.at(from - 1) == '.') && is_digit(v.at(from - 2))) return std::nullopt;
      if ((v.at(to) == '-' || v.at(to) == '.') && is_digit(v.at(to + 1))) return std::nullopt;
      return Span{from, to};
    case Check::Iban:
      if (!classify::iban_valid(v.text(from, to))) return std::nullopt;
      return Span{from, to};
    case Check::Email:
      return parse_email(v, to - 2);
    case Check::PrivateKey:
      return Span{from, to};
    case Check::AwsKeyId:
      if (!alone || !classify::aws_key_id_valid(v.text(from, to))) return std::nullopt;
      return Span{from, to};
    case Check::AwsSecret: {
      // "aws" (any case), optionally one separator, then the key name the expression matched.
      std::uint64_t b = from;
      const int sep = v.at(b - 1);
      if (sep == '_' || sep == ' ' || sep == '.' || sep == '-') --b;
      if (lower_byte(v.at(b - 3)) != 'a' || lower_byte(v.at(b - 2)) != 'w' || lower_byte(v.at(b - 1)) != 's')
        return std::nullopt;
      return parse_aws_secret(v, to);
    }
    case Check::GithubToken:
      if (!alone || !classify::github_token_valid(v.text(from, to))) return std::nullopt;
      return Span{from, to};
    case Check::SlackToken: {
      if (is_word(v.at(from - 1))) return std::nullopt;
      std::uint64_t e = to;
      while (is_alnum(v.at(e)) || v.at(e) == '-') {
        ++e;
        if (e - from > 255) return std::nullopt;
      }
      while (v.at(e - 1) == '-') --e;
      if (is_word(v.at(e)) || !classify::slack_token_valid(v.text(from, e))) return std::nullopt;
      return Span{from, e};
    }
    case Check::GoogleApiKey: {
      const int next = v.at(to);
      if (is_word(v.at(from - 1)) || is_word(next) || next == '-') return std::nullopt;
      if (!classify::google_api_key_valid(v.text(from, to))) return std::nullopt;
      return Span{from, to};
    }
  }
  return std::nullopt;
}

// A keyword from `keywords` starting a word (case-insensitive) anywhere in [from, to) of v.
bool keyword_in(const View& v, std::uint64_t from, std::uint64_t to, const std::vector<std::string>& keywords) {
  from = std::max(from, v.lo);
  to = std::min(to, v.hi);
  for (std::uint64_t p = from; p < to; ++p) {
    if (is_alnum(v.at(p - 1))) continue;  // not at a word start
    const int c = lower_byte(v.at(p));
    for (const auto& kw : keywords) {
      if (kw[0] != c || p + kw.size() > to) continue;
      std::size_t i = 1;
      while (i < kw.size() && lower_byte(v.at(p + i)) == static_cast<unsigned char>(kw[i])) ++i;
      if (i == kw.size()) return true;
    }
  }
  return false;
}

// Key material after a PEM header: within the window, a line that starts with 32+ base64 characters
// or with "Proc-Type:" (legacy encrypted PEM).
bool key_material_follows(const View& v, std::uint64_t end) {
  const std::uint64_t limit = std::min<std::uint64_t>(v.hi, end + kContextWindow);
  std::uint64_t p = end;
  while (p < limit) {
    while (p < limit && v.at(p) != '\n') ++p;  // to the next line
    ++p;
    if (p >= limit) break;
    if (limit - p >= 10 && v.text(p, p + 10) == "Proc-Type:") return true;
    std::uint64_t q = p;
    while (q < limit && is_b64_char(v.at(q))) ++q;
    if (q - p >= 32) return true;
  }
  return false;
}

bool corroborated(const TypeInfo& t, const View& v, Span core) {
  switch (t.check) {
    case Check::AwsSecret:
      return true;
    case Check::PrivateKey:
      return key_material_follows(v, core.to);
    default:
      break;
  }
  if (t.context.empty()) return false;
  const std::uint64_t before = core.from >= kContextWindow ? core.from - kContextWindow : 0;
  return keyword_in(v, before, core.from, t.context) || keyword_in(v, core.to, core.to + kContextWindow, t.context);
}

// ---- One scan -----------------------------------------------------------------------------------

struct TypeState {
  std::uint32_t count = 0;
  Finding::Confidence confidence = Finding::Confidence::Low;
  bool seen = false;
  std::uint64_t cluster_end = 0;  // end of the last counted occurrence and anything overlapping it
};

// A Hyperscan stream and the shape scanner fed chunk by chunk; hits that need validation wait in
// `pending_` until the bytes around them are visible, then are validated and counted.
class ScanRun {
 public:
  ScanRun(const Compiled& impl, const ScanLimits& limits, hs_scratch_t* scratch)
      : impl_(impl),
        scratch_(scratch),
        deadline_(std::chrono::steady_clock::now() + limits.max_time),
        states_(impl.types.size()) {}

  Status open() {
    hs_stream_t* s = nullptr;
    if (hs_open_stream(impl_.db.get(), 0, &s) != HS_SUCCESS) return err("classifier: cannot open a Hyperscan stream");
    stream_.reset(s);
    return {};
  }

  bool stopped() {
    if (!timed_out_ && std::chrono::steady_clock::now() >= deadline_) timed_out_ = true;
    return timed_out_;
  }
  bool timed_out() const { return timed_out_; }
  std::uint64_t fed() const { return fed_; }

  // Scans the next n bytes of the stream, the last n bytes of v: both finders, in slices small
  // enough that the shape scanner reads what Hyperscan just read from the L2 cache.
  Status feed(const View& v, std::size_t n) {
    constexpr std::size_t kSlice = 256 << 10;
    for (std::uint64_t off = v.hi - n; off < v.hi;) {
      const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kSlice, v.hi - off));
      const hs_error_t rc = hs_scan_stream(stream_.get(), v.base + (off - v.lo), static_cast<unsigned>(len), 0, scratch_,
                                           &ScanRun::on_match, this);
      if (rc == HS_SCAN_TERMINATED) {
        fed_ = std::max(fed_, stop_at_);
        return {};
      }
      if (rc != HS_SUCCESS) return err("classifier: Hyperscan scan failed (error " + std::to_string(rc) + ")");
      fed_ += len;
      off += len;
      shapes(View{v.base, v.lo, off}, false);
    }
    return {};
  }

  // Validates and counts the pending hits whose surroundings are visible in v (all of them at the
  // end of the input).
  void process(const View& v, bool at_end) {
    auto by_end = [](const Candidate& a, const Candidate& b) { return a.to < b.to; };
    if (!std::is_sorted(pending_.begin(), pending_.end(), by_end)) std::stable_sort(pending_.begin(), pending_.end(), by_end);
    std::size_t keep = 0;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const Candidate c = pending_[i];
      if (!at_end && c.to + kRightReach > v.hi) {
        pending_[keep++] = c;
        continue;
      }
      if ((++work_ & 255) == 0 && stopped()) {
        keep = 0;
        break;
      }
      evaluate(c, v);
    }
    pending_.resize(keep);
  }

  // Ends the stream: raises end-of-data hits (unless the scan was stopped) and processes the rest.
  Status finish(const View& v) {
    hs_stream_t* s = stream_.release();
    if (timed_out_) {
      hs_close_stream(s, nullptr, nullptr, nullptr);
      pending_.clear();
      return {};
    }
    const hs_error_t rc = hs_close_stream(s, scratch_, &ScanRun::on_match, this);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED)
      return err("classifier: Hyperscan stream close failed (error " + std::to_string(rc) + ")");
    shapes(v, true);
    process(v, true);
    return {};
  }

  std::vector<Finding> findings() const {
    std::vector<Finding> out;
    for (std::size_t i = 0; i < states_.size(); ++i) {
      const TypeState& s = states_[i];
      if (s.count == 0 || s.count < impl_.types[i].min_count) continue;
      out.push_back(Finding{impl_.types[i].id, s.count, s.confidence});
    }
    std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) { return a.type_id < b.type_id; });
    return out;
  }

 private:
  void shapes(const View& v, bool at_end) {
    if (timed_out_) return;
    const std::uint64_t limit = at_end ? v.hi : (v.hi > kShapeReach ? v.hi - kShapeReach : 0);
    auto emit = [this](const Candidate& c) { pending_.push_back(c); };
    shape_.run(impl_, v, limit, emit);
  }

  static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int, void* ctx) {
    auto* self = static_cast<ScanRun*>(ctx);
    if ((++self->work_ & 255) == 0 && self->stopped()) {
      self->stop_at_ = to;
      return 1;
    }
    const PatternMeta& m = self->impl_.patterns[id];
    const std::uint64_t start = m.start == Start::Fixed ? to - m.width : from;
    if (self->impl_.types[m.type].check != Check::None) {
      self->pending_.push_back(Candidate{m.type, start, to});
    } else if (m.start == Start::EndOnly) {
      self->count_end_only(m.type, to, m.width);
    } else {
      self->count(m.type, Span{start, to}, Finding::Confidence::Low);
    }
    return 0;
  }

  void evaluate(const Candidate& c, const View& v) {
    if (c.from > c.to || c.from < v.lo || c.to > v.hi) return;  // not visible (cannot happen, see kCarry)
    const TypeInfo& t = impl_.types[c.type];
    const std::optional<Span> core = validate(t.check, v, c.from, c.to);
    if (!core) return;
    TypeState& s = states_[c.type];
    if (s.seen && core->from < s.cluster_end) {
      s.cluster_end = std::max(s.cluster_end, core->to);
      return;
    }
    const bool high = s.confidence == Finding::Confidence::High || corroborated(t, v, *core);
    count(c.type, *core, high ? Finding::Confidence::High : Finding::Confidence::Medium);
  }

  void count(std::uint32_t type, Span span, Finding::Confidence confidence) {
    TypeState& s = states_[type];
    if (s.seen && span.from < s.cluster_end) {  // the same occurrence, reported again
      s.cluster_end = std::max(s.cluster_end, span.to);
      return;
    }
    s.seen = true;
    s.cluster_end = span.to;
    if (s.count < std::numeric_limits<std::uint32_t>::max()) ++s.count;
    s.confidence = std::max(s.confidence, confidence);
  }

  void count_end_only(std::uint32_t type, std::uint64_t to, std::uint32_t min_width) {
    TypeState& s = states_[type];
    const bool same = s.seen && to - s.cluster_end < std::max<std::uint64_t>(min_width, 2);
    s.cluster_end = to;
    if (same) return;
    s.seen = true;
    if (s.count < std::numeric_limits<std::uint32_t>::max()) ++s.count;
  }

  const Compiled& impl_;
  hs_scratch_t* scratch_;
  StreamPtr stream_;
  ShapeScanner shape_;
  std::chrono::steady_clock::time_point deadline_;
  std::vector<TypeState> states_;
  std::vector<Candidate> pending_;
  std::uint64_t fed_ = 0;
  std::uint64_t stop_at_ = 0;
  std::uint64_t work_ = 0;
  bool timed_out_ = false;
};

std::size_t effective_chunk(const ScanLimits& limits) {
  return std::clamp<std::size_t>(limits.chunk_bytes, 64, std::size_t{1} << 30);
}

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

struct Classifier::Impl : Compiled {};

// ---- Public API ---------------------------------------------------------------------------------

// to_string(Confidence) and render_findings() are in classifier_render.cpp, shared with the build
// without Hyperscan.

std::vector<std::string> builtin_type_ids() {
  std::vector<std::string> ids;
  for (const auto& d : builtin_defs()) ids.emplace_back(d.id);
  return ids;
}

Classifier::Classifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Classifier::~Classifier() = default;

std::size_t Classifier::pattern_count() const { return impl_->patterns.size(); }

namespace {
ClassifierOptions::Simd best_simd() {
#if defined(VIGIL_CLASSIFIER_AVX2)
  if (__builtin_cpu_supports("avx2")) return ClassifierOptions::Simd::Avx2;
#endif
#if defined(__SSE2__)
  return ClassifierOptions::Simd::Sse2;
#else
  return ClassifierOptions::Simd::Scalar;
#endif
}
}  // namespace

Result<std::unique_ptr<Classifier>> Classifier::create(const std::vector<ClassifierRule>& custom,
                                                       const ClassifierOptions& options) {
  if (hs_valid_platform() != HS_SUCCESS)
    return err("classifier: this CPU lacks the instructions Hyperscan needs (SSSE3)");

  auto impl = std::make_unique<Impl>();
  // Never more than the CPU (and this build) can do, whatever was asked for.
  const ClassifierOptions::Simd best = best_simd();
  impl->simd = options.simd == ClassifierOptions::Simd::Auto ? best : std::min(options.simd, best);
  std::vector<std::string> expressions;
  std::vector<unsigned> flags;

  for (const auto& d : builtin_defs()) {
    const auto type = static_cast<std::uint32_t>(impl->types.size());
    impl->types.push_back(TypeInfo{d.id, d.check, d.context, 1, "built-in type"});
    if (d.check == Check::Card) impl->card_type = type;
    if (d.check == Check::Ssn) impl->ssn_type = type;
    if (d.check == Check::Iban) impl->iban_type = type;
    for (const auto& p : d.patterns) {
      // Built-in expressions are fixed-width: start = end - width.
      hs_expr_info_t* info_raw = nullptr;
      hs_compile_error_t* cerr = nullptr;
      if (hs_expression_info(p.expression, p.flags, &info_raw, &cerr) != HS_SUCCESS) {
        CompileErrorPtr guard(cerr);
        return err(std::string("classifier: built-in type ") + d.id + " does not compile");
      }
      std::unique_ptr<hs_expr_info_t, decltype(&std::free)> info(info_raw, &std::free);
      const std::uint32_t width = info->min_width == info->max_width ? info->min_width : 0;
      expressions.emplace_back(p.expression);
      flags.push_back(p.flags);
      impl->patterns.push_back(PatternMeta{type, Start::Fixed, width});
    }
  }
  const auto n_builtin = static_cast<std::ptrdiff_t>(impl->types.size());

  std::unordered_set<std::string> seen_ids;
  for (const ClassifierRule& r : custom) {
    if (!valid_rule_id(r.id))
      return err("classifier rule '" + r.id + "': id must be 1-64 characters of [A-Za-z0-9_.-]");
    if (!seen_ids.insert(r.id).second) return err("classifier rule '" + r.id + "': duplicate rule id");
    if (r.min_count == 0) return err("classifier rule '" + r.id + "': min_count must be at least 1");
    auto builtin = std::find_if(impl->types.begin(), impl->types.begin() + n_builtin,
                                [&](const TypeInfo& t) { return t.id == r.id; });
    const bool is_builtin_id = builtin != impl->types.begin() + n_builtin;
    if (r.kind == ClassifierRule::Kind::Builtin) {
      if (!is_builtin_id) return err("classifier rule '" + r.id + "': no built-in type has this id");
      builtin->min_count = r.min_count;
      continue;
    }
    if (is_builtin_id) return err("classifier rule '" + r.id + "': id is taken by a built-in type");
    const auto type = static_cast<std::uint32_t>(impl->types.size());
    if (r.kind == ClassifierRule::Kind::Keywords) {
      if (r.keywords.empty()) return err("classifier rule '" + r.id + "': keyword list is empty");
      impl->types.push_back(TypeInfo{r.id, Check::None, {}, r.min_count, "keyword list"});
      for (std::size_t i = 0; i < r.keywords.size(); ++i) {
        const std::string_view kw = trim(r.keywords[i]);
        if (kw.empty()) return err("classifier rule '" + r.id + "': keyword #" + std::to_string(i + 1) + " is empty");
        std::uint32_t literal_len = 0;
        expressions.push_back(keyword_expression(kw, &literal_len));
        flags.push_back(HS_FLAG_CASELESS | (literal_len == 0 ? HS_FLAG_SOM_LEFTMOST : 0u));
        impl->patterns.push_back(literal_len == 0 ? PatternMeta{type, Start::Som, 0}
                                                  : PatternMeta{type, Start::Fixed, literal_len});
      }
    } else {
      if (r.regex.empty()) return err("classifier rule '" + r.id + "': regex is empty");
      if (r.regex.find('\0') != std::string::npos)
        return err("classifier rule '" + r.id + "': regex contains a NUL byte (write it as \\x00)");
      impl->types.push_back(TypeInfo{r.id, Check::None, {}, r.min_count, "regex"});
      const unsigned base_flags = HS_FLAG_MULTILINE | (r.case_insensitive ? HS_FLAG_CASELESS : 0u);
      auto meta = plan_regex(r, base_flags, type);
      if (!meta) return err(meta.error());
      expressions.push_back(r.regex);
      flags.push_back(base_flags | (meta->start == Start::Som ? HS_FLAG_SOM_LEFTMOST : 0u));
      impl->patterns.push_back(*meta);
    }
  }

  std::vector<const char*> exprs;
  std::vector<unsigned> ids;
  bool som = false;
  for (std::size_t i = 0; i < expressions.size(); ++i) {
    exprs.push_back(expressions[i].c_str());
    ids.push_back(static_cast<unsigned>(i));
    som |= (flags[i] & HS_FLAG_SOM_LEFTMOST) != 0;
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* cerr = nullptr;
  const unsigned mode = HS_MODE_STREAM | (som ? HS_MODE_SOM_HORIZON_LARGE : 0u);
  const hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                                         mode, nullptr, &db, &cerr);
  if (rc != HS_SUCCESS) {
    CompileErrorPtr guard(cerr);
    const std::string msg = cerr != nullptr && cerr->message != nullptr ? cerr->message : "unknown error";
    if (cerr != nullptr && cerr->expression >= 0 && static_cast<std::size_t>(cerr->expression) < impl->patterns.size()) {
      const TypeInfo& t = impl->types[impl->patterns[static_cast<std::size_t>(cerr->expression)].type];
      return err("classifier rule '" + t.id + "' (" + t.rule_kind + "): pattern does not compile: " + msg);
    }
    return err("classifier: pattern database does not compile: " + msg);
  }
  impl->db.reset(db);

  hs_scratch_t* scratch = nullptr;
  if (hs_alloc_scratch(impl->db.get(), &scratch) != HS_SUCCESS)
    return err("classifier: cannot allocate Hyperscan scratch space");
  impl->pool = std::make_unique<ScratchPool>(ScratchPtr(scratch));
  return std::unique_ptr<Classifier>(new Classifier(std::move(impl)));
}

Result<ScanResult> Classifier::scan(std::string_view data, const ScanLimits& limits) const {
  auto scratch = impl_->pool->acquire();
  if (!scratch) return err(scratch.error());
  ScratchLease lease{impl_->pool.get(), std::move(scratch).value()};

  ScanResult result;
  const std::size_t limit = std::min(data.size(), limits.max_bytes);
  result.truncated = data.size() > limit;
  const std::size_t chunk = effective_chunk(limits);

  ScanRun run(*impl_, limits, lease.scratch.get());
  if (auto s = run.open(); !s) return err(s.error());
  // Chunk by chunk, each step seeing only the bytes "read" so far, exactly as scan_fd does, so
  // the two always agree.
  for (std::size_t off = 0; off < limit && !run.stopped();) {
    const std::size_t n = std::min(chunk, limit - off);
    off += n;
    if (auto s = run.feed(View{data.data(), 0, off}, n); !s) return err(s.error());
    run.process(View{data.data(), 0, off}, false);
  }
  const View all{data.data(), 0, limit};
  if (auto s = run.finish(all); !s) return err(s.error());
  result.findings = run.findings();
  result.bytes_scanned = static_cast<std::size_t>(run.fed());
  result.timed_out = run.timed_out();
  return result;
}

Result<ScanResult> Classifier::scan_file(const std::string& path, const ScanLimits& limits) const {
  // O_NONBLOCK: opening a FIFO must not hang (it is then refused as not a regular file).
  // O_NOATIME: leave access times alone where we may (owner or CAP_FOWNER); else open normally.
  FdCloser fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOATIME)};
  if (fd.fd < 0 && errno == EPERM) fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd.fd < 0) return err("classifier: cannot open " + path + ": " + errno_text(errno));
  return scan_fd(fd.fd, path, limits);
}

Result<ScanResult> Classifier::scan_fd(int fd, const std::string& name, const ScanLimits& limits) const {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return err("classifier: cannot stat " + name + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return err("classifier: " + name + " is not a regular file");
  if (st.st_nlink == 0) return err("classifier: " + name + " was deleted before it was scanned");

  auto scratch = impl_->pool->acquire();
  if (!scratch) return err(scratch.error());
  ScratchLease lease{impl_->pool.get(), std::move(scratch).value()};

  // Reads of chunk_bytes, but no bigger buffer than the file needs (many small files are the
  // common case); a file that grows meanwhile is simply read in more rounds.
  const std::uint64_t size_hint = st.st_size > 0 ? static_cast<std::uint64_t>(st.st_size) + 1 : 4096;
  const std::size_t chunk = static_cast<std::size_t>(
      std::max<std::uint64_t>(64, std::min<std::uint64_t>({effective_chunk(limits), size_hint, limits.max_bytes})));
  const auto buf_owner = std::make_unique_for_overwrite<char[]>(kCarry + chunk);
  char* const buf = buf_owner.get();
  std::uint64_t base = 0;  // stream offset of buf[0]
  std::size_t len = 0;     // bytes held in buf
  std::uint64_t total = 0;
  bool truncated = false;

  // pread until n bytes or end of file; -1 (errno set) on error.
  auto read_at = [fd](char* dst, std::size_t n, std::uint64_t off) -> std::ptrdiff_t {
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd, dst + got, n - got, static_cast<off_t>(off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return -1;
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    return static_cast<std::ptrdiff_t>(got);
  };

  ScanRun run(*impl_, limits, lease.scratch.get());
  if (auto s = run.open(); !s) return err(s.error());
  while (!run.stopped()) {
    if (total >= limits.max_bytes) {
      char probe = 0;
      const std::ptrdiff_t r = read_at(&probe, 1, total);
      if (r < 0) return err("classifier: cannot read " + name + ": " + errno_text(errno));
      truncated = r > 0;
      break;
    }
    if (len > kCarry) {  // keep only what pending hits and the context window may still need
      std::memmove(buf, buf + (len - kCarry), kCarry);
      base += len - kCarry;
      len = kCarry;
    }
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, limits.max_bytes - total));
    const std::ptrdiff_t got = read_at(buf + len, want, total);
    if (got < 0) return err("classifier: cannot read " + name + ": " + errno_text(errno));
    if (got > 0) {
      len += static_cast<std::size_t>(got);
      total += static_cast<std::uint64_t>(got);
      const View view{buf, base, base + len};
      if (auto s = run.feed(view, static_cast<std::size_t>(got)); !s) return err(s.error());
      run.process(view, false);
    }
    if (::fstat(fd, &st) != 0) return err("classifier: cannot stat " + name + ": " + errno_text(errno));
    if (st.st_nlink == 0) return err("classifier: " + name + " was deleted while it was being scanned");
    if (static_cast<std::size_t>(got) < want) break;  // end of file
  }
  if (auto s = run.finish(View{buf, base, base + len}); !s) return err(s.error());

  ScanResult result;
  result.findings = run.findings();
  result.bytes_scanned = static_cast<std::size_t>(run.fed());
  result.truncated = truncated;
  result.timed_out = run.timed_out();
  return result;
}

}  // namespace vigil
