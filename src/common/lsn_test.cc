#include "common/lsn.h"

#include <gtest/gtest.h>

#include "common/byte_reader.h"

namespace walden {
namespace {

TEST(Lsn, FormatsAndParsesLikePostgres) {
  const Lsn lsn{0x16B374D848};
  EXPECT_EQ(lsn.ToString(), "16/B374D848");
  EXPECT_EQ(lsn.ToPadded(), "00000016B374D848");
  EXPECT_EQ(Lsn::Parse("16/B374D848"), lsn);
  EXPECT_EQ(Lsn::Parse("0/0"), Lsn{0});
  EXPECT_EQ(Lsn::Parse("16B374D848"), std::nullopt);
  EXPECT_EQ(Lsn::Parse("1/"), std::nullopt);
  EXPECT_EQ(Lsn::Parse("1/G"), std::nullopt);
  EXPECT_EQ(Lsn::Parse("100000000/0"), std::nullopt);
  EXPECT_LT(Lsn{1}, Lsn{2});
  EXPECT_LT(Lsn{0xF}.ToPadded(), Lsn{0x10}.ToPadded());
}

TEST(ByteReader, ReadsBigEndianAndStopsAtTheEnd) {
  ByteWriter w;
  w.U8(7);
  w.I16(-2);
  w.I32(0x01020304);
  w.I64(-5);
  w.CString("héllo");
  ByteReader r(w.data().data(), w.data().size());
  EXPECT_EQ(r.U8(), 7);
  EXPECT_EQ(r.I16(), -2);
  EXPECT_EQ(r.I32(), 0x01020304);
  EXPECT_EQ(r.I64(), -5);
  EXPECT_EQ(r.CString(), "héllo");
  EXPECT_TRUE(r.AtEnd());
  EXPECT_EQ(r.I32(), 0);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.U8(), 0);  // stays failed
}

TEST(ByteReader, RejectsUnterminatedStringsAndOversizedLengths) {
  const std::string data = "abc";
  ByteReader strings(data.data(), data.size());
  EXPECT_EQ(strings.CString(), "");
  EXPECT_FALSE(strings.ok());
  ByteReader bytes(data.data(), data.size());
  EXPECT_EQ(bytes.Bytes(4), "");
  EXPECT_FALSE(bytes.ok());
  ByteReader huge(data.data(), data.size());
  EXPECT_EQ(huge.Bytes(static_cast<size_t>(-1)), "");
  EXPECT_FALSE(huge.ok());
}

}  // namespace
}  // namespace walden
