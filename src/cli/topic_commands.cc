// `walden topics init`, `walden topic …` and `walden group …` (see topic_cli.h).
#include <fmt/core.h>

#include <chrono>
#include <thread>

#include "cli/commands.h"
#include "cli/stop_signal.h"
#include "cli/topic_cli.h"
#include "cli/topic_support.h"
#include "common/identifiers.h"
#include "topics/schema.h"

namespace walden::cli {
namespace {

using Params = std::vector<std::optional<std::string>>;
using nlohmann::json;

// Runs one statement whose rows are JSON lines and prints them.
int PrintQuery(pg::Connection& conn, const std::string& sql, const Params& params) {
  auto rows = conn.ExecParams(sql, params);
  if (!rows) return ReportApiError(rows.error());
  return PrintLines(*rows) ? 0 : 1;
}

// The produce call for one batch: JSON arrays in, PostgreSQL arrays for the function.
constexpr const char* kProduce =
    "SELECT json_build_object('partition', p.partition, 'offset', p.\"offset\")::text "
    "FROM walden.produce($1, "
    "  ARRAY(SELECT v FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY e(v, o) ORDER BY o), "
    "  CASE WHEN $3::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT k FROM "
    "    jsonb_array_elements_text($3::jsonb) WITH ORDINALITY e(k, o) ORDER BY o) END, "
    "  CASE WHEN $4::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT CASE WHEN jsonb_typeof(h) = 'null' "
    "    THEN NULL ELSE h END FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY e(h, o) "
    "    ORDER BY o) END) p";

struct Messages {
  json values = json::array();
  json keys = json::array();
  json headers = json::array();
  bool keyed = false, with_headers = false;
};

Result<Messages> ToMessages(const std::vector<json>& lines, bool envelope) {
  Messages out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!envelope) {
      out.values.push_back(lines[i]);
      out.keys.push_back(nullptr);
      out.headers.push_back(nullptr);
      continue;
    }
    const json& line = lines[i];
    if (!line.is_object() || !line.contains("value")) {
      return Fail(ErrorKind::kUsage,
                  fmt::format("message {} has no \"value\"; with --envelope each line is "
                              "{{\"value\": …, \"key\": \"…\", \"headers\": {{…}}}}",
                              i + 1));
    }
    const json key = line.value("key", json());
    if (!key.is_null() && !key.is_string()) {
      return Fail(ErrorKind::kUsage, fmt::format("message {}: \"key\" must be a string", i + 1));
    }
    out.values.push_back(line["value"]);
    out.keys.push_back(key);
    out.headers.push_back(line.value("headers", json()));
    out.keyed = out.keyed || !key.is_null();
    out.with_headers = out.with_headers || !out.headers.back().is_null();
  }
  return out;
}

}  // namespace

int TopicCli::Init(const Config& config) {
  if (config.source.url.empty()) return ReportApiError(OpenTopicsApi(config).error());
  auto conn = pg::Connection::Open(config.source.url);
  if (!conn) return ReportError(conn.error());
  auto installed = topics::Install(*conn);
  if (!installed) return ReportApiError(installed.error());
  if (installed->from == installed->to) {
    fmt::print("topics API version {} is installed in database {}; nothing to do\n",
               installed->to, conn->database());
  } else if (installed->from == 0) {
    fmt::print("installed topics API version {} in database {} (schema walden)\n", installed->to,
               conn->database());
  } else {
    fmt::print("upgraded topics API in database {} from version {} to {}\n", conn->database(),
               installed->from, installed->to);
  }
  if (!installed->publication_error.empty()) {
    fmt::print(stderr,
               "walden: warning: topics and queues work, but walden run will not capture them "
               "into the archive and the mirror: publication {} could not be created: {}\n",
               topics::kPublication, installed->publication_error);
  }
  return 0;
}

int TopicCli::TopicCreate(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto created = conn->ExecParams("SELECT walden.create_topic($1, $2::int, $3, $4)",
                                  Params{name_, std::to_string(partitions_), retention_,
                                         partition_interval_});
  if (!created) return ReportApiError(created.error());
  fmt::print("{}\n", json{{"topic", name_}, {"partitions", partitions_}}.dump());
  return 0;
}

int TopicCli::TopicList(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  return PrintQuery(
      *conn,
      "SELECT json_build_object('topic', t.topic, 'partitions', t.partitions, "
      "'retention', t.retention::text, 'partition_interval', t.partition_interval::text, "
      "'messages', (SELECT sum(p.next_offset) FROM walden.topic_partitions p "
      "             WHERE p.topic = t.topic), "
      "'groups', (SELECT count(DISTINCT g.group_name) FROM walden.group_offsets g "
      "           WHERE g.topic = t.topic), "
      "'hot_bytes', (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) "
      "              FROM pg_inherits i WHERE i.inhparent = "
      "              format('walden_topics.%I', t.topic)::regclass))::text "
      "FROM walden.topics t ORDER BY t.topic",
      {});
}

int TopicCli::TopicDescribe(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto described = conn->ExecParams(
      "WITH t AS (SELECT * FROM walden._topic($1)) "
      "SELECT json_build_object('topic', t.topic, 'partitions', t.partitions, "
      "'retention', t.retention::text, 'partition_interval', t.partition_interval::text, "
      "'end_offsets', (SELECT json_agg(p.next_offset ORDER BY p.partition) "
      "                FROM walden.topic_partitions p WHERE p.topic = t.topic), "
      "'time_partitions', (SELECT coalesce(json_agg(json_build_object('table', c.relname, "
      "    'bounds', pg_get_expr(c.relpartbound, c.oid), "
      "    'bytes', pg_total_relation_size(c.oid)) ORDER BY c.relname), '[]') "
      "  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
      "  WHERE i.inhparent = format('walden_topics.%I', t.topic)::regclass), "
      "'groups', (SELECT coalesce(json_agg(json_build_object('group', l.group_name, "
      "    'partition', l.partition, 'committed_offset', l.committed_offset, 'lag', l.lag) "
      "    ORDER BY l.group_name, l.partition), '[]') FROM walden.group_lag l "
      "  WHERE l.topic = t.topic))::text FROM t",
      Params{name_});
  if (!described) return ReportApiError(described.error());
  return PrintLines(*described) ? 0 : 1;
}

int TopicCli::TopicProduce(const Config& config) {
  auto lines = ReadJsonLines(stdin);
  if (!lines) return ReportError(lines.error());
  auto messages = ToMessages(*lines, envelope_);
  if (!messages) return ReportError(messages.error());
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  if (auto begun = conn->Exec("BEGIN"); !begun) return ReportApiError(begun.error());
  std::vector<pg::PgResult> outputs;
  constexpr size_t kBatch = 1000;
  const size_t total = messages->values.size();
  // Empty input still calls produce once: an unknown topic is an error either way.
  for (size_t from = 0; from == 0 || from < total; from += kBatch) {
    const size_t to = std::min(total, from + kBatch);
    auto slice = [&](const json& all) {
      return json(all.begin() + static_cast<std::ptrdiff_t>(from),
                  all.begin() + static_cast<std::ptrdiff_t>(to))
          .dump();
    };
    auto produced = conn->ExecParams(
        kProduce, Params{name_, slice(messages->values),
                         messages->keyed ? std::optional(slice(messages->keys)) : std::nullopt,
                         messages->with_headers ? std::optional(slice(messages->headers))
                                                : std::nullopt});
    if (!produced) return ReportApiError(produced.error());  // the connection's end rolls back
    outputs.push_back(std::move(*produced));
  }
  if (auto committed = conn->Exec("COMMIT"); !committed) {
    return ReportApiError(committed.error());
  }
  for (const pg::PgResult& output : outputs) {
    if (!PrintLines(output)) return 1;
  }
  return 0;
}

int TopicCli::TopicConsume(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  const std::atomic<bool>& stop = InstallStopHandlers();
  int64_t consumed = 0;
  while (!stop && (follow_ || consumed < max_)) {
    const int64_t want = follow_ ? batch_ : std::min<int64_t>(batch_, max_ - consumed);
    if (auto begun = conn->Exec("BEGIN"); !begun) return ReportApiError(begun.error());
    auto batch = conn->ExecParams(
        "SELECT row_to_json(c)::text FROM walden.consume($1, $2, $3::int) c",
        Params{name_, group_, std::to_string(want)});
    if (!batch) return ReportApiError(batch.error());
    // Printed before the commit: a consumer killed in between sees the batch again.
    if (!PrintLines(*batch)) {
      (void)conn->Exec("ROLLBACK");
      return 1;
    }
    if (auto committed = conn->Exec("COMMIT"); !committed) {
      return ReportApiError(committed.error());
    }
    consumed += batch->rows();
    if (batch->rows() == 0) {
      if (!follow_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return 0;
}

int TopicCli::TopicDrop(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto dropped = conn->ExecParams("SELECT walden.drop_topic($1, $2::boolean)",
                                  Params{name_, force_ ? "true" : "false"});
  if (!dropped) return ReportApiError(dropped.error());
  fmt::print("{}\n", json{{"dropped", name_}}.dump());
  return 0;
}

int TopicCli::GroupList(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  return PrintQuery(*conn,
                    "SELECT json_build_object('topic', topic, 'group', group_name, "
                    "'partitions', count(*), 'committed', sum(committed_offset), "
                    "'end', sum(end_offset), 'lag', sum(lag))::text FROM walden.group_lag "
                    "WHERE $1::text IS NULL OR topic = $1 GROUP BY topic, group_name "
                    "ORDER BY topic, group_name",
                    Params{name_.empty() ? std::nullopt : std::optional(name_)});
}

int TopicCli::GroupLag(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto topic = conn->ExecParams("SELECT walden._topic($1)", Params{name_});
  if (!topic) return ReportApiError(topic.error());
  auto lag = conn->ExecParams(
      "SELECT row_to_json(l)::text FROM walden.group_lag l WHERE l.topic = $1 "
      "AND l.group_name = $2 ORDER BY l.partition",
      Params{name_, group_});
  if (!lag) return ReportApiError(lag.error());
  if (lag->rows() == 0) {
    return ReportError({ErrorKind::kNotFound, fmt::format("topic {} has no consumer group {}",
                                                          QuoteLiteral(name_),
                                                          QuoteLiteral(group_))});
  }
  return PrintLines(*lag) ? 0 : 1;
}

int TopicCli::GroupSeek(const Config& config) {
  if (to_.empty() == !(partition_ && offset_)) {
    return ReportError({ErrorKind::kUsage,
                        "give either --partition and --offset, or --to earliest|latest"});
  }
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  // --to: every partition in one transaction, to 0 (retention skips to the earliest kept)
  // or to the end.
  auto sought =
      to_.empty()
          ? conn->ExecParams("SELECT walden.seek($1, $2, $3::int, $4::bigint)",
                             Params{name_, group_, std::to_string(*partition_),
                                    std::to_string(*offset_)})
          : conn->ExecParams(
                "SELECT walden.seek($1, $2, p.partition, CASE WHEN $3 = 'latest' "
                "THEN p.next_offset ELSE 0 END) FROM walden.topic_partitions p "
                "WHERE p.topic = (walden._topic($1)).topic ORDER BY p.partition",
                Params{name_, group_, to_});
  if (!sought) return ReportApiError(sought.error());
  return PrintQuery(*conn,
                    "SELECT row_to_json(l)::text FROM walden.group_lag l WHERE l.topic = $1 "
                    "AND l.group_name = $2 ORDER BY l.partition",
                    Params{name_, group_});
}

}  // namespace walden::cli
