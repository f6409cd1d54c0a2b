// walden's HTTP endpoint (cpp-httplib): a listening thread serving the routes it was given.
// `walden run` serves the mirror's query and export API here (and, with the operations
// issue, /metrics and the health checks); `walden query` talks to it while walden runs.
//
// Who may ask (docs/security.md): every request must name a loopback host or
// `public_name` in Host (DNS rebinding), carry no foreign Origin, and, when a token is set,
// present it (Authorization: Bearer, or the walden_token cookie) unless its route is open.
// A POST also needs the X-Walden-Client header, which a browser sends to another site only
// after a CORS preflight this server never grants, so a web page cannot post forms here.
// POST /api/login (the console's sign-in) trades the token for an HttpOnly, SameSite=Strict
// cookie. Streamed responses (live feeds) hold a thread each: `stream_threads` more.
// Bodies are limited to 1 MiB, reads and writes time out after 10 s / 60 s.
//
// Thread-safety: handlers run on the server's threads, concurrently; they must be
// thread-safe. Start/Stop from one thread. The server stops when destroyed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/error.h"

namespace httplib {
class Server;
}

namespace walden::server {

struct Request {
  std::map<std::string, std::string> params;   // query string
  std::map<std::string, std::string> headers;  // names in lower case
  std::vector<std::string> matches;            // a pattern route's groups, from [1] on
  std::string body;
  // True once the client closed its connection (a handler may stop working for it). Cheap
  // after the first call; valid while the handler or the stream it returns runs.
  std::function<bool()> client_gone = [] { return false; };
};
// Writes the next piece of a streamed response; false once the client is gone.
using StreamWrite = std::function<bool(std::string_view)>;

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::map<std::string, std::string> headers;  // extra response headers
  // When set, the body is what this writes, sent as it is written (chunked; Server-Sent
  // Events); it runs on the request's thread until it returns.
  std::function<void(const StreamWrite&)> stream;
};
struct Route {
  std::string method;  // "GET" or "POST"
  std::string path;    // exact, or a pattern with groups: "/api/topics/([^/]+)/feed
  std::function<Response(const Request&)> handler;
  bool open = false;  // served without the token (health checks, the console's files)
};

struct Security {
  std::string token;        // empty: none asked (loopback listeners only; config checks)
  std::string public_name;  // accepted in Host besides loopback names and the bound host
  int stream_threads = 0;   // threads for streamed responses beyond the 16 for the rest
};

inline constexpr std::string_view kClientHeader = "X-Walden-Client";

class HttpServer {
 public:
  // listen: "host:port"; port 0 picks a free one.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                   std::vector<Route> routes,
                                                   Security security = {});
  ~HttpServer();

  // "host:port" actually bound.
  const std::string& address() const { return address_; }

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

// GETs http://<address><path> (with the token when not empty); returns the response or a
// kConnection error.
Result<Response> Get(const std::string& address, const std::string& path,
                     const std::string& token = "");

// POSTs `body` to http://<address><path>; returns the response or a kConnection error.
Result<Response> Post(const std::string& address, const std::string& path,
                      const std::map<std::string, std::string>& params, const std::string& body,
                      const std::string& token = "");

}  // namespace walden::server
