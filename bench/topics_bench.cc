// Topics and queues (design §12) beside plain SQL on the same server in the same run:
//
//   produce  4 connections, batches of 100 keyed JSON messages, through walden.produce;
//            reference: INSERT … SELECT unnest(…) of the same batches into a plain table
//            (no partitions, no offsets), before and after. Also printed: the same produce
//            with a topic per connection (no counter row shared between connections).
//   consume  one group, 4 members, batches of 1,000 through walden.consume (claim, read,
//            advance, commit); reference: 4 readers, each SELECTing its partition's rows by
//            offset range from the same topic table.
//   queue    4 workers, walden.dequeue(10) + walden.ack, until the queue is empty.
//
//   topics_bench [--messages=N] [--json=FILE]
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "pg/connection.h"
#include "pg/local_server.h"
#include "topics/schema.h"

namespace {

using namespace walden;
using bench::Must;
using Clock = std::chrono::steady_clock;
using Params = std::vector<std::optional<std::string>>;

constexpr int kWorkers = 4;

// A PostgreSQL array literal of quoted elements.
std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Batch `b` of 100 messages: (values, keys) as array literals.
std::pair<std::string, std::string> Batch(int64_t b) {
  std::vector<std::string> values, keys;
  for (int64_t i = b * 100; i < (b + 1) * 100; ++i) {
    values.push_back(fmt::format(R"({{"lat": {:.6f}, "lon": {:.6f}, "alt": {}, "speed": {}}})",
                                 48.1 + (i % 1000) * 0.001, 11.5 - i * 1e-7, 9000 + i % 500,
                                 230 + i % 40));
    keys.push_back(fmt::format("FL{}", i % 1000));
  }
  return {ArrayLiteral(values), ArrayLiteral(keys)};
}

// Runs `work(connection, worker)` on kWorkers threads; the seconds until all are done.
double Parallel(const std::string& conninfo,
                const std::function<void(pg::Connection&, int)>& work) {
  std::vector<pg::Connection> conns;
  for (int w = 0; w < kWorkers; ++w) conns.push_back(Must(pg::Connection::Open(conninfo), "open"));
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] { work(conns[w], w); });
  }
  for (std::thread& t : threads) t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `sql_of_worker` may name the connection's number as {worker}.
double Produce(const std::string& conninfo, int64_t batches, const std::string& sql_of_worker) {
  std::atomic<int64_t> next{0};
  return Parallel(conninfo, [&](pg::Connection& conn, int worker) {
    const std::string sql = fmt::format(fmt::runtime(sql_of_worker), fmt::arg("worker", worker));
    for (int64_t b; (b = next++) < batches;) {
      auto [values, keys] = Batch(b);
      Must(conn.ExecParams(sql, Params{values, keys}), "produce");
    }
  });
}

double Consume(const std::string& conninfo, int64_t messages) {
  std::atomic<int64_t> consumed{0};
  return Parallel(conninfo, [&](pg::Connection& conn, int) {
    while (consumed < messages) {
      Must(conn.Exec("BEGIN"), "begin");
      auto rows = Must(conn.Exec("SELECT * FROM walden.consume('bench', 'g', 1000)"), "consume");
      Must(conn.Exec("COMMIT"), "commit");
      consumed += rows.rows();
    }
  });
}

double ReadByOffset(const std::string& conninfo, int64_t messages) {
  std::atomic<int64_t> read{0};
  return Parallel(conninfo, [&](pg::Connection& conn, int partition) {
    for (int64_t offset = 0; read < messages;) {
      Must(conn.Exec("BEGIN"), "begin");
      auto rows = Must(conn.ExecParams("SELECT partition, \"offset\", key, value, headers, "
                                       "produced_at FROM walden_topics.bench WHERE partition = "
                                       "$1::int AND \"offset\" >= $2::bigint ORDER BY \"offset\" "
                                       "LIMIT 1000",
                                       Params{std::to_string(partition), std::to_string(offset)}),
                       "read");
      Must(conn.Exec("COMMIT"), "commit");
      if (rows.rows() == 0) break;  // this partition is done
      offset += rows.rows();
      read += rows.rows();
    }
  });
}

double Queue(const std::string& conninfo, int64_t jobs) {
  pg::Connection conn = Must(pg::Connection::Open(conninfo), "open");
  Must(conn.Exec("SELECT walden.create_queue('work')"), "queue");
  for (int64_t done = 0; done < jobs; done += 1000) {
    Must(conn.Exec(fmt::format("SELECT count(*) FROM walden.enqueue('work', ARRAY(SELECT "
                               "jsonb_build_object('job', g) FROM generate_series({}, {}) g))",
                               done, std::min(jobs, done + 1000) - 1)),
         "enqueue");
  }
  return Parallel(conninfo, [&](pg::Connection& worker, int) {
    while (true) {
      auto taken = Must(worker.Exec("SELECT coalesce(array_agg(id), '{}') FROM "
                                    "walden.dequeue('work', 10)"),
                        "dequeue");
      if (taken.Value(0, 0) == "{}") break;
      Must(worker.ExecParams("SELECT walden.ack('work', $1::bigint[])",
                             Params{std::string(taken.Value(0, 0))}),
           "ack");
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  int64_t messages = 400000;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--messages=")) {
      messages = std::stoll(argv[i] + 11) / 100 * 100;
    }
  }
  auto server = Must(pg::LocalServer::Start({}), "server");
  const std::string conninfo = server->AdminConninfo();
  auto conn = Must(pg::Connection::Open(conninfo), "connect");
  Must(topics::Install(conn), "topics init");
  Must(conn.Exec("SELECT walden.create_topic('bench', 4)"), "topic");
  Must(conn.Exec("CREATE TABLE plain (key text, value jsonb NOT NULL)"), "plain");
  const std::string json = bench::JsonPath(argc, argv);
  fmt::print("{} messages, {} connections (PostgreSQL {})\n", messages, kWorkers,
             server->major_version());

  const int64_t batches = messages / 100;
  // The reference runs before and after walden's produce and counts as their mean: this
  // machine's speed drifts by a third between phases of one run.
  const std::string plain = "INSERT INTO plain SELECT * FROM unnest($2::text[], $1::jsonb[])";
  const double before = Produce(conninfo, batches, plain);
  const double produce = Produce(
      conninfo, batches, "SELECT count(*) FROM walden.produce('bench', $1::jsonb[], $2::text[])");
  const double reference = (before + Produce(conninfo, batches, plain)) / 2;
  // Where the rest goes: each connection its own topic, so no two share a counter row.
  for (int w = 0; w < kWorkers; ++w) {
    Must(conn.Exec(fmt::format("SELECT walden.create_topic('own{}', 4)", w)), "topic");
  }
  const double own =
      Produce(conninfo, batches,
              "SELECT count(*) FROM walden.produce('own{worker}', $1::jsonb[], $2::text[])");
  fmt::print("produce  walden {:8.0f} msg/s   plain INSERT {:8.0f} msg/s   {:.2f}x\n",
             messages / produce, messages / reference, reference / produce);
  fmt::print("produce  a topic per connection: {:8.0f} msg/s   {:.2f}x\n", messages / own,
             reference / own);
  bench::AppendJson(
      json, fmt::format(R"({{"scenario":"topics_produce","messages":{},)"
                        R"("walden_msgs_per_s":{:.0f},"reference_msgs_per_s":{:.0f},)"
                        R"("ratio":{:.3f}}})",
                        messages, messages / produce, messages / reference, reference / produce));

  const double read = ReadByOffset(conninfo, messages);
  const double consume = Consume(conninfo, messages);
  fmt::print("consume  walden {:8.0f} msg/s   SELECT by offset {:8.0f} msg/s   {:.2f}x\n",
             messages / consume, messages / read, read / consume);
  bench::AppendJson(json,
                    fmt::format(R"({{"scenario":"topics_consume","messages":{},)"
                                R"("walden_msgs_per_s":{:.0f},"reference_msgs_per_s":{:.0f},)"
                                R"("ratio":{:.3f}}})",
                                messages, messages / consume, messages / read, read / consume));

  const int64_t jobs = messages / 4;
  const double queue = Queue(conninfo, jobs);
  fmt::print("queue    dequeue(10) + ack, {} workers: {:8.0f} jobs/s\n", kWorkers, jobs / queue);
  bench::AppendJson(
      json, fmt::format(R"({{"scenario":"topics_queue","jobs":{},"jobs_per_s":{:.0f}}})", jobs,
                        jobs / queue));
  return 0;
}
