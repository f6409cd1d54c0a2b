// The live feeds of `walden run` (design §14) as a browser's EventSource uses them: a row
// committed in PostgreSQL arrives as an event within a second, a reconnect with
// Last-Event-ID loses and repeats nothing, a client that reads nothing is dropped while
// walden's memory stays bounded, 50 clients at once, and the limit on clients never
// starves the health checks.
#include <arpa/inet.h>
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/http_server.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

struct SseEvent {
  std::string id, event;
  nlohmann::json data;
  std::chrono::steady_clock::time_point at;
};

// An EventSource in a thread: every event it got, until Stop or the server ends the stream.
class SseClient {
 public:
  SseClient(const std::string& address, const std::string& path, const std::string& last_id = "")
      : client_(address.substr(0, address.rfind(':')),
                std::stoi(address.substr(address.rfind(':') + 1))),
        thread_([this, path, last_id] {
          client_.set_read_timeout(30, 0);
          httplib::Headers headers;
          if (!last_id.empty()) headers.emplace("Last-Event-ID", last_id);
          auto result = client_.Get(
              path, headers,
              [this](const httplib::Response& response) {
                status_ = response.status;
                return true;
              },
              [this](const char* data, size_t size) {
                Parse(std::string_view(data, size));
                return !stop_;
              });
          if (result) {
            status_ = result->status;
            body_ = result->body;
          }
          ended_ = true;
        }) {}
  ~SseClient() { Stop(); }
  void Stop() {
    stop_ = true;
    client_.stop();  // hangs up now, not at the next keep-alive
    if (thread_.joinable()) thread_.join();
  }
  std::vector<SseEvent> Events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  // Waits until `count` events of kind `event` arrived.
  bool WaitFor(size_t count, std::chrono::milliseconds timeout,
               const std::string& event = "change") {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      size_t seen = 0;
      for (const SseEvent& e : Events()) seen += e.event == event;
      if (seen >= count) return true;
      if (ended_) return false;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
  int status() const { return status_; }
  bool ended() const { return ended_; }

 private:
  void Parse(std::string_view data) {
    buffer_ += data;
    for (size_t end; (end = buffer_.find("\n\n")) != std::string::npos;) {
      const std::string block = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      SseEvent event{.at = std::chrono::steady_clock::now()};
      for (size_t at = 0; at < block.size();) {
        size_t line_end = block.find('\n', at);
        if (line_end == std::string::npos) line_end = block.size();
        const std::string line = block.substr(at, line_end - at);
        at = line_end + 1;
        if (line.starts_with("id: ")) event.id = line.substr(4);
        if (line.starts_with("event: ")) event.event = line.substr(7);
        if (line.starts_with("data: ")) event.data = nlohmann::json::parse(line.substr(6));
      }
      if (!event.event.empty()) {
        std::lock_guard lock(mutex_);
        events_.push_back(std::move(event));
      }
    }
  }

  std::atomic<bool> stop_{false}, ended_{false};
  std::atomic<int> status_{0};
  std::string buffer_, body_;
  mutable std::mutex mutex_;
  std::vector<SseEvent> events_;
  httplib::Client client_;
  std::thread thread_;
};

class FeedTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
  std::vector<std::string> RunArgs() {
    return {
        "run",        "--server-listen", "127.0.0.1:0",   "--source",  AdminConninfo(),
        "--data-dir", dir() + "/data",   "--source-slot", "feed_slot", "--archive-flush-interval",
        "200ms"};
  }
  std::string Address() {
    std::ifstream file(dir() + "/data/server.json");
    return nlohmann::json::parse(file)["address"];
  }
  // Waits until /metrics counts `count` feed clients.
  ::testing::AssertionResult WaitForFeedClients(int count) {
    std::string last;
    for (int i = 0; i < 400; ++i) {
      auto metrics = server::Get(Address(), "/metrics");
      last = metrics ? metrics->body : metrics.error().message;
      if (metrics &&
          metrics->body.find(fmt::format("walden_feed_clients {}\n", count)) != std::string::npos) {
        return ::testing::AssertionSuccess();
      }
      std::this_thread::sleep_for(25ms);
    }
    const size_t at = last.find("\nwalden_feed_clients ");
    return ::testing::AssertionFailure() << (at == std::string::npos ? last : last.substr(at, 40));
  }
  static std::vector<std::string> Ids(const std::vector<SseEvent>& events) {
    std::vector<std::string> ids;
    for (const SseEvent& e : events) {
      if (e.event == "change") ids.push_back(e.data["row"]["id"].dump());
    }
    return ids;
  }
};

TEST_F(FeedTest, CommittedRowsArriveWithinASecondAndResumeLosesAndRepeatsNothing) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE \"Odd Name\" (id int PRIMARY KEY, note text, price numeric(8,2))");
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  const std::string path = "/api/feed?table=public.%22Odd%20Name%22";
  auto first = std::make_unique<SseClient>(Address(), path);
  ASSERT_TRUE(WaitForFeedClients(1));
  const auto committed = std::chrono::steady_clock::now();
  Exec("INSERT INTO \"Odd Name\" VALUES (1, 'a', 1.50)");
  ASSERT_TRUE(first->WaitFor(1, 1s)) << run.Stderr();
  const SseEvent event = first->Events().front();
  EXPECT_LT(event.at - committed, 1s);
  EXPECT_EQ(event.data["op"], "insert");
  EXPECT_EQ(event.data["table"], "public.\"Odd Name\"");
  EXPECT_EQ(event.data["row"], nlohmann::json::parse(R"({"id":1,"note":"a","price":"1.50"})"));
  Exec("UPDATE \"Odd Name\" SET note = 'b' WHERE id = 1");
  Exec("INSERT INTO \"Odd Name\" SELECT g, 'n', g FROM generate_series(2, 5) g");
  ASSERT_TRUE(first->WaitFor(6, 5s));
  first->Stop();
  const std::vector<SseEvent> seen = first->Events();
  EXPECT_EQ(seen[1].data["op"], "update");
  EXPECT_EQ(Ids(seen), (std::vector<std::string>{"1", "1", "2", "3", "4", "5"}));
  // Gone for a while: the reconnect names the last event it saw, after the third.
  Exec("INSERT INTO \"Odd Name\" SELECT g, 'n', g FROM generate_series(6, 8) g");
  Exec("DELETE FROM \"Odd Name\" WHERE id = 2");
  SseClient resumed(Address(), path, seen[2].id);
  ASSERT_TRUE(resumed.WaitFor(7, 5s));
  std::this_thread::sleep_for(300ms);  // nothing more comes
  const std::vector<SseEvent> rest = resumed.Events();
  ASSERT_EQ(rest.size(), 7u);
  EXPECT_EQ(rest[0].id, seen[3].id);
  EXPECT_EQ(rest.back().data["op"], "delete");
  EXPECT_EQ(rest.back().data["before"]["id"], 2);
  for (size_t i = 1; i < rest.size(); ++i) EXPECT_LT(rest[i - 1].id, rest[i].id);
  // Bad requests say what is wrong.
  auto unknown = server::Get(Address(), "/api/feed?table=public.nosuch");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(unknown->body,
            "walden: public.nosuch is not a captured table (`walden status` lists them)\n");
  SseClient bad(Address(), path, "yesterday");
  for (int i = 0; i < 200 && !bad.ended(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(bad.status(), 400);
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(5s), 0) << run.Stderr();  // live clients do not hold up the stop
  DropSlot("feed_slot");
}

// A client that resumes from before what walden holds in memory (here: before a restart)
// gets what it missed from the archive, in the live feed's form, then the live events;
// what the archive does not hold yet is a `gap` event naming its history query.
TEST_F(FeedTest, ResumingFromBeforeARestartReplaysTheArchive) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY, note text, price numeric(8,2))");
  std::vector<SseEvent> live;
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    SseClient client(Address(), "/api/feed?table=public.t");
    ASSERT_TRUE(WaitForFeedClients(1));
    Exec("INSERT INTO t SELECT g, 'n' || g, g * 1.5 FROM generate_series(1, 5) g");
    Exec("UPDATE t SET note = 'changed' WHERE id = 4");
    Exec("DELETE FROM t WHERE id = 5");
    ASSERT_TRUE(client.WaitFor(7, 5s));
    live = client.Events();
    client.Stop();
    ASSERT_TRUE(WaitForCaughtUp("feed_slot"));
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  }
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  // It saw ids 1 and 2 before the restart.
  SseClient resumed(Address(), "/api/feed?table=public.t", live[1].id);
  ASSERT_TRUE(resumed.WaitFor(5, 10s)) << run.Stderr();
  Exec("INSERT INTO t VALUES (6, 'after', 9)");
  ASSERT_TRUE(resumed.WaitFor(6, 5s));
  const std::vector<SseEvent> events = resumed.Events();
  std::string kinds;
  for (const SseEvent& e : events) kinds += e.event + " " + e.id + " " + e.data.dump() + "\n";
  ASSERT_EQ(events.size(), 6u) << kinds;
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i].id, live[i + 2].id);
    EXPECT_EQ(events[i].data, live[i + 2].data) << i;  // the same event, from the archive
  }
  EXPECT_EQ(events[5].data["row"]["id"], 6);
  resumed.Stop();
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(30s), 0) << run.Stderr();
  DropSlot("feed_slot");
}

// Resident memory of a process in bytes (VmRSS).
int64_t Rss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// A client that connects and never reads: walden drops it once it is a ring (32 MB) behind,
// its memory stays bounded, and the other clients and the sinks go on.
TEST_F(FeedTest, AClientThatReadsNothingIsDroppedAndMemoryStaysBounded) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY, body text)");
  // DuckDB's caches are capped low so that what they may grow by (the mirror's 200 MB table
  // in its buffer pool, the spool) stays well below what keeping the stuck client's events
  // would add.
  std::vector<std::string> args = RunArgs();
  args.insert(args.end(),
              {"--mirror-memory-limit", "64MB", "--archive-spool-memory-limit", "128MB"});
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  const std::string address = Address();
  const int stuck = socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  setsockopt(stuck, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in to{
      .sin_family = AF_INET,
      .sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)))),
      .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)},
      .sin_zero = {}};
  ASSERT_EQ(connect(stuck, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  const std::string request = "GET /api/feed?table=public.t HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(write(stuck, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  SseClient reader(address, "/api/feed?table=public.t");
  ASSERT_TRUE(WaitForFeedClients(2));
  const int64_t before = Rss(run.process().pid());
  // 200 MB of changes, far more than the ring (32 MB) and sockets hold, at the pace of the
  // client that reads.
  for (int batch = 0; batch < 20; ++batch) {
    Exec(
        fmt::format("INSERT INTO t SELECT g, repeat(md5(g::text), 320) FROM "
                    "generate_series({}, {}) g",
                    batch * 1000 + 1, batch * 1000 + 1000));
    ASSERT_TRUE(reader.WaitFor(static_cast<size_t>(batch + 1) * 1000, 60s))
        << reader.Events().size();
  }
  ASSERT_TRUE(WaitForCaughtUp("feed_slot"));
  // What walden may grow by: the ring, DuckDB's caps (mirror 64 MB, spool 128 MB), the
  // source's in-memory transaction buffer (64 MB) and 32 MB of heap slack. Keeping what the
  // stuck client missed would add the whole 200 MB on top (measured: about 225 MB growth).
  const int64_t after = Rss(run.process().pid());
  std::cout << "resident memory " << (before >> 20) << " MB -> " << (after >> 20) << " MB\n";
  EXPECT_LT(after - before, int64_t{32 + 64 + 128 + 64 + 32} << 20) << before << " -> " << after;
  auto metrics = server::Get(address, "/metrics");
  EXPECT_THAT(metrics->body, HasSubstr("walden_feed_dropped_total 1\n"));
  const size_t buffered = metrics->body.find("\nwalden_feed_buffered_bytes ");
  ASSERT_NE(buffered, std::string::npos);
  EXPECT_LE(std::stoll(metrics->body.substr(buffered + 28)), (int64_t{32} << 20) + 20000);
  close(stuck);  // its thread, blocked writing to it, ends
  EXPECT_TRUE(WaitForFeedClients(1));
  reader.Stop();
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(10s), 0) << run.Stderr();
  DropSlot("feed_slot");
}

// 50 clients at once each get every event; past server.max_feed_clients a client is
// refused, and the health check is served all the while.
TEST_F(FeedTest, FiftyClientsGetEveryEventAndTheLimitNeverStarvesHealthChecks) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  std::vector<std::string> args = RunArgs();
  args.insert(args.end(), {"--server-max-feed-clients", "50"});
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  std::vector<std::unique_ptr<SseClient>> clients;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(std::make_unique<SseClient>(Address(), "/api/feed?table=public.t"));
  }
  ASSERT_TRUE(WaitForFeedClients(50));
  auto refused = server::Get(Address(), "/api/feed?table=public.t");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->body,
            "walden: 50 feed clients are connected (server.max_feed_clients); try again later\n");
  auto health = server::Get(Address(), "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  Exec("INSERT INTO t SELECT generate_series(1, 100)");
  for (auto& client : clients) {
    ASSERT_TRUE(client->WaitFor(100, 10s));
    EXPECT_EQ(client->Events().size(), 100u);
  }
  clients.clear();
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(10s), 0) << run.Stderr();
  DropSlot("feed_slot");
}

}  // namespace
}  // namespace walden::testing
