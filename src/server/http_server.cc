#include "server/http_server.h"

#include <fmt/core.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <charconv>
#include <filesystem>
#include <optional>
#include <set>

#include "common/strings.h"
#include "common/thread_name.h"

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

// Host or Origin authority without its port ("[::1]:8080" → "::1").
std::string HostName(std::string_view authority) {
  if (authority.starts_with("[")) {
    const size_t end = authority.find(']');
    return std::string(authority.substr(1, end == std::string_view::npos ? 0 : end - 1));
  }
  return std::string(authority.substr(0, authority.find(':')));
}

bool SameSecret(std::string_view given, std::string_view want) {
  if (given.size() != want.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < want.size(); ++i) diff |= given[i] ^ want[i];
  return diff == 0;
}

std::string CookieValue(const std::string& cookies, std::string_view name) {
  for (const std::string& part : Split(cookies, ';')) {
    const std::string_view item = Trim(part);
    if (item.starts_with(name) && item.size() > name.size() && item[name.size()] == '=') {
      return std::string(item.substr(name.size() + 1));
    }
  }
  return "";
}

// The descriptor of the connection a request came on, or -1: httplib does not hand its
// socket to handlers, but the two ends of a TCP connection name it in this process.
int FindSocket(const httplib::Request& in) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    const std::string name = entry.path().filename().string();
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc{}) continue;
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t local_size = sizeof(local);
    socklen_t peer_size = sizeof(peer);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
      continue;
    }
    char local_port[NI_MAXSERV];
    char peer_host[NI_MAXHOST];
    char peer_port[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&local), local_size, nullptr, 0, local_port,
                    sizeof(local_port), NI_NUMERICSERV) != 0 ||
        getnameinfo(reinterpret_cast<sockaddr*>(&peer), peer_size, peer_host, sizeof(peer_host),
                    peer_port, sizeof(peer_port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
      continue;
    }
    if (std::to_string(in.local_port) == local_port && in.remote_addr == peer_host &&
        std::to_string(in.remote_port) == peer_port) {
      return fd;
    }
  }
  return -1;
}

// A client that closed (or reset) its end: HTTP clients never half-close while waiting.
bool PeerClosed(int fd) {
  pollfd poll_fd{.fd = fd, .events = POLLRDHUP, .revents = 0};
  return poll(&poll_fd, 1, 0) > 0 && (poll_fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

class Guard {
 public:
  Guard(Security security, std::string bound_host, std::set<std::string> open_paths)
      : security_(std::move(security)), open_paths_(std::move(open_paths)) {
    hosts_ = {"localhost", "127.0.0.1", "::1"};
    if (bound_host != "0.0.0.0" && bound_host != "::" && !bound_host.empty()) {
      hosts_.insert(HostName(bound_host));
    }
    if (!security_.public_name.empty()) hosts_.insert(AsciiLower(security_.public_name));
  }

  const std::string& token() const { return security_.token; }

  // True when the request is refused (the response then says why).
  bool Refuse(const httplib::Request& in, httplib::Response& out) const {
    const std::string host = AsciiLower(HostName(in.get_header_value("Host")));
    if (!hosts_.contains(host)) {
      return Deny(out, 421,
                  "walden: Host \"" + in.get_header_value("Host") +
                      "\" is not served here; use a loopback address or set server.public_name");
    }
    if (in.has_header("Origin")) {
      const std::string origin = in.get_header_value("Origin");
      const size_t scheme = origin.find("://");
      if (scheme == std::string::npos ||
          !hosts_.contains(AsciiLower(HostName(origin.substr(scheme + 3))))) {
        return Deny(out, 403, "walden: requests from " + origin + " are not served");
      }
    }
    if (!security_.token.empty() && !open_paths_.contains(in.path) && !Authorized(in)) {
      return Deny(out, 401,
                  "walden: this endpoint needs server.token (send \"Authorization: Bearer "
                  "<token>\" or the walden_token cookie)");
    }
    if (in.method == "POST" && !in.has_header(std::string(kClientHeader).c_str())) {
      return Deny(out, 403,
                  "walden: POST requests need the " + std::string(kClientHeader) +
                      " header (walden's own clients send it; web pages of other sites cannot)");
    }
    return false;
  }

 private:
  bool Authorized(const httplib::Request& in) const {
    const std::string header = in.get_header_value("Authorization");
    if (header.starts_with("Bearer ") && SameSecret(header.substr(7), security_.token)) {
      return true;
    }
    return SameSecret(CookieValue(in.get_header_value("Cookie"), "walden_token"), security_.token);
  }
  static bool Deny(httplib::Response& out, int status, const std::string& why) {
    out.status = status;
    out.set_content(why + "\n", "text/plain; charset=utf-8");
    return true;
  }

  Security security_;
  std::set<std::string> open_paths_;
  std::set<std::string> hosts_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                      std::vector<Route> routes,
                                                      Security security) {
  auto host_port = SplitListen(listen);
  if (!host_port) return std::unexpected(host_port.error());
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->server_ = std::make_unique<httplib::Server>();
  std::set<std::string> open_paths = {"/api/login"};
  for (const Route& route : routes) {
    if (route.open) open_paths.insert(route.path);
  }
  // Streamed responses (feeds) hold a thread each for as long as they run.
  const size_t threads = 16 + static_cast<size_t>(std::max(0, security.stream_threads));
  auto guard = std::make_shared<Guard>(std::move(security), host_port->first, open_paths);
  server->server_->set_pre_routing_handler(
      [guard](const httplib::Request& in, httplib::Response& out) {
        return guard->Refuse(in, out) ? httplib::Server::HandlerResponse::Handled
                                      : httplib::Server::HandlerResponse::Unhandled;
      });
  server->server_->set_payload_max_length(size_t{1} << 20);
  server->server_->set_read_timeout(10, 0);
  server->server_->set_write_timeout(60, 0);
  server->server_->set_keep_alive_timeout(5);
  // More threads than running queries may take (the pipeline allows 4), so health checks
  // and status are always served.
  server->server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default adds SO_REUSEPORT, which lets a second process share the port.
  server->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // The console's sign-in: the token, once, for a cookie scripts cannot read and other
  // sites cannot send.
  routes.push_back({.method = "POST",
                    .path = "/api/login",
                    .handler =
                        [token = guard->token()](const Request& request) {
                          if (token.empty())
                            return Response{.body = "walden asks for no token here\n"};
                          if (!SameSecret(request.body, token)) {
                            return Response{.status = 401,
                                            .body = "walden: that is not server.token\n"};
                          }
                          Response response{.body = "signed in\n"};
                          response.headers["Set-Cookie"] =
                              "walden_token=" + token + "; HttpOnly; SameSite=Strict; Path=/";
                          return response;
                        },
                    .open = true});
  for (Route& route : routes) {
    auto handler = [h = route.handler](const httplib::Request& in, httplib::Response& out) {
      Request request{.body = in.body};
      for (const auto& [key, value] : in.params) request.params[key] = value;
      for (const auto& [name, value] : in.headers) request.headers[AsciiLower(name)] = value;
      for (size_t i = 1; i < in.matches.size(); ++i) request.matches.push_back(in.matches[i]);
      request.client_gone = [&in, fd = std::optional<int>()]() mutable {
        if (!fd) fd = FindSocket(in);
        return *fd >= 0 && PeerClosed(*fd);
      };
      Response response = h(request);
      out.status = response.status;
      for (const auto& [name, value] : response.headers) out.set_header(name, value);
      if (!response.stream) {
        out.set_content(response.body, response.content_type.c_str());
        return;
      }
      out.set_chunked_content_provider(response.content_type, [stream = std::move(response.stream)](
                                                                  size_t, httplib::DataSink& sink) {
        stream([&sink](std::string_view piece) { return sink.write(piece.data(), piece.size()); });
        sink.done();
        return true;
      });
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
  server->thread_ = std::thread([s = server->server_.get()] {
    SetThreadName("wal-http");  // its request workers inherit the name
    s->listen_after_bind();
  });
  // stop() is a no-op until the loop runs: wait for it, so that a quick stop cannot hang.
  while (!server->server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

HttpServer::~HttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

namespace {

httplib::Headers ClientHeaders(const std::string& token) {
  httplib::Headers headers{{std::string(kClientHeader), "walden"}};
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  return headers;
}

}  // namespace

Result<Response> Get(const std::string& address, const std::string& path,
                     const std::string& token) {
  auto host_port = SplitListen(address);
  if (!host_port) return std::unexpected(host_port.error());
  httplib::Client client(host_port->first, host_port->second);
  client.set_read_timeout(60, 0);
  auto result = client.Get(path, ClientHeaders(token));
  if (!result) {
    return Fail(ErrorKind::kConnection, fmt::format("cannot reach walden at {}: {}", address,
                                                    httplib::to_string(result.error())));
  }
  return Response{.status = result->status, .body = result->body};
}

Result<Response> Post(const std::string& address, const std::string& path,
                      const std::map<std::string, std::string>& params, const std::string& body,
                      const std::string& token) {
  auto host_port = SplitListen(address);
  if (!host_port) return std::unexpected(host_port.error());
  httplib::Client client(host_port->first, host_port->second);
  client.set_read_timeout(600, 0);
  httplib::Params query(params.begin(), params.end());
  const std::string target = httplib::append_query_params(path, query);
  auto result = client.Post(target, ClientHeaders(token), body, "text/plain");
  if (!result) {
    return Fail(ErrorKind::kConnection, fmt::format("cannot reach walden at {}: {}", address,
                                                    httplib::to_string(result.error())));
  }
  Response response{.status = result->status, .body = result->body};
  for (const auto& [name, value] : result->headers) {
    if (name.starts_with("X-Walden-")) response.headers[name] = value;
  }
  return response;
}

}  // namespace walden::server
