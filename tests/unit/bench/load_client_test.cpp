// The load client against a small scripted HTTP server on loopback: streamed answers, HTTP
// errors, error events and dropped connections each fail only their request; kept-alive
// connections are reused; an unreachable server stops the run. And timeline_of's rules.
#include "bench/load_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>
// As in load_client.cpp: GCC's -Wmaybe-uninitialized misfires inside Beast's parser under sanitizers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop
#include <nlohmann/json.hpp>

namespace hanlin::bench {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

void write_chunk(tcp::socket& socket, const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  net::write(socket, net::buffer(std::string(size) + data + "\r\n"));
}

// Answers by the first prompt id: 1 streams two chunks and usage; 2 answers HTTP 500; 3 sends
// an error event mid-stream; 4 drops the connection mid-response.
void answer(tcp::socket& socket, int kind) {
  if (kind == 2) {
    const std::string body = R"({"error": {"message": "bad things", "type": "internal_server_error"}})";
    net::write(socket, net::buffer("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                                   "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    return;
  }
  net::write(socket, net::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n")));
  write_chunk(socket, "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\n");
  if (kind == 4) return socket.close();
  if (kind == 3) write_chunk(socket, "data: {\"error\":{\"message\":\"engine failed\"}}\n\n");
  write_chunk(socket, "data: {\"choices\":[{\"index\":0,\"text\":\"b\"}]}\n\n");
  write_chunk(socket, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n");
  write_chunk(socket, "data: [DONE]\n\n");
  net::write(socket, net::buffer(std::string("0\r\n\r\n")));
}

class ScriptedServer {
 public:
  ScriptedServer() : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    acceptor_.listen();
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    // A connection of our own wakes the blocking accept.
    tcp::socket waker(io_);
    boost::system::error_code ignored;
    waker.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
    for (std::thread& connection : connections_) connection.join();
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  int num_connections() const { return num_connections_; }

 private:
  void accept_loop() {
    while (true) {
      tcp::socket socket(io_);
      acceptor_.accept(socket);
      if (stopping_) return;
      ++num_connections_;
      connections_.emplace_back([socket = std::move(socket)]() mutable { serve(socket); });
    }
  }

  static void serve(tcp::socket& socket) {
    boost::beast::flat_buffer buffer;
    while (socket.is_open()) {
      http::request<http::string_body> request;
      boost::system::error_code error;
      http::read(socket, buffer, request, error);
      if (error) return;
      answer(socket, nlohmann::json::parse(request.body())["prompt"][0].get<int>());
    }
  }

  net::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::vector<std::thread> connections_;
  std::atomic<bool> stopping_ = false;
  std::atomic<int> num_connections_ = 0;
};

std::vector<std::string> requests_for(const ServerAddress& address, const std::vector<int>& kinds) {
  std::vector<std::string> texts;
  for (int kind : kinds) {
    BenchRequest request;
    request.prompt_ids = {kind};
    request.output_len = 2;
    texts.push_back(http_request(address, Endpoint::kCompletions, request_body(request, {}), ""));
  }
  return texts;
}

TEST(LoadClientTest, FailuresStayWithTheirRequests) {
  ScriptedServer server;
  const LoadOptions options{{"127.0.0.1", server.port(), ""}, 2};
  const std::vector<std::string> texts = requests_for(options.address, {1, 2, 3, 4, 1});
  size_t last_progress = 0;
  LoadResult result = run_load(options, texts, std::vector<double>(5, 0.0), [&](size_t done) { last_progress = done; });
  ASSERT_EQ(result.requests.size(), 5u);
  EXPECT_TRUE(result.unreachable.empty());
  EXPECT_EQ(last_progress, 5u);
  const auto timeline = [&](size_t i) { return timeline_of(result.requests[i], 0, nullptr); };
  EXPECT_TRUE(timeline(0).success);
  EXPECT_EQ(timeline(0).output_tokens, 2);
  EXPECT_EQ(timeline(0).itl.size(), 1u);
  EXPECT_EQ(timeline(1).error, "HTTP 500: bad things");
  EXPECT_EQ(timeline(2).error, "engine failed");
  EXPECT_NE(timeline(3).error.find("connection lost mid-response"), std::string::npos) << timeline(3).error;
  EXPECT_TRUE(timeline(4).success) << timeline(4).error;  // the run went on after the failures
}

TEST(LoadClientTest, ReusesKeptAliveConnections) {
  ScriptedServer server;
  const LoadOptions options{{"127.0.0.1", server.port(), ""}, 1};
  const std::vector<std::string> texts = requests_for(options.address, {1, 1, 1, 1});
  const LoadResult result = run_load(options, texts, std::vector<double>(4, 0.0), {});
  for (const RequestResult& request : result.requests) EXPECT_TRUE(request.error.empty()) << request.error;
  EXPECT_EQ(server.num_connections(), 1);
}

TEST(LoadClientTest, SendsAtTheArrivalTimes) {
  ScriptedServer server;
  const LoadOptions options{{"127.0.0.1", server.port(), ""}, 0};
  const std::vector<std::string> texts = requests_for(options.address, {1, 1});
  const LoadResult result = run_load(options, texts, std::vector<double>{0.0, 0.2}, {});
  EXPECT_GE(result.requests[1].start_time, 0.2);
  EXPECT_GE(result.duration_s, 0.2);
}

TEST(LoadClientTest, UnreachableServerStopsTheRun) {
  std::string port;
  {
    net::io_context io;
    tcp::acceptor closed(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = std::to_string(closed.local_endpoint().port());
  }  // nothing listens there now
  const LoadOptions options{{"127.0.0.1", port, ""}, 1};
  const std::vector<std::string> texts = requests_for(options.address, {1, 1, 1});
  const LoadResult result = run_load(options, texts, std::vector<double>{0.0, 0.0, 30.0}, {});
  EXPECT_NE(result.unreachable.find("cannot connect to 127.0.0.1:" + port), std::string::npos) << result.unreachable;
  ASSERT_EQ(result.requests.size(), 3u);
  EXPECT_NE(result.requests[0].error.find("cannot connect"), std::string::npos);
  EXPECT_EQ(result.requests[2].error.rfind("not sent: ", 0), 0u) << result.requests[2].error;
  EXPECT_LT(result.duration_s, 30.0);  // the request due at 30 s was not waited for
}

RequestResult streamed(std::vector<double> times, std::optional<int64_t> usage_tokens) {
  RequestResult result;
  result.is_sent = true;
  result.start_time = 1.5;
  result.stream.output_times = std::move(times);
  if (!result.stream.output_times.empty()) result.stream.first_choice_time = result.stream.output_times.front();
  result.stream.completion_tokens = usage_tokens;
  result.stream.text = "xyz";
  return result;
}

TEST(TimelineTest, FromOutputChunkTimes) {
  const RequestTimeline timeline = timeline_of(streamed({0.2, 0.25, 0.4}, 5), 11, nullptr);
  EXPECT_TRUE(timeline.success);
  EXPECT_DOUBLE_EQ(timeline.start_time, 1.5);
  EXPECT_DOUBLE_EQ(timeline.ttft, 0.2);
  EXPECT_DOUBLE_EQ(timeline.latency, 0.4);
  ASSERT_EQ(timeline.itl.size(), 2u);
  EXPECT_NEAR(timeline.itl[0], 0.05, 1e-12);
  EXPECT_NEAR(timeline.itl[1], 0.15, 1e-12);
  EXPECT_EQ(timeline.output_tokens, 5);  // the server's usage
  EXPECT_EQ(timeline.prompt_len, 11);    // no usage prompt count: the dataset's
  EXPECT_EQ(timeline_of(streamed({0.2, 0.25, 0.4}, std::nullopt), 0, nullptr).output_tokens, 3);  // chunks
}

TEST(TimelineTest, FailuresAndEmptyStreams) {
  RequestResult http_error = streamed({}, std::nullopt);
  http_error.error = "HTTP 404: no such model";
  EXPECT_FALSE(timeline_of(http_error, 3, nullptr).success);
  EXPECT_EQ(timeline_of(http_error, 3, nullptr).error, "HTTP 404: no such model");
  EXPECT_EQ(timeline_of(http_error, 3, nullptr).prompt_len, 3);

  RequestResult nothing = streamed({}, std::nullopt);
  EXPECT_FALSE(timeline_of(nothing, 0, nullptr).success);
  // A choice chunk but no output (the model stopped at once): TTFT = E2E at that chunk.
  RequestResult empty_answer = streamed({}, 0);
  empty_answer.stream.first_choice_time = 0.3;
  const RequestTimeline timeline = timeline_of(empty_answer, 0, nullptr);
  EXPECT_TRUE(timeline.success);
  EXPECT_DOUBLE_EQ(timeline.ttft, 0.3);
  EXPECT_DOUBLE_EQ(timeline.latency, 0.3);
  EXPECT_EQ(timeline.output_tokens, 0);
}

}  // namespace
}  // namespace hanlin::bench
