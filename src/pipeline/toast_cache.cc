#include "pipeline/toast_cache.h"

#include <algorithm>
#include <utility>

namespace walden::pipeline {
namespace {

// Only variable-length values can be stored out of line.
bool Toastable(const Datum& value) {
  return std::holds_alternative<std::string>(value) || std::holds_alternative<Blob>(value) ||
         std::holds_alternative<List>(value) || std::holds_alternative<Decimal>(value);
}

}  // namespace

std::string ToastCache::IdOf(const QualifiedName& table, std::string_view key) {
  std::string id = table.schema;
  id += '\0';
  id += table.name;
  id += '\0';
  id += key;
  return id;
}

void ToastCache::Remember(const change::TableDef& table, const std::string& key,
                          const std::vector<std::optional<Datum>>& row) {
  if (key.empty()) return;
  const std::string id = IdOf(table.name, key);
  std::vector<Cell> previous;
  if (auto found = index_.find(id); found != index_.end()) {
    previous = std::move(found->second->cells);
    Erase(found->second);
  }
  // What an entry really holds, not only its values (small rows are mostly overhead): the
  // id twice (entry and index), the list and hash nodes, the table name and every cell.
  Entry entry{.id = id,
              .table = table.name,
              .cells = {},
              .bytes = sizeof(Entry) + 2 * id.size() + 4 * sizeof(void*) + 64 +
                       table.name.schema.size() + table.name.name.size()};
  const auto cell_bytes = [&](const std::string& column, const Datum& value) {
    return sizeof(Cell) - sizeof(Datum) + column.size() + ApproxBytes(value);
  };
  for (size_t i = 0; i < row.size() && i < table.columns.size(); ++i) {
    const std::string& column = table.columns[i].name;
    if (!row[i]) {  // unchanged: what was known stays known
      auto kept = std::ranges::find_if(previous, [&](const Cell& c) {
        return c.column == column && c.type == table.columns[i].type;
      });
      if (kept == previous.end()) continue;
      entry.bytes += cell_bytes(column, kept->value);
      entry.cells.push_back(std::move(*kept));
      continue;
    }
    if (!Toastable(*row[i])) continue;
    entry.bytes += cell_bytes(column, *row[i]);
    entry.cells.push_back({column, table.columns[i].type, *row[i]});
  }
  if (entry.cells.empty() || entry.bytes > byte_limit_) return;
  bytes_ += entry.bytes;
  entries_.push_front(std::move(entry));
  index_[id] = entries_.begin();
  Evict();
}

bool ToastCache::Fill(const change::TableDef& table, const std::string& key,
                      std::vector<std::optional<Datum>>& row) {
  if (key.empty()) return false;
  auto found = index_.find(IdOf(table.name, key));
  if (found == index_.end()) return false;
  const Entry& entry = *found->second;
  std::vector<std::pair<size_t, const Datum*>> fills;
  for (size_t i = 0; i < row.size() && i < table.columns.size(); ++i) {
    if (row[i]) continue;
    auto cell = std::ranges::find_if(entry.cells, [&](const Cell& c) {
      return c.column == table.columns[i].name && c.type == table.columns[i].type;
    });
    if (cell == entry.cells.end()) return false;
    fills.emplace_back(i, &cell->value);
  }
  for (const auto& [i, value] : fills) row[i] = *value;
  entries_.splice(entries_.begin(), entries_, found->second);
  return true;
}

void ToastCache::Forget(const QualifiedName& table, const std::string& key) {
  if (auto found = index_.find(IdOf(table, key)); found != index_.end()) Erase(found->second);
}

void ToastCache::ForgetTable(const QualifiedName& table) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->table == table) Erase(it);
    it = next;
  }
}

void ToastCache::Erase(std::list<Entry>::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->id);
  entries_.erase(it);
}

void ToastCache::Evict() {
  while (bytes_ > byte_limit_ && !entries_.empty()) Erase(std::prev(entries_.end()));
}

}  // namespace walden::pipeline
