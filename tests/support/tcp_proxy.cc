#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace walden::testing {
namespace {

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
  if (fd >= 0) close(fd);
  return -1;
}

// One direction of a connection: bytes read from `from` and not yet written to `to`.
// Sockets are non-blocking so that one slow reader never holds the other connections.
struct Flow {
  int from = -1;
  int to = -1;
  std::string pending;
  std::atomic<int64_t>* counter = nullptr;  // adds the bytes read, when set

  // False when either end is finished.
  bool Read() {
    char buffer[65536];
    const ssize_t got = recv(from, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (got < 0) return errno == EINTR || errno == EAGAIN;
    if (got == 0) return false;
    pending.append(buffer, static_cast<size_t>(got));
    if (counter) *counter += got;
    return Write();
  }
  bool Write() {
    while (!pending.empty()) {
      const ssize_t n = send(to, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) return errno == EINTR || errno == EAGAIN;
      pending.erase(0, static_cast<size_t>(n));
    }
    return true;
  }
};

struct Pair {
  int client = -1;
  int server = -1;  // -1: accepted during a cut, never forwarded
  Flow up;          // client to server
  Flow down;        // server to client
};

}  // namespace

Result<std::unique_ptr<TcpProxy>> TcpProxy::Start(int upstream_port) {
  std::unique_ptr<TcpProxy> proxy(new TcpProxy());
  proxy->upstream_port_ = upstream_port;
  proxy->listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (proxy->listener_ < 0 ||
      bind(proxy->listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(proxy->listener_, 64) != 0 ||
      getsockname(proxy->listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Fail(ErrorKind::kIo, std::string("proxy socket: ") + std::strerror(errno));
  }
  proxy->port_ = ntohs(addr.sin_port);
  proxy->thread_ = std::thread([p = proxy.get()] { p->Loop(); });
  return proxy;
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) close(listener_);
}

void TcpProxy::Loop() {
  std::vector<Pair> pairs;
  auto drop = [](Pair& pair) {
    if (pair.client >= 0) close(pair.client);
    if (pair.server >= 0) close(pair.server);
    pair = {};
  };
  // A direction with bytes pending waits for its writer; otherwise for its reader.
  auto watch = [](std::vector<pollfd>& fds, const Flow& flow) {
    if (flow.pending.empty()) {
      fds.push_back({flow.from, POLLIN, 0});
    } else {
      fds.push_back({flow.to, POLLOUT, 0});
    }
  };
  auto step = [](Flow& flow, const pollfd& fd) {
    if (!(fd.revents & (POLLIN | POLLOUT | POLLHUP | POLLERR))) return true;
    return flow.pending.empty() ? flow.Read() : flow.Write();
  };
  while (!stop_) {
    const bool cut = cut_;
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    if (!cut) {
      for (Pair& pair : pairs) {
        if (pair.server < 0) drop(pair);  // the cut is over; it was never connected
      }
      std::erase_if(pairs, [](const Pair& pair) { return pair.client < 0; });
      for (const Pair& pair : pairs) {
        watch(fds, pair.up);
        watch(fds, pair.down);
      }
    }
    if (poll(fds.data(), fds.size(), 20) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      const int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        const int server = cut ? -1 : ConnectLoopback(upstream_port_);
        if (!cut && server < 0) {
          close(client);
        } else {
          Pair pair{.client = client, .server = server};
          pair.up = {.from = client, .to = server};
          pair.down = {.from = server, .to = client, .counter = &from_server_};
          pairs.push_back(std::move(pair));
        }
      }
    }
    if (cut) continue;
    for (size_t i = 1; i + 1 < fds.size(); i += 2) {
      Pair& pair = pairs[(i - 1) / 2];
      if (!step(pair.up, fds[i]) || !step(pair.down, fds[i + 1])) drop(pair);
    }
  }
  for (Pair& pair : pairs) drop(pair);
}

}  // namespace walden::testing
