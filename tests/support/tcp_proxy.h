// A TCP forwarder on a free loopback port in front of a local server, for network faults.
// Cut() stops every byte in both directions and leaves every connection open, and new
// connections are accepted but never reach the server: to both ends this looks like a
// pulled cable (no reset, no error, only silence). Heal() forwards again; connections that
// were accepted during the cut are closed then. Servers die with their owner.
// Thread-safety: Cut and Heal may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "common/error.h"

namespace walden::testing {

class TcpProxy {
 public:
  static Result<std::unique_ptr<TcpProxy>> Start(int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void Cut() { cut_ = true; }
  void Heal() { cut_ = false; }
  // Bytes the server sent through the proxy so far (what a client downloaded).
  int64_t BytesFromServer() const { return from_server_; }

 private:
  TcpProxy() = default;
  void Loop();

  int listener_ = -1;
  int port_ = 0;
  int upstream_port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> from_server_{0};
  std::thread thread_;
};

}  // namespace walden::testing
