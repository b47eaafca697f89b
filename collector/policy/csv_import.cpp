#include "collector/policy/csv_import.h"

#include "collector/cases/mailer.h"

#include <algorithm>
#include <cctype>

namespace vigil::collector::policy {

namespace {

constexpr std::size_t kMaxUserBytes = 256;

struct Record {
  std::size_t line = 0;
  std::vector<std::string> fields;
  std::string malformed;  // why the record cannot be read (quoting), else empty
};

// RFC 4180 records, each with the line it starts on. Never fails: quoting mistakes make a
// record malformed (reported on its line), an unterminated quote ends the file.
std::vector<Record> split_records(std::string_view text) {
  std::vector<Record> out;
  std::size_t i = 0, line = 1;
  const std::size_t n = text.size();
  while (i < n) {
    Record r;
    r.line = line;
    std::string field;
    bool quoted_any = false;
    for (;;) {
      // One field.
      field.clear();
      if (i < n && text[i] == '"') {
        quoted_any = true;
        const std::size_t opened = line;
        ++i;
        bool closed = false;
        while (i < n) {
          char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
          ++i;
        }
        if (!closed) {
          r.malformed = "unterminated quote: the quoted field opened on line " + std::to_string(opened) +
                        " never closes (the rest of the file was not read)";
          r.fields.push_back(std::move(field));
          out.push_back(std::move(r));
          return out;
        }
        if (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && (i + 1 == n || text[i + 1] == '\n'))) {
          if (r.malformed.empty()) r.malformed = "characters after a closing quote (quote the whole field and double inner quotes)";
          while (i < n && text[i] != ',' && text[i] != '\n') ++i;  // skip to the next field
        }
      } else {
        while (i < n && text[i] != ',' && text[i] != '\n') field.push_back(text[i++]);
        if (!field.empty() && field.back() == '\r' && (i == n || text[i] == '\n')) field.pop_back();
      }
      r.fields.push_back(std::move(field));
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < n && text[i] == '\r') ++i;
      if (i < n && text[i] == '\n') {
        ++i;
        ++line;
      }
      break;
    }
    if (!quoted_any && r.fields.size() == 1 && r.fields[0].find_first_not_of(" \t") == std::string::npos) continue;
    out.push_back(std::move(r));
  }
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A value quoted into an error message: bounded, control characters and invalid bytes escaped,
// so a hostile cell cannot forge report lines.
std::string shown(std::string_view v) {
  std::string out = "'";
  const bool utf8 = valid_utf8(v);
  for (std::size_t i = 0; i < v.size() && i < 64; ++i) {
    auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (v.size() > 64) out += "...";
  return out + "'";
}

struct Columns {
  std::vector<std::string> names;  // header order, lowercased
  int index(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return static_cast<int>(i);
    return -1;
  }
};

// Reads the header: required columns must be there, every column must be known.
Result<Columns> read_header(const Record& r, std::initializer_list<std::string_view> known,
                            std::initializer_list<std::string_view> required, std::string_view kind) {
  std::string list;
  for (auto k : known) list += (list.empty() ? "" : ",") + std::string(k);
  if (!r.malformed.empty()) return err("line " + std::to_string(r.line) + ": header: " + r.malformed);
  Columns c;
  for (const auto& f : r.fields) {
    std::string name = lower(trim(f));
    if (!valid_utf8(name) || std::find(known.begin(), known.end(), name) == known.end())
      return err("line " + std::to_string(r.line) + ": unknown column " + shown(name) + " in the header of the " +
                 std::string(kind) + " file (columns: " + list + ")");
    if (c.index(name) >= 0) return err("line " + std::to_string(r.line) + ": column '" + name + "' appears twice in the header");
    c.names.push_back(std::move(name));
  }
  for (auto req : required)
    if (c.index(req) < 0)
      return err("line " + std::to_string(r.line) + ": the header has no '" + std::string(req) + "' column (expected " +
                 list + "; the first line must be the header)");
  return c;
}

// Common row checks; fills why and returns false when the row is bad.
bool check_row(const Record& r, const Columns& c, std::string_view optional_last, std::string& why) {
  if (!r.malformed.empty()) {
    why = r.malformed;
    return false;
  }
  const std::size_t want = c.names.size();
  const bool may_omit_last = !optional_last.empty() && !c.names.empty() && c.names.back() == optional_last;
  if (r.fields.size() != want && !(may_omit_last && r.fields.size() + 1 == want)) {
    std::string cols;
    for (const auto& name : c.names) cols += (cols.empty() ? "" : ",") + name;
    why = "wrong column count: expected " + std::to_string(want) + " fields (" + cols + "), got " +
          std::to_string(r.fields.size());
    return false;
  }
  for (std::size_t i = 0; i < r.fields.size(); ++i) {
    if (!valid_utf8(r.fields[i])) {
      why = "invalid UTF-8 in column '" + c.names[i] + "'";
      return false;
    }
    if (r.fields[i].size() > kMaxCsvFieldBytes) {
      why = "column '" + c.names[i] + "' is longer than " + std::to_string(kMaxCsvFieldBytes) + " bytes";
      return false;
    }
  }
  return true;
}

std::string field(const Record& r, const Columns& c, std::string_view name) {
  int i = c.index(name);
  return i >= 0 && static_cast<std::size_t>(i) < r.fields.size() ? r.fields[static_cast<std::size_t>(i)] : std::string();
}

bool check_user(const std::string& user, std::string& why) {
  if (user.empty()) why = "missing user";
  else if (has_control(user)) why = "user " + shown(user) + " contains control characters";
  else if (user.size() > kMaxUserBytes) why = "user is longer than " + std::to_string(kMaxUserBytes) + " bytes";
  return why.empty();
}

Result<std::vector<Record>> records_of(std::string_view text, std::size_t max_bytes, std::string_view kind) {
  if (text.size() > max_bytes)
    return err("the " + std::string(kind) + " file is " + std::to_string(text.size()) + " bytes; the limit is " +
               std::to_string(max_bytes) + " bytes (split it into smaller files)");
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  auto records = split_records(text);
  if (records.empty()) return err("the " + std::string(kind) + " file is empty (it needs a header line)");
  return records;
}

template <typename Row>
void reject(CsvParse<Row>& out, std::size_t line, std::string why) {
  ++out.rejected;
  if (out.errors.size() < kMaxReportedErrors) out.errors.push_back(CsvLineError{line, std::move(why)});
}

}  // namespace

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::optional<std::int64_t> parse_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto num = [&](std::size_t from, std::size_t len) -> int {
    int v = 0;
    for (std::size_t k = from; k < from + len; ++k) {
      if (s[k] < '0' || s[k] > '9') return -1;
      v = v * 10 + (s[k] - '0');
    }
    return v;
  };
  const int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 1970 || m < 1 || m > 12 || d < 1) return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return std::nullopt;
  // Days since the epoch (Howard Hinnant's days_from_civil).
  const int yy = y - (m <= 2);
  const int era = yy / 400;
  const unsigned yoe = static_cast<unsigned>(yy - era * 400);
  const unsigned doy = static_cast<unsigned>((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + static_cast<std::int64_t>(doe) - 719468;
  return days * 86400LL * 1000000000LL;
}

Result<CsvParse<HrRecord>> parse_hr_csv(std::string_view text, const std::string& source, std::size_t max_bytes) {
  auto records = records_of(text, max_bytes, "HR");
  if (!records) return err(records.error());
  auto cols = read_header(records->front(), {"user", "event", "date", "detail"}, {"user", "event", "date"}, "HR");
  if (!cols) return err(cols.error());
  CsvParse<HrRecord> out;
  for (std::size_t k = 1; k < records->size(); ++k) {
    const Record& r = (*records)[k];
    std::string why;
    if (!check_row(r, *cols, "detail", why)) {
      reject(out, r.line, std::move(why));
      continue;
    }
    HrRecord h;
    h.user = trim(field(r, *cols, "user"));
    if (!check_user(h.user, why)) {
      reject(out, r.line, std::move(why));
      continue;
    }
    const std::string event = lower(trim(field(r, *cols, "event")));
    auto kind = hr_kind_from_string(event);
    if (!kind) {
      reject(out, r.line, event.empty() ? "missing event"
                                        : "unknown event " + shown(event) +
                                              " (expected resignation, last_working_date, performance_review, "
                                              "improvement_plan or demotion)");
      continue;
    }
    h.kind = *kind;
    const std::string date = trim(field(r, *cols, "date"));
    auto when = parse_date(date);
    if (!when) {
      reject(out, r.line, date.empty() ? "missing date" : "bad date " + shown(date) + " (expected a calendar date YYYY-MM-DD)");
      continue;
    }
    h.effective_ns = *when;
    h.detail = field(r, *cols, "detail");
    h.source = source + ":" + std::to_string(r.line);
    out.rows.push_back(std::move(h));
  }
  return out;
}

Result<CsvParse<UserAttributes>> parse_attributes_csv(std::string_view text, std::size_t max_bytes) {
  auto records = records_of(text, max_bytes, "attributes");
  if (!records) return err(records.error());
  auto cols = read_header(records->front(), {"user", "department", "region", "manager", "priority_groups", "email"}, {"user"},
                          "attributes");
  if (!cols) return err(cols.error());
  CsvParse<UserAttributes> out;
  for (std::size_t k = 1; k < records->size(); ++k) {
    const Record& r = (*records)[k];
    std::string why;
    if (!check_row(r, *cols, "", why)) {
      reject(out, r.line, std::move(why));
      continue;
    }
    UserAttributes a;
    a.user = trim(field(r, *cols, "user"));
    if (!check_user(a.user, why)) {
      reject(out, r.line, std::move(why));
      continue;
    }
    a.department = trim(field(r, *cols, "department"));
    a.region = trim(field(r, *cols, "region"));
    a.manager = trim(field(r, *cols, "manager"));
    for (auto [name, value] : {std::pair{"department", &a.department}, std::pair{"region", &a.region},
                               std::pair{"manager", &a.manager}})
      if (has_control(*value) && why.empty()) why = std::string(name) + " contains control characters";
    const std::string all = field(r, *cols, "priority_groups");
    std::string_view rest = all;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      std::string g = trim(rest.substr(0, semi));
      if (!g.empty() && std::find(a.priority_groups.begin(), a.priority_groups.end(), g) == a.priority_groups.end()) {
        if (has_control(g) && why.empty()) why = "priority group " + shown(g) + " contains control characters";
        a.priority_groups.push_back(std::move(g));
      }
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
    // cases: the notice recipient (docs/CASES.md); optional, checked so a notice cannot be misaddressed.
    a.email = trim(field(r, *cols, "email"));
    if (!a.email.empty() && why.empty() && !cases::valid_email(a.email))
      why = "email " + shown(a.email) + " is not an address like name@example.com";
    if (!why.empty()) {
      reject(out, r.line, std::move(why));
      continue;
    }
    out.rows.push_back(std::move(a));
  }
  return out;
}

Result<ImportReport> import_hr_csv(SqlitePolicyStore& store, std::string_view text, const std::string& source,
                                   bool replace, std::size_t max_bytes) {
  auto parsed = parse_hr_csv(text, source, max_bytes);
  if (!parsed) return err(parsed.error());
  if (replace && parsed->rejected > 0) return ImportReport{false, {}, parsed->rejected, std::move(parsed->errors)};
  auto counts = store.upsert_hr_records(parsed->rows, replace);
  if (!counts) return err(counts.error());
  return ImportReport{true, *counts, parsed->rejected, std::move(parsed->errors)};
}

Result<ImportReport> import_attributes_csv(SqlitePolicyStore& store, std::string_view text, bool replace,
                                           std::size_t max_bytes) {
  auto parsed = parse_attributes_csv(text, max_bytes);
  if (!parsed) return err(parsed.error());
  if (replace && parsed->rejected > 0) return ImportReport{false, {}, parsed->rejected, std::move(parsed->errors)};
  auto counts = store.upsert_user_attributes(parsed->rows, replace);
  if (!counts) return err(counts.error());
  return ImportReport{true, *counts, parsed->rejected, std::move(parsed->errors)};
}

}  // namespace vigil::collector::policy
