// bench_ingest_load: plays many agents over real TLS against a real, running collector and reports
// the ingest rate, the ack latency and the collector's memory.
//
//   bench_ingest_load --server HOST:PORT --ca CA.pem
//                     (--token TOKEN | --admin-token-file FILE [--api https://HOST:PORT])
//                     [--api https://HOST:PORT --admin-token-file FILE]   (verification)
//                     [--agents N=20] [--seconds S=20] [--batch-events K=1000] [--window W=4]
//                     [--pool-rate EV_PER_S=400000] [--collector-pid PID]
//
// Each simulated agent enrolls over the ingest port exactly as vigil-agent does (own ECDSA key,
// CSR, EnrollRequest on a TLS connection without a client certificate), then connects with its
// certificate, sends Hello, and streams BatchFrames of realistic file events (seqs contiguous from
// 1, zstd(EventBatch) naming its device) keeping up to W batches unacked. One thread per agent,
// blocking sockets.
//
// The collector shares this machine, so the tool keeps itself cheap: before the timed phase every
// agent pre-encodes enough frames to sustain --pool-rate events/s (all agents together) for
// --seconds; only if the collector is faster than that are further batches encoded live (counted
// and reported, together with this tool's own CPU time).
//
// With --collector-pid it samples the collector's VmRSS/VmHWM every 500 ms and reports its CPU per
// thread over the timed phase, with the time each thread waited for a CPU (schedstat): on a shared
// machine that says whether the collector or the neighbours set the pace.
//
// Afterwards GET /api/v1/devices (admin token) must show, for every simulated device, exactly the
// number of events that were acked; otherwise the tool says so and exits 1. It also exits 1 on any
// rejected ack or connection error.
#include <netdb.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fstream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shared/batch_codec.h"
#include "shared/framing.h"
#include "shared/limits.h"
#include "shared/pki.h"
#include "shared/schema_version.h"
#include "shared/tls_session.h"
#include "vigil.pb.h"

using namespace vigil;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// ------------------------------------------------------------------------------------ options

struct Options {
  std::string server_host = "127.0.0.1";
  std::string server_port;
  std::string ca_file;
  std::string api_host, api_port;
  std::string admin_token_file;
  std::string token;
  int agents = 20;
  int seconds = 20;
  int batch_events = 1000;
  int window = 4;
  double pool_rate = 400000;
  long collector_pid = 0;
};

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr,
               "bench_ingest_load: %s\n"
               "usage: bench_ingest_load --server HOST:PORT --ca CA.pem\n"
               "         (--token TOKEN | --api https://HOST:PORT --admin-token-file FILE)\n"
               "         [--agents N=20] [--seconds S=20] [--batch-events K=1000] [--window W=4]\n"
               "         [--pool-rate EVENTS_PER_S=400000] [--collector-pid PID]\n"
               "--api with --admin-token-file also verifies events_received per device afterwards.\n",
               msg.c_str());
  std::exit(2);
}

// "host:port" (IPv6 as [addr]:port).
std::pair<std::string, std::string> split_host_port(const std::string& hp, const std::string& what) {
  if (!hp.empty() && hp[0] == '[') {
    auto close = hp.find(']');
    if (close == std::string::npos || close + 2 > hp.size() || hp[close + 1] != ':') usage("bad " + what + ": " + hp);
    return {hp.substr(1, close - 1), hp.substr(close + 2)};
  }
  auto colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == hp.size()) usage("bad " + what + " (want HOST:PORT): " + hp);
  return {hp.substr(0, colon), hp.substr(colon + 1)};
}

Options parse(int argc, char** argv) {
  Options o;
  std::string server, api;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    auto number = [&](long lo, long hi) -> long {
      std::string v = next();
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (!end || *end || n < lo || n > hi)
        usage("bad value for " + a + ": " + v + " (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
      return n;
    };
    if (a == "--server") server = next();
    else if (a == "--ca") o.ca_file = next();
    else if (a == "--api") api = next();
    else if (a == "--admin-token-file") o.admin_token_file = next();
    else if (a == "--token") o.token = next();
    else if (a == "--agents") o.agents = static_cast<int>(number(1, 1000));
    else if (a == "--seconds") o.seconds = static_cast<int>(number(1, 3600));
    else if (a == "--batch-events") o.batch_events = static_cast<int>(number(1, static_cast<long>(limits::kMaxBatchEvents)));
    else if (a == "--window") o.window = static_cast<int>(number(1, 1024));
    else if (a == "--pool-rate") o.pool_rate = static_cast<double>(number(0, 100'000'000));
    else if (a == "--collector-pid") o.collector_pid = number(1, 1L << 30);
    else if (a == "-h" || a == "--help") usage("help");
    else usage("unknown option " + a);
  }
  if (server.empty()) usage("--server is required");
  if (o.ca_file.empty()) usage("--ca is required");
  std::tie(o.server_host, o.server_port) = split_host_port(server, "--server");
  if (!api.empty()) {
    const std::string scheme = "https://";
    if (api.compare(0, scheme.size(), scheme) != 0) usage("--api must start with https://");
    std::string rest = api.substr(scheme.size());
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    std::tie(o.api_host, o.api_port) = split_host_port(rest, "--api");
  }
  if (o.token.empty() && (api.empty() || o.admin_token_file.empty()))
    usage("give --token, or --api and --admin-token-file to mint one");
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "bench_ingest_load: cannot read %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(2);
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// ------------------------------------------------------------------------------------ TLS over a blocking socket

class Link {
 public:
  explicit Link(std::shared_ptr<const TlsConfig> cfg) : tls_(std::move(cfg)), dec_(limits::kMaxFrameBytes) {}
  ~Link() {
    if (fd_ >= 0) ::close(fd_);
  }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  Status connect(const std::string& host, const std::string& port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
      return err("resolve " + host + ": " + ::gai_strerror(rc));
    std::string why = "no address";
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        fd_ = fd;
        break;
      }
      why = std::strerror(errno);
      ::close(fd);
    }
    ::freeaddrinfo(res);
    if (fd_ < 0) return err("cannot connect to " + host + ":" + port + ": " + why);
    return handshake();
  }

  // Encrypts and sends; blocks until the kernel took it all.
  Status send(std::string_view plain) {
    if (auto st = tls_.write(plain); !st) return err("TLS write: " + st.error());
    return flush();
  }

  // The next whole frame (raw bytes), or an error / end of stream.
  Result<std::string> next_frame(std::chrono::milliseconds timeout) {
    for (;;) {
      auto f = dec_.next();
      if (!f) return err("bad frame from collector: " + f.error());
      if (f->has_value()) return std::move(**f);
      if (closed_) return err("collector closed the connection");
      if (auto st = receive(timeout); !st) return err(st.error());
    }
  }

  Result<v1::CollectorMessage> next_message(std::chrono::milliseconds timeout) {
    auto f = next_frame(timeout);
    if (!f) return err(f.error());
    v1::CollectorMessage m;
    if (!m.ParseFromString(*f)) return err("frame from collector is not a CollectorMessage");
    return m;
  }

  // Reads the rest of the stream until the peer closes (for HTTP with Connection: close).
  Result<std::string> read_to_end(std::chrono::milliseconds timeout) {
    std::string all;
    for (;;) {
      auto p = tls_.read();
      if (!p) return all.empty() ? Result<std::string>(err(p.error())) : Result<std::string>(all);
      all += *p;
      if (closed_ || tls_.state() == TlsSession::State::Closed) return all;
      if (auto st = recv_some(timeout); !st) return err(st.error());
    }
  }

  void close() {
    tls_.close();
    (void)flush();
  }

 private:
  Status handshake() {
    for (int i = 0; i < 100; ++i) {
      auto st = tls_.handshake();
      if (auto f = flush(); !f) return f;
      if (st == TlsSession::State::Open) return {};
      if (st != TlsSession::State::Handshaking) return err("TLS handshake failed: " + tls_.error());
      if (auto r = recv_some(10s); !r) return err("TLS handshake: " + r.error());
      if (closed_) return err("TLS handshake: collector closed the connection");
    }
    return err("TLS handshake did not finish");
  }

  Status flush() {
    if (!tls_.has_output()) return {};
    std::string out = tls_.take_output();
    std::size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return err(std::string("send: ") + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
    return {};
  }

  // Receives some ciphertext and feeds it to TLS (closed_ on EOF).
  Status recv_some(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    int rc;
    do rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    while (rc < 0 && errno == EINTR);
    if (rc == 0) return err("no reply from collector within " + std::to_string(timeout.count()) + " ms");
    if (rc < 0) return err(std::string("poll: ") + std::strerror(errno));
    ssize_t n;
    do n = ::recv(fd_, buf_, sizeof buf_, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return err(std::string("recv: ") + std::strerror(errno));
    if (n == 0) {
      closed_ = true;
      return {};
    }
    tls_.feed(std::string_view(buf_, static_cast<std::size_t>(n)));
    return {};
  }

  // Decrypts what is buffered into the frame decoder; receives when nothing is.
  Status receive(std::chrono::milliseconds timeout) {
    auto plain = tls_.read();
    if (!plain) return err(plain.error());
    if (!plain->empty()) {
      dec_.feed(*plain);
      return {};
    }
    if (tls_.state() == TlsSession::State::Closed) {
      closed_ = true;
      return {};
    }
    if (auto st = recv_some(timeout); !st) return st;
    plain = tls_.read();
    if (!plain) return err(plain.error());
    dec_.feed(*plain);
    if (tls_.state() == TlsSession::State::Closed) closed_ = true;
    return {};
  }

  int fd_ = -1;
  bool closed_ = false;
  TlsSession tls_;
  FrameDecoder dec_;
  char buf_[65536];
};

// ------------------------------------------------------------------------------------ HTTPS (API)

struct HttpReply {
  int status = 0;
  std::string body;
};

Result<HttpReply> https(const Options& o, const std::string& ca_pem, const std::string& method, const std::string& target,
                        const std::string& bearer, const std::string& body) {
  TlsOptions to;
  to.role = TlsRole::Client;
  to.ca_pem = ca_pem;
  to.server_name = o.api_host;
  auto cfg = TlsConfig::create(to);
  if (!cfg) return err("API TLS config: " + cfg.error());
  Link link(*cfg);
  if (auto st = link.connect(o.api_host, o.api_port); !st) return err("API: " + st.error());
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + o.api_host + ":" + o.api_port +
                    "\r\nAuthorization: Bearer " + bearer + "\r\nAccept: application/json\r\nConnection: close\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (auto st = link.send(req); !st) return err("API: " + st.error());
  auto raw = link.read_to_end(60s);
  if (!raw) return err("API: " + raw.error());
  auto head_end = raw->find("\r\n\r\n");
  if (head_end == std::string::npos || raw->compare(0, 5, "HTTP/") != 0) return err("API: malformed HTTP response");
  HttpReply r;
  r.status = std::atoi(raw->c_str() + raw->find(' ') + 1);
  std::string head = raw->substr(0, head_end);
  std::string rest = raw->substr(head_end + 4);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    std::size_t p = 0;
    for (;;) {
      auto eol = rest.find("\r\n", p);
      if (eol == std::string::npos) return err("API: malformed chunked body");
      std::size_t n = std::strtoul(rest.c_str() + p, nullptr, 16);
      if (n == 0) break;
      r.body.append(rest, eol + 2, n);
      p = eol + 2 + n + 2;
    }
  } else if (auto cl = lower.find("content-length:"); cl != std::string::npos) {
    std::size_t n = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
    r.body = rest.substr(0, n);
  } else {
    r.body = rest;
  }
  return r;
}

// ------------------------------------------------------------------------------------ events

const char* const kUsers[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};
const char* const kDirs[] = {"projects/quarterly-report/drafts", "Documents/finance/2024/q3",
                             "src/vigil/collector/store", "Downloads/customer-exports",
                             ".cache/mozilla/firefox/profile", "work/legal/contracts/signed"};
const char* const kExts[] = {".docx", ".xlsx", ".pdf", ".cpp", ".tmp", ".csv", ".json"};
const char* const kExes[] = {"/usr/bin/cp", "/usr/lib/libreoffice/program/soffice.bin", "/usr/bin/rsync",
                             "/usr/bin/python3.11", "/usr/lib/firefox-esr/firefox-esr", "/usr/bin/code"};
const char* const kComms[] = {"cp", "soffice.bin", "rsync", "python3.11", "firefox-esr", "code"};
const char* const kTypes[] = {"file.write", "file.write", "file.write", "file.create", "file.rename", "file.delete"};

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Builds batches for one device; the EventBatch is reused so steady state allocates little.
// A device's activity is bursty per user: each batch mostly comes from 1-3 of the users.
class BatchMaker {
 public:
  BatchMaker(std::string device_id, int events, std::uint64_t seed) : rng_(seed), k_(events) {
    batch_.set_schema_version(kSchemaVersion);
    batch_.set_device_id(std::move(device_id));
    for (int i = 0; i < k_; ++i) batch_.add_events();
  }

  // The whole wire frame for seqs [first, first + k).
  std::string frame(std::uint64_t first) {
    const std::int64_t t0 = wall_ns();
    batch_.set_first_seq(first);
    batch_.set_last_seq(first + static_cast<std::uint64_t>(k_) - 1);
    const unsigned users[3] = {static_cast<unsigned>(rng_() % 8), static_cast<unsigned>(rng_() % 8),
                               static_cast<unsigned>(rng_() % 8)};
    char name[32];
    for (int i = 0; i < k_; ++i) {
      v1::Event& e = *batch_.mutable_events(i);
      const unsigned u = users[rng_() % 3];
      const std::int64_t t = t0 + i * 1000;
      e.set_seq(first + static_cast<std::uint64_t>(i));
      e.set_time_ns(t);
      e.set_type(kTypes[rng_() % 6]);
      e.set_login_uid(1000 + u);
      e.set_user(kUsers[u]);
      auto* p = e.mutable_process();
      const auto x = rng_() % 6;
      p->set_pid(static_cast<std::uint32_t>(1000 + rng_() % 30000));
      p->set_ppid(static_cast<std::uint32_t>(900 + rng_() % 1000));
      p->set_exe(kExes[x]);
      p->set_comm(kComms[x]);
      p->set_uid(1000 + u);
      p->set_parent_exe("/usr/bin/bash");
      auto* f = e.mutable_file();
      std::snprintf(name, sizeof name, "/item-%05u", static_cast<unsigned>(rng_() % 100000));
      std::string path = std::string("/home/") + kUsers[u] + "/" + kDirs[rng_() % 6] + name + kExts[rng_() % 7];
      if (e.type() == "file.rename") f->set_old_path(path + ".part");
      else f->clear_old_path();
      f->set_path(std::move(path));
      f->set_size(rng_() % (8u << 20));
      f->set_inode(rng_() % 10'000'000);
      f->set_mtime_ns(t - static_cast<std::int64_t>(rng_() % 1'000'000));
    }
    v1::AgentMessage m;
    auto* bf = m.mutable_batch();
    bf->set_first_seq(batch_.first_seq());
    bf->set_last_seq(batch_.last_seq());
    bf->set_event_count(static_cast<std::uint32_t>(k_));
    bf->set_uncompressed_bytes(batch_.ByteSizeLong());
    bf->set_zstd_payload(encode_batch(batch_));
    return encode_frame(m.SerializeAsString());
  }

 private:
  std::mt19937_64 rng_;
  int k_;
  v1::EventBatch batch_;
};

// ------------------------------------------------------------------------------------ collector sampling

struct ProcStatus {
  double rss_mb = 0, hwm_mb = 0;
  bool ok = false;
};

ProcStatus read_status(long pid) {
  ProcStatus s;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) s.rss_mb = std::strtod(line.c_str() + 6, nullptr) / 1024.0, s.ok = true;
    else if (line.compare(0, 6, "VmHWM:") == 0) s.hwm_mb = std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return s;
}

// utime + stime in clock ticks, and the comm, from a /proc/.../stat file.
std::optional<std::pair<std::string, unsigned long long>> read_stat(const std::string& path) {
  std::ifstream f(path);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto open = all.find('('), close = all.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  std::string comm = all.substr(open + 1, close - open - 1);
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  unsigned long long ut = 0, st = 0;
  // After ") ": state(3) ppid(4) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) ut = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) st = std::strtoull(field.c_str(), nullptr, 10);
  }
  return std::make_pair(comm, ut + st);
}

// tid -> (comm, ticks)
std::map<long, std::pair<std::string, unsigned long long>> thread_ticks(long pid) {
  std::map<long, std::pair<std::string, unsigned long long>> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (auto s = read_stat(dir + "/" + e->d_name + "/stat")) out[std::atol(e->d_name)] = *s;
  }
  ::closedir(d);
  return out;
}

// Nanoseconds each thread spent runnable but waiting for a CPU (/proc/.../schedstat field 2):
// how much the collector was held back by other work on the machine.
std::map<long, unsigned long long> thread_runqueue_wait_ns(long pid) {
  std::map<long, unsigned long long> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    unsigned long long run = 0, wait = 0;
    if (f >> run >> wait) out[std::atol(e->d_name)] = wait;
  }
  ::closedir(d);
  return out;
}

// Bytes each thread caused to be written to storage (/proc/.../io write_bytes): the collector's
// SQLite writer is the thread that writes far more than the rest.
std::map<long, unsigned long long> thread_write_bytes(long pid) {
  std::map<long, unsigned long long> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/io");
    std::string key;
    unsigned long long v = 0;
    while (f >> key >> v)
      if (key == "write_bytes:") out[std::atol(e->d_name)] = v;
  }
  ::closedir(d);
  return out;
}

double cpu_seconds_self() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ------------------------------------------------------------------------------------ agents

struct AgentResult {
  std::string device_id;
  std::uint64_t events_acked = 0, batches_acked = 0, duplicates = 0, rejected = 0;
  std::uint64_t live_encoded = 0, bytes_sent = 0;
  std::vector<double> latencies_ms;
  Clock::time_point last_ack{};
  std::string error;  // first error that ended this agent
};

struct Shared {
  const Options* opt = nullptr;
  std::string ca_pem;
  std::string token;
  std::shared_ptr<const TlsConfig> enroll_cfg;
  std::size_t pool_batches = 0;
  std::latch* ready = nullptr;          // agents connected and pre-encoded
  std::latch* go = nullptr;             // main released the timed phase
  Clock::time_point start{}, deadline{};
  std::atomic<std::uint32_t> max_in_flight{0};
  std::mutex print_mu;
};

Result<std::pair<std::string, std::string>> enroll(Shared& sh, int idx, std::string& key_pem) {
  auto key = pki::generate_key_pem();
  if (!key) return err("generate key: " + key.error());
  key_pem = *key;
  auto csr = pki::make_csr(key_pem, "bench-agent");
  if (!csr) return err("make CSR: " + csr.error());
  Link link(sh.enroll_cfg);
  if (auto st = link.connect(sh.opt->server_host, sh.opt->server_port); !st) return err("enroll: " + st.error());
  v1::AgentMessage m;
  auto* e = m.mutable_enroll();
  char host[32];
  std::snprintf(host, sizeof host, "bench-agent-%03d", idx);
  e->set_token(sh.token);
  e->set_csr_pem(*csr);
  e->set_hostname(host);
  e->set_os("Linux (bench_ingest_load)");
  e->set_agent_version(VIGIL_VERSION);
  if (auto st = link.send(encode_frame(m.SerializeAsString())); !st) return err("enroll: " + st.error());
  auto reply = link.next_message(30s);
  if (!reply) return err("enroll: " + reply.error());
  if (reply->has_error()) return err("enroll: collector error " + reply->error().code() + ": " + reply->error().message());
  if (!reply->has_enroll()) return err("enroll: unexpected reply");
  if (!reply->enroll().ok()) return err("enroll refused: " + reply->enroll().error());
  link.close();
  return std::make_pair(reply->enroll().device_id(), reply->enroll().cert_pem());
}

void run_agent(Shared& sh, int idx, AgentResult& r) {
  const Options& o = *sh.opt;
  bool arrived = false;
  auto arrive = [&] {
    if (!arrived) sh.ready->count_down();
    arrived = true;
  };
  auto fail = [&](std::string why) {
    r.error = std::move(why);
    arrive();
  };

  std::string key_pem;
  auto enrolled = enroll(sh, idx, key_pem);
  if (!enrolled) return fail(enrolled.error());
  r.device_id = enrolled->first;

  // Pre-encode the pool of frames (seqs 1..).
  BatchMaker maker(r.device_id, o.batch_events, 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(idx + 1));
  const std::uint64_t k = static_cast<std::uint64_t>(o.batch_events);
  std::vector<std::string> pool;
  pool.reserve(sh.pool_batches);
  for (std::size_t i = 0; i < sh.pool_batches; ++i) pool.push_back(maker.frame(1 + i * k));

  TlsOptions to;
  to.role = TlsRole::Client;
  to.ca_pem = sh.ca_pem;
  to.cert_pem = enrolled->second;
  to.key_pem = key_pem;
  to.server_name = o.server_host;
  auto cfg = TlsConfig::create(to);
  if (!cfg) return fail("TLS config: " + cfg.error());
  Link link(*cfg);
  if (auto st = link.connect(o.server_host, o.server_port); !st) return fail(st.error());
  {
    v1::AgentMessage m;
    auto* h = m.mutable_hello();
    h->set_protocol_version(limits::kProtocolVersion);
    h->set_schema_version(kSchemaVersion);
    char host[32];
    std::snprintf(host, sizeof host, "bench-agent-%03d", idx);
    h->set_hostname(host);
    h->set_os("Linux (bench_ingest_load)");
    h->set_agent_version(VIGIL_VERSION);
    if (auto st = link.send(encode_frame(m.SerializeAsString())); !st) return fail("Hello: " + st.error());
  }
  auto ha = link.next_message(30s);
  if (!ha) return fail("HelloAck: " + ha.error());
  if (ha->has_error()) return fail("HelloAck: collector error " + ha->error().code() + ": " + ha->error().message());
  if (!ha->has_hello_ack()) return fail("expected HelloAck");
  if (ha->hello_ack().highest_seq() != 0) return fail("fresh device already has seqs at the collector");
  if (ha->hello_ack().max_batch_events() && k > ha->hello_ack().max_batch_events())
    return fail("--batch-events above the collector's max_batch_events " + std::to_string(ha->hello_ack().max_batch_events()));
  std::size_t window = static_cast<std::size_t>(o.window);
  if (ha->hello_ack().max_in_flight()) window = std::min<std::size_t>(window, ha->hello_ack().max_in_flight());
  sh.max_in_flight = ha->hello_ack().max_in_flight();

  arrive();
  sh.go->wait();

  struct InFlight {
    std::uint64_t first, last;
    Clock::time_point sent;
  };
  std::deque<InFlight> inflight;
  std::uint64_t next_batch = 0;
  for (;;) {
    while (inflight.size() < window && Clock::now() < sh.deadline) {
      std::string live;
      const std::string* frame;
      if (next_batch < pool.size()) {
        frame = &pool[next_batch];
      } else {
        live = maker.frame(1 + next_batch * k);
        r.live_encoded++;
        frame = &live;
      }
      const std::uint64_t first = 1 + next_batch * k;
      inflight.push_back({first, first + k - 1, Clock::now()});
      if (auto st = link.send(*frame); !st) return fail(st.error());
      r.bytes_sent += frame->size();
      if (next_batch < pool.size()) std::string().swap(pool[next_batch]);  // sent: free it
      next_batch++;
    }
    if (inflight.empty()) break;
    auto msg = link.next_message(60s);
    if (!msg) return fail(msg.error());
    const auto now = Clock::now();
    if (msg->has_error()) return fail("collector error " + msg->error().code() + ": " + msg->error().message());
    if (!msg->has_ack()) return fail("unexpected message from collector while streaming");
    const auto& ack = msg->ack();
    const InFlight f = inflight.front();
    if (ack.first_seq() != f.first || ack.last_seq() != f.last)
      return fail("ack for " + std::to_string(ack.first_seq()) + "-" + std::to_string(ack.last_seq()) + ", expected " +
                  std::to_string(f.first) + "-" + std::to_string(f.last));
    inflight.pop_front();
    r.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - f.sent).count());
    r.last_ack = now;
    switch (ack.status()) {
      case v1::Ack::OK:
        r.events_acked += f.last - f.first + 1;
        r.batches_acked++;
        break;
      case v1::Ack::DUPLICATE: r.duplicates++; break;
      default:
        r.rejected++;
        if (r.error.empty()) {
          std::lock_guard lock(sh.print_mu);
          std::fprintf(stderr, "agent %d: batch %llu-%llu rejected: %s\n", idx, static_cast<unsigned long long>(f.first),
                       static_cast<unsigned long long>(f.last), ack.error().c_str());
        }
        break;
    }
  }
  link.close();
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  Shared sh;
  sh.opt = &o;
  sh.ca_pem = slurp(o.ca_file);
  std::string admin_token;
  if (!o.admin_token_file.empty()) admin_token = trim(slurp(o.admin_token_file));

  // Token: given, or minted through the API.
  sh.token = o.token;
  if (sh.token.empty()) {
    auto r = https(o, sh.ca_pem, "POST", "/api/v1/enroll-tokens", admin_token,
                   "{\"uses\":" + std::to_string(o.agents) + ",\"ttl\":\"1h\"}");
    if (!r) {
      std::fprintf(stderr, "bench_ingest_load: minting a token: %s\n", r.error().c_str());
      return 1;
    }
    if (r->status / 100 != 2) {
      std::fprintf(stderr, "bench_ingest_load: minting a token: HTTP %d: %s\n", r->status, r->body.c_str());
      return 1;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("token") || !v.as_object().at("token").is_string()) {
      std::fprintf(stderr, "bench_ingest_load: minting a token: unexpected reply %s\n", r->body.c_str());
      return 1;
    }
    sh.token = std::string(v.as_object().at("token").as_string());
  }

  TlsOptions eo;
  eo.role = TlsRole::Client;
  eo.ca_pem = sh.ca_pem;
  eo.server_name = o.server_host;
  auto ecfg = TlsConfig::create(eo);
  if (!ecfg) {
    std::fprintf(stderr, "bench_ingest_load: TLS config: %s\n", ecfg.error().c_str());
    return 1;
  }
  sh.enroll_cfg = *ecfg;

  const double per_agent_events = o.pool_rate * o.seconds / o.agents;
  sh.pool_batches = std::max<std::size_t>(static_cast<std::size_t>(std::ceil(per_agent_events / o.batch_events)),
                                          static_cast<std::size_t>(o.window) * 2);

  std::printf("bench_ingest_load: %d agents, %d s, %d events/batch, window %d, collector %s:%s\n", o.agents,
              o.seconds, o.batch_events, o.window, o.server_host.c_str(), o.server_port.c_str());
  std::printf("preparing: enrolling agents and pre-encoding %zu batches per agent (%.0f events/s for %d s)...\n",
              sh.pool_batches, o.pool_rate, o.seconds);
  std::fflush(stdout);

  ProcStatus rss_before;
  if (o.collector_pid) rss_before = read_status(o.collector_pid);

  const auto prep_start = Clock::now();
  const double prep_cpu0 = cpu_seconds_self();
  std::latch ready(o.agents), go(1);
  sh.ready = &ready;
  sh.go = &go;
  std::vector<AgentResult> results(static_cast<std::size_t>(o.agents));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.agents; ++i)
    threads.emplace_back([&sh, &results, i] { run_agent(sh, i, results[static_cast<std::size_t>(i)]); });
  ready.wait();
  const double prep_s = std::chrono::duration<double>(Clock::now() - prep_start).count();
  const double prep_cpu = cpu_seconds_self() - prep_cpu0;
  int ready_agents = 0;
  for (const auto& r : results) ready_agents += r.error.empty() ? 1 : 0;
  std::printf("prepared in %.1f s (%.1f CPU s); %d of %d agents connected\n", prep_s, prep_cpu, ready_agents, o.agents);
  std::fflush(stdout);

  // Collector sampling: RSS every 500 ms.
  std::atomic<bool> sampling{true};
  double max_rss = rss_before.rss_mb, hwm = rss_before.hwm_mb;
  std::thread sampler;
  std::map<long, std::pair<std::string, unsigned long long>> ticks0;
  std::map<long, unsigned long long> wait0, wait1, wb0, wb1;
  std::optional<std::pair<std::string, unsigned long long>> proc0;
  if (o.collector_pid) {
    ticks0 = thread_ticks(o.collector_pid);
    wait0 = thread_runqueue_wait_ns(o.collector_pid);
    wb0 = thread_write_bytes(o.collector_pid);
    proc0 = read_stat("/proc/" + std::to_string(o.collector_pid) + "/stat");
    sampler = std::thread([&] {
      while (sampling) {
        auto s = read_status(o.collector_pid);
        if (s.ok) {
          max_rss = std::max(max_rss, s.rss_mb);
          hwm = std::max(hwm, s.hwm_mb);
        }
        for (int i = 0; i < 10 && sampling; ++i) std::this_thread::sleep_for(50ms);
      }
    });
  }

  const double cpu0 = cpu_seconds_self();
  sh.start = Clock::now();
  sh.deadline = sh.start + std::chrono::seconds(o.seconds);
  go.count_down();
  for (auto& t : threads) t.join();
  const auto end = Clock::now();
  const double tool_cpu = cpu_seconds_self() - cpu0;
  std::map<long, std::pair<std::string, unsigned long long>> ticks1;
  std::optional<std::pair<std::string, unsigned long long>> proc1;
  if (o.collector_pid) {
    ticks1 = thread_ticks(o.collector_pid);
    wait1 = thread_runqueue_wait_ns(o.collector_pid);
    wb1 = thread_write_bytes(o.collector_pid);
    proc1 = read_stat("/proc/" + std::to_string(o.collector_pid) + "/stat");
    sampling = false;
    sampler.join();
    auto s = read_status(o.collector_pid);
    if (s.ok) max_rss = std::max(max_rss, s.rss_mb), hwm = std::max(hwm, s.hwm_mb);
  }

  // ---- results
  std::uint64_t events = 0, batches = 0, dups = 0, rejected = 0, live = 0, bytes = 0;
  int errors = 0;
  Clock::time_point last_ack = sh.start;
  std::vector<double> lat;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    events += r.events_acked;
    batches += r.batches_acked;
    dups += r.duplicates;
    rejected += r.rejected;
    live += r.live_encoded;
    bytes += r.bytes_sent;
    if (r.batches_acked + r.duplicates + r.rejected > 0) last_ack = std::max(last_ack, r.last_ack);
    lat.insert(lat.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    if (!r.error.empty()) {
      errors++;
      std::printf("error: agent %zu (%s): %s\n", i, r.device_id.empty() ? "not enrolled" : r.device_id.c_str(),
                  r.error.c_str());
    }
  }
  std::sort(lat.begin(), lat.end());
  const double elapsed = std::chrono::duration<double>(last_ack - sh.start).count();
  const double wall = std::chrono::duration<double>(end - sh.start).count();
  const long hz = ::sysconf(_SC_CLK_TCK);

  std::printf("agents: %d\n", o.agents);
  std::printf("seconds: %d (sending), %.2f until the last ack\n", o.seconds, elapsed);
  std::printf("batch events: %d, window: %zu (collector max_in_flight %u)\n", o.batch_events,
              std::min<std::size_t>(static_cast<std::size_t>(o.window), sh.max_in_flight ? sh.max_in_flight.load() : 1u << 30),
              sh.max_in_flight.load());
  std::printf("events acked: %llu\n", static_cast<unsigned long long>(events));
  std::printf("events/s: %.0f\n", elapsed > 0 ? static_cast<double>(events) / elapsed : 0.0);
  std::printf("batches: %llu acked OK, %llu duplicate, %llu rejected\n", static_cast<unsigned long long>(batches),
              static_cast<unsigned long long>(dups), static_cast<unsigned long long>(rejected));
  std::printf("wire: %.1f MB sent, %.0f bytes/event (zstd batch + framing)\n", static_cast<double>(bytes) / 1e6,
              events ? static_cast<double>(bytes) / static_cast<double>(batches * static_cast<std::uint64_t>(o.batch_events)) : 0.0);
  std::printf("ack latency ms: p50 %.1f, p99 %.1f, max %.1f (%zu acks)\n", percentile(lat, 50), percentile(lat, 99),
              lat.empty() ? 0.0 : lat.back(), lat.size());
  std::printf("load tool CPU: %.1f s over %.1f s = %.0f%% of one core (batches encoded live: %llu; pre-encoding took "
              "%.1f CPU s before the timed phase)\n",
              tool_cpu, wall, wall > 0 ? 100.0 * tool_cpu / wall : 0.0, static_cast<unsigned long long>(live), prep_cpu);
  if (o.collector_pid) {
    if (proc0 && proc1) {
      const double cs = static_cast<double>(proc1->second - proc0->second) / static_cast<double>(hz);
      std::printf("collector CPU: %.1f s over %.1f s = %.0f%% of one core\n", cs, wall, wall > 0 ? 100.0 * cs / wall : 0.0);
      // Per thread (busiest first), with the time it waited for a CPU; threads that used under 1%
      // are summed.
      struct Row {
        double cpu, wait;
        std::string name;
      };
      std::vector<Row> rows;
      Row idle{0, 0, ""};
      int idle_n = 0;
      double total_wait = 0;
      // The thread that wrote the most to storage, if it wrote at least 1 MB and 10x any other.
      long writer_tid = 0;
      {
        unsigned long long best = 0, second = 0;
        for (const auto& [tid, b1] : wb1) {
          const unsigned long long d = b1 - (wb0.count(tid) ? wb0[tid] : 0);
          if (d > best) second = best, best = d, writer_tid = tid;
          else if (d > second) second = d;
        }
        if (best < (1u << 20) || best < 10 * second) writer_tid = 0;
      }
      for (const auto& [tid, v] : ticks1) {
        unsigned long long before = 0, w0 = 0;
        if (auto it = ticks0.find(tid); it != ticks0.end()) before = it->second.second;
        if (auto it = wait0.find(tid); it != wait0.end()) w0 = it->second;
        const double cpu = static_cast<double>(v.second - before) / static_cast<double>(hz);
        const double wait = wait1.count(tid) ? static_cast<double>(wait1[tid] - w0) / 1e9 : 0.0;
        total_wait += wait;
        if (wall > 0 && cpu / wall < 0.01) {
          idle.cpu += cpu;
          idle.wait += wait;
          idle_n++;
          continue;
        }
        std::string name = "tid " + std::to_string(tid) + (v.first == "vigil-collector" ? "" : " " + v.first);
        if (tid == writer_tid) name += " (SQLite writer)";
        rows.push_back({cpu, wait, name});
      }
      std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.cpu > b.cpu; });
      if (idle_n) rows.push_back({idle.cpu, idle.wait, std::to_string(idle_n) + " other threads"});
      std::string line;
      for (const auto& r : rows) {
        char b[160];
        std::snprintf(b, sizeof b, "%s%s: %.1f s CPU (%.0f%%), %.1f s waiting for a CPU", line.empty() ? "" : "; ",
                      r.name.c_str(), r.cpu, wall > 0 ? 100.0 * r.cpu / wall : 0.0, r.wait);
        line += b;
      }
      std::printf("collector run-queue wait: %.1f s summed over its threads (time runnable but not running: CPU "
                  "taken by other processes)\n",
                  total_wait);
      std::printf("collector CPU by thread: %s\n", line.c_str());
    }
    std::printf("collector RSS MB: before %.1f, max sampled %.1f, VmHWM %.1f\n", rss_before.rss_mb, max_rss, hwm);
  }
  std::printf("errors: %d connection errors, %llu rejected acks\n", errors, static_cast<unsigned long long>(rejected));
  std::fflush(stdout);

  int rc = (errors || rejected) ? 1 : 0;

  // ---- verification through the API
  if (!o.api_host.empty() && !admin_token.empty()) {
    auto r = https(o, sh.ca_pem, "GET", "/api/v1/devices", admin_token, "");
    if (!r || r->status != 200) {
      std::printf("verify error: GET /api/v1/devices: %s\n",
                  !r ? r.error().c_str() : ("HTTP " + std::to_string(r->status) + ": " + r->body).c_str());
      return 1;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("devices") || !v.as_object().at("devices").is_array()) {
      std::printf("verify error: unexpected /api/v1/devices reply\n");
      return 1;
    }
    std::map<std::string, std::uint64_t> got;
    for (const auto& d : v.as_object().at("devices").as_array()) {
      const auto& obj = d.as_object();
      got[std::string(obj.at("device_id").as_string())] = boost::json::value_to<std::uint64_t>(obj.at("events_received"));
    }
    int devices = 0, mismatches = 0;
    std::uint64_t verified = 0;
    for (const auto& res : results) {
      if (res.device_id.empty()) continue;
      auto it = got.find(res.device_id);
      std::uint64_t have = it == got.end() ? 0 : it->second;
      if (it == got.end() || have != res.events_acked) {
        mismatches++;
        std::printf("verify mismatch: %s: collector has %llu events, %llu were acked\n", res.device_id.c_str(),
                    static_cast<unsigned long long>(have), static_cast<unsigned long long>(res.events_acked));
      } else {
        devices++;
        verified += have;
      }
    }
    if (mismatches) {
      std::printf("verify error: %d of %d devices differ\n", mismatches, devices + mismatches);
      return 1;
    }
    std::printf("verified: %d devices, %llu events\n", devices, static_cast<unsigned long long>(verified));
  } else {
    std::printf("verified: skipped (no --api/--admin-token-file)\n");
  }
  return rc;
}
