// Five tables, every kind of column, inserts, updates, deletes and key changes through
// `walden run`: the archive holds exactly the committed changes, in commit order, with the
// right op, and each value equal (as DuckDB renders it) to the row PostgreSQL returned for
// that statement, converted independently of the pipeline. On a local folder and on s3rver.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "archive/manifest.h"
#include "duck/appender.h"
#include "duck/duckdb.h"
#include "pg/types.h"
#include "store/object_store.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/s3_server.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSchema = R"sql(
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE nums (id int PRIMARY KEY, s int2, b int8, r real, d double precision,
                   n numeric(12,3), free numeric);
CREATE TABLE texts (id int PRIMARY KEY, t text, v varchar(10), c char(3), raw bytea, j json,
                    jb jsonb);
CREATE TABLE times (id int PRIMARY KEY, d date, t time, tz timetz, ts timestamp,
                    tstz timestamptz, i interval);
CREATE TABLE misc (id uuid PRIMARY KEY, ok bool, ints int[], words text[], m mood, ip inet);
CREATE TABLE full_rows (a int, b text);
ALTER TABLE full_rows REPLICA IDENTITY FULL;
)sql";

// Statements with RETURNING *: what PostgreSQL says each change is.
const std::vector<std::pair<std::string, std::string>> kWorkload = {
    {"nums",
     "INSERT INTO nums VALUES (1, -32768, 9223372036854775807, 'NaN', '-Infinity', "
     "-123456789.125, 1e40) RETURNING *"},
    {"nums", "INSERT INTO nums VALUES (2, 0, 0, 1.5, 2.25, 0, 'NaN') RETURNING *"},
    {"texts",
     "INSERT INTO texts VALUES (1, 'Grüße ✓ \"q\"', 'abc', 'x', '\\x00ff', '[1, 2]', "
     "'{\"b\": null}') RETURNING *"},
    {"times",
     "INSERT INTO times VALUES (1, 'infinity', '24:00:00', '01:02:03.5+05:30', "
     "'-infinity', '2024-02-29 12:34:56.789012+02', '1 year 2 mons -3 days 04:05:06.5') "
     "RETURNING *"},
    {"times",
     "INSERT INTO times VALUES (2, '0044-03-15 BC', '00:00:00', '00:00:00+00', "
     "'1999-12-31 23:59:59.999999', '-infinity', '-1 days') RETURNING *"},
    {"misc",
     "INSERT INTO misc VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, '{1,NULL,3}', "
     "'{\"a b\",\"\"}', 'happy', '10.0.0.1/8') RETURNING *"},
    {"full_rows", "INSERT INTO full_rows VALUES (1, 'one'), (1, 'one'), (2, 'two') RETURNING *"},
    {"nums", "UPDATE nums SET n = 7, r = 'Infinity' WHERE id = 2 RETURNING *"},
    {"nums", "UPDATE nums SET id = 3 WHERE id = 1 RETURNING *"},
    {"texts", "UPDATE texts SET t = NULL, raw = '\\x' WHERE id = 1 RETURNING *"},
    {"times", "DELETE FROM times WHERE id = 1 RETURNING id"},
    {"misc", "UPDATE misc SET ints = '{}', m = 'sad' RETURNING *"},
    {"full_rows",
     "UPDATE full_rows SET b = 'uno' WHERE a = 1 AND ctid = (SELECT min(ctid) FROM "
     "full_rows WHERE a = 1) RETURNING *"},
    {"full_rows", "DELETE FROM full_rows WHERE a = 2 RETURNING *"},
    {"nums", "DELETE FROM nums WHERE id = 2 RETURNING id"},
};

class ArchiveTypesTest : public PgTest {
 protected:
  // The expected changes of each table, as DuckDB rows of (ord, op, columns...).
  void BuildExpected(duck::Connection& duck) {
    auto conn = pg::Connection::Open(AdminConninfo(), {.options = pg::kReplicationSessionOptions});
    ASSERT_TRUE(conn) << conn.error().message;
    std::map<std::string, int> ord;
    for (const auto& [table, sql] : kWorkload) {
      auto result = conn->Exec(sql);
      ASSERT_TRUE(result) << sql << ": " << result.error().message;
      const std::string op = sql.starts_with("INSERT")   ? "c"
                             : sql.starts_with("UPDATE") ? "u"
                                                         : "d";
      auto columns =
          conn->Exec("SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE attrelid = '" +
                     table + "'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum");
      ASSERT_TRUE(columns);
      std::vector<ColumnType> types = {ColumnType{.kind = TypeKind::kInt64},
                                       ColumnType{.kind = TypeKind::kText}};
      std::string ddl =
          "CREATE TABLE IF NOT EXISTS \"expected_" + table + "\" (ord BIGINT, op VARCHAR";
      for (int c = 0; c < columns->rows(); ++c) {
        auto lookup = [&](uint32_t oid) -> Result<std::optional<pg::PgTypeInfo>> {
          auto info = conn->Exec("SELECT typtype FROM pg_type WHERE oid = " + std::to_string(oid));
          if (!info) return std::unexpected(info.error());
          if (info->rows() != 1) return std::nullopt;
          return pg::PgTypeInfo{.typtype = info->Value(0, 0)[0]};
        };
        auto type = pg::MapType(std::stoul(std::string(columns->Value(c, 1))),
                                std::stoi(std::string(columns->Value(c, 2))), lookup);
        ASSERT_TRUE(type) << type.error().message;
        types.push_back(*type);
        ddl += ", " + QuoteIdent(columns->Value(c, 0)) + " " + types.back().DuckDbName();
      }
      ASSERT_TRUE(duck.Execute(ddl + ")"));
      auto appender = duck::Appender::Open(duck, "main", "expected_" + table);
      ASSERT_TRUE(appender) << appender.error().message;
      for (int r = 0; r < result->rows(); ++r) {
        std::vector<Datum> row = {int64_t{ord[table]++}, std::string(op)};
        for (int c = 0; c < columns->rows(); ++c) {
          // A delete of a keyed table carries the key only; RETURNING id gives just that.
          const int source = c < result->columns() ? c : -1;
          if (source < 0 || result->IsNull(r, source)) {
            row.emplace_back(Null{});
            continue;
          }
          auto datum = pg::ParseText(types[c + 2], result->Value(r, source));
          ASSERT_TRUE(datum) << datum.error().message;
          row.push_back(std::move(*datum));
        }
        ASSERT_TRUE(appender->AppendRow(types, row));
      }
      ASSERT_TRUE(appender->Flush());
    }
  }

  void RunAndCompare(const std::vector<std::string>& archive_flags,
                     const std::vector<std::pair<std::string, std::string>>& env,
                     store::ObjectStore& store) {
    Exec(kSchema);
    std::vector<std::string> args = {"run",
                                     "--server-listen",
                                     "127.0.0.1:0",
                                     "--source",
                                     AdminConninfo(),
                                     "--data-dir",
                                     ScratchDir() + "/data",
                                     "--archive-flush-interval",
                                     "100ms",
                                     "--source-slot",
                                     "types_run",
                                     "--source-tables",
                                     "nums,texts,times,misc,full_rows"};
    args.insert(args.end(), archive_flags.begin(), archive_flags.end());
    WaldenProcess run(args, env);
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    auto duck_db = duck::Database::Open(":memory:");
    auto duck = duck::Connection::Open(*duck_db);
    ASSERT_TRUE(duck->Execute("SET TimeZone = 'UTC'"));
    BuildExpected(*duck);
    ASSERT_TRUE(WaitForCaughtUp("types_run", 60s)) << run.Stderr();
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();

    archive::Manifest manifest(store);
    auto state = manifest.Load();
    ASSERT_TRUE(state) << state.error().message;
    std::map<std::string, std::string> files;
    int n = 0;
    std::filesystem::create_directories(ScratchDir() + "/read");
    for (const auto& [key, file] : state->live) {
      const std::string path = ScratchDir() + "/read/" + std::to_string(n++) + ".parquet";
      std::ofstream(path, std::ios::binary) << store.Get(key).value_or("");
      files[file.table.name] += (files[file.table.name].empty() ? "'" : ", '") + path + "'";
    }
    for (const std::string table : {"nums", "texts", "times", "misc", "full_rows"}) {
      ASSERT_TRUE(files.contains(table)) << table;
      ASSERT_TRUE(duck->Execute(
          "CREATE TABLE \"archived_" + table +
          "\" AS SELECT (row_number() OVER (ORDER BY "
          "_walden_lsn, _walden_seq) - 1)::BIGINT AS ord, _walden_op AS op, * EXCLUDE "
          "(_walden_op, _walden_lsn, _walden_seq, _walden_xid, _walden_commit_ts, _walden_before, "
          "_walden_unchanged) FROM read_parquet([" +
          files[table] + "])"));
      for (const auto& [left, right] :
           {std::pair{"expected_", "archived_"}, std::pair{"archived_", "expected_"}}) {
        auto diff =
            duck->Query("SELECT COLUMNS(*)::VARCHAR FROM \"" + std::string(left) + table +
                        "\" EXCEPT SELECT COLUMNS(*)::VARCHAR FROM \"" + right + table + "\"");
        ASSERT_TRUE(diff) << diff.error().message;
        std::string example;
        for (size_t c = 0; diff->rows() > 0 && c < diff->columns(); ++c) {
          example += diff->Text(0, c).value_or("NULL") + " | ";
        }
        EXPECT_EQ(diff->rows(), 0u) << table << ": rows in " << left << " only, e.g. " << example;
      }
      auto counts =
          duck->Query("SELECT (SELECT count(*) FROM \"expected_" + table +
                      "\")::VARCHAR, (SELECT count(*) FROM \"archived_" + table + "\")::VARCHAR");
      EXPECT_EQ(counts->Text(0, 0), counts->Text(0, 1)) << table;
    }
    DropSlot("types_run");
  }
};

TEST_F(ArchiveTypesTest, LocalFolder) {
  const std::string url = "file://" + ScratchDir() + "/archive";
  auto store = store::OpenStore({.url = url});
  ASSERT_TRUE(store);
  RunAndCompare({"--archive-url", url}, {}, **store);
}

TEST_F(ArchiveTypesTest, S3Bucket) {
  auto s3 = S3Server::Start("walden-types");
  ASSERT_TRUE(s3) << s3.error().message;
  setenv("AWS_ACCESS_KEY_ID", S3Server::kAccessKey, 1);
  setenv("AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey, 1);
  auto store = store::OpenStore(
      {.url = "s3://walden-types/x", .endpoint = (*s3)->endpoint(), .region = "us-east-1"});
  ASSERT_TRUE(store) << store.error().message;
  RunAndCompare({"--archive-url", "s3://walden-types/x", "--archive-endpoint", (*s3)->endpoint()},
                {{"AWS_ACCESS_KEY_ID", S3Server::kAccessKey},
                 {"AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey}},
                **store);
}

}  // namespace
}  // namespace walden::testing
