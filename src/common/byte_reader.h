// Bounds-checked reading of big-endian wire data (PostgreSQL protocol, pgoutput).
//
// Reads never go past the end: a read that does not fit marks the reader failed and
// returns a zero value, and every later read fails too. Callers read a whole message, then
// check `ok()` once; any count read from the wire must be checked against `remaining()`
// before it sizes an allocation. Thread-safety: one thread per reader; the bytes are not
// owned and must outlive the reader.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace walden {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}
  ByteReader(const void* data, size_t size) : data_(static_cast<const uint8_t*>(data), size) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  size_t position() const { return pos_; }
  bool AtEnd() const { return ok_ && pos_ == data_.size(); }

  uint8_t U8() { return static_cast<uint8_t>(Fixed<1>()); }
  int16_t I16() { return static_cast<int16_t>(Fixed<2>()); }
  int32_t I32() { return static_cast<int32_t>(Fixed<4>()); }
  uint32_t U32() { return static_cast<uint32_t>(Fixed<4>()); }
  int64_t I64() { return static_cast<int64_t>(Fixed<8>()); }
  uint64_t U64() { return Fixed<8>(); }

  // A NUL-terminated string (the NUL is consumed, not returned).
  std::string_view CString() {
    if (!ok_) return {};
    const void* nul = std::memchr(data_.data() + pos_, 0, data_.size() - pos_);
    if (!nul) return Fail();
    const size_t length = static_cast<const uint8_t*>(nul) - (data_.data() + pos_);
    std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), length);
    pos_ += length + 1;
    return s;
  }

  std::string_view Bytes(size_t n) {
    if (!ok_ || n > data_.size() - pos_) return Fail();
    std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }

  std::string_view Rest() { return Bytes(remaining()); }

  // Marks the reader failed (e.g. a value out of range); returns an empty view.
  std::string_view Fail() {
    ok_ = false;
    return {};
  }

 private:
  template <size_t N>
  uint64_t Fixed() {
    if (!ok_ || N > data_.size() - pos_) {
      ok_ = false;
      return 0;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < N; ++i) value = (value << 8) | data_[pos_ + i];
    pos_ += N;
    return value;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Big-endian writing, for messages walden sends (standby status) and for tests.
class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void I16(int16_t v) { Fixed(static_cast<uint16_t>(v), 2); }
  void I32(int32_t v) { Fixed(static_cast<uint32_t>(v), 4); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v), 8); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void CString(std::string_view s) {
    out_.append(s);
    out_.push_back('\0');
  }
  void Bytes(std::string_view s) { out_.append(s); }
  const std::string& data() const { return out_; }

 private:
  void Fixed(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

}  // namespace walden
