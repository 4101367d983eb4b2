// HttpServer: an asynchronous HTTP/1.1 server on Boost.Beast. A few I/O threads serve any number
// of connections (keep-alive, body and header limits, idle timeouts); a handler answers each
// request through an Exchange, at once or later from any thread, whole or as server-sent events.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace hanlin::server {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpLimits {
  size_t max_body_bytes = size_t{8} << 20;    // larger bodies get 413
  size_t max_header_bytes = size_t{16} << 10;  // larger header blocks get 431
  std::chrono::seconds idle_timeout{60};       // between requests, and while a request arrives
  std::chrono::seconds write_timeout{60};      // a client that stops reading is dropped
};

class Session;

// One request's answer. Thread-safe: the engine thread may respond or stream while the
// connection lives on an I/O thread. Exactly one of respond() or start_events() … end_events().
class Exchange {
 public:
  explicit Exchange(std::shared_ptr<Session> session, bool keep_alive);
  ~Exchange();

  void respond(unsigned status, std::string content_type, std::string body,
               std::vector<std::pair<std::string, std::string>> headers = {});
  // text/event-stream: "data: <payload>\n\n" per send_event.
  void start_events();
  void send_event(std::string payload);
  void end_events();

  // `callback` runs (once, on an I/O thread) if the client goes away before the answer is
  // complete. Set it before the work that needs cancelling starts.
  void on_disconnect(std::function<void()> callback);
  bool is_disconnected() const;

 private:
  std::shared_ptr<Session> session_;
  bool keep_alive_;
  uint64_t number_;  // which exchange of the connection this is
  std::atomic<bool> answered_{false};
};

using Handler = std::function<void(const HttpRequest&, std::shared_ptr<Exchange>)>;

class HttpServer {
 public:
  // Binds host:port (port 0: any free port) at once; throws Error(kInvalidArgument) naming the
  // address when it cannot.
  HttpServer(const std::string& host, uint16_t port, Handler handler, HttpLimits limits, int num_threads);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }
  // Starts the I/O threads; returns at once.
  void start();
  // While draining: every answer says Connection: close, so clients move on once served.
  void stop_keep_alive();
  // No new connections.
  void stop_accepting();
  // Stops the I/O threads and closes every connection.
  void stop();
  size_t num_open_connections() const;
  // Requests being answered now (read, not yet fully written).
  size_t num_active_exchanges() const;

 private:
  void accept_next();

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
  HttpLimits limits_;
  int num_threads_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::shared_ptr<std::atomic<size_t>> open_connections_;
  std::shared_ptr<std::atomic<size_t>> active_exchanges_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> keep_alive_{true};
};

}  // namespace hanlin::server
