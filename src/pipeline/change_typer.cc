#include "pipeline/change_typer.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "common/units.h"
#include "pg/types.h"
#include "pipeline/sink.h"
#include "topics/schema.h"

namespace walden::pipeline {
namespace {

// The old key or row exactly as PostgreSQL sent it (text forms), keyed by column name.
std::string BeforeJson(const pg::RelationInfo& relation, const pg::pgoutput::Tuple& tuple) {
  nlohmann::json before = nlohmann::json::object();
  for (size_t i = 0; i < tuple.size() && i < relation.columns.size(); ++i) {
    switch (tuple.values[i].kind) {
      case pg::pgoutput::ValueKind::kNull:
        before[relation.columns[i].name] = nullptr;
        break;
      case pg::pgoutput::ValueKind::kUnchangedToast:
        break;
      default:
        before[relation.columns[i].name] = std::string(tuple.Data(i));
    }
  }
  return before.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

change::Op OpOf(pg::Change::Kind kind) {
  using Kind = pg::Change::Kind;
  using change::Op;
  switch (kind) {
    case Kind::kInsert:
      return Op::kInsert;
    case Kind::kUpdate:
      return Op::kUpdate;
    case Kind::kDelete:
      return Op::kDelete;
    case Kind::kTruncate:
      return Op::kTruncate;
    case Kind::kMessage:
      return Op::kMessage;
    case Kind::kSchemaChange:
      return Op::kSchemaChange;
    case Kind::kRead:
      return Op::kRead;
    case Kind::kReset:
      return Op::kReset;
    case Kind::kRefillStart:
      return Op::kRefillStart;
    case Kind::kRefillDone:
      return Op::kRefillDone;
  }
  return Op::kMessage;
}

}  // namespace

// attmissingval is an array with the one value: "{7}", "{\"a b\"}".
std::optional<Datum> ParseMissingValue(const ColumnType& type, const std::string& text) {
  if (type.kind == TypeKind::kList) return std::nullopt;  // an array of arrays: not parsed
  ColumnType array{.kind = TypeKind::kList, .element = std::make_shared<ColumnType>(type)};
  auto parsed = pg::ParseText(array, text);
  if (!parsed) return std::nullopt;
  const auto* list = std::get_if<List>(&*parsed);
  if (!list || list->items.size() != 1) return std::nullopt;
  return list->items[0];
}

change::TableDef TableDefOf(const pg::RelationInfo& relation) {
  change::TableDef def{.relation_id = relation.id,
                       .name = relation.name,
                       .identity = relation.replica_identity,
                       .version = relation.version};
  for (size_t i = 0; i < relation.columns.size(); ++i) {
    const pg::pgoutput::Column& column = relation.columns[i];
    change::ColumnDef out{.name = column.name,
                          .type = relation.types[i],
                          .typmod = column.type_modifier,
                          .key = column.is_key()};
    if (i < relation.catalog.size()) {
      const pg::ColumnCatalog& facts = relation.catalog[i];
      out.attnum = facts.attnum;
      out.has_default = facts.has_default;
      if (facts.missing) {
        out.missing_text = facts.missing;
        out.missing = ParseMissingValue(out.type, *facts.missing);
      }
    }
    def.columns.push_back(std::move(out));
  }
  // A topic's table is a log keyed by (partition, offset); its current state is per message
  // key (Kafka's compacted topic), which is what the mirror keeps.
  const auto key = std::ranges::find(def.columns, topics::kKeyColumn, &change::ColumnDef::name);
  if (def.name.schema == topics::kTopicsSchema && key != def.columns.end()) {
    for (change::ColumnDef& column : def.columns) column.key = &column == &*key;
    def.compacted = true;
  }
  return def;
}

change::TransactionInfo InfoOf(const pg::TransactionInfo& info) {
  return {.xid = info.xid,
          .commit_lsn = info.commit_lsn,
          .end_lsn = info.end_lsn,
          .commit_time = PgTimeToUnixMicros(info.commit_time)};
}

std::shared_ptr<const change::TableDef> ChangeTyper::TableOf(
    const std::shared_ptr<const pg::RelationInfo>& relation) {
  // Keyed by the version's address, which cannot be reused while the entry holds it. A
  // streamed transaction's own versions alternate with everyone else's: each keeps its one
  // definition (sinks tell versions apart by pointer). Bounded: DDL-heavy runs start over.
  if (tables_.size() >= kMaxVersions) tables_.clear();
  Known& known = tables_[relation.get()];
  if (!known.table) {
    known.table = std::make_shared<const change::TableDef>(TableDefOf(*relation));
    known.relation = relation;
  }
  return known.table;
}

Result<change::Change> ChangeTyper::Type(const pg::Change& in, int64_t seq) {
  change::Change out{.op = OpOf(in.kind), .seq = seq};
  if (in.relation) out.table = TableOf(in.relation);
  for (const auto& relation : in.truncated) out.truncated.push_back(TableOf(relation));
  out.prefix = in.prefix;
  out.content = in.content;
  const bool is_row = out.op == change::Op::kInsert || out.op == change::Op::kUpdate ||
                      out.op == change::Op::kDelete || out.op == change::Op::kRead;
  if (!is_row) return out;
  const pg::pgoutput::Tuple& image = out.op == change::Op::kDelete ? in.old_tuple : in.new_tuple;
  auto row = pg::ParseTuple(*in.relation, image);
  if (!row) return std::unexpected(row.error());
  out.row = std::move(*row);
  out.old_image = in.old_kind == 'O'   ? change::OldImage::kRow
                  : in.old_kind == 'K' ? change::OldImage::kKey
                                       : change::OldImage::kNone;
  if (out.op == change::Op::kUpdate && in.old_kind) {
    auto before = pg::ParseTuple(*in.relation, in.old_tuple);
    if (!before) return std::unexpected(before.error());
    out.before = std::move(*before);
    out.before_json = BeforeJson(*in.relation, in.old_tuple);
  }
  return out;
}

Status Deliver(ChangeTyper& typer, const pg::CommittedTransaction& txn,
               std::span<Sink* const> sinks) {
  const change::TransactionInfo info = InfoOf(txn.info());
  std::vector<Sink*> open;
  for (Sink* sink : sinks) {
    if (sink->Begin(info)) open.push_back(sink);
  }
  if (open.empty()) return {};  // every sink has it: nothing to parse
  int64_t seq = 0;
  if (auto ok = txn.ForEach([&](const pg::Change& captured) -> Status {
        // With every table published, walden's own bookkeeping comes along: never captured.
        if (captured.relation && captured.relation->name.schema == change::kWaldenSchema) {
          return {};
        }
        auto typed = typer.Type(captured, seq++);
        if (!typed) return std::unexpected(typed.error());
        for (Sink* sink : open) {
          if (auto added = sink->Add(*typed); !added) return added;
        }
        return {};
      });
      !ok) {
    return ok;
  }
  for (Sink* sink : open) sink->Commit();
  return {};
}

}  // namespace walden::pipeline
