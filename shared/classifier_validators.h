// Checks that turn a pattern hit into a validated finding for the content classifier
// (shared/classifier.h). Pure functions on bytes: no allocation beyond small locals, no locale, no
// exceptions; every one is safe on arbitrary (binary, truncated) input and simply says "no".
#pragma once
#include <string_view>

namespace vigil::classify {

// Luhn (mod 10) check over a string of ASCII digits; false for anything else or an empty string.
bool luhn_valid(std::string_view digits);

// A payment card number as written: 13-19 digits, either contiguous or grouped with one kind of
// separator (space or dash) as 4-4-4-4, 4-4-4-4-3 or, for Amex, 4-6-5. The issuer prefix and length
// must agree (Visa 4: 13/16/19; Mastercard 51-55 and 2221-2720: 16; Amex 34/37: 15; Discover 6011,
// 644-649, 65, 622126-622925: 16-19) and the Luhn check must pass.
bool card_number_valid(std::string_view text);

// A US SSN written NNN-NN-NNNN that the SSA could have issued: not area 000, 666 or 900-999, not
// group 00, not serial 0000, and not the two numbers voided after appearing in advertising
// (078-05-1120, 219-09-9999).
bool ssn_valid(std::string_view text);

// The registered IBAN length for a country code ("GB" -> 22), or 0 if the country is not in the
// built-in table (which covers the SEPA area and the other common IBAN countries).
int iban_length_for_country(std::string_view country);

// An IBAN in electronic (no spaces) or print form (groups of four separated by single spaces):
// known country, length as registered for it, BBAN alphanumeric upper case, ISO 7064 mod 97-10 == 1.
bool iban_valid(std::string_view text);

// An address local@domain that a mail system would accept: local part 1-64 characters of
// [A-Za-z0-9._%+-] without a leading, trailing or doubled dot; domain at most 253 characters of
// dot-separated labels (1-63 of [A-Za-z0-9-], not starting or ending with '-'), at least two
// labels, and an alphabetic top-level label of 2-63 letters.
bool email_valid(std::string_view text);

// An AWS access key id: AKIA or ASIA followed by 16 characters of the base32 alphabet [A-Z2-7]
// that AWS key ids are drawn from (AWS's documented example AKIAIOSFODNN7EXAMPLE passes).
bool aws_key_id_valid(std::string_view text);

// A 40-character AWS secret access key value: [A-Za-z0-9/+] with both upper- and lower-case
// letters (rules out 40-hex SHA-1 digests and placeholders such as all-x).
bool aws_secret_value_valid(std::string_view value);

// A GitHub token (ghp_/gho_/ghu_/ghs_/ghr_ + 36 alphanumerics, or github_pat_ + 22 + '_' + 59)
// whose random part looks random: at least 10 distinct characters (rules out ghp_xxxx... and
// similar placeholders).
bool github_token_valid(std::string_view text);

// A Slack token xox[abpr]-...: at least two dash-separated alphanumeric segments after the prefix,
// at least 24 characters in all, with at least one digit (rules out xoxb-your-token-goes-here).
bool slack_token_valid(std::string_view text);

// A Google API key: AIza followed by exactly 35 characters of [0-9A-Za-z_-].
bool google_api_key_valid(std::string_view text);

}  // namespace vigil::classify
