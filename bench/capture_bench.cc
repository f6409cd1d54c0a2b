// Decode + assembly throughput on real pgoutput bytes, side by side with pg_recvlogical
// draining the same changes from a twin slot (the reference: PostgreSQL's walsender).
//
//   capture_bench [--changes=N] [benchmark flags]
//
// A throwaway PostgreSQL is started; an 8-column orders table receives N changes (60 %
// inserts, 30 % updates, 10 % deletes) in transactions of 1 to 10,000 rows. Two slots are
// created before the workload: pg_recvlogical drains one to /dev/null (timed); the other
// is read with pg_logical_slot_peek_binary_changes, which returns exactly the payloads the
// walsender would send, and those bytes are decoded and assembled in a loop.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "pg/assembler.h"
#include "pg/connection.h"
#include "pg/local_server.h"

namespace walden {
namespace {

std::vector<std::string> g_messages;
int64_t g_changes = 0;

template <class T>
void Check(const Result<T>& status, const char* what) {
  if (!status) {
    std::fprintf(stderr, "%s: %s\n", what, status.error().message.c_str());
    std::exit(1);
  }
}

void Workload(pg::Connection& conn, int64_t changes) {
  Check(conn.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, "
                  "status text NOT NULL, total numeric(12,2) NOT NULL, currency char(3), "
                  "created_at timestamptz NOT NULL DEFAULT now(), note text, flags int)"),
        "create table");
  Check(conn.Exec("CREATE PUBLICATION bench FOR TABLE orders"), "publication");
  for (const char* slot : {"recorded", "reference"}) {
    Check(conn.Exec(std::string("SELECT pg_create_logical_replication_slot('") + slot +
                    "', 'pgoutput')"),
          "slot");
  }
  std::mt19937 random(42);
  int64_t done = 0;
  int64_t next_id = 1;
  while (done < changes) {
    const int64_t size =
        std::min<int64_t>(changes - done, std::array{1, 10, 100, 1000, 10000}[random() % 5]);
    const int64_t inserts = std::max<int64_t>(1, size * 6 / 10);
    const int64_t updates = size * 3 / 10;
    const int64_t deletes = size - inserts - updates;
    const int64_t first = next_id;
    next_id += inserts;
    std::string sql =
        "BEGIN; INSERT INTO orders (id, customer_id, status, total, currency, note, "
        "flags) SELECT i, i % 9973, 'new', (i % 1000) / 7.0, 'EUR', 'order ' || i, "
        "i % 8 FROM generate_series(" +
        std::to_string(first) + ", " + std::to_string(next_id - 1) + ") i;";
    sql += " UPDATE orders SET status = 'paid', total = total + 1 WHERE id >= " +
           std::to_string(first) + " AND id < " + std::to_string(first + updates) + ";";
    sql += " DELETE FROM orders WHERE id >= " + std::to_string(next_id - deletes) + " AND id < " +
           std::to_string(next_id) + "; COMMIT";
    Check(conn.Exec(sql), "workload");
    done += inserts + updates + std::max<int64_t>(deletes, 0);
  }
}

double ReferenceChangesPerSecond(const pg::LocalServer& server, const std::string& end_lsn) {
  const auto start = std::chrono::steady_clock::now();
  auto result = RunCommand(
      {.argv = {server.bin_dir() + "/pg_recvlogical", "-d", server.AdminConninfo(), "--slot",
                "reference", "--start", "--endpos", end_lsn, "-o", "proto_version=1", "-o",
                "publication_names=bench", "-f", "/dev/null", "--no-loop"}},
      std::chrono::minutes(10));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result || result->exit_code != 0) {
    std::fprintf(stderr, "pg_recvlogical failed: %s\n",
                 result ? result->output.c_str() : result.error().message.c_str());
    return 0;
  }
  return g_changes / seconds;
}

void BM_DecodeAndAssemble(benchmark::State& state) {
  int64_t changes = 0;
  for (auto _ : state) {
    pg::Assembler assembler({.memory_limit = size_t{1} << 30});
    for (const std::string& message : g_messages) {
      auto decoded = pg::pgoutput::Decode(message, assembler.in_stream());
      auto committed = assembler.Add(std::move(*decoded));
      if (*committed) changes += (*committed)->change_count();
    }
  }
  state.counters["changes/s"] =
      benchmark::Counter(static_cast<double>(changes), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeAndAssemble)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace walden

int main(int argc, char** argv) {
  int64_t changes = 300000;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--changes=")) {
      changes = std::stoll(argv[i] + 10);
    } else {
      rest.push_back(argv[i]);
    }
  }
  auto server = walden::pg::LocalServer::Start({});
  if (!server) return std::fprintf(stderr, "%s\n", server.error().message.c_str()), 1;
  auto conn = walden::pg::Connection::Open((*server)->AdminConninfo());
  walden::Workload(*conn, changes);
  const std::string end_lsn = *conn->QueryValue("SELECT pg_current_wal_lsn()");
  auto data = conn->Exec(
      "SELECT data FROM pg_logical_slot_peek_binary_changes('recorded', NULL, NULL, "
      "'proto_version', '1', 'publication_names', 'bench')");
  walden::Check(data, "peek");
  for (int row = 0; row < data->rows(); ++row) {
    // bytea in hex: \x...
    const std::string_view hex = data->Value(row, 0).substr(2);
    std::string bytes(hex.size() / 2, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<char>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
    }
    walden::g_messages.push_back(std::move(bytes));
  }
  for (const std::string& message : walden::g_messages) {
    walden::g_changes += (message[0] == 'I' || message[0] == 'U' || message[0] == 'D');
  }
  const double reference = walden::ReferenceChangesPerSecond(**server, end_lsn);
  std::printf("workload: %lld changes in %zu pgoutput messages (PostgreSQL %d)\n",
              static_cast<long long>(walden::g_changes), walden::g_messages.size(),
              (*server)->major_version());
  std::printf("reference: pg_recvlogical drained the twin slot at %.0f changes/s\n", reference);
  int bench_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&bench_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
