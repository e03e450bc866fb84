// Column codecs (spec §4): canonical RLE, delta, boolean and value columns, and the
// column-metadata block. Decoders check bounds and reject non-canonical runs, as the
// 3.x document loader does; encoders only ever write the canonical form.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "automerge/leb128.h"
#include "automerge/value.h"

namespace amstore {

enum class ColumnType : uint8_t {
  kGroup = 0, kActor = 1, kInteger = 2, kDelta = 3, kBoolean = 4, kString = 5,
  kValueMeta = 6, kValueRaw = 7,
};

constexpr uint32_t column_spec(uint32_t id, ColumnType type) {
  return id << 4 | static_cast<uint32_t>(type);
}
constexpr uint32_t kDeflateBit = 8;

// Run-length encoding lets a few bytes claim billions of rows. Decoders refuse tables with
// more rows than this for a chunk body of `body_size` bytes as stored: a million rows
// always, and beyond that 64 rows per byte, far above what real documents reach (typed text
// saves at about 2 ops per byte).
inline size_t max_rows_for(size_t body_size) { return (size_t(1) << 20) + body_size * 64; }

// Column specs of change op columns (§5.2) and document op columns (§6.3).
namespace col {
inline constexpr uint32_t kObjActor = column_spec(0, ColumnType::kActor);
inline constexpr uint32_t kObjCounter = column_spec(0, ColumnType::kInteger);
inline constexpr uint32_t kKeyActor = column_spec(1, ColumnType::kActor);
inline constexpr uint32_t kKeyCounter = column_spec(1, ColumnType::kDelta);
inline constexpr uint32_t kKeyString = column_spec(1, ColumnType::kString);
inline constexpr uint32_t kIdActor = column_spec(2, ColumnType::kActor);
inline constexpr uint32_t kIdCounter = column_spec(2, ColumnType::kDelta);
inline constexpr uint32_t kInsert = column_spec(3, ColumnType::kBoolean);
inline constexpr uint32_t kAction = column_spec(4, ColumnType::kInteger);
inline constexpr uint32_t kValueMeta = column_spec(5, ColumnType::kValueMeta);
inline constexpr uint32_t kValueRaw = column_spec(5, ColumnType::kValueRaw);
inline constexpr uint32_t kPredGroup = column_spec(7, ColumnType::kGroup);
inline constexpr uint32_t kPredActor = column_spec(7, ColumnType::kActor);
inline constexpr uint32_t kPredCounter = column_spec(7, ColumnType::kDelta);
inline constexpr uint32_t kSuccGroup = column_spec(8, ColumnType::kGroup);
inline constexpr uint32_t kSuccActor = column_spec(8, ColumnType::kActor);
inline constexpr uint32_t kSuccCounter = column_spec(8, ColumnType::kDelta);
inline constexpr uint32_t kExpand = column_spec(9, ColumnType::kBoolean);
inline constexpr uint32_t kMarkName = column_spec(10, ColumnType::kString);
// Document change columns (§6.2).
inline constexpr uint32_t kChangeActor = column_spec(0, ColumnType::kActor);
inline constexpr uint32_t kChangeSeq = column_spec(0, ColumnType::kDelta);
inline constexpr uint32_t kChangeMaxOp = column_spec(1, ColumnType::kDelta);
inline constexpr uint32_t kChangeTime = column_spec(2, ColumnType::kDelta);
inline constexpr uint32_t kChangeMessage = column_spec(3, ColumnType::kString);
inline constexpr uint32_t kChangeDepsGroup = column_spec(4, ColumnType::kGroup);
inline constexpr uint32_t kChangeDepsIndex = column_spec(4, ColumnType::kDelta);
inline constexpr uint32_t kChangeExtraMeta = column_spec(5, ColumnType::kValueMeta);
inline constexpr uint32_t kChangeExtraRaw = column_spec(5, ColumnType::kValueRaw);
}  // namespace col

// One entry of a column-metadata block with its data located in the chunk.
struct Column {
  uint32_t spec = 0;  // deflate bit cleared
  bool deflated = false;
  uint64_t length = 0;  // stored length from the metadata
  ByteView data;        // as stored (compressed when `deflated`)
};

// Reads a metadata block (count, then spec/length pairs); checks strictly ascending order.
Status read_column_metadata(Reader& r, std::vector<Column>* columns);
// After all metadata blocks: assigns each column its slice of the data that follows.
Status locate_column_data(Reader& r, std::vector<Column>& columns);
// The data of the column with `spec`, or empty if it is absent.
ByteView find_column(const std::vector<Column>& columns, uint32_t spec);

// ---- decoders ---------------------------------------------------------------------------

// An error of a malformed column; out of line, off the decoders' inline paths.
Status column_error(const char* message);

// RLE of uLEB (group, actor, integer, value-meta columns) or sLEB (delta columns) or strings.
// A decoder over empty data yields nulls forever (an omitted column).
template <typename T>
class RleDecoder {
 public:
  using value_type = T;
  explicit RleDecoder(ByteView data) : r_(data), present_(!data.empty()) {}
  // Reads the next row. Returns false in *has_value for null. Rows inside a repeat or null
  // run (most rows) take an inline path.
  Status next(bool* has_value, T* value) {
    if (left_ > 0 && run_ != Run::kLiteral) {
      --left_;
      *has_value = run_ == Run::kRepeat;
      if (*has_value) *value = last_;
      return Status::Ok();
    }
    return next_slow(has_value, value);
  }
  // Reads up to `max` (≥ 1) rows that share one value: the rest of a repeat or null run, or
  // one literal. Lets callers skip or sum whole runs instead of visiting each row. An
  // omitted column yields `max` nulls.
  Status next_run(uint64_t max, bool* has_value, T* value, uint64_t* count);
  // Reads the next n rows into values[i] (T{} for a null) and has[i], a run at a time: for
  // decoding many columns of a table a block of rows at once.
  Status next_n(size_t n, T* values, bool* has);
  // Skips n rows (they are still checked for canonical form).
  Status skip(uint64_t n) {
    return skip_values(n, [](const T&, uint64_t) {});
  }
  // The same, calling f(value, count) for each stretch of equal non-null values skipped
  // (a literal run's values one by one, in a tight loop).
  template <typename F>
  Status skip_values(uint64_t n, F&& f) {
    if (!present_) return Status::Ok();
    while (n > 0) {
      if (left_ == 0) AM_TRY(start_run());
      const uint64_t k = left_ < n ? left_ : n;
      if (run_ == Run::kLiteral) {
        // The previous value in locals: the loop then keeps it in registers.
        T last = last_;
        bool have = have_last_;
        for (uint64_t j = 0; j < k; ++j) {
          T v;
          AM_TRY(read_value(&v));
          if (have && v == last) return column_error("equal adjacent values in a literal run");
          last = v;
          have = true;
          f(v, 1);
        }
        last_ = last;
        have_last_ = have;
      } else if (run_ == Run::kRepeat) {
        f(last_, k);
      }
      left_ -= k;
      n -= k;
    }
    return Status::Ok();
  }
  bool done() const { return !present_ || (r_.done() && left_ == 0); }
  // This decoder as it stood before next_run handed out the last `unread` rows of its
  // current repeat or null run (a copy, for resuming there).
  RleDecoder rewound(uint64_t unread) const {
    RleDecoder d = *this;
    d.left_ += unread;
    return d;
  }

 private:
  Status next_slow(bool* has_value, T* value);
  Status read_value(T* v);
  // Inline: skips and run-at-a-time reads start a run every few rows.
  Status start_run() {
    if (r_.done()) return column_error("column has fewer rows than its table");
    int64_t h;
    AM_TRY(r_.sleb(&h));
    if (h > 1) {
      T v;
      AM_TRY(read_value(&v));
      // A value is kept only after a repeat or literal run, which this one must not continue.
      if (have_last_ && v == last_) return column_error("repeat run continues the previous run");
      run_ = Run::kRepeat;
      left_ = static_cast<uint64_t>(h);
      last_ = v;
      have_last_ = true;
      return Status::Ok();
    }
    if (h < 0) {
      if (run_ == Run::kLiteral) return column_error("two adjacent literal runs");
      run_ = Run::kLiteral;
      left_ = uint64_t(0) - static_cast<uint64_t>(h);
      return Status::Ok();  // literal values are read one by one
    }
    return start_null_run(h);
  }
  Status start_null_run(int64_t h);
  enum class Run : uint8_t { kNone, kRepeat, kLiteral, kNull };
  Reader r_;
  bool present_;
  Run run_ = Run::kNone;
  uint64_t left_ = 0;
  bool have_last_ = false;
  T last_{};
};

// Inline: literal runs read their values one by one in skip_values' loop.
template <>
inline Status RleDecoder<uint64_t>::read_value(uint64_t* v) { return r_.uleb(v); }
template <>
inline Status RleDecoder<int64_t>::read_value(int64_t* v) { return r_.sleb(v); }
template <>
inline Status RleDecoder<std::string_view>::read_value(std::string_view* v) {
  ByteView b;
  AM_TRY(r_.prefixed(&b));
  *v = as_chars(b);
  return Status::Ok();
}

using UintDecoder = RleDecoder<uint64_t>;
using IntDecoder = RleDecoder<int64_t>;
using StringDecoder = RleDecoder<std::string_view>;

// Delta column: running sum of an sLEB RLE; nulls do not move the running value.
class DeltaDecoder {
 public:
  explicit DeltaDecoder(ByteView data) : rle_(data) {}
  // Resumes a column read elsewhere: its RLE state and the running value so far.
  DeltaDecoder(const IntDecoder& rle, int64_t acc) : rle_(rle), acc_(acc) {}
  Status next(bool* has_value, int64_t* value) {
    int64_t d;
    AM_TRY(rle_.next(has_value, &d));
    if (*has_value) {
      acc_ = static_cast<int64_t>(static_cast<uint64_t>(acc_) + static_cast<uint64_t>(d));
      *value = acc_;
    }
    return Status::Ok();
  }
  Status skip(uint64_t n);
  // Reads the next n rows (see RleDecoder::next_n; 0 for a null).
  Status next_n(size_t n, int64_t* values, bool* has);
  bool done() const { return rle_.done(); }

 private:
  IntDecoder rle_;
  int64_t acc_ = 0;
};

// Boolean column: alternating run lengths starting with false. Empty data → all false.
class BoolDecoder {
 public:
  explicit BoolDecoder(ByteView data) : r_(data), present_(!data.empty()) {}
  Status next(bool* value) {
    if (left_ > 0) {
      --left_;
      *value = value_;
      return Status::Ok();
    }
    return next_slow(value);
  }
  Status skip(uint64_t n);
  // Reads the next n rows.
  Status next_n(size_t n, bool* values);
  bool done() const { return !present_ || (r_.done() && left_ == 0); }

 private:
  Status next_slow(bool* value);
  Status start_run();
  Reader r_;
  bool present_;
  bool value_ = true;  // flipped before the first run
  bool first_ = true;
  uint64_t left_ = 0;
};

// A value as read from its column, its payload not copied: strings, bytes and unknown
// types point into the raw column. 16 bytes: documents hold millions of them.
struct ValueView {
  uint8_t type = 0;   // ValueType, or 10..15
  uint32_t size = 0;  // payload length (types with bytes)
  union {
    uint64_t u;
    int64_t i;
    double f;
    const char* data;  // types with bytes
  };

  ValueView() : u(0) {}
  ValueType kind() const { return static_cast<ValueType>(type); }
  static bool has_bytes(uint8_t type) { return type == 6 || type == 7 || type >= 10; }
  std::string_view bytes() const {
    return has_bytes(type) ? std::string_view(data, size) : std::string_view();
  }
  void copy_to(Value* v) const {
    v->type = type;
    v->u = has_bytes(type) ? 0 : u;
    v->bytes.assign(bytes());
  }
};

// Value columns: metadata RLE plus raw bytes.
class ValueDecoder {
 public:
  ValueDecoder(ByteView meta, ByteView raw) : meta_(meta), raw_(raw) {}
  Status next(Value* value);
  Status next(ValueView* value);
  // Reads the next n values into values[0, n), a run of the metadata column at a time
  // (next() is the same for one).
  Status next_n(size_t n, ValueView* values);
  // Skips n values (their raw bytes unread).
  Status skip(uint64_t n);
  bool done() const { return meta_.done() && raw_.done(); }

 private:
  UintDecoder meta_;
  Reader raw_;
};

// ---- encoders (canonical only) ------------------------------------------------------------

// What a column taken up by an encoder's resume() holds.
struct ResumedColumn {
  uint64_t rows = 0;   // values, nulls included
  uint64_t nulls = 0;  // of those, nulls
  uint64_t total = 0;  // the non-null values added up (wrapping)
};

// String columns hold views: the strings must stay valid until finish().
template <typename T>
class RleEncoder {
 public:
  // A value that continues the current run (most of them) takes an inline path.
  void append(const T& v) {
    any_value_ = true;
    if (run_count_ > 0 && !run_null_ && run_value_ == v) {
      ++run_count_;
      return;
    }
    start_run(v);
  }
  void append_null() {
    if (run_count_ > 0 && run_null_) {
      ++run_count_;
      return;
    }
    start_null_run();
  }
  // The same as n appends of v (or of null).
  void append_n(const T& v, uint64_t n) {
    if (n == 0) return;
    append(v);
    run_count_ += n - 1;
  }
  void append_null_n(uint64_t n) {
    if (n == 0) return;
    append_null();
    run_count_ += n - 1;
  }
  // Flushes and returns the encoded column; valid until the next reset() or append.
  const Bytes& finish();
  // Takes up a column in the form finish() writes, as if its values had been appended one
  // by one but without encoding them again: the bytes before its last run are kept as they
  // are, and the last run becomes the run in progress. False (the encoder reset) if it does
  // not parse. Numbers only: a string run in progress would be views into `encoded`.
  bool resume(ByteView encoded, ResumedColumn* got);
  bool any_value() const { return any_value_; }
  // Empties the encoder but keeps its buffers, so reused encoders do not allocate.
  void reset() {
    out_.clear();
    literal_.clear();
    run_count_ = 0;
    any_value_ = false;
  }

 private:
  void start_run(const T& v);
  void start_null_run();
  void flush_run();
  void flush_literal();
  void put(const T& v);
  Bytes out_;
  std::vector<T> literal_;
  bool run_null_ = false;
  T run_value_{};
  uint64_t run_count_ = 0;
  bool any_value_ = false;
};

using UintEncoder = RleEncoder<uint64_t>;
using IntEncoder = RleEncoder<int64_t>;
using StringEncoder = RleEncoder<std::string_view>;

class DeltaEncoder {
 public:
  void append(int64_t v) {
    rle_.append(static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(last_)));
    last_ = v;
  }
  void append_null() { rle_.append_null(); }
  void append_null_n(uint64_t n) { rle_.append_null_n(n); }
  bool any_value() const { return rle_.any_value(); }
  const Bytes& finish() { return rle_.finish(); }
  // As RleEncoder::resume; the last value is the sum of the deltas.
  bool resume(ByteView encoded, ResumedColumn* got) {
    if (!rle_.resume(encoded, got)) return false;
    last_ = static_cast<int64_t>(got->total);
    return true;
  }
  void reset() {
    rle_.reset();
    last_ = 0;
  }

 private:
  IntEncoder rle_;
  int64_t last_ = 0;
};

class BoolEncoder {
 public:
  void append(bool v) {
    if (v != cur_) {
      put_uleb(out_, count_);
      cur_ = v;
      count_ = 0;
    }
    ++count_;
    any_true_ |= v;
  }
  // The same as n appends of v.
  void append_n(bool v, uint64_t n) {
    if (n == 0) return;
    append(v);
    count_ += n - 1;
  }
  bool any_true() const { return any_true_; }
  const Bytes& finish() {
    if (count_ > 0) put_uleb(out_, count_);
    count_ = 0;
    return out_;
  }
  void reset() {
    out_.clear();
    cur_ = false;
    count_ = 0;
    any_true_ = false;
  }

 private:
  Bytes out_;
  bool cur_ = false;
  uint64_t count_ = 0;
  bool any_true_ = false;
};

// For append_runs and append_delta_runs: where row i begins a run of nulls, appends that
// run to `enc` and returns its end, else returns i; and whether row k holds a value.
// `is_null`: nullptr for a column without nulls (then never a null).
template <typename Encoder, typename IsNull>
size_t append_null_run(Encoder& enc, size_t i, size_t n, const IsNull& is_null) {
  if constexpr (!std::is_null_pointer_v<IsNull>) {
    if (is_null(i)) {
      size_t j = i + 1;
      while (j < n && is_null(j)) ++j;
      enc.append_null_n(j - i);
      return j;
    }
  }
  return i;
}
template <typename IsNull>
bool has_value_at(const IsNull& is_null, size_t k) {
  if constexpr (std::is_null_pointer_v<IsNull>) {
    return true;
  } else {
    return !is_null(k);
  }
}

// Column at a time: appends value(k) for k in [0, n) to `enc` (an RleEncoder or a
// BoolEncoder), or a null where is_null(k) (nullptr: a column without nulls). It finds the
// runs itself, with the run in locals, and hands the encoder each run whole: appended value
// by value, the encoder's run state goes through memory for every value.
template <typename Encoder, typename IsNull, typename Get>
void append_runs(Encoder& enc, size_t n, IsNull is_null, Get value) {
  for (size_t i = 0; i < n;) {
    if (const size_t end = append_null_run(enc, i, n, is_null); end != i) {
      i = end;
      continue;
    }
    const auto v = value(i);
    size_t j = i + 1;
    while (j < n && has_value_at(is_null, j) && value(j) == v) ++j;
    enc.append_n(v, j - i);
    i = j;
  }
}

// An encoder for append_runs that hands each run (value, count) to `emit`: for columns
// whose runs mostly end together, found in one pass, the value holding a row's value in
// each (their encoders join a run to the one before when the values are equal).
template <typename Emit>
struct RunSink {
  Emit emit;
  template <typename V>
  void append_n(const V& v, uint64_t n) { emit(v, n); }
};
template <typename Emit>
RunSink(Emit) -> RunSink<Emit>;  // (clang 14 deduces no aggregate's arguments by itself)

// The delta column's value for counter c after `from` (wrapping, as the column holds it).
inline int64_t counter_delta(int64_t c, int64_t from) {
  return static_cast<int64_t>(static_cast<uint64_t>(c) - static_cast<uint64_t>(from));
}

// The same as append_runs for a delta column: appends counter(k) − the last non-null counter
// before it (*last, which it updates: 0 at a column's start) to `enc`, the column's RLE of
// deltas.
template <typename IsNull, typename Counter>
void append_delta_runs(RleEncoder<int64_t>& enc, int64_t* last, size_t n, IsNull is_null,
                       Counter counter) {
  int64_t at = *last;
  for (size_t i = 0; i < n;) {
    if (const size_t end = append_null_run(enc, i, n, is_null); end != i) {
      i = end;
      continue;
    }
    const int64_t d = counter_delta(counter(i), at);
    at = counter(i);
    size_t j = i + 1;
    for (; j < n && has_value_at(is_null, j) && counter_delta(counter(j), at) == d; ++j)
      at = counter(j);
    enc.append_n(d, j - i);
    i = j;
  }
  *last = at;
}

// The most bytes write_value_raw writes for v: its payload, but at least 12 (a SmallString's inline bytes), so that a short
// string goes over in one fixed-size move and a LEB128 or float needs no check of its own.
inline constexpr size_t kShortValue = SmallString::kInlineSize;
inline size_t value_raw_room(const Value& v) {
  return v.bytes.size() > kShortValue ? v.bytes.size() : kShortValue;
}

// Copies the bytes of v (a string or bytes value) to p, which has value_raw_room(v) bytes of
// room. Most are a character or two: those go over as the 12 inline bytes, in one move of a
// fixed size. (One size picked between 12 and the length is a variable one: a memcpy call.)
inline void copy_value_bytes(uint8_t* p, const Value& v) {
  const size_t n = v.bytes.size();
  if (n <= kShortValue) [[likely]]
    std::memcpy(p, v.bytes.data(), kShortValue);
  else
    std::memcpy(p, v.bytes.data(), n);
}

// Writes v's raw bytes (value raw column) at p, which has value_raw_room(v) bytes of room;
// returns its value metadata (length << 4 | type). Inline: it runs for every op encoded.
inline uint64_t write_value_raw(uint8_t* p, const Value& v) {
  size_t n = 0;
  if (v.kind() == ValueType::kString) [[likely]] {  // text: one op per character
    n = v.bytes.size();
    copy_value_bytes(p, v);
    return uint64_t(n) << 4 | v.type;
  }
  switch (v.kind()) {
    case ValueType::kNull:
    case ValueType::kFalse:
    case ValueType::kTrue:
      break;
    case ValueType::kUint:
      n = write_uleb(p, v.u);
      break;
    case ValueType::kInt:
    case ValueType::kCounter:
    case ValueType::kTimestamp:
      n = write_sleb(p, v.i);
      break;
    case ValueType::kF64:
      std::memcpy(p, &v.f, 8);  // little-endian hosts only
      n = 8;
      break;
    default:
      n = v.bytes.size();
      copy_value_bytes(p, v);
      break;
  }
  return uint64_t(n) << 4 | v.type;
}

// Appends v's raw bytes to `raw`; returns its value metadata.
inline uint64_t put_value_raw(Bytes& raw, const Value& v) {
  const size_t at = raw.size();
  raw.resize(at + value_raw_room(v));
  const uint64_t meta = write_value_raw(raw.data() + at, v);
  raw.resize(at + (meta >> 4));
  return meta;
}

// Value columns. The raw bytes are written into a buffer kept larger than what it holds
// (raw_.size() is its room, used_ what is written), so that appending a value is a check and a
// few moves: it runs for every op of a saved document.
class ValueEncoder {
 public:
  void append(const Value& v) { meta_.append(append_raw(v)); }
  // Appends value(k) for k in [0, n): the raw bytes, and the metadata a run at a time. The
  // run and the place to write at are locals: through the members, each value's byte
  // stores (which may alias anything) had them loaded and stored again.
  template <typename Get>
  void append_all(size_t n, Get value) {
    uint8_t* raw = raw_.data();
    size_t room_left = raw_.size() - used_, used = used_;
    uint64_t meta = 0, count = 0;
    for (size_t k = 0; k < n; ++k) {
      const Value& v = value(k);
      if (const size_t room = value_raw_room(v); room_left < room) [[unlikely]] {
        raw_.resize(std::max(2 * raw_.size(), used + room + 64));
        raw = raw_.data();
        room_left = raw_.size() - used;
      }
      const uint64_t m = write_value_raw(raw + used, v);
      used += m >> 4;
      room_left -= m >> 4;
      if (count > 0 && m == meta) {
        ++count;
        continue;
      }
      meta_.append_n(meta, count);  // (nothing while count is 0)
      meta = m;
      count = 1;
    }
    meta_.append_n(meta, count);
    used_ = used;
  }
  const Bytes& finish_meta() { return meta_.finish(); }
  // Takes up columns in the form finish_meta() and finish_raw() write (see
  // RleEncoder::resume; `got` is the metadata column's); the raw bytes are copied.
  bool resume(ByteView meta, ByteView raw, ResumedColumn* got) {
    if (!meta_.resume(meta, got)) return false;
    raw_.assign(raw.begin(), raw.end());
    used_ = raw_.size();
    return true;
  }
  // The raw bytes; valid until the next append or reset.
  const Bytes& finish_raw() {
    raw_.resize(used_);
    return raw_;
  }
  void reset() {
    meta_.reset();
    raw_.clear();
    used_ = 0;
  }

 private:
  // A value's raw bytes; returns its metadata.
  uint64_t append_raw(const Value& v) {
    const size_t room = value_raw_room(v);
    if (raw_.size() - used_ < room) raw_.resize(std::max(2 * raw_.size(), used_ + room + 64));
    const uint64_t meta = write_value_raw(raw_.data() + used_, v);
    used_ += meta >> 4;
    return meta;
  }

  UintEncoder meta_;
  Bytes raw_;
  size_t used_ = 0;
};

// Collects the columns of one table: a metadata block, then their data. The data views
// must stay valid until write_data (they usually point into live encoders).
class ColumnWriter {
 public:
  // Adds a column if `data` is non-empty or `always` is set. Columns must be added in
  // ascending spec order.
  void add(uint32_t spec, ByteView data, bool always = false) {
    if (!data.empty() || always) columns_[n_++] = {spec, data};
  }
  // With `compress`, columns of 256 bytes or more are DEFLATEd (spec §4.9).
  void write_metadata(Bytes& out, bool compress);
  void write_data(Bytes& out) const;
  // What write_data writes, in bytes (after write_metadata, which may compress).
  size_t data_size() const;

 private:
  std::pair<uint32_t, ByteView> columns_[24];
  size_t n_ = 0;
  std::vector<Bytes> compressed_;
};

}  // namespace amstore
