// The topics-and-queues SQL API (design §12) under concurrency, against real PostgreSQL (15,
// or 17 with WALDEN_PG_BIN): producers and consumer groups with rollbacks and dropped
// connections, queue workers that crash, nack and ack, and the exact errors for bad input.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "common/strings.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"
#include "topics/maintenance.h"
#include "topics/schema.h"

namespace walden::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class TopicsTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    const CommandResult init = RunWalden({"topics", "init", "--source", AdminConninfo()});
    ASSERT_EQ(init.exit_code, 0) << init.output;
  }

  pg::Connection Connect() {
    auto conn = pg::Connection::Open(AdminConninfo());
    EXPECT_TRUE(conn) << conn.error().message;
    return std::move(*conn);
  }

  // The message of the error `sql` fails with, without the statement walden appends.
  std::string ErrorOf(std::string_view sql) {
    pg::Connection conn = Connect();
    auto result = conn.Exec(sql);
    if (result) return "(no error)";
    std::string message = result.error().message;
    return message.substr(0, message.rfind(" [in: "));
  }
};

TEST_F(TopicsTest, GroupsReceiveEveryCommittedMessageOnceInCommitOrder) {
  Exec("SELECT walden.create_topic('events', 4)");
  constexpr int kProducers = 4, kTransactions = 40, kPerTransaction = 10, kKeys = 23;
  // (producer, transaction) of every message that committed.
  std::set<std::tuple<int, int, int>> committed;
  std::mutex mu;
  std::atomic<int> producers_left = kProducers;
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      pg::Connection conn = Connect();
      std::mt19937 random(p);
      for (int t = 0; t < kTransactions; ++t) {
        const bool keyed = t % 3 != 0;
        json values = json::array(), keys = json::array();
        for (int i = 0; i < kPerTransaction; ++i) {
          values.push_back({{"p", p}, {"t", t}, {"i", i}});
          keys.push_back("k" + std::to_string(random() % kKeys));
        }
        ASSERT_TRUE(conn.Exec("BEGIN"));
        auto produced = conn.ExecParams(
            "SELECT * FROM walden.produce('events', ARRAY(SELECT jsonb_array_elements($1::jsonb)),"
            " CASE WHEN $2::jsonb IS NULL THEN NULL ELSE "
            " ARRAY(SELECT jsonb_array_elements_text($2::jsonb)) END)",
            std::vector<std::optional<std::string>>{
                values.dump(), keyed ? std::optional(keys.dump()) : std::nullopt});
        ASSERT_TRUE(produced) << produced.error().message;
        ASSERT_EQ(produced->rows(), kPerTransaction);
        const bool rollback = random() % 5 == 0;
        ASSERT_TRUE(conn.Exec(rollback ? "ROLLBACK" : "COMMIT"));
        if (rollback) continue;
        std::lock_guard lock(mu);
        for (int i = 0; i < kPerTransaction; ++i) committed.emplace(p, t, i);
      }
      --producers_left;
    });
  }
  struct Received {
    int partition;
    int64_t offset;
    json key, value;
  };
  std::map<std::string, std::vector<Received>> received;  // per group, in commit order
  const std::vector<std::string> groups = {"billing", "search.indexer-2"};
  for (const std::string& group : groups) {
    for (int member = 0; member < 3; ++member) {
      threads.emplace_back([&, group, member] {
        std::mt19937 random(100 + member);
        std::optional<pg::Connection> conn = Connect();
        while (true) {
          ASSERT_TRUE(conn->Exec("BEGIN"));
          auto batch = conn->Exec(
              "SELECT partition, \"offset\", coalesce(to_json(key)::text, 'null'), value::text "
              "FROM walden.consume('events', '" + group + "', 7)");
          ASSERT_TRUE(batch) << batch.error().message;
          const int roll = static_cast<int>(random() % 20);
          if (roll < 3) {  // rolled back: redelivered
            ASSERT_TRUE(conn->Exec("ROLLBACK"));
            continue;
          }
          if (roll == 3) {  // the connection dies mid-transaction: redelivered
            conn.reset();
            conn = Connect();
            continue;
          }
          std::vector<Received> rows;
          for (int r = 0; r < batch->rows(); ++r) {
            rows.push_back({static_cast<int>(*batch->Int(r, 0)), *batch->Int(r, 1),
                            json::parse(batch->Value(r, 2)), json::parse(batch->Value(r, 3))});
          }
          {
            // Recorded under the lock that spans the commit, so the list is in commit order.
            std::lock_guard lock(mu);
            ASSERT_TRUE(conn->Exec("COMMIT"));
            for (Received& row : rows) received[group].push_back(std::move(row));
          }
          if (rows.empty()) {
            if (producers_left == 0) {
              auto lag = conn->Exec("SELECT coalesce(sum(lag), -1) FROM walden.group_lag "
                                    "WHERE topic = 'events' AND group_name = '" + group + "'");
              ASSERT_TRUE(lag);
              if (lag->Value(0, 0) == "0") return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_GT(committed.size(), 0u);

  for (const std::string& group : groups) {
    SCOPED_TRACE(group);
    std::set<std::tuple<int, int, int>> got;
    std::map<int, std::vector<int64_t>> offsets;
    std::map<std::string, int> partition_of_key;
    std::map<std::pair<int, int>, int64_t> last_offset;  // (partition, producer) → offset
    for (const Received& row : received[group]) {
      const auto id = std::make_tuple(row.value["p"].get<int>(), row.value["t"].get<int>(),
                                      row.value["i"].get<int>());
      EXPECT_TRUE(got.insert(id).second) << "delivered twice: " << row.value.dump();
      EXPECT_TRUE(committed.contains(id)) << "never committed: " << row.value.dump();
      offsets[row.partition].push_back(row.offset);
      if (row.key.is_string()) {
        auto [it, fresh] = partition_of_key.emplace(row.key.get<std::string>(), row.partition);
        EXPECT_EQ(it->second, row.partition) << "key " << row.key << " in two partitions";
      }
      // One producer's transactions commit one after another: later ones, later offsets.
      auto [it, fresh] = last_offset.try_emplace({row.partition, std::get<0>(id)}, row.offset);
      if (!fresh) {
        EXPECT_GT(row.offset, it->second);
        it->second = row.offset;
      }
    }
    EXPECT_EQ(got.size(), committed.size());
    for (auto& [partition, list] : offsets) {
      // Per partition, the group saw offsets 0, 1, 2, … in that order, each once.
      for (size_t i = 0; i < list.size(); ++i) {
        ASSERT_EQ(list[i], static_cast<int64_t>(i)) << "partition " << partition;
      }
    }
  }
  const std::vector<Row> ends =
      Rows("SELECT sum(next_offset) FROM walden.topic_partitions WHERE topic = 'events'");
  EXPECT_EQ(ends[0][0], std::to_string(committed.size()));  // rollbacks left no gap
}

TEST_F(TopicsTest, QueueJobsEndAckedOnceOrDeadAndNeverGoToTwoWorkersAtOnce) {
  Exec("SELECT walden.create_queue('jobs', '1 second', 3)");
  constexpr int kJobs = 240;
  Exec("SELECT walden.enqueue('jobs', ARRAY(SELECT jsonb_build_object('n', n, 'poison', n % 40 = 0) "
       "FROM generate_series(1, " + std::to_string(kJobs) + ") n))");
  enum class End { kAck, kNack, kCrash };
  struct Delivery {
    Clock::time_point asked, got;
    End end;
  };
  std::mutex mu;
  std::map<int64_t, std::vector<Delivery>> deliveries;
  std::map<int64_t, int> acks;  // id → acks that deleted it
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 random(w);
      std::optional<pg::Connection> conn = Connect();
      while (true) {
        const Clock::time_point asked = Clock::now();
        auto jobs = conn->Exec("SELECT id, payload->>'poison' FROM walden.dequeue('jobs', 3)");
        ASSERT_TRUE(jobs) << jobs.error().message;
        const Clock::time_point got = Clock::now();
        if (jobs->rows() == 0) {
          auto left = conn->Exec("SELECT count(*) FROM walden_queues.jobs");
          ASSERT_TRUE(left);
          if (left->Value(0, 0) == "0") return;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        for (int r = 0; r < jobs->rows(); ++r) {
          const int64_t id = *jobs->Int(r, 0);
          const int roll = static_cast<int>(random() % 10);
          End end = jobs->Value(r, 1) == "true" || roll < 2 ? End::kNack
                    : roll < 4                              ? End::kCrash
                                                            : End::kAck;
          if (end == End::kAck) {
            auto acked = conn->Exec("SELECT walden.ack('jobs', ARRAY[" + std::to_string(id) + "])");
            ASSERT_TRUE(acked);
            std::lock_guard lock(mu);
            acks[id] += static_cast<int>(*acked->Int(0, 0));
          } else if (end == End::kNack) {
            ASSERT_TRUE(conn->Exec("SELECT walden.nack('jobs', ARRAY[" + std::to_string(id) + "])"));
          }
          std::lock_guard lock(mu);
          deliveries[id].push_back({asked, got, end});
        }
        if (random() % 10 == 0) {  // the worker dies: its unacked jobs come back after 1 s
          conn.reset();
          conn = Connect();
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  ASSERT_FALSE(HasFatalFailure());

  std::set<int64_t> dead;
  for (const Row& row : Rows("SELECT id, attempts, payload->>'poison' FROM walden.dead_letters('jobs')")) {
    dead.insert(std::stoll(*row[0]));
    EXPECT_EQ(row[1], "3");
  }
  for (int64_t id = 1; id <= kJobs; ++id) {
    SCOPED_TRACE("job " + std::to_string(id));
    std::vector<Delivery>& seen = deliveries[id];
    // Recorded once handled; in the order the workers got the job.
    std::ranges::sort(seen, {}, &Delivery::got);
    ASSERT_FALSE(seen.empty());
    if (dead.contains(id)) {
      EXPECT_EQ(acks[id], 0);
      EXPECT_EQ(seen.size(), 3u);  // every attempt used, none acked
      for (const Delivery& d : seen) EXPECT_NE(d.end, End::kAck);
    } else {
      EXPECT_EQ(acks[id], 1);  // acked exactly once
      EXPECT_NE(id % 40, 0) << "a poison job was acked";
    }
    for (size_t i = 1; i < seen.size(); ++i) {
      // Unless released by a nack, the next worker got it only after the timeout passed.
      if (seen[i - 1].end != End::kNack) {
        EXPECT_GE(seen[i].got - seen[i - 1].asked, std::chrono::milliseconds(1000));
      }
    }
  }
  for (int64_t id = 40; id <= kJobs; id += 40) EXPECT_TRUE(dead.contains(id)) << id;
  EXPECT_EQ(Rows("SELECT walden.redrive('jobs')")[0][0], std::to_string(dead.size()));
  EXPECT_EQ(Rows("SELECT count(*) FROM walden_queues.jobs WHERE attempt = 0")[0][0],
            std::to_string(dead.size()));
  EXPECT_EQ(Rows("SELECT count(*) FROM walden.dead_letters('jobs')")[0][0], "0");
}

// A database at version 1 with messages and a group: walden refuses it until `walden topics
// init` upgrades it; the upgrade keeps every message, offset and group position, and the next
// version's produce continues each partition's offsets without a gap, keys in their partitions.
class TopicsUpgradeTest : public PgTest {};

TEST_F(TopicsUpgradeTest, AnUpgradeKeepsEveryMessageAndOffsetsContinue) {
  auto conn = pg::Connection::Open(AdminConninfo());
  ASSERT_TRUE(conn) << conn.error().message;
  auto installed = topics::Install(*conn, 1);
  ASSERT_TRUE(installed) << installed.error().message;
  ASSERT_EQ(installed->to, 1);
  ASSERT_GT(topics::LatestVersion(), 1);
  const std::string batch =
      "SELECT partition, \"offset\" FROM walden.produce('events', ARRAY(SELECT "
      "jsonb_build_object('i', g, 'run', {0}) FROM generate_series(1, 30) g), ARRAY(SELECT 'k' "
      "|| g % 10 FROM generate_series(1, 30) g), ARRAY(SELECT CASE WHEN g % 7 = 0 THEN "
      "jsonb_build_object('h', g) END FROM generate_series(1, 30) g))";
  Exec("SELECT walden.create_topic('events', 3)");
  Exec(fmt::format(fmt::runtime(batch), 1));
  Exec("SELECT walden.produce('events', ARRAY['\"a\"', '\"b\"']::jsonb[])");  // keyless
  Exec("SELECT walden.create_group('events', 'g')");
  Exec("BEGIN; SELECT walden.consume('events', 'g', 4); COMMIT");
  const std::string messages =
      "SELECT partition, \"offset\", key, value::text, headers::text FROM walden_topics.events "
      "ORDER BY 1, 2";
  const auto before = Rows(messages);
  const auto groups = Rows("SELECT partition, committed_offset FROM walden.group_offsets");
  ASSERT_EQ(before.size(), 32u);

  CommandResult refused = RunWalden({"topic", "list", "--source", AdminConninfo()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output,
              ::testing::HasSubstr(fmt::format(
                  "database {} has topics API version 1; this walden needs {}: run `walden topics "
                  "init` to upgrade it (messages are kept)",
                  database(), topics::LatestVersion())));
  CommandResult upgraded = RunWalden({"topics", "init", "--source", AdminConninfo()});
  ASSERT_EQ(upgraded.exit_code, 0) << upgraded.output;
  EXPECT_THAT(upgraded.output,
              ::testing::HasSubstr(fmt::format("from version 1 to {}", topics::LatestVersion())));
  EXPECT_EQ(Rows(messages), before);
  EXPECT_EQ(Rows("SELECT partition, committed_offset FROM walden.group_offsets"), groups);

  // The same keys again: each lands in its partition at the next offsets, in input order.
  const auto produced = Rows(fmt::format(fmt::runtime(batch), 2));
  const auto stored = Rows(
      "SELECT partition::text, \"offset\"::text FROM walden_topics.events WHERE value->>'run' = "
      "'2' ORDER BY (value->>'i')::int");
  EXPECT_EQ(produced, stored);
  EXPECT_EQ(Rows("SELECT count(*) FROM (SELECT key FROM walden_topics.events WHERE key IS NOT "
                 "NULL GROUP BY key HAVING count(DISTINCT partition) > 1) k")[0][0],
            "0");
  EXPECT_EQ(Rows("SELECT string_agg(format('%s:%s/%s/%s', p.partition, m.n, m.top + 1, "
                 "p.next_offset), ' ' ORDER BY p.partition) FROM walden.topic_partitions p JOIN "
                 "(SELECT partition, count(*) AS n, max(\"offset\") AS top FROM "
                 "walden_topics.events GROUP BY partition) m USING (partition)")[0][0],
            Rows("SELECT string_agg(format('%s:%s/%s/%s', partition, next_offset, next_offset, "
                 "next_offset), ' ' ORDER BY partition) FROM walden.topic_partitions")[0][0]);
  // The group goes on where it stood: every other message once.
  std::multiset<std::string> consumed;
  for (int round = 0; round < 20; ++round) {
    Exec("BEGIN");
    for (const auto& row :
         Rows("SELECT partition, \"offset\" FROM walden.consume('events', 'g', 7)")) {
      consumed.insert(*row[0] + ":" + *row[1]);
    }
    Exec("COMMIT");
  }
  EXPECT_EQ(consumed.size(), 62u - 4u);
  EXPECT_EQ(std::set<std::string>(consumed.begin(), consumed.end()).size(), consumed.size());
}

TEST_F(TopicsTest, BadInputGetsAClearErrorAndChangesNothing) {
  Exec("SELECT walden.create_topic('t', 2)");
  Exec("SELECT walden.create_queue('q')");
  Exec("SELECT walden.create_group('t', 'g')");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SELECT walden.produce('nope', ARRAY['1'::jsonb])",
       "walden: unknown topic 'nope'; hint: create it with SELECT walden.create_topic('nope')"},
      {"SELECT walden.create_topic('Orders')",
       "walden: invalid topic name 'Orders'; hint: a topic name is 1 to 48 lowercase letters, "
       "digits or _, starting with a letter"},
      {"SELECT walden.create_topic('t', 3)",
       "walden: topic 't' exists with 2 partitions, retention 7 days, partition_interval "
       "01:00:00; hint: drop it first (walden.drop_topic) or use another name"},
      {"SELECT walden.create_topic('u', 0)", "walden: partitions must be 1 to 1024, not 0"},
      {"SELECT walden.create_topic('u', 1, '-1 day')",
       "walden: retention must be positive, not -1 days"},
      {"SELECT walden.create_topic('u', 1, '1 day', '1 month')",
       "walden: partition_interval 1 mon has months; give it in days, hours or less"},
      {"SELECT walden.produce('t', ARRAY['1', '2']::jsonb[], ARRAY['a'])",
       "walden: keys has 1 elements and values 2; give one key per value, or keys => NULL"},
      {"SELECT walden.produce('t', ARRAY['1', NULL]::jsonb[])",
       "walden: values must be a one-dimensional array of JSON values without NULLs; hint: a "
       "JSON null is 'null'::jsonb"},
      {"SELECT walden.produce('t', ARRAY['1']::jsonb[], NULL, ARRAY['[1]']::jsonb[])",
       "walden: each header must be a JSON object or NULL"},
      {"SELECT walden.consume('t', 'g', 0)", "walden: max_messages must be at least 1, not 0"},
      {"SELECT walden.consume('t', 'bad group', 1)",
       "walden: invalid group name 'bad group'; hint: a group name is 1 to 128 letters, "
       "digits, \".\", \"_\" or \"-\", starting with a letter or digit"},
      {"SELECT walden.read('t', 2, 0)", "walden: topic 't' has partitions 0 to 1, not 2"},
      {"SELECT walden.seek('t', 'g', 0, 5)",
       "walden: offset must be 0 to 0 (the end of partition 0), not 5"},
      {"SELECT walden.create_group('t', 'h', 'middle')",
       "walden: start must be 'earliest' or 'latest', not 'middle'"},
      {"SELECT walden.drop_topic('t')",
       "walden: topic 't' has consumer groups (g); hint: SELECT walden.drop_topic('t', force => "
       "true) drops it with its groups"},
      {"SELECT walden.enqueue('q', ARRAY['1'::jsonb], '-5 seconds')",
       "walden: delay must be zero or positive, not -00:00:05"},
      {"SELECT walden.dequeue('q', 1, '0 seconds')",
       "walden: visibility_timeout must be positive, not 00:00:00"},
      {"SELECT walden.dequeue('nope')",
       "walden: unknown queue 'nope'; hint: create it with SELECT walden.create_queue('nope')"},
      {"SELECT walden.create_queue('q', '30 seconds', 0)",
       "walden: max_attempts must be at least 1, not 0"},
      {"SELECT walden.create_queue('dead_letters')",
       "walden: queue name 'dead_letters' is reserved (walden_queues.dead_letters holds every "
       "queue's dead letters)"},
  };
  for (const auto& [sql, error] : cases) EXPECT_EQ(ErrorOf(sql), error) << sql;
  // PostgreSQL's own message (its detail differs between versions).
  EXPECT_THAT(ErrorOf("SELECT walden.produce('t', ARRAY['{x']::jsonb[])"),
              ::testing::StartsWith("invalid input syntax for type json"));
  EXPECT_EQ(Rows("SELECT sum(next_offset) FROM walden.topic_partitions")[0][0], "0");
  EXPECT_EQ(Rows("SELECT count(*) FROM walden_topics.t")[0][0], "0");
  EXPECT_EQ(Rows("SELECT count(*) FROM walden_queues.q")[0][0], "0");
  EXPECT_EQ(Rows("SELECT string_agg(topic, ',') FROM walden.topics")[0][0], "t");
  Exec("SELECT walden.drop_topic('t', force => true)");
  EXPECT_EQ(Rows("SELECT count(*) FROM walden.group_offsets")[0][0], "0");
  EXPECT_EQ(Rows("SELECT to_regclass('walden_topics.t') IS NULL")[0][0], "t");
}

TEST_F(TopicsTest, RetentionDropsAPartitionOnlyOnceTheArchiveHoldsIt) {
  Exec("SELECT walden.create_topic('old', 1, '1 second', '1 second')");
  Exec("SELECT walden.produce('old', ARRAY['{\"n\": 1}'::jsonb])");
  const std::string table =
      Rows(
          "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE "
          "i.inhparent = 'walden_topics.old'::regclass AND EXISTS (SELECT 1 FROM walden_topics.old "
          "m WHERE m.tableoid = c.oid)")[0][0]
          .value();
  auto exists = [&] {
    return Rows("SELECT to_regclass('walden_topics." + table + "') IS NOT NULL")[0][0] == "t";
  };
  // Past retention once its upper bound is more than a second old.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Rows("SELECT count(*) FROM walden.expired_partitions WHERE partition_table = '" + table +
              "'")[0][0] == "0" &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  topics::Maintainer maintainer(AdminConninfo());
  auto round = maintainer.RunOnce(Lsn{0});  // the archive holds nothing yet
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_GE(round->sealed, 1);
  EXPECT_EQ(round->dropped, 0);
  EXPECT_TRUE(exists());
  // Sealed: nothing can enter it any more.
  EXPECT_THAT(ErrorOf("INSERT INTO walden_topics." + table +
                      " VALUES (0, 99, NULL, '1', NULL, "
                      "to_timestamp(" +
                      table.substr(table.rfind("_p") + 2) + "))"),
              ::testing::HasSubstr("violates check constraint \"walden_sealed\""));
  const Lsn before_restart = *Lsn::Parse(*Rows("SELECT pg_current_wal_insert_lsn()")[0][0]);
  // A new run (after a crash) knows no seal LSN: it takes a later one, never an earlier.
  topics::Maintainer restarted(AdminConninfo());
  round = restarted.RunOnce(Lsn{before_restart.value - 1});
  ASSERT_TRUE(round);
  EXPECT_EQ(round->dropped, 0);
  EXPECT_TRUE(exists());
  const Lsn now = *Lsn::Parse(*Rows("SELECT pg_current_wal_insert_lsn()")[0][0]);
  round = restarted.RunOnce(now);
  ASSERT_TRUE(round);
  EXPECT_GE(round->dropped, 1);
  EXPECT_FALSE(exists());
  // Partitions ahead exist for the coming intervals.
  EXPECT_GE(std::stoi(*Rows("SELECT count(*) FROM pg_inherits WHERE inhparent = "
                            "'walden_topics.old'::regclass AND inhrelid::regclass::text > "
                            "'walden_topics.old_p' || extract(epoch FROM date_bin('1 second', "
                            "now(), '2000-01-01'))::bigint")[0][0]),
            2);
}

}  // namespace
}  // namespace walden::testing
