#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>

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
