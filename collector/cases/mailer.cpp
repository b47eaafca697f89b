#include "collector/cases/mailer.h"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <mutex>

#include "shared/crypto.h"
#include "shared/time_util.h"

namespace vigil::collector::cases {

namespace {

std::string base64(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
             static_cast<unsigned char>(in[i + 2]);
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
  }
  if (i + 1 == in.size()) {
    auto n = static_cast<unsigned char>(in[i]) << 16;
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
  }
  return out;
}

std::string header_text(const std::string& s) {
  const bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return ascii ? s : "=?UTF-8?B?" + base64(s) + "?=";
}

struct Upload {
  std::string text;
  std::size_t at = 0;
};

std::size_t read_cb(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  const std::size_t take = std::min(size * n, u->text.size() - u->at);
  std::copy_n(u->text.data() + u->at, take, buf);
  u->at += take;
  return take;
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

bool valid_email(std::string_view a) {
  if (a.empty() || a.size() > 254) return false;
  const auto at = a.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 >= a.size() || a.find('@', at + 1) != std::string_view::npos)
    return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == '"' || c == ',' || c == ';' || c == '\\';
  });
}

std::string format_mail(const std::string& from, const MailMessage& m, std::int64_t now) {
  char date[64];
  const std::time_t t = static_cast<std::time_t>(now / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  const auto domain = from.substr(from.find('@') + 1);
  std::string out;
  out += "Date: " + std::string(date) + "\r\n";
  out += "From: <" + from + ">\r\n";
  out += "To: <" + m.to + ">\r\n";
  out += "Subject: " + header_text(m.subject) + "\r\n";
  out += "Message-ID: <" + crypto::random_token(12) + "@" + domain + ">\r\n";
  out += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
  out += "Auto-Submitted: auto-generated\r\n\r\n";
  // Bare LF -> CRLF (SMTP wants CRLF); libcurl dot-stuffs lines that start with '.'.
  for (std::size_t i = 0; i < m.body.size(); ++i) {
    if (m.body[i] == '\n' && (i == 0 || m.body[i - 1] != '\r')) out += '\r';
    out += m.body[i];
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

SmtpMailer::SmtpMailer(SmtpSettings settings) : s_(std::move(settings)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Status SmtpMailer::send(const MailMessage& m) const {
  const std::string where = "SMTP to " + s_.host + ":" + std::to_string(s_.port);
  if (s_.host.empty()) return err("no SMTP relay is configured (collector.toml [smtp] host)");
  if (!valid_email(m.to)) return err("'" + m.to + "' is not a usable e-mail address");
  if (m.subject.find_first_of("\r\n") != std::string::npos) return err("the subject must be one line");
  std::unique_ptr<CURL, CurlFree> c(curl_easy_init());
  if (!c) return err(where + ": cannot create a curl handle");
  Upload up{format_mail(s_.from, m, now_ns()), 0};
  const std::string url = "smtp://" + s_.host + ":" + std::to_string(s_.port);
  const std::string from = "<" + s_.from + ">", to = "<" + m.to + ">";
  std::unique_ptr<curl_slist, SlistFree> rcpt(curl_slist_append(nullptr, to.c_str()));
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(c.get(), CURLOPT_READDATA, &up);
  curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, static_cast<long>(std::min(s_.timeout_seconds, 10)));
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT, static_cast<long>(s_.timeout_seconds));
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "smtp");
  if (s_.starttls) {
    curl_easy_setopt(c.get(), CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    if (!s_.ca_file.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO, s_.ca_file.c_str());
  }
  const CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &code);
    std::string msg = where + ": " + (errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc)));
    if (code) msg += " (last reply " + std::to_string(code) + ")";
    return err(msg);
  }
  return {};
}

}  // namespace vigil::collector::cases
