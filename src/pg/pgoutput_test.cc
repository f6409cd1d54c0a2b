#include "pg/pgoutput.h"

#include <gtest/gtest.h>

#include "common/byte_reader.h"

namespace walden::pg::pgoutput {
namespace {

// Golden bytes are built field by field, as the protocol documentation lists them.
std::string Tuple3(ByteWriter& w) {
  w.I16(4);
  w.U8('t');
  w.I32(2);
  w.Bytes("42");
  w.U8('n');
  w.U8('u');
  w.U8('b');
  w.I32(3);
  w.Bytes(std::string("\x00\x01\x02", 3));
  return w.data();
}

void ExpectTuple(const Tuple& t) {
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t.values[0].kind, ValueKind::kText);
  EXPECT_EQ(t.Data(0), "42");
  EXPECT_EQ(t.values[1].kind, ValueKind::kNull);
  EXPECT_EQ(t.values[2].kind, ValueKind::kUnchangedToast);
  EXPECT_EQ(t.values[3].kind, ValueKind::kBinary);
  EXPECT_EQ(t.Data(3), std::string("\x00\x01\x02", 3));
}

template <class T>
T DecodeAs(const std::string& bytes, bool in_stream = false) {
  auto decoded = Decode(bytes, in_stream);
  EXPECT_TRUE(decoded) << decoded.error().message;
  if (!decoded) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*decoded)) << "index " << decoded->index();
  return std::holds_alternative<T>(*decoded) ? std::get<T>(*decoded) : T{};
}

// Every proper prefix of a valid message must be rejected, and so must a trailing byte.
void ExpectStrict(const std::string& bytes, bool in_stream = false) {
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(Decode(bytes.substr(0, n), in_stream)) << "prefix of length " << n;
  }
  EXPECT_FALSE(Decode(bytes + "x", in_stream)) << "trailing byte";
}

TEST(Pgoutput, BeginAndCommit) {
  ByteWriter b;
  b.U8('B');
  b.U64(0x1000);
  b.I64(123456);
  b.U32(777);
  const Begin begin = DecodeAs<Begin>(b.data());
  EXPECT_EQ(begin.final_lsn, Lsn{0x1000});
  EXPECT_EQ(begin.commit_time, 123456);
  EXPECT_EQ(begin.xid, 777u);
  ExpectStrict(b.data());

  ByteWriter c;
  c.U8('C');
  c.U8(0);
  c.U64(0x1000);
  c.U64(0x1030);
  c.I64(123456);
  const Commit commit = DecodeAs<Commit>(c.data());
  EXPECT_EQ(commit.commit_lsn, Lsn{0x1000});
  EXPECT_EQ(commit.end_lsn, Lsn{0x1030});
  EXPECT_EQ(commit.commit_time, 123456);
  ExpectStrict(c.data());
}

TEST(Pgoutput, OriginAndType) {
  ByteWriter o;
  o.U8('O');
  o.U64(99);
  o.CString("upstream");
  const Origin origin = DecodeAs<Origin>(o.data());
  EXPECT_EQ(origin.commit_lsn, Lsn{99});
  EXPECT_EQ(origin.name, "upstream");
  ExpectStrict(o.data());

  for (bool stream : {false, true}) {
    ByteWriter y;
    y.U8('Y');
    if (stream) y.U32(5);
    y.U32(16385);
    y.CString("public");
    y.CString("mood");
    const Type type = DecodeAs<Type>(y.data(), stream);
    EXPECT_EQ(type.xid, stream ? std::optional<uint32_t>(5) : std::nullopt);
    EXPECT_EQ(type.type_oid, 16385u);
    EXPECT_EQ(type.schema, "public");
    EXPECT_EQ(type.name, "mood");
    ExpectStrict(y.data(), stream);
  }
}

TEST(Pgoutput, Relation) {
  ByteWriter w;
  w.U8('R');
  w.U32(16390);
  w.CString("Weird Schema");
  w.CString("Select");
  w.U8('f');
  w.I16(2);
  w.U8(1);
  w.CString("id");
  w.U32(20);
  w.I32(-1);
  w.U8(0);
  w.CString("größe");
  w.U32(1700);
  w.I32((10 << 16 | 2) + 4);
  const Relation rel = DecodeAs<Relation>(w.data());
  EXPECT_EQ(rel.relation_id, 16390u);
  EXPECT_EQ(rel.schema, "Weird Schema");
  EXPECT_EQ(rel.name, "Select");
  EXPECT_EQ(rel.replica_identity, 'f');
  ASSERT_EQ(rel.columns.size(), 2u);
  EXPECT_TRUE(rel.columns[0].is_key());
  EXPECT_EQ(rel.columns[0].type_oid, 20u);
  EXPECT_EQ(rel.columns[1].name, "größe");
  EXPECT_FALSE(rel.columns[1].is_key());
  EXPECT_EQ(rel.columns[1].type_modifier, (10 << 16 | 2) + 4);
  ExpectStrict(w.data());
}

TEST(Pgoutput, RelationRejectsLyingColumnCount) {
  ByteWriter w;
  w.U8('R');
  w.U32(1);
  w.CString("s");
  w.CString("t");
  w.U8('d');
  w.I16(30000);
  auto decoded = Decode(w.data(), false);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().message,
            "malformed pgoutput message 'R': column count 30000 does not fit the message");
  EXPECT_EQ(decoded.error().kind, ErrorKind::kProtocol);
}

TEST(Pgoutput, InsertUpdateDelete) {
  for (bool stream : {false, true}) {
    ByteWriter i;
    i.U8('I');
    if (stream) i.U32(9);
    i.U32(16390);
    i.U8('N');
    Tuple3(i);
    const Insert insert = DecodeAs<Insert>(i.data(), stream);
    EXPECT_EQ(insert.relation_id, 16390u);
    EXPECT_EQ(insert.xid, stream ? std::optional<uint32_t>(9) : std::nullopt);
    ExpectTuple(insert.new_tuple);
    ExpectStrict(i.data(), stream);

    for (char old_kind : {'\0', 'K', 'O'}) {
      ByteWriter u;
      u.U8('U');
      if (stream) u.U32(9);
      u.U32(16390);
      if (old_kind) {
        u.U8(static_cast<uint8_t>(old_kind));
        Tuple3(u);
      }
      u.U8('N');
      Tuple3(u);
      const Update update = DecodeAs<Update>(u.data(), stream);
      EXPECT_EQ(update.old_kind, old_kind);
      if (old_kind) ExpectTuple(update.old_tuple);
      ExpectTuple(update.new_tuple);
      ExpectStrict(u.data(), stream);
    }

    ByteWriter d;
    d.U8('D');
    if (stream) d.U32(9);
    d.U32(16390);
    d.U8('O');
    Tuple3(d);
    const Delete del = DecodeAs<Delete>(d.data(), stream);
    EXPECT_EQ(del.old_kind, 'O');
    ExpectTuple(del.old_tuple);
    ExpectStrict(d.data(), stream);
  }
}

TEST(Pgoutput, TupleErrors) {
  ByteWriter w;
  w.U8('I');
  w.U32(1);
  w.U8('N');
  w.I16(1);
  w.U8('x');
  EXPECT_EQ(Decode(w.data(), false).error().message,
            "malformed pgoutput message 'I': bad new tuple");
  ByteWriter negative;
  negative.U8('I');
  negative.U32(1);
  negative.U8('N');
  negative.I16(1);
  negative.U8('t');
  negative.I32(-5);
  EXPECT_FALSE(Decode(negative.data(), false));
  ByteWriter huge;
  huge.U8('I');
  huge.U32(1);
  huge.U8('N');
  huge.I16(1);
  huge.U8('t');
  huge.I32(0x7fffffff);
  huge.Bytes("abc");
  EXPECT_FALSE(Decode(huge.data(), false));
}

TEST(Pgoutput, Truncate) {
  ByteWriter w;
  w.U8('T');
  w.I32(2);
  w.U8(3);
  w.U32(100);
  w.U32(200);
  const Truncate t = DecodeAs<Truncate>(w.data());
  EXPECT_EQ(t.options, 3);
  EXPECT_EQ(t.relation_ids, (std::vector<uint32_t>{100, 200}));
  ExpectStrict(w.data());
}

TEST(Pgoutput, LogicalMessage) {
  ByteWriter w;
  w.U8('M');
  w.U8(1);
  w.U64(0x5000);
  w.CString("walden");
  w.I32(5);
  w.Bytes(std::string("a\0b\0c", 5));
  const Message m = DecodeAs<Message>(w.data());
  EXPECT_TRUE(m.transactional);
  EXPECT_EQ(m.lsn, Lsn{0x5000});
  EXPECT_EQ(m.prefix, "walden");
  EXPECT_EQ(m.content, std::string("a\0b\0c", 5));
  ExpectStrict(w.data());
}

TEST(Pgoutput, StreamMessages) {
  ByteWriter s;
  s.U8('S');
  s.U32(42);
  s.U8(1);
  const StreamStart start = DecodeAs<StreamStart>(s.data());
  EXPECT_EQ(start.xid, 42u);
  EXPECT_TRUE(start.first_segment);
  ExpectStrict(s.data());

  EXPECT_TRUE(std::holds_alternative<StreamStop>(*Decode(std::string("E"), false)));
  EXPECT_FALSE(Decode(std::string("Ex"), false));

  ByteWriter c;
  c.U8('c');
  c.U32(42);
  c.U8(0);
  c.U64(0x2000);
  c.U64(0x2040);
  c.I64(5);
  const StreamCommit commit = DecodeAs<StreamCommit>(c.data());
  EXPECT_EQ(commit.xid, 42u);
  EXPECT_EQ(commit.commit_lsn, Lsn{0x2000});
  EXPECT_EQ(commit.end_lsn, Lsn{0x2040});
  ExpectStrict(c.data());

  ByteWriter a;
  a.U8('A');
  a.U32(42);
  a.U32(43);
  const StreamAbort abort = DecodeAs<StreamAbort>(a.data());
  EXPECT_EQ(abort.subxid, 43u);
  EXPECT_FALSE(abort.abort_lsn);
  a.U64(0x3000);
  a.I64(77);
  const StreamAbort parallel = DecodeAs<StreamAbort>(a.data());
  EXPECT_EQ(parallel.abort_lsn, Lsn{0x3000});
  EXPECT_EQ(parallel.abort_time, 77);
}

TEST(Pgoutput, TwoPhase) {
  ByteWriter b;
  b.U8('b');
  b.U64(1);
  b.U64(2);
  b.I64(3);
  b.U32(4);
  b.CString("gid-1");
  const BeginPrepare begin = DecodeAs<BeginPrepare>(b.data());
  EXPECT_EQ(begin.end_lsn, Lsn{2});
  EXPECT_EQ(begin.gid, "gid-1");
  ExpectStrict(b.data());

  for (char type : {'P', 'p', 'K'}) {
    ByteWriter w;
    w.U8(static_cast<uint8_t>(type));
    w.U8(0);
    w.U64(1);
    w.U64(2);
    w.I64(3);
    w.U32(4);
    w.CString("gid-2");
    auto decoded = Decode(w.data(), false);
    ASSERT_TRUE(decoded);
    if (type == 'K') {
      EXPECT_EQ(std::get<CommitPrepared>(*decoded).gid, "gid-2");
    } else {
      EXPECT_EQ(std::get<Prepare>(*decoded).streamed, type == 'p');
      EXPECT_EQ(std::get<Prepare>(*decoded).xid, 4u);
    }
    ExpectStrict(w.data());
  }

  ByteWriter r;
  r.U8('r');
  r.U8(0);
  r.U64(1);
  r.U64(2);
  r.I64(3);
  r.I64(4);
  r.U32(5);
  r.CString("gid-3");
  const RollbackPrepared rollback = DecodeAs<RollbackPrepared>(r.data());
  EXPECT_EQ(rollback.rollback_time, 4);
  EXPECT_EQ(rollback.xid, 5u);
  ExpectStrict(r.data());
}

TEST(Pgoutput, UnknownAndEmpty) {
  EXPECT_EQ(Decode(std::string(""), false).error().message, "malformed pgoutput message: empty");
  EXPECT_EQ(Decode(std::string("Z"), false).error().message,
            "malformed pgoutput message 'Z': unknown message type");
  EXPECT_EQ(Decode(std::string("\x01"), false).error().message,
            "malformed pgoutput message 0x01: unknown message type");
}

}  // namespace
}  // namespace walden::pg::pgoutput
