#include "agent/uv_tls_stream.h"

#include <cstring>

#include "shared/framing.h"
#include "shared/limits.h"

namespace vigil::agent {

struct UvTlsStream::Conn {
  uv_loop_t* loop;
  TlsSession tls;
  Callbacks cb;
  std::uint64_t timeout_ms;
  std::uint64_t idle_ms = 0;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_getaddrinfo_t resolver{};
  uv_connect_t connect_req{};
  bool tcp_init = false, timer_init = false;
  bool resolving = false, connecting = false;
  bool open = false, closed = false, detached = false;
  int handles_open = 0;
  FrameDecoder decoder{limits::kMaxFrameBytes};
  std::string peer;
  std::size_t write_bytes = 0;

  Conn(uv_loop_t* l, std::shared_ptr<const TlsConfig> cfg, Callbacks c, std::uint64_t t)
      : loop(l), tls(std::move(cfg)), cb(std::move(c)), timeout_ms(t) {
    uv_timer_init(loop, &timer);
    timer.data = this;
    timer_init = true;
    handles_open = 1;
  }

  // Frees itself once libuv released every handle and no request is outstanding.
  void maybe_delete() {
    if (detached && handles_open == 0 && !resolving && !connecting) delete this;
  }

  void arm(std::uint64_t ms) {
    if (ms == 0) { uv_timer_stop(&timer); return; }
    uv_timer_start(&timer, [](uv_timer_t* t) {
      auto* self = static_cast<Conn*>(t->data);
      self->fail(self->open ? "connection idle too long" : "timed out connecting to " + self->peer);
    }, ms, 0);
  }

  void fail(const std::string& reason) {
    if (closed) return;
    closed = true;
    open = false;
    uv_timer_stop(&timer);
    if (tcp_init && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
        auto* self = static_cast<Conn*>(h->data);
        self->handles_open--;
        self->maybe_delete();
      });
    }
    if (!detached && cb.on_close) {
      auto on_close = cb.on_close;  // the owner may destroy us inside the callback
      on_close(reason);
    }
  }

  void write_raw(std::string bytes) {
    if (closed || bytes.empty()) return;
    struct Write {
      uv_write_t req;
      std::string data;
      Conn* conn;
    };
    auto* w = new Write{{}, std::move(bytes), this};
    write_bytes += w->data.size();
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    w->req.data = w;
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1, [](uv_write_t* req, int status) {
      auto* w = static_cast<Write*>(req->data);
      Conn* self = w->conn;
      self->write_bytes -= w->data.size();
      delete w;
      if (status < 0 && status != UV_ECANCELED) self->fail(std::string("send failed: ") + uv_strerror(status));
    });
    if (rc < 0) {
      write_bytes -= w->data.size();
      delete w;
      fail(std::string("send failed: ") + uv_strerror(rc));
    }
  }

  void flush_tls() {
    if (tls.has_output()) write_raw(tls.take_output());
  }

  void on_bytes(const char* data, std::size_t n) {
    tls.feed(std::string_view(data, n));
    if (!open) {
      auto st = tls.handshake();
      flush_tls();
      if (st == TlsSession::State::Failed) return fail("TLS handshake with " + peer + " failed: " + tls.error());
      if (st == TlsSession::State::Closed) return fail("peer closed during the TLS handshake");
      if (st != TlsSession::State::Open) return;
      open = true;
      arm(idle_ms);
      if (!detached && cb.on_open) cb.on_open();
      if (closed) return;
    } else {
      arm(idle_ms);
    }
    auto plain = tls.read();
    flush_tls();
    if (!plain) return fail("TLS error: " + plain.error());
    if (!plain->empty()) decoder.feed(*plain);
    for (;;) {
      auto f = decoder.next();
      if (!f) return fail("bad frame from collector: " + f.error());
      if (!f->has_value()) break;
      if (!detached && cb.on_frame) cb.on_frame(std::move(**f));
      if (closed) return;
    }
    if (tls.state() == TlsSession::State::Closed) fail("collector closed the connection");
  }

  void start_reading() {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp),
                  [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
                    buf->base = new char[suggested];
                    buf->len = suggested;
                  },
                  [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
                    auto* self = static_cast<Conn*>(s->data);
                    std::unique_ptr<char[]> owned(buf->base);
                    if (nread == UV_EOF) return self->fail("collector closed the connection");
                    if (nread < 0) return self->fail(std::string("receive failed: ") + uv_strerror(static_cast<int>(nread)));
                    if (nread > 0) self->on_bytes(buf->base, static_cast<std::size_t>(nread));
                  });
  }
};

UvTlsStream::UvTlsStream(uv_loop_t* loop, std::shared_ptr<const TlsConfig> tls, Callbacks callbacks,
                         std::uint64_t timeout_ms)
    : conn_(new Conn(loop, std::move(tls), std::move(callbacks), timeout_ms)) {}

UvTlsStream::~UvTlsStream() {
  Conn* c = conn_;
  c->detached = true;
  c->fail("closed by owner");
  if (c->timer_init && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->timer))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), [](uv_handle_t* h) {
      auto* self = static_cast<Conn*>(h->data);
      self->handles_open--;
      self->maybe_delete();
    });
  }
  if (c->resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&c->resolver));
}

void UvTlsStream::connect(const std::string& host, std::uint16_t port) {
  Conn* c = conn_;
  c->peer = host + ":" + std::to_string(port);
  c->arm(c->timeout_ms);
  c->resolver.data = c;
  c->resolving = true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(c->loop, &c->resolver, [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* self = static_cast<Conn*>(req->data);
    self->resolving = false;
    std::unique_ptr<addrinfo, decltype(&uv_freeaddrinfo)> owned(res, &uv_freeaddrinfo);
    if (self->detached || self->closed) return self->maybe_delete();
    if (status < 0 || !res) return self->fail("cannot resolve " + self->peer + ": " + uv_strerror(status));
    uv_tcp_init(self->loop, &self->tcp);
    self->tcp.data = self;
    self->tcp_init = true;
    self->handles_open++;
    uv_tcp_nodelay(&self->tcp, 1);
    self->connect_req.data = self;
    self->connecting = true;
    int rc2 = uv_tcp_connect(&self->connect_req, &self->tcp, res->ai_addr, [](uv_connect_t* req, int st) {
      auto* self = static_cast<Conn*>(req->data);
      self->connecting = false;
      if (self->detached || self->closed) return self->maybe_delete();
      if (st < 0) return self->fail("cannot connect to " + self->peer + ": " + uv_strerror(st));
      self->start_reading();
      self->tls.handshake();
      self->flush_tls();
    });
    if (rc2 < 0) {
      self->connecting = false;
      self->fail("cannot connect to " + self->peer + ": " + uv_strerror(rc2));
    }
  }, host.c_str(), std::to_string(port).c_str(), &hints);
  if (rc < 0) {
    c->resolving = false;
    c->fail("cannot resolve " + c->peer + ": " + uv_strerror(rc));
  }
}

void UvTlsStream::send_frame(std::string_view payload) {
  Conn* c = conn_;
  if (!c->open || c->closed) return;
  auto s = c->tls.write(encode_frame(payload));
  if (!s) return c->fail("TLS error: " + s.error());
  c->flush_tls();
}

void UvTlsStream::set_idle_timeout(std::uint64_t ms) {
  conn_->idle_ms = ms;
  if (conn_->open) conn_->arm(ms);
}

void UvTlsStream::close(const std::string& reason) {
  Conn* c = conn_;
  if (c->open) {
    c->tls.close();
    c->flush_tls();
  }
  c->fail(reason);
}

bool UvTlsStream::is_open() const { return conn_->open && !conn_->closed; }
std::string UvTlsStream::peer_name() const { return conn_->peer; }
std::size_t UvTlsStream::pending_write_bytes() const { return conn_->write_bytes; }

bool split_host_port(const std::string& text, std::uint16_t default_port, std::string& host, std::uint16_t& port) {
  std::string t = text;
  if (t.rfind("https://", 0) == 0) t = t.substr(8);
  port = default_port;
  if (!t.empty() && t.front() == '[') {
    auto close = t.find(']');
    if (close == std::string::npos) return false;
    host = t.substr(1, close - 1);
    if (close + 1 < t.size()) {
      if (t[close + 1] != ':') return false;
      t = t.substr(close + 2);
    } else {
      return !host.empty();
    }
  } else {
    auto colon = t.rfind(':');
    if (colon == std::string::npos) { host = t; return !host.empty(); }
    host = t.substr(0, colon);
    t = t.substr(colon + 1);
  }
  if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) return false;
  int p = std::stoi(t);
  if (p <= 0 || p > 65535) return false;
  port = static_cast<std::uint16_t>(p);
  return !host.empty();
}

}  // namespace vigil::agent
