#include "collector/net/tls_connection.h"

namespace vigil::collector {

using asio::use_awaitable;

TlsConnection::TlsConnection(tcp::socket socket, std::shared_ptr<const TlsConfig> config,
                             std::chrono::steady_clock::duration idle_timeout)
    : socket_(std::move(socket)),
      tls_(std::move(config)),
      idle_(idle_timeout),
      deadline_(std::make_shared<asio::steady_timer>(socket_.get_executor())),
      flush_done_(socket_.get_executor(), asio::steady_timer::time_point::max()) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(tcp::no_delay(true), ec);
}

TlsConnection::~TlsConnection() {
  boost::system::error_code ec;
  deadline_->expires_at(asio::steady_timer::time_point::min());
  socket_.close(ec);
}

void TlsConnection::touch() { deadline_->expires_after(idle_); }

void TlsConnection::start_watchdog() {
  touch();
  // The watchdog holds only the timer (shared) and a raw pointer guarded by the timer's
  // cancellation in the destructor, so it never outlives the connection's socket.
  auto timer = deadline_;
  asio::co_spawn(
      socket_.get_executor(),
      [timer, this]() -> asio::awaitable<void> {
        for (;;) {
          boost::system::error_code ec;
          co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
          // min() is the connection's "I am gone" mark: `this` must not be touched after it.
          if (timer->expiry() == asio::steady_timer::time_point::min()) co_return;
          if (ec && ec != asio::error::operation_aborted) co_return;
          if (timer->expiry() <= asio::steady_timer::clock_type::now()) {
            timed_out_ = true;
            boost::system::error_code ignored;
            socket_.close(ignored);
            co_return;
          }
        }
      },
      asio::detached);
}

asio::awaitable<Status> TlsConnection::flush() {
  // Another coroutine is writing: wait for it. It sends whatever TLS output is queued when it
  // looks, ours included, so afterwards there may be nothing left to do.
  while (flushing_) {
    boost::system::error_code ec;
    co_await flush_done_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  if (!write_error_.empty()) co_return err(write_error_);
  flushing_ = true;
  struct Done {
    TlsConnection* c;
    ~Done() {
      c->flushing_ = false;
      c->flush_done_.cancel();
    }
  } done{this};
  while (tls_.has_output()) {
    std::string out = tls_.take_output();
    touch();
    boost::system::error_code ec;
    co_await asio::async_write(socket_, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
    if (ec) {
      write_error_ = timed_out_ ? "idle timeout" : "send: " + ec.message();
      co_return err(write_error_);
    }
  }
  co_return Status{};
}

asio::awaitable<Result<std::size_t>> TlsConnection::receive() {
  touch();
  boost::system::error_code ec;
  std::size_t n = co_await socket_.async_read_some(asio::buffer(buf_), asio::redirect_error(use_awaitable, ec));
  if (ec == asio::error::eof) co_return std::size_t{0};
  if (ec) co_return err(timed_out_ ? "idle timeout" : "receive: " + ec.message());
  bytes_received_ += n;
  tls_.feed(std::string_view(buf_, n));
  co_return n;
}

asio::awaitable<Status> TlsConnection::handshake() {
  for (;;) {
    auto state = tls_.handshake();
    // Alerts (e.g. protocol_version for a TLS 1.0 hello) are sent before giving up.
    auto sent = co_await flush();
    if (state == TlsSession::State::Open) co_return Status{};
    if (state == TlsSession::State::Failed) co_return err("TLS handshake: " + tls_.error());
    if (state == TlsSession::State::Closed) co_return err("TLS handshake: peer closed");
    if (!sent) co_return sent;
    auto got = co_await receive();
    if (!got) co_return err("TLS handshake: " + got.error());
    if (*got == 0) co_return err("TLS handshake: peer closed the connection");
  }
}

asio::awaitable<Result<std::string>> TlsConnection::read_some() {
  for (;;) {
    auto plain = tls_.read();
    if (!plain) {
      co_await flush();
      co_return err("TLS: " + plain.error());
    }
    if (!plain->empty()) co_return std::move(*plain);
    if (tls_.state() == TlsSession::State::Closed) co_return std::string{};
    if (tls_.has_output()) {
      auto s = co_await flush();
      if (!s) co_return err(s.error());
    }
    auto got = co_await receive();
    if (!got) co_return err(got.error());
    if (*got == 0) co_return std::string{};
  }
}

asio::awaitable<Status> TlsConnection::write(std::string_view plaintext) {
  auto s = tls_.write(plaintext);
  if (!s) co_return err("TLS: " + s.error());
  co_return co_await flush();
}

asio::awaitable<void> TlsConnection::close() {
  if (tls_.state() == TlsSession::State::Open) {
    tls_.close();
    co_await flush();
  }
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  deadline_->expires_at(asio::steady_timer::time_point::min());
  deadline_->cancel();
}

}  // namespace vigil::collector
