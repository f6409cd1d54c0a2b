#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace walden::server {
namespace {

TEST(HttpServer, ServesRoutesOnAFreePortAndTheClientReachesThem) {
  auto server = HttpServer::Start(
      "127.0.0.1:0", {{.method = "POST", .path = "/echo", .handler = [](const Request& r) {
                         return Response{.status = 201, .body = r.params.at("x") + ":" + r.body};
                       }}});
  ASSERT_TRUE(server) << server.error().message;
  auto response = Post((*server)->address(), "/echo", {{"x", "a b&c"}}, "hello");
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "a b&c:hello");
  // The same port twice: a clear error.
  auto second = HttpServer::Start((*server)->address(), {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message,
            "cannot listen on " + (*server)->address() +
                " (in use, or not an address of this host); set server.listen to a free host:port");
}

TEST(HttpServer, BadListenValuesAndUnreachableServersSaySo) {
  EXPECT_EQ(HttpServer::Start("8080", {}).error().message,
            "server.listen must be host:port (e.g. 127.0.0.1:8080), got \"8080\"");
  EXPECT_EQ(HttpServer::Start("127.0.0.1:99999", {}).error().message,
            "server.listen has an invalid port: \"127.0.0.1:99999\"");
  auto server = HttpServer::Start("127.0.0.1:0", {});
  const std::string address = (*server)->address();
  server->reset();
  auto response = Post(address, "/x", {}, "");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().kind, ErrorKind::kConnection);
  EXPECT_TRUE(response.error().message.starts_with("cannot reach walden at " + address))
      << response.error().message;
}

// A handler learns that its client closed the connection (walden stops the query then).
TEST(HttpServer, AHandlerSeesItsClientGoAway) {
  std::atomic<bool> answered_gone{false};
  std::atomic<bool> gone_at_first{true};
  auto server = HttpServer::Start(
      "127.0.0.1:0", {{.method = "GET", .path = "/slow", .handler = [&](const Request& r) {
                         gone_at_first = r.client_gone();
                         const auto until =
                             std::chrono::steady_clock::now() + std::chrono::seconds(20);
                         while (!r.client_gone() && std::chrono::steady_clock::now() < until) {
                           std::this_thread::sleep_for(std::chrono::milliseconds(20));
                         }
                         answered_gone = r.client_gone();
                         return Response{.body = "late"};
                       }}});
  ASSERT_TRUE(server) << server.error().message;
  const auto colon = (*server)->address().rfind(':');
  {
    httplib::Client client("127.0.0.1", std::stoi((*server)->address().substr(colon + 1)));
    client.set_read_timeout(0, 300000);  // gives up, closes the connection
    EXPECT_FALSE(client.Get("/slow"));
  }
  for (int i = 0; i < 250 && !answered_gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(answered_gone);
  EXPECT_FALSE(gone_at_first);
}

// Streamed responses arrive piece by piece, and their writer learns when the client left.
TEST(HttpServer, StreamedResponsesAreWrittenUntilTheClientLeaves) {
  std::atomic<int> written{0};
  std::atomic<bool> ended{false};
  auto server = HttpServer::Start(
      "127.0.0.1:0",
      {{.method = "GET",
        .path = "/api/things/([^/]+)/feed",
        .handler =
            [&](const Request& r) {
              Response response{.content_type = "text/event-stream"};
              const std::string name = r.matches.at(0);
              const std::string since =
                  r.headers.contains("last-event-id") ? r.headers.at("last-event-id") : "none";
              response.stream = [&, name, since](const StreamWrite& write) {
                for (int i = 0;
                     write("data: " + name + " " + since + " " + std::to_string(i) + "\n\n"); ++i) {
                  ++written;
                  std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
                ended = true;
              };
              return response;
            }}},
      {.stream_threads = 2});
  ASSERT_TRUE(server) << server.error().message;
  const auto colon = (*server)->address().rfind(':');
  {
    httplib::Client client("127.0.0.1", std::stoi((*server)->address().substr(colon + 1)));
    std::string received;
    auto result = client.Get("/api/things/a%20b/feed", {{"Last-Event-ID", "7"}},
                             [&](const char* data, size_t size) {
                               received.append(data, size);
                               return received.size() < 100;  // then hangs up
                             });
    EXPECT_FALSE(result);  // canceled by the receiver
    EXPECT_TRUE(received.starts_with("data: a b 7 0\n\ndata: a b 7 1\n\n")) << received;
  }
  for (int i = 0; i < 250 && !ended; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(ended);
}

// What a hostile web page in a browser on this machine can send, with raw httplib requests.
class GuardTest : public ::testing::Test {
 protected:
  void Start(Security security) {
    auto started =
        HttpServer::Start("127.0.0.1:0",
                          {{.method = "GET",
                            .path = "/healthz",
                            .handler = [](const Request&) { return Response{.body = "ok"}; },
                            .open = true},
                           {.method = "GET",
                            .path = "/api/status",
                            .handler = [](const Request&) { return Response{.body = "status"}; }},
                           {.method = "POST",
                            .path = "/api/query",
                            .handler =
                                [this](const Request&) {
                                  ++posts_;
                                  return Response{.body = "ran"};
                                }}},
                          std::move(security));
    ASSERT_TRUE(started) << started.error().message;
    server_ = std::move(*started);
    const std::string& address = server_->address();
    client_ = std::make_unique<httplib::Client>(address.substr(0, address.rfind(':')),
                                                std::stoi(address.substr(address.rfind(':') + 1)));
  }
  std::pair<int, std::string> Send(const std::string& method, const std::string& path,
                                   httplib::Headers headers, const std::string& type = "") {
    auto result = method == "GET" ? client_->Get(path, headers)
                                  : client_->Post(path, headers, "SELECT 1", type.c_str());
    if (!result) return {0, httplib::to_string(result.error())};
    return {result->status, result->body};
  }
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
  std::atomic<int> posts_ = 0;
};

TEST_F(GuardTest, FormPostsForeignOriginsAndForeignHostsAreRefused) {
  Start({});
  // A cross-site form post: text/plain, no custom header.
  EXPECT_EQ(Send("POST", "/api/query", {}, "text/plain"),
            std::pair(403, std::string("walden: POST requests need the X-Walden-Client header "
                                       "(walden's own clients send it; web pages of other sites "
                                       "cannot)\n")));
  EXPECT_EQ(Send("POST", "/api/query",
                 {{"Origin", "https://evil.example"}, {"X-Walden-Client", "x"}}, "text/plain"),
            std::pair(403, std::string("walden: requests from https://evil.example are not "
                                       "served\n")));
  // DNS rebinding: the page's own host name in Host.
  EXPECT_EQ(Send("GET", "/api/status", {{"Host", "evil.example:8080"}}),
            std::pair(421, std::string("walden: Host \"evil.example:8080\" is not served here; "
                                       "use a loopback address or set server.public_name\n")));
  EXPECT_EQ(posts_, 0);
  EXPECT_EQ(Send("POST", "/api/query", {{"X-Walden-Client", "walden"}}, "text/plain"),
            std::pair(200, std::string("ran")));
  EXPECT_EQ(
      Send("GET", "/api/status", {{"Host", "localhost"}, {"Origin", "http://localhost:3000"}}),
      std::pair(200, std::string("status")));
  EXPECT_EQ(posts_, 1);
}

TEST_F(GuardTest, TheTokenIsNeededExceptForOpenRoutes) {
  Start({.token = "0123456789abcdef-secret", .public_name = "walden.internal"});
  const std::string missing =
      "walden: this endpoint needs server.token (send \"Authorization: Bearer <token>\" or the "
      "walden_token cookie)\n";
  EXPECT_EQ(Send("GET", "/api/status", {}), std::pair(401, missing));
  EXPECT_EQ(Send("GET", "/api/status", {{"Authorization", "Bearer 0123456789abcdef-secreT"}}),
            std::pair(401, missing));
  EXPECT_EQ(Send("GET", "/healthz", {}), std::pair(200, std::string("ok")));
  EXPECT_EQ(
      Send("GET", "/api/status",
           {{"Authorization", "Bearer 0123456789abcdef-secret"}, {"Host", "walden.internal"}}),
      std::pair(200, std::string("status")));
  EXPECT_EQ(Send("GET", "/api/status", {{"Cookie", "a=b; walden_token=0123456789abcdef-secret"}}),
            std::pair(200, std::string("status")));
  // walden's own client sends both the token and the POST header.
  auto response = Post(server_->address(), "/api/query", {}, "SELECT 1", "0123456789abcdef-secret");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "ran");
  EXPECT_EQ(Post(server_->address(), "/api/query", {}, "SELECT 1")->status, 401);
}

TEST_F(GuardTest, OversizedBodiesAreRefused) {
  Start({});
  auto result = client_->Post("/api/query", {{"X-Walden-Client", "walden"}},
                              std::string(size_t{2} << 20, 'x'), "text/plain");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 413);
  EXPECT_EQ(posts_, 0);
}

}  // namespace
}  // namespace walden::server
