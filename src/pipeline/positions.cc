#include "pipeline/positions.h"

#include <fmt/core.h>

#include <fstream>

#include "common/files.h"

namespace walden::pipeline {

std::string ConfirmedPath(const std::string& data_dir) { return data_dir + "/confirmed"; }

Status RecordConfirmed(const std::string& data_dir, Lsn lsn) {
  return WriteFileAtomically(ConfirmedPath(data_dir), lsn.ToString() + "\n");
}

std::optional<Lsn> ReadConfirmed(const std::string& data_dir) {
  std::ifstream in(ConfirmedPath(data_dir));
  std::string text;
  if (!(in >> text)) return std::nullopt;
  return Lsn::Parse(text);
}

Status CheckStartPositions(const StartPositions& at, const archive::ArchiveState& archive) {
  if (!at.confirmed) return {};  // nothing recorded: a first run, or after a resync
  const Lsn sinks = std::max(at.archive_end, at.mirror_end);
  if (at.slot > std::max(*at.confirmed, sinks)) {
    return Fail(
        ErrorKind::kNotFound,
        fmt::format("replication slot {} stands at {}, past everything walden confirmed "
                    "({}): another reader (walden tail --persistent, a second walden "
                    "run, pg_replication_slot_advance) consumed the changes in between, "
                    "and the mirror and the archive never saw them. Run `walden resync` "
                    "(a new slot and an online snapshot of every table)",
                    at.slot_name, at.slot.ToString(), std::max(*at.confirmed, sinks).ToString()));
  }
  // Changes of a followed table that the archive holds, that the mirror lacks, and that
  // walden confirmed (so the slot will not send them again).
  const Lsn gone = std::min(at.slot, *at.confirmed);
  for (const auto& [key, file] : archive.live) {
    if (!at.mirrored.contains(file.table)) continue;
    const Lsn first{file.first_lsn}, last{file.last_lsn};
    const bool missed =
        (last > at.mirror_commit && last < gone) || (first > at.mirror_commit && first < gone);
    if (!missed) continue;
    return Fail(ErrorKind::kNotFound,
                fmt::format("the mirror {} ends at {}, but {} changed after that (archived up to "
                            "{}) and the slot will not send those changes again: the mirror is "
                            "an older copy put back. Run `walden mirror rebuild` (it replays the "
                            "archive), then start walden again",
                            at.mirror_path, at.mirror_commit.ToString(), file.table.Display(),
                            last.ToString()));
  }
  return {};
}

}  // namespace walden::pipeline
