// Mailer: delivers one plain-text message to one recipient. SmtpMailer does it through the SMTP
// relay of collector.toml [smtp] with libcurl (smtp://, optionally STARTTLS required); tests may
// give CaseService a Mailer of their own.
//
// Promises:
// - send() returns only after the relay accepted the message (250 after DATA) or with the error
//   the relay or the connection gave ("SMTP to 127.0.0.1:2525: Couldn't connect to server").
// - Headers are built here from checked values: addresses and the subject can carry no CR/LF.
// - Bounded: connect and whole-transfer timeouts from the settings.
// - Thread-safe: every send uses its own curl handle.
#pragma once
#include <cstdint>
#include <string>

#include "shared/result.h"

namespace vigil::collector::cases {

struct MailMessage {
  std::string to;       // an address checked by valid_email()
  std::string subject;  // one line, UTF-8
  std::string body;     // UTF-8 text, lines ending in \n
};

class Mailer {
 public:
  virtual ~Mailer() = default;
  virtual Status send(const MailMessage& message) const = 0;
};

struct SmtpSettings {
  std::string host;              // empty: no relay configured
  std::uint16_t port = 25;
  std::string from;              // envelope and From: address
  bool starttls = false;         // require STARTTLS (the relay's certificate is verified)
  std::string ca_file;           // CA bundle for verifying it ("" = the system's)
  int timeout_seconds = 30;
};

// user@domain with no spaces, angle brackets, quotes or control characters; <= 254 bytes.
bool valid_email(std::string_view address);

class SmtpMailer final : public Mailer {
 public:
  explicit SmtpMailer(SmtpSettings settings);
  Status send(const MailMessage& message) const override;

 private:
  SmtpSettings s_;
};

// The RFC 5322 text SmtpMailer uploads (CRLF line ends; a non-ASCII subject as an RFC 2047 word).
std::string format_mail(const std::string& from, const MailMessage& m, std::int64_t now_ns);

}  // namespace vigil::collector::cases
