// HR and user-attribute CSV files (docs/HR_IMPORT.md): parsing with per-line errors, and import
// into the SqlitePolicyStore as one transaction.
//
//   HR:          user,event,date[,detail]     event: resignation | last_working_date |
//                                             performance_review | improvement_plan | demotion
//                                             date: YYYY-MM-DD (midnight UTC)
//   attributes:  user[,department][,region][,manager][,priority_groups]   groups ';'-separated
//                [,email]  (cases: where reminder notices go)
//
// Promises:
// - RFC 4180: fields may be quoted; quoted fields hold commas, doubled quotes and line breaks;
//   CRLF or LF line ends; a UTF-8 byte-order mark is skipped; blank lines are ignored.
// - The header names the columns (any order, case-insensitive); unknown or missing required
//   columns, an empty file or a file over the size cap fail the whole file (Result error).
// - Each bad row is reported with the line it starts on and why (missing user, unknown event,
//   bad date, wrong column count, invalid UTF-8, control characters, unterminated quote); the
//   good rows are kept. Errors are capped (kMaxReportedErrors); the count of rejected rows is not.
// - import_*: the good rows go to the store in one transaction (all or none); importing the same
//   file again changes nothing.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "collector/policy/model.h"
#include "collector/policy/policy_store.h"
#include "shared/result.h"

namespace vigil::collector::policy {

inline constexpr std::size_t kMaxCsvBytes = 8u << 20;
inline constexpr std::size_t kMaxReportedErrors = 1000;
inline constexpr std::size_t kMaxCsvFieldBytes = 4096;

struct CsvLineError {
  std::size_t line = 0;  // 1-based; the header is line 1
  std::string reason;
};

template <typename Row>
struct CsvParse {
  std::vector<Row> rows;
  std::vector<CsvLineError> errors;  // at most kMaxReportedErrors
  std::size_t rejected = 0;          // every bad row, reported or not
};

// source: where the rows came from (a file name), kept with each HR row as "source:line".
Result<CsvParse<HrRecord>> parse_hr_csv(std::string_view text, const std::string& source,
                                        std::size_t max_bytes = kMaxCsvBytes);
Result<CsvParse<UserAttributes>> parse_attributes_csv(std::string_view text, std::size_t max_bytes = kMaxCsvBytes);

struct ImportReport {
  // false: nothing was stored because replace was asked for and some rows are bad (a partial
  // file must not wipe the rows its bad lines were meant to keep).
  bool applied = true;
  ImportCounts counts;
  std::size_t rejected = 0;
  std::vector<CsvLineError> errors;
};

Result<ImportReport> import_hr_csv(SqlitePolicyStore& store, std::string_view text, const std::string& source,
                                   bool replace = false, std::size_t max_bytes = kMaxCsvBytes);
Result<ImportReport> import_attributes_csv(SqlitePolicyStore& store, std::string_view text, bool replace = false,
                                           std::size_t max_bytes = kMaxCsvBytes);

// Exposed for tests: RFC 3629 well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
bool valid_utf8(std::string_view s);
// "YYYY-MM-DD" -> midnight UTC in ns; nullopt unless a real calendar date (years 1970..9999).
std::optional<std::int64_t> parse_date(std::string_view s);

}  // namespace vigil::collector::policy
