// walden's HTTP endpoint (cpp-httplib): a listening thread serving the routes it was given.
// `walden run` serves the mirror's query and export API here (and, with the operations
// issue, /metrics and the health checks); `walden query` talks to it while walden runs.
//
// Thread-safety: handlers run on the server's threads, concurrently; they must be
// thread-safe. Start/Stop from one thread. The server stops when destroyed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

namespace httplib {
class Server;
}

namespace walden::server {

struct Request {
  std::map<std::string, std::string> params;  // query string
  std::string body;
};
struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};
struct Route {
  std::string method;  // "GET" or "POST"
  std::string path;
  std::function<Response(const Request&)> handler;
};

class HttpServer {
 public:
  // listen: "host:port"; port 0 picks a free one.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                   std::vector<Route> routes);
  ~HttpServer();

  // "host:port" actually bound.
  const std::string& address() const { return address_; }

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

// GETs http://<address><path>; returns the response or a kConnection error.
Result<Response> Get(const std::string& address, const std::string& path);

// POSTs `body` to http://<address><path>; returns the response or a kConnection error.
Result<Response> Post(const std::string& address, const std::string& path,
                      const std::map<std::string, std::string>& params, const std::string& body);

}  // namespace walden::server
