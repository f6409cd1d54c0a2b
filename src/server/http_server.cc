#include "server/http_server.h"

#include <fmt/core.h>
#include <httplib.h>

namespace walden::server {
namespace {

Result<std::pair<std::string, int>> SplitListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Fail(ErrorKind::kConfig,
                "server.listen must be host:port (e.g. 127.0.0.1:8080), got \"" + listen + "\"");
  }
  const std::string port = listen.substr(colon + 1);
  char* end = nullptr;
  const long value = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value < 0 || value > 65535) {
    return Fail(ErrorKind::kConfig, "server.listen has an invalid port: \"" + listen + "\"");
  }
  return std::pair{listen.substr(0, colon), static_cast<int>(value)};
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                      std::vector<Route> routes) {
  auto host_port = SplitListen(listen);
  if (!host_port) return std::unexpected(host_port.error());
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->server_ = std::make_unique<httplib::Server>();
  // httplib's default adds SO_REUSEPORT, which lets a second process share the port.
  server->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  for (Route& route : routes) {
    auto handler = [h = route.handler](const httplib::Request& in, httplib::Response& out) {
      Request request{.body = in.body};
      for (const auto& [key, value] : in.params) request.params[key] = value;
      Response response = h(request);
      out.status = response.status;
      out.set_content(response.body, response.content_type.c_str());
    };
    if (route.method == "GET") {
      server->server_->Get(route.path, handler);
    } else {
      server->server_->Post(route.path, handler);
    }
  }
  const auto& [host, port] = *host_port;
  const int bound = port == 0 ? server->server_->bind_to_any_port(host)
                              : (server->server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return Fail(ErrorKind::kConfig,
                fmt::format("cannot listen on {} (in use, or not an address of this host); set "
                            "server.listen to a free host:port",
                            listen));
  }
  server->address_ = fmt::format("{}:{}", host, bound);
  server->thread_ = std::thread([s = server->server_.get()] { s->listen_after_bind(); });
  // stop() is a no-op until the loop runs: wait for it, so that a quick stop cannot hang.
  while (!server->server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

HttpServer::~HttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Result<Response> Get(const std::string& address, const std::string& path) {
  auto host_port = SplitListen(address);
  if (!host_port) return std::unexpected(host_port.error());
  httplib::Client client(host_port->first, host_port->second);
  client.set_read_timeout(60, 0);
  auto result = client.Get(path);
  if (!result) {
    return Fail(ErrorKind::kConnection, fmt::format("cannot reach walden at {}: {}", address,
                                                    httplib::to_string(result.error())));
  }
  return Response{.status = result->status, .body = result->body};
}

Result<Response> Post(const std::string& address, const std::string& path,
                      const std::map<std::string, std::string>& params, const std::string& body) {
  auto host_port = SplitListen(address);
  if (!host_port) return std::unexpected(host_port.error());
  httplib::Client client(host_port->first, host_port->second);
  client.set_read_timeout(600, 0);
  httplib::Params query(params.begin(), params.end());
  const std::string target = httplib::append_query_params(path, query);
  auto result = client.Post(target, body, "text/plain");
  if (!result) {
    return Fail(ErrorKind::kConnection, fmt::format("cannot reach walden at {}: {}", address,
                                                    httplib::to_string(result.error())));
  }
  return Response{.status = result->status, .body = result->body};
}

}  // namespace walden::server
