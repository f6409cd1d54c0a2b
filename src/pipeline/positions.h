// What walden confirmed to its slot, and the checks at start that the slot, the mirror and
// the archive still agree (issue: silent gaps). walden records the position before each
// status message that confirms it (`<data_dir>/confirmed`, written atomically and fsynced),
// so at start a slot that stands further was advanced by someone else.
//
// Contract: CheckStartPositions refuses, naming the recovery, when
//  * the slot stands past everything walden ever confirmed and past both sinks: another
//    reader consumed changes the sinks never saw (`walden resync`);
//  * the mirror lacks changes of tables it follows that the archive holds below the slot's
//    position: an older mirror file was put back (`walden mirror rebuild`).
// A crash between a sink's write and the next confirm never trips either: walden confirms
// only what both sinks made durable. Without a recorded position (a first run, an older
// walden's data_dir, right after `walden resync` made a new slot) nothing is checked.
// Thread-safety: plain functions.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "archive/manifest.h"
#include "common/error.h"
#include "common/identifiers.h"
#include "common/lsn.h"

namespace walden::pipeline {

std::string ConfirmedPath(const std::string& data_dir);
Status RecordConfirmed(const std::string& data_dir, Lsn lsn);
// nullopt when walden never recorded a position here (a first run, or an older walden).
std::optional<Lsn> ReadConfirmed(const std::string& data_dir);

struct StartPositions {
  std::string slot_name;
  Lsn slot;                      // the slot's confirmed_flush_lsn
  std::optional<Lsn> confirmed;  // ReadConfirmed
  Lsn archive_end, mirror_end;   // end LSN of the last transaction each sink holds
  Lsn mirror_commit;             // the mirror file's watermark (commit LSN)
  std::string mirror_path;
  std::set<QualifiedName> mirrored;  // tables the mirror follows
};

Status CheckStartPositions(const StartPositions& at, const archive::ArchiveState& archive);

}  // namespace walden::pipeline
