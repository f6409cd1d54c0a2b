// The latest value of every TOAST-able column per row key, for filling unchanged-TOAST
// values (pgoutput sends a marker, not the value, when an update leaves an out-of-line
// value alone) without reading the table's whole archived history for each such change.
//
// Contract: Remember is called with every insert, update and snapshot row image of a keyed
// table in commit order, Forget with every delete and truncate; Fill then returns exactly
// the value the same key had last, or nothing (a miss: the key was not seen since this
// cache started, was evicted, or the column's name or type changed since). Only values
// that can be stored out of line are kept (text, bytea, json, arrays, numeric), at most
// `byte_limit` bytes, least recently used evicted first. Thread-safety: one thread.
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "change/change.h"
#include "common/datum.h"

namespace walden::pipeline {

class ToastCache {
 public:
  explicit ToastCache(size_t byte_limit) : byte_limit_(byte_limit) {}

  // `key` is the row's change::KeyOf. `row` is the image's typed values, nullopt where PostgreSQL
  // sent the unchanged marker (those columns keep what the cache had).
  void Remember(const change::TableDef& table, const std::string& key, const change::Row& row);
  // Fills every nullopt of `row` from what `key` had last; false (row untouched) when any
  // of them is unknown.
  bool Fill(const change::TableDef& table, const std::string& key, change::Row& row);
  void Forget(const QualifiedName& table, const std::string& key);
  void ForgetTable(const QualifiedName& table);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return index_.size(); }

 private:
  struct Cell {
    std::string column;
    ColumnType type;
    Datum value;
  };
  struct Entry {
    std::string id;  // table + key
    QualifiedName table;
    std::vector<Cell> cells;
    size_t bytes = 0;
  };
  static std::string IdOf(const QualifiedName& table, std::string_view key);
  void Erase(std::list<Entry>::iterator it);
  void Evict();

  size_t byte_limit_;
  size_t bytes_ = 0;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace walden::pipeline
