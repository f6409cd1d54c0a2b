#include "server/http_server.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace walden::server
