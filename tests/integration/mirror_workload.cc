#include "tests/integration/mirror_workload.h"

#include <fmt/core.h>

namespace walden::testing {

std::string MirrorWorkload::SetupSql() {
  return R"sql(
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
    CREATE TABLE typed (
      id bigint PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
      n numeric(12,3), nu numeric, b boolean, t text, vc varchar(20), ch char(5), "by" bytea,
      d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid,
      j json, jb jsonb, ai integer[], "at" text[], e mood, dm posint, ip inet, nm name,
      mo money, big numeric(50,5));
    CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, doc text);
    CREATE TABLE moves (code text PRIMARY KEY, n int);
    CREATE TABLE "Pairs" (a int, "b key" text, v int, PRIMARY KEY (a, "b key"));
    CREATE TABLE full_events (kind text, n int, note text);
    ALTER TABLE full_events REPLICA IDENTITY FULL;
    CREATE TABLE log (line text, at timestamptz);
  )sql";
}

std::vector<QualifiedName> MirrorWorkload::Tables() {
  return {{"public", "typed"}, {"public", "accounts"},    {"public", "moves"},
          {"public", "Pairs"}, {"public", "full_events"}, {"public", "log"}};
}

std::string MirrorWorkload::TypedRow(int64_t id) {
  static const char* kTexts[] = {"plain", "it''s quoted", "ünïcødé ☃",
                                 "",      "tab\there",    "back\\slash"};
  static const char* kDates[] = {"2026-11-21", "infinity", "-infinity", "0044-03-15 BC",
                                 "1999-12-31"};
  static const char* kFloats[] = {"1.5", "-0.25", "NaN", "Infinity", "-Infinity", "1e-300"};
  const int64_t k = Pick(100000);
  std::string row = fmt::format(
      "({id}, {i2}, {i4}, {i8}, {f4}, '{f8}', {n}, {nu}, {b}, '{t}', ", fmt::arg("id", id),
      fmt::arg("i2", k % 32000 - 16000), fmt::arg("i4", k * 1000 - 7),
      fmt::arg("i8", k * 100000000007LL), fmt::arg("f4", static_cast<double>(k) / 4),
      fmt::arg("f8", kFloats[k % 6]), fmt::arg("n", fmt::format("{}.{:03}", k, k % 1000)),
      fmt::arg("nu", k % 3 ? fmt::format("123456789012345678901234567890123456789012.{}", k)
                           : std::string("'NaN'")),
      fmt::arg("b", k % 2 ? "true" : "false"), fmt::arg("t", kTexts[k % 6]));
  if (!typed_dropped_vc_) row += fmt::format("'v{}', ", k);
  row += fmt::format(
      "'c{}', '\\x{:08x}', '{}', '{:02}:{:02}:{:02}.{:06}', '01:02:03.5+05:30', "
      "'2026-01-{:02} 10:11:12.{:06}', '2026-06-{:02} 23:59:59.5+02', '{} years {} mons -{} days "
      "04:05:06.789', '{:08x}-0000-4000-8000-{:012x}', '{{\"k\": {}, \"s\": \"x y\"}}', "
      "'{{\"b\": [1, 2, {}], \"a\": null}}', '{{{},NULL,{}}}', '{{\"a b\",NULL,\"c\\\"d\"}}', "
      "'{}', {}, "
      "'10.{}.0.1/32', 'n{}', {}.25, {}.12345",
      k % 100, k, kDates[k % 5], k % 24, k % 60, k % 60, k % 1000000, k % 28 + 1, k % 1000000,
      k % 28 + 1, k % 5, k % 12, k % 40, k, k, k, k, k, -k,
      (k % 3 == 0   ? "sad"
       : k % 3 == 1 ? "ok"
                    : "happy"),
      k % 1000 + 1, k % 256, k, k, k);
  if (typed_late_) row += fmt::format(", 'late {}'", k);
  return row + ")";
}

std::string MirrorWorkload::TypedChange() {
  const int64_t id = Pick(60);
  switch (Pick(5)) {
    case 0:
    case 1:
      return "INSERT INTO typed VALUES " + TypedRow(id) + " ON CONFLICT (id) DO NOTHING";
    case 2:
      return fmt::format("UPDATE typed SET i4 = i4 + 1, t = 'upd {}', ai = ai || {} WHERE id = {}",
                         Pick(1000), Pick(9), id);
    case 3:
      return fmt::format("DELETE FROM typed WHERE id = {}", id);
    default:
      return fmt::format(
          "UPDATE typed SET id = {0} WHERE id = {1} AND NOT EXISTS (SELECT 1 FROM typed WHERE id "
          "= {0})",
          60 + Pick(60), id);
  }
}

std::string MirrorWorkload::AccountChange() {
  const int64_t id = Pick(40);
  // ~6 kB of incompressible text: stored out of line (TOAST).
  const std::string doc =
      fmt::format("(SELECT string_agg(md5('{}-{}-' || g), '') FROM generate_series(1, 200) g)",
                  seed_, Pick(1000000));
  switch (Pick(5)) {
    case 0:
      return fmt::format(
          "INSERT INTO accounts (id, balance, doc) VALUES ({}, 0, {}) "
          "ON CONFLICT (id) DO NOTHING",
          id, doc);
    case 1:
    case 2:  // the doc stays: pgoutput sends it as unchanged TOAST
      return fmt::format("UPDATE accounts SET balance = balance + {} WHERE id = {}", Pick(100), id);
    case 3:
      return fmt::format("UPDATE accounts SET doc = {} WHERE id = {}", doc, id);
    default:
      return fmt::format("DELETE FROM accounts WHERE id = {}", id);
  }
}

std::string MirrorWorkload::MoveChange() {
  const std::string n = moves_renamed_ ? "amount" : "n";
  const std::string code = fmt::format("'m{}'", Pick(30));
  switch (Pick(9)) {
    case 0:
    case 1:
    case 2:
      return fmt::format("INSERT INTO moves VALUES ({}, {}) ON CONFLICT DO NOTHING", code,
                         Pick(99));
    case 3:
    case 4: {
      const int64_t target = 30 + Pick(30);
      return fmt::format(
          "UPDATE moves SET code = 'm{0}' WHERE code = {1} AND NOT EXISTS "
          "(SELECT 1 FROM moves WHERE code = 'm{0}')",
          target, code);
    }
    case 5:
    case 6:
      return fmt::format("UPDATE moves SET {0} = {0} + 1 WHERE code = {1}", n, code);
    case 7:
      return fmt::format("DELETE FROM moves WHERE code = {}", code);
    default:
      return Pick(4) == 0 ? "TRUNCATE moves" : "DELETE FROM moves WHERE code = 'none'";
  }
}

std::string MirrorWorkload::PairChange() {
  const int64_t a = Pick(10);
  const std::string b = fmt::format("'k {}'", Pick(5));
  switch (Pick(4)) {
    case 0:
      return fmt::format("INSERT INTO \"Pairs\" VALUES ({}, {}, {}) ON CONFLICT DO NOTHING", a, b,
                         Pick(1000));
    case 1:
      return fmt::format("UPDATE \"Pairs\" SET v = v * 2 + 1 WHERE a = {} AND \"b key\" = {}", a,
                         b);
    case 2:
      return fmt::format(
          "UPDATE \"Pairs\" SET \"b key\" = 'moved {0}' WHERE a = {1} AND \"b key\" = {2} AND NOT "
          "EXISTS (SELECT 1 FROM \"Pairs\" WHERE a = {1} AND \"b key\" = 'moved {0}')",
          Pick(5), a, b);
    default:
      return fmt::format("DELETE FROM \"Pairs\" WHERE a = {} AND \"b key\" = {}", a, b);
  }
}

std::string MirrorWorkload::FullChange() {
  const std::string kind = fmt::format("'k{}'", Pick(4));
  const int64_t n = Pick(3);
  const std::string one = fmt::format(
      "ctid = (SELECT ctid FROM full_events WHERE kind = {} AND n = {} LIMIT 1)", kind, n);
  switch (Pick(4)) {
    case 0:
    case 1:  // duplicates on purpose
      return fmt::format("INSERT INTO full_events VALUES ({}, {}, NULL)", kind, n);
    case 2:
      return fmt::format("UPDATE full_events SET n = n + 1, note = 'u' WHERE {}", one);
    default:
      return "DELETE FROM full_events WHERE " + one;
  }
}

std::string MirrorWorkload::LogChange() {
  return fmt::format("INSERT INTO log VALUES ('line {}', '2026-11-21 12:00:00+00')", Pick(5));
}

std::string MirrorWorkload::Ddl(int step, int steps) {
  std::string ddl;
  if (step == steps / 5) {
    ddl += "ALTER TABLE accounts ADD COLUMN extra int NOT NULL DEFAULT 7;";
    accounts_extra_ = true;
  }
  if (step == 2 * steps / 5) ddl += "ALTER TABLE \"Pairs\" ALTER COLUMN v TYPE bigint;";
  if (step == 3 * steps / 5) {
    ddl += "ALTER TABLE typed DROP COLUMN vc; ALTER TABLE moves RENAME COLUMN n TO amount;";
    typed_dropped_vc_ = moves_renamed_ = true;
  }
  if (step == 4 * steps / 5) {
    ddl += "ALTER TABLE typed ADD COLUMN late text; UPDATE typed SET late = 'set' WHERE id < 10;";
    typed_late_ = true;
  }
  return ddl;
}

std::string MirrorWorkload::Transaction(int step, int steps) {
  std::string sql = "BEGIN;";
  const int64_t statements = 1 + Pick(8);
  for (int64_t i = 0; i < statements; ++i) {
    switch (Pick(6)) {
      case 0:
        sql += TypedChange();
        break;
      case 1:
        sql += AccountChange();
        break;
      case 2:
        sql += MoveChange();
        break;
      case 3:
        sql += PairChange();
        break;
      case 4:
        sql += FullChange();
        break;
      default:
        sql += LogChange();
        break;
    }
    sql += ";";
    if (i == 0) sql += Ddl(step, steps);
  }
  return sql + "COMMIT;";
}

}  // namespace walden::testing
