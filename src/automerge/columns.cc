#include "automerge/columns.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "automerge/deflate.h"

namespace amstore {

Status read_column_metadata(Reader& r, std::vector<Column>* columns) {
  uint64_t n;
  AM_TRY(r.count(&n, 2));
  columns->clear();
  columns->reserve(n);
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t spec, len;
    AM_TRY(r.uleb(&spec));
    AM_TRY(r.uleb(&len));
    if (spec > 0xffffffffu) return Status::Error("column spec out of range");
    // The library compares specs by their low byte alone, so it refuses a column whose id
    // is above 15 as out of order, or misreads it (compressed, in an empty document: "failed
    // to fill whole buffer"). It writes ids up to 10: refused here too.
    if (spec >> 4 > 15)
      return Status::Error("column spec " + std::to_string(spec) + " has an id above 15");
    uint64_t normal = spec & ~uint64_t(kDeflateBit);
    if (i > 0 && normal <= prev) return Status::Error("columns were not in normalized order");
    // A raw value column goes with the metadata column of its id, listed just before it.
    // The library refuses it alone ("raw value column without metadata column"), even
    // under an id it does not know.
    if ((normal & 7) == static_cast<uint32_t>(ColumnType::kValueRaw) &&
        (i == 0 || prev != normal - 1))
      return Status::Error("raw value column without its metadata column");
    prev = normal;
    Column c;
    c.spec = static_cast<uint32_t>(normal);
    c.deflated = spec & kDeflateBit;
    c.length = len;
    columns->push_back(c);
  }
  return Status::Ok();
}

Status locate_column_data(Reader& r, std::vector<Column>& columns) {
  for (Column& c : columns) {
    ByteView d;
    if (c.length > r.remaining()) return Status::Error("column data exceeds the chunk");
    AM_TRY(r.take(static_cast<size_t>(c.length), &d));
    c.data = d;
  }
  return Status::Ok();
}

ByteView find_column(const std::vector<Column>& columns, uint32_t spec) {
  for (const Column& c : columns)
    if (c.spec == spec) return c.data;
  return {};
}

// ---- RLE decoder -------------------------------------------------------------------------


[[gnu::cold]] Status column_error(const char* message) { return Status::Error(message); }

// A run header of 0 (a null run) or 1 (a repeat run too short to be one).
template <typename T>
Status RleDecoder<T>::start_null_run(int64_t h) {
  if (h == 1) return Status::Error("repeat run with count < 2");
  if (run_ == Run::kNull) return Status::Error("two adjacent null runs");
  uint64_t n;
  AM_TRY(r_.uleb(&n));
  if (n == 0) return Status::Error("empty null run");
  run_ = Run::kNull;
  left_ = n;
  have_last_ = false;
  return Status::Ok();
}

template <typename T>
Status RleDecoder<T>::next_slow(bool* has_value, T* value) {
  uint64_t one;
  return next_run(1, has_value, value, &one);
}

template <typename T>
Status RleDecoder<T>::next_run(uint64_t max, bool* has_value, T* value, uint64_t* count) {
  if (!present_) {
    *has_value = false;
    *count = max;
    return Status::Ok();
  }
  if (left_ == 0) AM_TRY(start_run());
  if (run_ == Run::kLiteral) {
    T v;
    AM_TRY(read_value(&v));
    if (have_last_ && v == last_) return Status::Error("equal adjacent values in a literal run");
    last_ = v;
    have_last_ = true;
    --left_;
    *has_value = true;
    *value = v;
    *count = 1;
    return Status::Ok();
  }
  uint64_t k = std::min(left_, max);
  left_ -= k;
  *count = k;
  *has_value = run_ == Run::kRepeat;
  if (*has_value) *value = last_;
  return Status::Ok();
}

template <typename T>
Status RleDecoder<T>::next_n(size_t n, T* values, bool* has) {
  for (size_t i = 0; i < n;) {
    bool h;
    T v{};
    uint64_t k = 0;
    AM_TRY(next_run(n - i, &h, &v, &k));
    if (!h) v = T{};
    for (const size_t end = i + k; i < end; ++i) {
      has[i] = h;
      values[i] = v;
    }
  }
  return Status::Ok();
}

template class RleDecoder<uint64_t>;
template class RleDecoder<int64_t>;
template class RleDecoder<std::string_view>;

Status DeltaDecoder::skip(uint64_t n) {
  // Summed in a local: a store to the member each value would also reload the reader's
  // position (long and unsigned long may alias).
  uint64_t acc = static_cast<uint64_t>(acc_);
  Status s = rle_.skip_values(n, [&acc](int64_t d, uint64_t k) { acc += static_cast<uint64_t>(d) * k; });
  acc_ = static_cast<int64_t>(acc);
  return s;
}

Status DeltaDecoder::next_n(size_t n, int64_t* values, bool* has) {
  uint64_t acc = static_cast<uint64_t>(acc_);
  for (size_t i = 0; i < n;) {
    bool h;
    int64_t d = 0;
    uint64_t k;
    AM_TRY(rle_.next_run(n - i, &h, &d, &k));
    for (const size_t end = i + k; i < end; ++i) {
      has[i] = h;
      if (h) acc += static_cast<uint64_t>(d);
      values[i] = h ? static_cast<int64_t>(acc) : 0;
    }
  }
  acc_ = static_cast<int64_t>(acc);
  return Status::Ok();
}

Status BoolDecoder::next_n(size_t n, bool* values) {
  if (!present_) {
    std::fill(values, values + n, false);
    return Status::Ok();
  }
  for (size_t i = 0; i < n;) {
    if (left_ == 0) AM_TRY(start_run());
    const uint64_t k = std::min<uint64_t>(left_, n - i);
    std::fill(values + i, values + i + k, value_);
    left_ -= k;
    i += k;
  }
  return Status::Ok();
}

Status BoolDecoder::start_run() {
  while (left_ == 0) {
    if (r_.done()) return Status::Error("boolean column has fewer rows than its table");
    AM_TRY(r_.uleb(&left_));
    value_ = !value_;
    if (left_ == 0 && !first_) return Status::Error("zero-length run in a boolean column");
    first_ = false;
  }
  return Status::Ok();
}

Status BoolDecoder::next_slow(bool* value) {
  if (!present_) {
    *value = false;
    return Status::Ok();
  }
  if (left_ == 0) AM_TRY(start_run());
  --left_;
  *value = value_;
  return Status::Ok();
}

Status BoolDecoder::skip(uint64_t n) {
  if (!present_) return Status::Ok();
  while (n > 0) {
    if (left_ == 0) AM_TRY(start_run());
    uint64_t k = std::min(left_, n);
    left_ -= k;
    n -= k;
  }
  return Status::Ok();
}

Status ValueDecoder::next_n(size_t n, ValueView* values) {
  for (size_t i = 0; i < n;) {
    bool has;
    uint64_t meta = 0, k = 0;
    AM_TRY(meta_.next_run(n - i, &has, &meta, &k));
    if (!has) return Status::Error("null in the value metadata column");
    const uint64_t len = meta >> 4;
    const uint8_t type = meta & 15;
    if (len != 0 && k > raw_.remaining() / len)
      return Status::Error("value exceeds the raw value column");
    ValueView* v = values + i;
    i += k;
    if (ValueView::has_bytes(type)) {  // strings (a character typed: most values), bytes
      if (len > UINT32_MAX) return Status::Error("value longer than 4 GiB");
      ByteView raw;
      AM_TRY(raw_.take(static_cast<size_t>(len * k), &raw));
      const char* data = reinterpret_cast<const char*>(raw.data());
      for (uint64_t j = 0; j < k; ++j, data += len) {
        v[j].type = type;
        v[j].size = static_cast<uint32_t>(len);
        v[j].data = data;
      }
      continue;
    }
    // The other types one by one, as next() reads them.
    for (uint64_t j = 0; j < k; ++j) {
      ByteView raw;
      AM_TRY(raw_.take(static_cast<size_t>(len), &raw));
      ValueView& x = v[j];
      x.type = type;
      x.size = 0;
      x.u = 0;
      Reader vr(raw);
      switch (static_cast<ValueType>(type)) {
        case ValueType::kNull:
        case ValueType::kFalse:
        case ValueType::kTrue:
          if (len != 0) return Status::Error("null or boolean value with a non-empty payload");
          continue;
        case ValueType::kUint:
          AM_TRY(vr.uleb(&x.u));
          break;
        case ValueType::kInt:
        case ValueType::kCounter:
        case ValueType::kTimestamp:
          AM_TRY(vr.sleb(&x.i));
          break;
        case ValueType::kF64:
          if (len != 8) return Status::Error("float value whose length is not 8");
          std::memcpy(&x.f, raw.data(), 8);  // little-endian hosts only
          continue;
        default:
          break;  // (types with bytes: above)
      }
      if (!vr.done()) return Status::Error("value length does not match its LEB128 payload");
    }
  }
  return Status::Ok();
}

Status ValueDecoder::next(ValueView* value) { return next_n(1, value); }

Status ValueDecoder::next(Value* value) {
  ValueView v;
  AM_TRY(next(&v));
  v.copy_to(value);
  return Status::Ok();
}

Status ValueDecoder::skip(uint64_t n) {
  bool has;
  uint64_t meta = 0, k = 0;
  while (n > 0) {
    AM_TRY(meta_.next_run(n, &has, &meta, &k));
    if (!has) return Status::Error("null in the value metadata column");
    uint64_t len = meta >> 4;
    if (len != 0 && (k > raw_.remaining() / len))
      return Status::Error("value exceeds the raw value column");
    ByteView raw;
    AM_TRY(raw_.take(static_cast<size_t>(len * k), &raw));
    n -= k;
  }
  return Status::Ok();
}

// ---- RLE encoder -------------------------------------------------------------------------

template <>
void RleEncoder<uint64_t>::put(const uint64_t& v) { put_uleb(out_, v); }
template <>
void RleEncoder<int64_t>::put(const int64_t& v) { put_sleb(out_, v); }
template <>
void RleEncoder<std::string_view>::put(const std::string_view& v) { put_prefixed(out_, v); }

template <typename T>
void RleEncoder<T>::start_run(const T& v) {
  flush_run();
  run_null_ = false;
  run_value_ = v;
  run_count_ = 1;
}

template <typename T>
void RleEncoder<T>::start_null_run() {
  flush_run();
  run_null_ = true;
  run_count_ = 1;
}

template <typename T>
void RleEncoder<T>::flush_run() {
  if (run_count_ == 0) return;
  if (run_null_) {
    flush_literal();
    put_sleb(out_, 0);
    put_uleb(out_, run_count_);
  } else if (run_count_ >= 2) {
    flush_literal();
    put_sleb(out_, static_cast<int64_t>(run_count_));
    put(run_value_);
  } else {
    literal_.push_back(std::move(run_value_));
  }
  run_count_ = 0;
}

template <typename T>
void RleEncoder<T>::flush_literal() {
  if (literal_.empty()) return;
  put_sleb(out_, -static_cast<int64_t>(literal_.size()));
  for (const T& v : literal_) put(v);
  literal_.clear();
}

template <typename T>
const Bytes& RleEncoder<T>::finish() {
  flush_run();
  flush_literal();
  return out_;
}

template <typename T>
bool RleEncoder<T>::resume(ByteView encoded, ResumedColumn* got) {
  reset();
  *got = ResumedColumn();
  if constexpr (std::is_same_v<T, std::string_view>) {
    return encoded.empty();
  } else {
    auto value = [](Reader& r, T* v) -> bool {
      if constexpr (std::is_signed_v<T>) {
        int64_t x;
        if (!r.sleb(&x).ok()) return false;
        *v = x;
      } else {
        uint64_t x;
        if (!r.uleb(&x).ok()) return false;
        *v = x;
      }
      return true;
    };
    uint64_t n = 0, sum = 0, nulls_total = 0;
    size_t last = 0;  // where the last run starts
    bool any = false;
    Reader r(encoded);
    while (!r.done()) {
      last = r.pos();
      int64_t count;
      T v;
      if (!r.sleb(&count).ok()) return false;
      if (count > 0) {
        if (!value(r, &v)) return false;
        sum += static_cast<uint64_t>(count) * static_cast<uint64_t>(v);
        any = true;
      } else if (count < 0) {
        if (count == INT64_MIN) return false;
        for (int64_t k = 0; k < -count; ++k) {
          if (!value(r, &v)) return false;
          sum += static_cast<uint64_t>(v);
        }
        any = true;
      } else {
        uint64_t nulls;
        if (!r.uleb(&nulls).ok() || nulls == 0 || nulls > INT64_MAX) return false;
        count = static_cast<int64_t>(nulls);
        nulls_total += nulls;  // (no overflow: at most n, checked below)
      }
      const uint64_t len = static_cast<uint64_t>(count < 0 ? -count : count);
      if (n + len < n) return false;
      n += len;
    }
    // The last run, read again into the state appending its values would have left.
    out_.assign(encoded.begin(), encoded.begin() + last);
    Reader lr(encoded.subspan(last));
    int64_t count = 0;
    if (!lr.done()) (void)lr.sleb(&count);
    if (count > 0) {
      (void)value(lr, &run_value_);
      run_null_ = false;
      run_count_ = static_cast<uint64_t>(count);
    } else if (count < 0) {
      literal_.resize(static_cast<size_t>(-count));
      for (T& v : literal_) (void)value(lr, &v);
      run_value_ = literal_.back();
      literal_.pop_back();
      run_null_ = false;
      run_count_ = 1;
    } else if (!encoded.empty()) {
      uint64_t nulls = 0;
      (void)lr.uleb(&nulls);
      run_null_ = true;
      run_count_ = nulls;
    }
    any_value_ = any;
    got->rows = n;
    got->nulls = nulls_total;
    got->total = sum;
    return true;
  }
}

template class RleEncoder<uint64_t>;
template class RleEncoder<int64_t>;
template class RleEncoder<std::string_view>;

void ColumnWriter::write_metadata(Bytes& out, bool compress) {
  put_uleb(out, n_);
  if (compress) compressed_.reserve(n_);  // views into it must not move
  for (size_t i = 0; i < n_; ++i) {
    auto& [spec, data] = columns_[i];
    if (compress && data.size() >= 256) {
      compressed_.push_back(deflate_raw(data));
      data = ByteView(compressed_.back());
      spec |= kDeflateBit;
    }
    put_uleb(out, spec);
    put_uleb(out, data.size());
  }
}

size_t ColumnWriter::data_size() const {
  size_t n = 0;
  for (size_t i = 0; i < n_; ++i) n += columns_[i].second.size();
  return n;
}

void ColumnWriter::write_data(Bytes& out) const {
  for (size_t i = 0; i < n_; ++i) put_bytes(out, columns_[i].second);
}

}  // namespace amstore
