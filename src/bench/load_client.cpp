// The Beast load generator; see load_client.h. One io_context thread drives every connection:
// a streamed response costs a read and a small parse per chunk, which one core does for
// hundreds of streams, and one thread keeps the timestamps free of lock waits.
#include "bench/load_client.h"

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>

#include <boost/asio.hpp>
// GCC's -Wmaybe-uninitialized misfires inside Beast's response parser (an optional returned as
// boost::none) once sanitizers change inlining; the warning is about Beast's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop
#include <nlohmann/json.hpp>

namespace hanlin::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

constexpr size_t kMaxErrorBodyBytes = 4096;

// "HTTP 429: <the error message>" from an OpenAI error body, or the body itself.
std::string http_error(unsigned status, const std::string& body) {
  std::string message = body;
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object() && json.contains("error")) {
    const auto& error = json["error"];
    if (error.is_object() && error.contains("message") && error["message"].is_string()) {
      message = error["message"].get<std::string>();
    } else if (error.is_string()) {
      message = error.get<std::string>();
    }
  }
  return "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
}

class LoadRun;

// One request in flight: connection, parser, stream reader. Owns itself through the handlers.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(LoadRun& run, size_t index);
  void begin();

 private:
  void connect();
  void write();
  void read_header();
  void read_body();
  void on_body_bytes(size_t num_bytes, Clock::time_point now);
  void retry_or_fail(const beast::error_code& error, const char* during);
  void complete();
  void fail(std::string error);

  LoadRun& run_;
  size_t index_;
  tcp::socket socket_;
  bool is_reused_ = false;  // a kept-alive connection, which the server may have closed meanwhile
  bool has_retried_ = false;
  Clock::time_point sent_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  unsigned status_ = 0;
  std::string error_body_;
  StreamReader reader_;
  std::array<char, 16384> body_chunk_{};
};

class LoadRun {
 public:
  LoadRun(const LoadOptions& options, std::span<const std::string> http_requests, std::span<const double> send_times,
          const ProgressCallback& on_progress)
      : options_(options), requests_(http_requests), send_times_(send_times), on_progress_(on_progress),
        timer_(io_), results_(http_requests.size()) {}

  LoadResult run() {
    start_ = Clock::now();
    beast::error_code error;
    endpoints_ = tcp::resolver(io_).resolve(options_.address.host, options_.address.port, error);
    if (error) {
      stop("cannot resolve '" + options_.address.host + "': " + error.message());
    } else {
      arrive_due();
    }
    io_.run();
    return LoadResult{std::move(results_), seconds_between(start_, Clock::now()), std::move(unreachable_)};
  }

  net::io_context& io() { return io_; }
  const std::string& request_text(size_t index) const { return requests_[index]; }
  const tcp::resolver::results_type& endpoints() const { return endpoints_; }
  Clock::time_point start() const { return start_; }
  std::string server_name() const { return options_.address.host + ":" + options_.address.port; }

  std::optional<tcp::socket> take_idle_connection() {
    if (idle_.empty()) return std::nullopt;
    tcp::socket socket = std::move(idle_.back());
    idle_.pop_back();
    return socket;
  }
  void keep_idle_connection(tcp::socket socket) { idle_.push_back(std::move(socket)); }

  void on_connected() { has_connected_ = true; }
  void on_connect_failed(const std::string& error) {
    if (!has_connected_) stop(error);
  }

  void finish(size_t index, RequestResult result) {
    results_[index] = std::move(result);
    --num_active_;
    report_done();
    if (!waiting_.empty()) {
      const size_t next = waiting_.front();
      waiting_.pop_front();
      stopped_ ? finish_unsent(next) : start_exchange(next);
    }
    if (num_active_ == 0 && waiting_.empty() && next_ == requests_.size()) idle_.clear();
  }

 private:
  // Sends or queues every request whose time has come, then sleeps until the next one's.
  void arrive_due() {
    const double now = seconds_between(start_, Clock::now());
    while (next_ < requests_.size() && !stopped_ && send_times_[next_] <= now) arrive(next_++);
    if (next_ == requests_.size() || stopped_) return;
    const auto due = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(send_times_[next_]));
    timer_.expires_at(due);
    timer_.async_wait([this](const beast::error_code& error) {
      if (!error) arrive_due();
    });
  }

  void arrive(size_t index) {
    const bool has_room = options_.max_concurrency == 0 || num_active_ < options_.max_concurrency;
    has_room ? start_exchange(index) : waiting_.push_back(index);
  }

  void start_exchange(size_t index) {
    ++num_active_;
    std::make_shared<Exchange>(*this, index)->begin();
  }

  // The server cannot be reached: nothing more is sent; what waits or has not arrived fails.
  void stop(const std::string& reason) {
    if (stopped_) return;
    stopped_ = true;
    unreachable_ = reason;
    timer_.cancel();
    while (!waiting_.empty()) {
      const size_t index = waiting_.front();
      waiting_.pop_front();
      finish_unsent(index);
    }
    while (next_ < requests_.size()) finish_unsent(next_++);
  }

  void finish_unsent(size_t index) {
    results_[index].error = "not sent: " + unreachable_;
    report_done();
  }

  void report_done() {
    ++num_done_;
    if (on_progress_) on_progress_(num_done_);
  }

  const LoadOptions& options_;
  std::span<const std::string> requests_;
  std::span<const double> send_times_;
  const ProgressCallback& on_progress_;
  net::io_context io_{1};
  net::steady_timer timer_;
  tcp::resolver::results_type endpoints_;
  Clock::time_point start_;
  std::vector<RequestResult> results_;
  std::deque<size_t> waiting_;  // arrived, held back by max_concurrency
  std::vector<tcp::socket> idle_;
  size_t next_ = 0;  // the next request to arrive
  size_t num_active_ = 0;
  size_t num_done_ = 0;
  bool has_connected_ = false;
  bool stopped_ = false;
  std::string unreachable_;
};

Exchange::Exchange(LoadRun& run, size_t index) : run_(run), index_(index), socket_(run.io()) {}

void Exchange::begin() {
  sent_ = Clock::now();
  if (std::optional<tcp::socket> idle = run_.take_idle_connection()) {
    socket_ = std::move(*idle);
    is_reused_ = true;
    return write();
  }
  connect();
}

void Exchange::connect() {
  net::async_connect(socket_, run_.endpoints(),
                     [self = shared_from_this()](const beast::error_code& error, const tcp::endpoint&) {
                       if (error) {
                         const std::string message = "cannot connect to " + self->run_.server_name() + ": " + error.message();
                         self->run_.on_connect_failed(message);
                         return self->fail(message);
                       }
                       self->run_.on_connected();
                       self->socket_.set_option(tcp::no_delay(true));
                       self->write();
                     });
}

void Exchange::write() {
  net::async_write(socket_, net::buffer(run_.request_text(index_)),
                   [self = shared_from_this()](const beast::error_code& error, size_t) {
                     if (error) return self->retry_or_fail(error, "sending the request");
                     self->read_header();
                   });
}

void Exchange::read_header() {
  parser_.emplace();
  parser_->body_limit(boost::none);  // a long stream is not an error
  http::async_read_header(socket_, buffer_, *parser_, [self = shared_from_this()](const beast::error_code& error, size_t) {
    if (error) return self->retry_or_fail(error, "waiting for the response");
    self->status_ = self->parser_->get().result_int();
    self->read_body();
  });
}

void Exchange::read_body() {
  auto& body = parser_->get().body();
  body.data = body_chunk_.data();
  body.size = body_chunk_.size();
  http::async_read_some(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code error, size_t) {
    const Clock::time_point now = Clock::now();  // first: the chunk's arrival time
    if (error == http::error::need_buffer) error = {};
    self->on_body_bytes(self->body_chunk_.size() - self->parser_->get().body().size, now);
    if (error) return self->fail("connection lost mid-response: " + error.message());
    if (self->parser_->is_done()) return self->complete();
    self->read_body();
  });
}

void Exchange::on_body_bytes(size_t num_bytes, Clock::time_point now) {
  const std::string_view bytes(body_chunk_.data(), num_bytes);
  if (status_ == 200) {
    reader_.consume(bytes, seconds_between(sent_, now));
  } else if (error_body_.size() < kMaxErrorBodyBytes) {
    error_body_.append(bytes.substr(0, kMaxErrorBodyBytes - error_body_.size()));
  }
}

// A kept-alive connection the server closed in the meantime fails before any response; the
// request then goes again once on a fresh connection.
void Exchange::retry_or_fail(const beast::error_code& error, const char* during) {
  if (is_reused_ && !has_retried_) {
    has_retried_ = true;
    is_reused_ = false;
    beast::error_code ignored;
    socket_.close(ignored);
    socket_ = tcp::socket(run_.io());
    buffer_.clear();
    return connect();
  }
  fail(std::string("connection failed while ") + during + ": " + error.message());
}

void Exchange::complete() {
  if (status_ != 200) return fail(http_error(status_, error_body_));
  RequestResult result;
  result.is_sent = true;
  result.start_time = seconds_between(run_.start(), sent_);
  result.stream = reader_.take_record();
  if (parser_->keep_alive() && result.stream.error.empty()) run_.keep_idle_connection(std::move(socket_));
  run_.finish(index_, std::move(result));
}

void Exchange::fail(std::string error) {
  beast::error_code ignored;
  socket_.close(ignored);
  RequestResult result;
  result.is_sent = true;
  result.error = std::move(error);
  result.start_time = seconds_between(run_.start(), sent_);
  result.stream = reader_.take_record();
  run_.finish(index_, std::move(result));
}

}  // namespace

LoadResult run_load(const LoadOptions& options, std::span<const std::string> http_requests,
                    std::span<const double> send_times, const ProgressCallback& on_progress) {
  return LoadRun(options, http_requests, send_times, on_progress).run();
}

RequestTimeline timeline_of(RequestResult result, int64_t dataset_prompt_len, const text::Tokenizer* tokenizer) {
  RequestTimeline timeline;
  StreamRecord& stream = result.stream;
  timeline.start_time = result.start_time;
  timeline.prompt_len = stream.prompt_tokens.value_or(dataset_prompt_len);
  timeline.error = !result.error.empty() ? result.error : stream.error;
  if (timeline.error.empty() && stream.output_times.empty() && !stream.first_choice_time) {
    timeline.error = "the response streamed no chunk with a choice";
  }
  if (!timeline.error.empty()) return timeline;
  std::vector<double>& times = stream.output_times;
  const size_t num_output_chunks = times.size();
  if (times.empty()) times.push_back(*stream.first_choice_time);
  timeline.success = true;
  timeline.ttft = times.front();
  timeline.latency = times.back();
  timeline.itl.reserve(times.size() - 1);
  for (size_t i = 1; i < times.size(); ++i) timeline.itl.push_back(times[i] - times[i - 1]);
  timeline.output_tokens = output_token_count(stream.completion_tokens, stream.text, num_output_chunks, tokenizer);
  timeline.generated_text = std::move(stream.text);
  return timeline;
}

}  // namespace hanlin::bench
