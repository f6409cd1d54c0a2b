#include "snapshot/parallel_read.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "common/thread_name.h"
#include "pg/types.h"
#include "snapshot/bulk.h"

namespace walden::snapshot {
namespace {

// Hands chunks over in task order. A reader waits while `capacity` later chunks wait,
// except with the next one due (which must always get through).
class Exchange {
 public:
  explicit Exchange(size_t capacity) : capacity_(capacity) {}

  // False when the reader should stop (an error elsewhere).
  bool Put(size_t index, ReadChunkResult&& result) {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] { return ready_.size() < capacity_ || index == next_ || failed_; });
    if (failed_) return false;
    ready_.emplace(index, std::move(result));
    filled_.notify_one();
    return true;
  }
  void Fail(Error error) {
    std::lock_guard lock(mutex_);
    if (!failed_) error_ = std::move(error);
    failed_ = true;
    filled_.notify_all();
    space_.notify_all();
  }
  // The next chunk in task order, or the first error.
  Result<ReadChunkResult> Take() {
    std::unique_lock lock(mutex_);
    filled_.wait(lock, [&] { return ready_.contains(next_) || failed_; });
    if (failed_) return std::unexpected(error_);
    auto it = ready_.find(next_++);
    ReadChunkResult result = std::move(it->second);
    ready_.erase(it);
    space_.notify_all();
    return result;
  }
  size_t Claim() { return next_task_.fetch_add(1); }

 private:
  std::mutex mutex_;
  std::condition_variable filled_, space_;
  std::map<size_t, ReadChunkResult> ready_;
  size_t next_ = 0;
  size_t capacity_;
  bool failed_ = false;
  Error error_;
  std::atomic<size_t> next_task_{0};
};

void Work(int worker, pg::Connection& conn, const std::vector<ReadTask>& tasks,
          const AfterRead& after_read, Exchange& exchange) {
  for (size_t i; (i = exchange.Claim()) < tasks.size();) {
    const ReadTask& task = tasks[i];
    ReadChunkResult result{.id = task.id, .csv_path = task.csv_path};
    if (!task.csv_path.empty()) {
      auto bytes = ReadChunkCsv(conn, *task.table, *task.chunk, task.csv_path);
      if (!bytes) return exchange.Fail(bytes.error());
      result.csv_bytes = *bytes;
    } else if (auto read = ReadChunk(conn, *task.table, *task.chunk, 0, result.rows); !read) {
      return exchange.Fail(read.error());
    }
    if (after_read) {
      if (auto ok = after_read(worker, task, result); !ok) return exchange.Fail(ok.error());
    }
    if (!exchange.Put(i, std::move(result))) return;
  }
}

}  // namespace

Status ReadParallel(const std::string& conninfo, const std::string& snapshot_name, int workers,
                    const std::vector<ReadTask>& tasks,
                    const std::function<Status(ReadChunkResult&&)>& on_chunk,
                    const AfterRead& after_read) {
  // Every reader imports the snapshot before any reads: the exporting session must stay
  // idle until then, and a failed import should stop the load before it starts.
  std::vector<pg::Connection> conns;
  for (int w = 0; w < std::max(1, workers); ++w) {
    auto conn = pg::Connection::Open(conninfo, {.options = pg::kReplicationSessionOptions});
    if (!conn) return std::unexpected(conn.error());
    if (auto imported = ImportSnapshot(*conn, snapshot_name); !imported) return imported;
    conns.push_back(std::move(*conn));
  }
  Exchange exchange(conns.size());
  std::vector<std::jthread> threads;
  for (size_t w = 0; w < conns.size(); ++w) {
    threads.emplace_back([w, &conns, &tasks, &after_read, &exchange] {
      SetThreadName("wal-snapshot");
      Work(static_cast<int>(w), conns[w], tasks, after_read, exchange);
    });
  }
  Status status;
  for (size_t done = 0; done < tasks.size(); ++done) {
    auto chunk = exchange.Take();
    if (!chunk) {
      status = std::unexpected(chunk.error());
      break;
    }
    if (auto ok = on_chunk(std::move(*chunk)); !ok) {
      exchange.Fail(ok.error());
      status = ok;
      break;
    }
  }
  if (!status) {
    // Readers blocked in COPY finish their chunk and stop at the next hand-over.
    for (pg::Connection& conn : conns) PQrequestCancel(conn.get());
  }
  threads.clear();
  return status;
}

}  // namespace walden::snapshot
