// The exactly-once core with fake sinks (issue #15 item 7): whatever fails where, the loop
// never confirms past what every sink made durable, and the replay after a restart applies
// each transaction once per sink.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <vector>

#include "pipeline/change_typer.h"
#include "pipeline/sink.h"
#include "pipeline/test_transactions.h"

namespace walden::pipeline {
namespace {

// What a sink keeps across a crash: its durable watermark and what it made durable.
struct Disk {
  Lsn watermark;
  Lsn end;
  std::vector<uint64_t> applied;  // commit LSNs, in the order they became durable
};

// A sink that stages whole transactions in memory and writes them to its Disk on Flush;
// failures are injected by commit LSN.
class FakeSink final : public Sink {
 public:
  FakeSink(std::string name, Disk& disk) : name_(std::move(name)), disk_(disk) {}
  std::optional<uint64_t> fail_add_at;  // Add fails inside this transaction
  bool fail_flush = false;

  std::string_view name() const override { return name_; }
  bool Begin(const change::TransactionInfo& txn) override {
    if (txn.commit_lsn <= disk_.watermark) return false;
    txn_ = txn;
    return true;
  }
  Status Add(const change::Change& change) override {
    if (fail_add_at == txn_.commit_lsn.value && change.seq == 1) {
      return Fail(ErrorKind::kIo, "injected failure in " + name_);
    }
    rows_ += change.row.size();
    return {};
  }
  void Commit() override { staged_.push_back(txn_); }
  Lsn durable_end() const override { return disk_.end; }
  bool Due() const override { return !staged_.empty(); }
  Status FlushIfDue() override { return Due() ? Flush() : Status{}; }
  Status Flush() override {
    if (fail_flush) return Fail(ErrorKind::kConnection, name_ + " store is away");
    for (const auto& txn : staged_) {
      disk_.applied.push_back(txn.commit_lsn.value);
      disk_.watermark = txn.commit_lsn;
      disk_.end = txn.end_lsn;
    }
    staged_.clear();
    return {};
  }
  CanaryRelay& canaries() override { return canaries_; }
  size_t rows() const { return rows_; }

 private:
  std::string name_;
  Disk& disk_;
  change::TransactionInfo txn_;
  std::vector<change::TransactionInfo> staged_;
  size_t rows_ = 0;
  CanaryRelay canaries_;
};

using testing::Items;

// Transaction n inserts rows n and n + 1000; commit LSN 100·n, end LSN 100·n + 8.
pg::CommittedTransaction Txn(const std::shared_ptr<const pg::RelationInfo>& relation, int n) {
  return testing::InsertTxn(relation, n, {n, n + 1000});
}

// One run of the loop over transactions [from, to]: deliver each, flush what is due, and
// confirm the minimum durable end (the slot's confirmed position). Stops at the first error,
// as `walden run` does; returns what it confirmed.
Lsn RunLoop(std::vector<Sink*> sinks, int from, int to, Lsn confirmed) {
  ChangeTyper typer;
  const auto relation = Items();
  for (int n = from; n <= to; ++n) {
    if (!Deliver(typer, Txn(relation, n), sinks)) return confirmed;
    for (Sink* sink : sinks) {
      if (!sink->FlushIfDue()) continue;  // retried later; nothing is confirmed for it
    }
    confirmed = std::max(confirmed, MinDurable(sinks));
  }
  return confirmed;
}

// The slot replays everything after the confirmed position (whole transactions).
int FirstUnconfirmed(Lsn confirmed) { return static_cast<int>(confirmed.value / 100) + 1; }

std::vector<uint64_t> Lsns(int from, int to) {
  std::vector<uint64_t> out;
  for (int n = from; n <= to; ++n) out.push_back(static_cast<uint64_t>(100 * n));
  return out;
}

TEST(Delivery, ASinkThatCannotFlushHoldsBackTheConfirmAndTheReplayAppliesOncePerSink) {
  Disk archive_disk, mirror_disk;
  Lsn confirmed;
  {
    FakeSink archive("archive", archive_disk), mirror("mirror", mirror_disk);
    archive.fail_flush = true;
    confirmed = RunLoop({&archive, &mirror}, 1, 5, confirmed);
    EXPECT_EQ(mirror_disk.watermark, Lsn{500});
    EXPECT_EQ(archive_disk.watermark, Lsn{});
    EXPECT_EQ(confirmed, Lsn{}) << "confirmed what the archive does not hold";
  }  // crash: what the archive staged is gone
  FakeSink archive("archive", archive_disk), mirror("mirror", mirror_disk);
  confirmed = RunLoop({&archive, &mirror}, FirstUnconfirmed(confirmed), 7, confirmed);
  EXPECT_EQ(confirmed, Lsn{708});
  EXPECT_EQ(archive_disk.applied, Lsns(1, 7));
  EXPECT_EQ(mirror_disk.applied, Lsns(1, 7)) << "the replay applied a transaction twice";
  // Transactions the mirror held were skipped whole: not even parsed for it.
  EXPECT_EQ(mirror.rows(), 4u);
  EXPECT_EQ(archive.rows(), 14u);
}

TEST(Delivery, AFailureInsideATransactionLeavesNoPartOfItAndStopsBeforeTheConfirm) {
  Disk archive_disk, mirror_disk;
  Lsn confirmed;
  {
    FakeSink archive("archive", archive_disk), mirror("mirror", mirror_disk);
    mirror.fail_add_at = 300;  // the second change of transaction 3 fails in the mirror
    confirmed = RunLoop({&archive, &mirror}, 1, 5, confirmed);
    EXPECT_EQ(confirmed, Lsn{208});
    EXPECT_EQ(archive_disk.applied, Lsns(1, 2)) << "transaction 3 was never committed anywhere";
    EXPECT_EQ(mirror_disk.applied, Lsns(1, 2));
  }
  FakeSink archive("archive", archive_disk), mirror("mirror", mirror_disk);
  confirmed = RunLoop({&archive, &mirror}, FirstUnconfirmed(confirmed), 5, confirmed);
  EXPECT_EQ(confirmed, Lsn{508});
  EXPECT_EQ(archive_disk.applied, Lsns(1, 5));
  EXPECT_EQ(mirror_disk.applied, Lsns(1, 5));
}

TEST(Delivery, AConfirmThatNeverReachedPostgresReplaysWhatBothSinksAlreadyHold) {
  Disk archive_disk, mirror_disk;
  {
    FakeSink archive("archive", archive_disk), mirror("mirror", mirror_disk);
    (void)RunLoop({&archive, &mirror}, 1, 4, Lsn{});
  }
  // The status message was lost with the connection: the slot still says 0.
  FakeSink archive("archive", archive_disk), mirror("mirror", mirror_disk);
  const Lsn confirmed = RunLoop({&archive, &mirror}, 1, 6, Lsn{});
  EXPECT_EQ(confirmed, Lsn{608});
  EXPECT_EQ(archive_disk.applied, Lsns(1, 6));
  EXPECT_EQ(mirror_disk.applied, Lsns(1, 6));
  EXPECT_EQ(archive.rows() + mirror.rows(), 8u) << "held transactions were applied again";
}

}  // namespace
}  // namespace walden::pipeline
