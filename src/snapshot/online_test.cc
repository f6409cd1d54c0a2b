#include "snapshot/online.h"

#include <gtest/gtest.h>

namespace walden::snapshot {
namespace {

TEST(ReadSnapshot, IncludesWhatCommittedBeforeItAndNothingInProgressOrLater) {
  auto snapshot = ParseSnapshot("100:104:100,102");
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  EXPECT_TRUE(snapshot->Includes(99));
  EXPECT_FALSE(snapshot->Includes(100));
  EXPECT_TRUE(snapshot->Includes(101));
  EXPECT_FALSE(snapshot->Includes(102));
  EXPECT_TRUE(snapshot->Includes(103));
  EXPECT_FALSE(snapshot->Includes(104));
  EXPECT_FALSE(snapshot->Includes(200));
}

TEST(ReadSnapshot, ComparesAcrossEpochsAndWraparoundByTheLow32Bits) {
  // xid8 4294967396 is epoch 1, xid 100; 4294967290 is just before the wrap.
  auto snapshot = ParseSnapshot("4294967290:4294967396:");
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  EXPECT_TRUE(snapshot->Includes(4294967291u));
  EXPECT_TRUE(snapshot->Includes(99));
  EXPECT_FALSE(snapshot->Includes(100));
  EXPECT_FALSE(snapshot->Includes(150));
}

TEST(ReadSnapshot, RejectsTextThatIsNotASnapshot) {
  for (const char* text : {"", "100", "100:", "x:104:", "100:104:1,y", "100:-4:"}) {
    auto snapshot = ParseSnapshot(text);
    ASSERT_FALSE(snapshot) << text;
    EXPECT_EQ(snapshot.error().message, std::string("unexpected snapshot text: ") + text);
  }
}

}  // namespace
}  // namespace walden::snapshot
