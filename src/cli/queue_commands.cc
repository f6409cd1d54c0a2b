// `walden queue …` (see topic_cli.h).
#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/topic_cli.h"
#include "cli/topic_support.h"
#include "common/identifiers.h"

namespace walden::cli {
namespace {

using Params = std::vector<std::optional<std::string>>;
using nlohmann::json;

}  // namespace

int TopicCli::QueueCreate(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto created = conn->ExecParams("SELECT walden.create_queue($1, $2, $3::int)",
                                  Params{name_, visibility_, std::to_string(max_attempts_)});
  if (!created) return ReportApiError(created.error());
  fmt::print("{}\n", json{{"queue", name_}}.dump());
  return 0;
}

int TopicCli::QueueEnqueue(const Config& config) {
  auto lines = ReadJsonLines(stdin);
  if (!lines) return ReportError(lines.error());
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  // One statement: all of stdin is enqueued, or none of it.
  auto ids = conn->ExecParams(
      "SELECT json_build_object('id', id)::text FROM walden.enqueue($1, "
      "ARRAY(SELECT v FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY e(v, o) ORDER BY o), "
      "$3) AS id",
      Params{name_, json(*lines).dump(), delay_});
  if (!ids) return ReportApiError(ids.error());
  return PrintLines(*ids) ? 0 : 1;
}

int TopicCli::QueueDequeue(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto jobs = conn->ExecParams(
      "SELECT row_to_json(d)::text FROM walden.dequeue($1, $2::int, $3::interval) d",
      Params{name_, std::to_string(max_), visibility_override_});
  if (!jobs) return ReportApiError(jobs.error());
  return PrintLines(*jobs) ? 0 : 1;
}

int TopicCli::QueueAck(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto acked = conn->ExecParams("SELECT walden.ack($1, ARRAY(SELECT jsonb_array_elements_text("
                                "$2::jsonb)::bigint))",
                                Params{name_, json(ids_).dump()});
  if (!acked) return ReportApiError(acked.error());
  fmt::print("{}\n", json{{"acked", std::stoll(std::string(acked->Value(0, 0)))}}.dump());
  return 0;
}

int TopicCli::QueueList(const Config& config) {
  auto conn = OpenTopicsApi(config);
  if (!conn) return ReportApiError(conn.error());
  auto queues = conn->Exec("SELECT queue FROM walden.queues ORDER BY queue");
  if (!queues) return ReportApiError(queues.error());
  for (int row = 0; row < queues->rows(); ++row) {
    const std::string queue(queues->Value(row, 0));
    auto depth = conn->ExecParams(
        fmt::format("SELECT json_build_object('queue', q.queue, "
                    "'visibility_timeout', q.visibility_timeout::text, "
                    "'max_attempts', q.max_attempts, "
                    "'ready', (SELECT count(*) FROM walden_queues.{0} j "
                    "          WHERE j.visible_at <= clock_timestamp()), "
                    "'hidden', (SELECT count(*) FROM walden_queues.{0} j "
                    "           WHERE j.visible_at > clock_timestamp()), "
                    "'dead', (SELECT count(*) FROM walden_queues.dead_letters d "
                    "         WHERE d.queue = q.queue))::text "
                    "FROM walden.queues q WHERE q.queue = $1",
                    QuoteIdent(queue)),
        Params{queue});
    if (!depth) return ReportApiError(depth.error());
    if (!PrintLines(*depth)) return 1;
  }
  return 0;
}

}  // namespace walden::cli
