#include "verify/verify.h"

#include <gtest/gtest.h>

namespace walden::verify {
namespace {

TEST(VerifyReport, TextAndJsonNameTheTableChunkKeysAndDifferences) {
  ChunkReport report{
      .table = {"public", "t"},
      .chunk = 2,
      .first_key = "id=11",
      .last_key = "id=20",
      .rows = 10,
      .outcome = Outcome::kDifferent,
      .different = 2,
      .differences = {{"id=12", DiffKind::kDiffers}, {"id=15", DiffKind::kMissingInMirror}},
      .unsettled = 1};
  EXPECT_EQ(ReportText(report),
            "public.t chunk 2 (id=11 .. id=20): 10 rows, different (2 rows): id=12 differs; "
            "id=15 missing in the mirror (1 keys kept changing: left out)");
  EXPECT_EQ(
      ReportJson(report),
      R"({"table":"public.t","target":"mirror","chunk":2,"first_key":"id=11","last_key":"id=20","rows":10,)"
      R"("result":"different","different":2,"differences":[{"key":"id=12","kind":"differs"},)"
      R"({"key":"id=15","kind":"missing in the mirror"}],"unsettled":1,"note":"",)"
      R"("text":"public.t chunk 2 (id=11 .. id=20): 10 rows, different (2 rows): id=12 )"
      R"x(differs; id=15 missing in the mirror (1 keys kept changing: left out)"})x");
  const ChunkReport skipped{.table = {"public", "log"},
                            .outcome = Outcome::kSkipped,
                            .note = "append-only: the mirror keeps inserts only"};
  EXPECT_EQ(ReportText(skipped), "public.log: skipped: append-only: the mirror keeps inserts only");
  const ChunkReport archive{
      .table = {"public", "t"},
      .target = Target::kArchive,
      .chunk = 1,
      .rows = 3,
      .outcome = Outcome::kDifferent,
      .different = 2,
      .differences = {{"id=1", DiffKind::kMissingInMirror}, {"id=9", DiffKind::kOnlyInMirror}}};
  EXPECT_EQ(ReportText(archive),
            "public.t (archive): 3 rows, different (2 rows): id=1 missing in the archive; id=9 "
            "only in the archive");
}

}  // namespace
}  // namespace walden::verify
