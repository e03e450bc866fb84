#include "automerge/doc_chunk.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <unordered_map>

#if defined(__x86_64__)
#include <emmintrin.h>  // _mm_stream_si64, _mm_sfence
#endif

#include "automerge/chunk.h"
#include "automerge/columns.h"
#include "automerge/deflate.h"
#include "automerge/flat_map.h"
#include "automerge/op_set.h"

namespace amstore {

namespace {

constexpr uint64_t kMaxCounter = 0xffffffffu;
// Rows decoded per column at a time (next_n) where a table is read a block of rows at once:
// the block's values stay in cache while its rows are checked and made.
constexpr size_t kColumnBlockRows = 128;
// Counts the rows of an RLE column without keeping them (a malformed column stops the count:
// the real decode reports the error). Fails beyond max_rows_for(body).
Status count_rows(ByteView column, size_t max_rows, size_t* n) {
  UintDecoder d(column);
  *n = 0;
  bool has;
  uint64_t v, k;
  while (!d.done()) {
    // (A run past the column's end is an error here: the rows are read only up to *n.)
    AM_TRY(d.next_run(max_rows + 1, &has, &v, &k));
    *n += k;
    if (*n > max_rows) return Status::Error("document has more rows than its size allows");
  }
  return Status::Ok();
}

// An RLE column read a run at a time: `left` rows of `value` (or of null) remain.
template <typename T>
struct RunCursor {
  explicit RunCursor(ByteView data) : dec(data), before(data) {}
  Status fill() {
    fresh = left == 0;
    if (!fresh) return Status::Ok();
    before = dec;
    return dec.next_run(std::numeric_limits<uint64_t>::max(), &has, &value, &left);
  }
  // A decoder positioned at the row that the last fill() made current (none consumed yet).
  RleDecoder<T> at_filled_row() const { return fresh ? before : dec.rewound(left); }
  // A decoder positioned after the rows consumed so far (a literal value is consumed
  // whole, so left is 0 there).
  RleDecoder<T> at_next_row() const { return left > 0 ? dec.rewound(left) : dec; }
  RleDecoder<T> dec;
  RleDecoder<T> before;  // dec before the last read of a run or literal value
  bool fresh = false;    // whether the last fill() read
  bool has = false;
  T value{};
  uint64_t left = 0;
};

// The decoders of the id and successor columns at some row, as the first pass of
// read_new_ops left them: the second pass resumes there instead of decoding them again.
struct IdColumns {
  UintDecoder id_actor;
  DeltaDecoder id_ctr;
  UintDecoder succ_group, succ_actor;
  DeltaDecoder succ_ctr;
};

// The parts of a document chunk body, with compressed columns inflated into `buffers`.
struct DocLayout {
  std::vector<std::string> actors;
  std::vector<ChangeHash> heads;
  std::vector<Column> change_cols, op_cols;
  std::vector<uint64_t> heads_index;
  std::vector<Bytes> buffers;
};

Status read_header(Reader& r, DocLayout* d) {
  uint64_t n;
  AM_TRY(r.count(&n, 1));
  d->actors.resize(n);
  for (auto& a : d->actors) AM_TRY(r.prefixed_string(&a));
  for (size_t i = 1; i < d->actors.size(); ++i)
    if (!(d->actors[i - 1] < d->actors[i])) return Status::Error("document actors are not sorted");
  AM_TRY(r.count(&n, 32));
  d->heads.resize(n);
  for (auto& h : d->heads) {
    ByteView b;
    AM_TRY(r.take(32, &b));
    std::memcpy(h.data(), b.data(), 32);
  }
  return Status::Ok();
}

Status read_layout(ByteView body, DocLayout* d) {
  Reader r(body);
  AM_TRY(read_header(r, d));
  AM_TRY(read_column_metadata(r, &d->change_cols));
  AM_TRY(read_column_metadata(r, &d->op_cols));
  AM_TRY(locate_column_data(r, d->change_cols));
  AM_TRY(locate_column_data(r, d->op_cols));
  if (!r.done()) {
    d->heads_index.resize(d->heads.size());
    for (auto& i : d->heads_index) AM_TRY(r.uleb(&i));
    if (!r.done()) return Status::Error("data in a chunk leftover after the heads index");
  }
  return Status::Ok();
}

// Inflates the DEFLATEd columns of a layout, within `*budget` bytes in all.
Status inflate_columns(size_t* budget, DocLayout* d) {
  for (auto* cols : {&d->change_cols, &d->op_cols}) {
    for (Column& c : *cols) {
      if (!c.deflated) continue;
      d->buffers.emplace_back();
      AM_TRY(inflate_raw(c.data, &d->buffers.back(), *budget));
      *budget -= d->buffers.back().size();
      c.data = ByteView(d->buffers.back());
    }
  }
  return Status::Ok();
}

// One op row of a document, with document actor indexes; strings point into the inflated
// columns (rows are many: no copies until an op is regenerated). A whole document's rows
// are read a block at a time; what a change needs of them is copied into its Regen records.
struct Row {
  OpId id;
  OpId obj;
  OpId elem;
  ValueView value;
  const char* key_data = nullptr;  // map key (map_key)
  uint32_t key_size = 0;
  uint32_t mark = 0;        // 0: no mark name, else 1 + its index in the `marks` list
  uint32_t succ_begin = 0;  // successors: succ[succ_begin, the next row's succ_begin)
  uint8_t action = 0;
  bool map_key = false;
  bool insert = false;
  bool expand = false;

  std::string_view key() const { return std::string_view(key_data, key_size); }
};
static_assert(sizeof(Row) == 64);
// As write_regen reads a row: the key's size then the mark, and the action and the flags,
// side by side as in Regen.
static_assert(offsetof(Row, mark) == offsetof(Row, key_size) + 4 &&
              offsetof(Row, map_key) == offsetof(Row, action) + 1 &&
              offsetof(Row, insert) == offsetof(Row, action) + 2 &&
              offsetof(Row, expand) == offsetof(Row, action) + 3 && sizeof(bool) == 1);

// The end of row i's successors: rows are read in order, each appending its own.
// (`num_succ`: how many successors the rows read so far have.)
uint32_t succ_end(const Row* rows, size_t num_rows, size_t i, size_t num_succ) {
  return i + 1 < num_rows ? rows[i + 1].succ_begin : static_cast<uint32_t>(num_succ);
}

constexpr uint8_t kDelAction = static_cast<uint8_t>(Action::kDel);  // never a row's action

// An op as regenerated for a change, with all that its change needs of it: an op row's op,
// or a delete synthesized from the successor list of the row whose slot it deletes from
// (that row's object, and its map key or element). Preds are in `preds` (document actor
// indexes). One cache line: a change's ops are gathered from all over the document.
struct alignas(64) Regen {
  OpId id;
  OpId obj;
  union {
    OpId elem{};           // list ops (a delete's: the element it deletes)
    const char* key_data;  // map ops
  };
  ValueView value;
  uint32_t key_size;
  uint32_t mark;  // 0: no mark name, else 1 + its index in the `marks` list
  uint32_t row;   // the op's row, or (a delete) a row of its slot
  uint32_t pred_begin, pred_count;
  uint8_t action;  // kDelAction: a delete
  bool map_key, insert, expand;

  std::string_view key() const {
    return map_key ? std::string_view(key_data, key_size) : std::string_view();
  }
};
static_assert(sizeof(Regen) == 64);
// The layout write_regen writes its words in (little-endian).
static_assert(std::endian::native == std::endian::little);
static_assert(offsetof(Regen, id) == 0 && offsetof(Regen, obj) == 8 && offsetof(Regen, elem) == 16 &&
              offsetof(Regen, key_data) == 16 && offsetof(Regen, value) == 24 &&
              offsetof(Regen, key_size) == 40 && offsetof(Regen, mark) == 44 &&
              offsetof(Regen, row) == 48 && offsetof(Regen, pred_begin) == 52 &&
              offsetof(Regen, pred_count) == 56 && offsetof(Regen, action) == 60 &&
              offsetof(Regen, map_key) == 61 && offsetof(Regen, insert) == 62 &&
              offsetof(Regen, expand) == 63);
static_assert(offsetof(ValueView, type) == 0 && offsetof(ValueView, size) == 4 &&
              offsetof(ValueView, u) == 8 && sizeof(ValueView) == 16);
static_assert(std::is_trivially_copyable_v<Regen>);

// Writes a whole Regen at `to`: row r's op (del: a delete in r's slot, with r's object and
// its map key or element) with id `id`, row number `row` and its preds. Made as the eight
// words of the record, so that it goes out in whole stores: field by field, or a record
// built on the stack and copied (read back wider than it was written: a store-forwarding
// stall per op), cost more. `stream`: with non-temporal stores, for counter space, whose
// slots are written all over a buffer far larger than the cache and read only much later:
// a whole line written that way is not first read from memory.
[[gnu::always_inline]] inline void write_regen(Regen* to, const Row& r, bool del, OpId id,
                                               uint32_t row, uint32_t pred_begin,
                                               uint32_t pred_count, bool stream) {
  auto bits = [](OpId x) { return uint64_t{x.counter} | uint64_t{x.actor} << 32; };
  uint64_t w[8];
  w[0] = bits(id);
  w[1] = bits(r.obj);
  w[6] = row | uint64_t{pred_begin} << 32;
  if (!del) {
    // The row's own op. A row's key and element are never both set (the other is zero), and
    // from its key's size on its fields lie as the record's do: those words are loaded
    // whole (static_asserts above).
    w[2] = reinterpret_cast<uintptr_t>(r.key_data) | bits(r.elem);
    std::memcpy(&w[3], &r.value, 8);
    w[3] &= 0xffffffff000000ffu;  // the type and the size (not the padding between them)
    w[4] = r.value.u;
    std::memcpy(&w[5], &r.key_size, 8);  // the key's size (0 for a list op), the mark
    uint32_t flags;                       // action, map_key, insert, expand
    std::memcpy(&flags, &r.action, 4);
    w[7] = pred_count | uint64_t{flags} << 32;
  } else {
    // An insert's element, for a delete of it, is the insert itself.
    w[2] = r.map_key ? reinterpret_cast<uintptr_t>(r.key_data) : bits(r.insert ? r.id : r.elem);
    w[3] = 0;
    w[4] = 0;
    w[5] = r.map_key ? r.key_size : 0;
    w[7] = pred_count | uint64_t{kDelAction} << 32 | uint64_t{r.map_key} << 40;
  }
#if defined(__x86_64__)
  if (stream) {
    auto* out = reinterpret_cast<long long*>(to);
    for (int k = 0; k < 8; ++k) _mm_stream_si64(out + k, static_cast<long long>(w[k]));
    return;
  }
#endif
  (void)stream;
  // A word at a time: one memcpy of `w` was compiled to wide loads of it from the stack.
  for (int k = 0; k < 8; ++k) std::memcpy(reinterpret_cast<char*>(to) + 8 * k, &w[k], 8);
}

// Where decode_document's matching puts each op: the slot of its id in counter space, or the
// end of `regen`. The loop that places ops works on a copy of it, a local, so that these
// pointers stay in registers there: each op's byte store in `taken` (a char may alias
// anything) had the compiler load them again from memory for every op.
struct OpPlacer {
  bool by_counter = false;
  std::vector<Regen>* regen = nullptr;
  Regen* slots = nullptr;               // counter space
  uint8_t* taken = nullptr;             // which slots hold an op
  const uint64_t* base = nullptr;       // per actor, its first slot
  const uint64_t* last_max = nullptr;   // per actor, its last counter
  Regen* junk = nullptr;                // where an op that cannot be placed goes
  const char* error = nullptr;          // the first op that could not be placed
  // Ops placed in counter space. A slot is not checked before it is written (a read of a
  // byte all over `taken`, which stalled every op): an op placed twice is found after, as
  // more ops placed than the changes' spans of taken slots hold.
  uint64_t placed = 0;

  Regen* place(OpId id) {
    if (!by_counter) return &regen->emplace_back();
    if (id.counter == 0 || id.counter > last_max[id.actor]) [[unlikely]] {
      if (!error) error = "op does not belong to any change";
      return junk;
    }
    const uint64_t s = base[id.actor] + id.counter - 1;
    taken[s] = 1;
    ++placed;
    return &slots[s];  // written whole by write_regen (Regen is trivially copyable)
  }
};

// Reads the op columns of a document row by row, or skips rows a run at a time.
class OpRowReader {
 public:
  OpRowReader(const std::vector<Column>& oc, uint32_t num_actors, size_t max_succ)
      : num_actors_(num_actors), max_succ_(max_succ),
        obj_actor_(find_column(oc, col::kObjActor)), obj_ctr_(find_column(oc, col::kObjCounter)),
        key_actor_(find_column(oc, col::kKeyActor)), key_ctr_(find_column(oc, col::kKeyCounter)),
        key_str_(find_column(oc, col::kKeyString)), id_actor_(find_column(oc, col::kIdActor)),
        id_ctr_(find_column(oc, col::kIdCounter)), insert_(find_column(oc, col::kInsert)),
        action_(find_column(oc, col::kAction)),
        value_(find_column(oc, col::kValueMeta), find_column(oc, col::kValueRaw)),
        succ_group_(find_column(oc, col::kSuccGroup)), succ_actor_(find_column(oc, col::kSuccActor)),
        succ_ctr_(find_column(oc, col::kSuccCounter)), expand_(find_column(oc, col::kExpand)),
        mark_name_(find_column(oc, col::kMarkName)) {}

  // Reads one row (every field); its successors are appended to `succ`, its mark name (if
  // any) to `marks`.
  Status read(Row* row, std::vector<OpId>* succ, std::vector<std::string_view>* marks) {
    Fields<1> f{};
    AM_TRY(obj_actor_.next(&f.h_obj_actor[0], &f.obj_actor[0]));
    AM_TRY(obj_ctr_.next(&f.h_obj_ctr[0], &f.obj_ctr[0]));
    AM_TRY(key_actor_.next(&f.h_key_actor[0], &f.key_actor[0]));
    AM_TRY(key_ctr_.next(&f.h_key_ctr[0], &f.key_ctr[0]));
    AM_TRY(key_str_.next(&f.h_key_str[0], &f.key_str[0]));
    AM_TRY(id_actor_.next(&f.h_id_actor[0], &f.id_actor[0]));
    AM_TRY(id_ctr_.next(&f.h_id_ctr[0], &f.id_ctr[0]));
    AM_TRY(insert_.next(&f.insert[0]));
    AM_TRY(action_.next(&f.h_action[0], &f.action[0]));
    AM_TRY(succ_group_.next(&f.h_succ_group[0], &f.succ_group[0]));
    AM_TRY(expand_.next(&f.expand[0]));
    AM_TRY(mark_name_.next(&f.h_mark[0], &f.mark[0]));
    AM_TRY(value_.next(&f.value[0]));
    return assemble(f, 0, row, succ, marks);
  }

  // Reads the next n rows into rows[0, n), as read() does one at a time: each column is
  // decoded a block of rows at a time (a run at a time), then the block's rows are put
  // together. Rows of long runs (most of a document) then cost a few stores per column
  // instead of a call. The rows are overwritten whole (a vector's resize first zeroed each,
  // only for assemble to write every field again).
  Status read_rows(size_t n, Row* rows, std::vector<OpId>* succ,
                   std::vector<std::string_view>* marks) {
    constexpr size_t kBlock = kColumnBlockRows;
    Fields<kBlock> b;
    for (size_t at = 0; at < n; at += kBlock) {
      const size_t m = std::min(kBlock, n - at);
      AM_TRY(obj_actor_.next_n(m, b.obj_actor, b.h_obj_actor));
      AM_TRY(obj_ctr_.next_n(m, b.obj_ctr, b.h_obj_ctr));
      AM_TRY(key_actor_.next_n(m, b.key_actor, b.h_key_actor));
      AM_TRY(key_ctr_.next_n(m, b.key_ctr, b.h_key_ctr));
      AM_TRY(key_str_.next_n(m, b.key_str, b.h_key_str));
      AM_TRY(id_actor_.next_n(m, b.id_actor, b.h_id_actor));
      AM_TRY(id_ctr_.next_n(m, b.id_ctr, b.h_id_ctr));
      AM_TRY(insert_.next_n(m, b.insert));
      AM_TRY(action_.next_n(m, b.action, b.h_action));
      AM_TRY(succ_group_.next_n(m, b.succ_group, b.h_succ_group));
      AM_TRY(expand_.next_n(m, b.expand));
      AM_TRY(mark_name_.next_n(m, b.mark, b.h_mark));
      AM_TRY(value_.next_n(m, b.value));
      for (size_t j = 0; j < m; ++j) AM_TRY(assemble(b, j, &rows[at + j], succ, marks));
    }
    return Status::Ok();
  }

  // The values of k rows as their columns hold them (before the successor columns), a
  // column at a time: has_* false where the column holds a null.
  template <size_t k>
  struct Fields {
    uint64_t obj_actor[k], obj_ctr[k], key_actor[k], id_actor[k], action[k], succ_group[k];
    int64_t key_ctr[k], id_ctr[k];
    std::string_view key_str[k], mark[k];
    ValueView value[k];
    bool h_obj_actor[k], h_obj_ctr[k], h_key_actor[k], h_id_actor[k], h_action[k],
        h_succ_group[k], h_key_ctr[k], h_id_ctr[k], h_key_str[k], h_mark[k], insert[k],
        expand[k];
  };

  // Checks a row's values and makes the row; reads its successors. Inlined into read_rows:
  // called there once a row, it took the row's two dozen fields through memory.
  template <size_t k>
  [[gnu::always_inline]] Status assemble(const Fields<k>& f, size_t j, Row* row,
                                         std::vector<OpId>* succ,
                                         std::vector<std::string_view>* marks) {
    if (f.h_obj_ctr[j] && f.obj_ctr[j] > kMaxCounter)
      return Status::Error("object counter out of range");
    AM_TRY(make_id(f.h_obj_actor[j], f.obj_actor[j], f.h_obj_ctr[j],
                   static_cast<int64_t>(f.obj_ctr[j]), true, false, &row->obj));
    if (f.h_key_str[j]) {
      if (f.h_key_ctr[j] || f.h_key_actor[j])
        return Status::Error("op has both a map key and an element key");
      if (f.key_str[j].size() > UINT32_MAX) return Status::Error("map key longer than 4 GiB");
      row->map_key = true;
      row->key_data = f.key_str[j].data();
      row->key_size = static_cast<uint32_t>(f.key_str[j].size());
      row->elem = OpId{};
    } else {
      if (!f.h_key_ctr[j]) return Status::Error("op has no key");
      AM_TRY(make_id(f.h_key_actor[j], f.key_actor[j], true, f.key_ctr[j], false, true,
                     &row->elem));
      row->map_key = false;
      row->key_data = nullptr;
      row->key_size = 0;
    }
    AM_TRY(make_id(f.h_id_actor[j], f.id_actor[j], f.h_id_ctr[j], f.id_ctr[j], false, false,
                   &row->id));
    row->insert = f.insert[j];
    if (!f.h_action[j]) return Status::Error("null action");
    if (f.action[j] > kMaxAction || f.action[j] == static_cast<uint64_t>(Action::kDel))
      return Status::Error("unrecognized action index " + std::to_string(f.action[j]));
    row->action = static_cast<uint8_t>(f.action[j]);
    row->value = f.value[j];
    if (row->action == static_cast<uint8_t>(Action::kInc) &&
        row->value.kind() != ValueType::kInt && row->value.kind() != ValueType::kUint)
      return Status::Error("increment with a non-numeric value");
    // Most ops have no successor: no call for those.
    if (f.h_succ_group[j] && f.succ_group[j] > 0) {
      AM_TRY(read_succ(f.succ_group[j], row, succ));
    } else {
      row->succ_begin = static_cast<uint32_t>(succ->size());
    }
    row->expand = f.expand[j];
    row->mark = 0;
    if (f.h_mark[j]) {
      marks->push_back(f.mark[j]);
      row->mark = static_cast<uint32_t>(marks->size());
    }
    return Status::Ok();
  }

  // Reads row's `count` successors (its succ group value) and appends them to `succ`.
  Status read_succ(uint64_t count, Row* row, std::vector<OpId>* succ) {
    if (count > max_succ_ || succ->size() + count > max_succ_)
      return Status::Error("document has more successors than its size allows");
    row->succ_begin = static_cast<uint32_t>(succ->size());
    for (uint64_t k = 0; k < count; ++k) {
      bool has;
      int64_t c = 0;
      OpId sid;
      AM_TRY(succ_ctr_.next(&has, &c));
      AM_TRY(read_id(succ_actor_, has, c, false, false, &sid));
      if (k > 0 && !lamport_less(succ->back(), sid))
        return Status::Error("successors are not in Lamport order");
      if (!lamport_less(row->id, sid)) return Status::Error("successor is not newer than its op");
      succ->push_back(sid);
    }
    return Status::Ok();
  }

  // Skips n rows in the columns other than the id and successor columns (runs are still
  // checked for canonical form); those are repositioned by resume_ids.
  Status skip_non_ids(uint64_t n) {
    AM_TRY(obj_actor_.skip(n));
    AM_TRY(obj_ctr_.skip(n));
    AM_TRY(key_actor_.skip(n));
    AM_TRY(key_ctr_.skip(n));
    AM_TRY(key_str_.skip(n));
    AM_TRY(insert_.skip(n));
    AM_TRY(action_.skip(n));
    AM_TRY(value_.skip(n));
    AM_TRY(expand_.skip(n));
    return mark_name_.skip(n);
  }
  void resume_ids(const IdColumns& c) {
    id_actor_ = c.id_actor;
    id_ctr_ = c.id_ctr;
    succ_group_ = c.succ_group;
    succ_actor_ = c.succ_actor;
    succ_ctr_ = c.succ_ctr;
  }

  bool done() const {
    return obj_actor_.done() && obj_ctr_.done() && key_actor_.done() && key_ctr_.done() &&
           key_str_.done() && id_actor_.done() && id_ctr_.done() && insert_.done() &&
           action_.done() && value_.done() && succ_group_.done() && succ_actor_.done() &&
           succ_ctr_.done() && expand_.done() && mark_name_.done();
  }

 private:
  Status read_id(UintDecoder& a, bool has_ctr, int64_t ctr, bool allow_null, bool allow_zero,
                 OpId* id) {
    bool has_a;
    uint64_t av;
    AM_TRY(a.next(&has_a, &av));
    return make_id(has_a, av, has_ctr, ctr, allow_null, allow_zero, id);
  }
  // The op id of an actor column value and a counter column value.
  Status make_id(bool has_a, uint64_t av, bool has_ctr, int64_t ctr, bool allow_null,
                 bool allow_zero, OpId* id) const {
    // Inline: an actor and a counter in range (nearly every id), tested without a branch
    // for each condition (the counter in [1, kMaxCounter] as one unsigned comparison).
    if (has_a & has_ctr & (static_cast<uint64_t>(ctr) - 1 < kMaxCounter) &
        (av < num_actors_)) [[likely]] {
      *id = OpId{static_cast<uint32_t>(ctr), static_cast<uint32_t>(av)};
      return Status::Ok();
    }
    return make_id_slow(has_a, av, has_ctr, ctr, allow_null, allow_zero, id);
  }
  [[gnu::noinline]] Status make_id_slow(bool has_a, uint64_t av, bool has_ctr, int64_t ctr,
                                        bool allow_null, bool allow_zero, OpId* id) const {
    if (!has_a && !has_ctr && allow_null) {
      *id = OpId{};
      return Status::Ok();
    }
    if (!has_ctr) return Status::Error("op id without a counter");
    if (ctr < 0 || static_cast<uint64_t>(ctr) > kMaxCounter)
      return Status::Error("op counter out of range");
    if (!has_a) {
      if (allow_zero && ctr == 0) {
        *id = OpId{};
        return Status::Ok();
      }
      return Status::Error("op id without an actor");
    }
    if (av >= num_actors_) return Status::Error("op actor index out of range");
    if (ctr == 0) return Status::Error("op id with counter 0");
    *id = OpId{static_cast<uint32_t>(ctr), static_cast<uint32_t>(av)};
    return Status::Ok();
  }

  uint32_t num_actors_;
  size_t max_succ_;
  UintDecoder obj_actor_, obj_ctr_, key_actor_;
  DeltaDecoder key_ctr_;
  StringDecoder key_str_;
  UintDecoder id_actor_;
  DeltaDecoder id_ctr_;
  BoolDecoder insert_;
  UintDecoder action_;
  ValueDecoder value_;
  UintDecoder succ_group_, succ_actor_;
  DeltaDecoder succ_ctr_;
  BoolDecoder expand_;
  StringDecoder mark_name_;
};

// The slot an op writes to: its object and map key, or its object and list element (an
// insert's element is the op itself).
bool same_slot(const Row& a, const Row& b) {
  if (a.obj != b.obj || a.map_key != b.map_key) return false;
  if (a.map_key) return a.key() == b.key();
  return (a.insert ? a.id : a.elem) == (b.insert ? b.id : b.elem);
}

// Document order (§6.4): objects ascending, the root first; in a map, ops by key then id; in
// a list, elements in RGA order (a pre-order walk of the insertion tree, children by
// descending id), each followed by the other ops on it by id. The library takes a
// document's ops in the order stored, so a document stored out of order would load into a
// different state there: refused. Linear: a stack holds the walk's current path. Rows are
// checked as they are read, a block at a time, while they are still in cache.
class DocumentOrderCheck {
 public:
  // Checks the next rows of the document, in order; `before` is the row before them (null:
  // they are the first).
  Status check(std::span<const Row> rows, const Row* before) {
    const auto bad = [] { return Status::Error("document ops are not in document order"); };
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      const Row* prev = i > 0 ? &rows[i - 1] : before;
      if (!prev || prev->obj != r.obj) {  // the first op of an object
        if (prev && !lamport_less(prev->obj, r.obj)) return bad();
        path_.clear();
        prev = nullptr;
      }
      if (r.map_key) {
        if (prev && prev->map_key) {
          int c = prev->key().compare(r.key());
          if (c > 0 || (c == 0 && !lamport_less(prev->id, r.id))) return bad();
        }
      } else if (r.insert) {
        const OpId parent = r.elem;  // zero: HEAD
        bool popped = false;
        OpId sibling;  // the parent's child visited last: must be newer than this one
        while (!path_.empty() && path_.back() != parent) {
          sibling = path_.back();
          popped = true;
          path_.pop_back();
        }
        if (path_.empty() && !parent.is_zero()) return bad();
        if (popped && !lamport_less(r.id, sibling)) return bad();
        path_.push_back(r.id);
      } else {
        if (path_.empty() || r.elem != path_.back()) return bad();
        if (prev && !prev->insert && !lamport_less(prev->id, r.id)) return bad();
      }
    }
    return Status::Ok();
  }

 private:
  std::vector<OpId> path_;  // elements from the list's HEAD down to the last insert
};

// Where make_ops reads a change's ops: side by side in counter space, or scattered over
// `regen` through the change's list, each requested ahead of its read (decode_document says
// why).
struct OpSource {
  const Regen* side_by_side = nullptr;  // counter space, or null
  const Regen* regen = nullptr;
  const uint32_t* list = nullptr;
  const uint32_t* change_ops = nullptr;  // every change's list, back to back
  uint32_t requested = 0;                // change_ops entries requested so far
  uint32_t total_ops = 0;
};

// Makes the change's n ops from their records in ch.ops (empty before; their preds in
// ch.preds), sets `used` to the actors other than `author` that they refer to, ascending
// (document actor indexes), and makes the ops' actor indexes local to the change's actor
// table: the author 0, then `used`. `doc_order`: where counter space notes each op row's
// place among all the changes' ops (`placed`: the ops of the changes before), or null.
// `to_local`: all −1, and left so. A function of its own, whose loop keeps what it reads in
// locals: inside decode_document those stayed in memory (an op's byte stores may alias
// them) and were loaded again for every op.
[[gnu::noinline]] void make_ops(Change& ch, OpSource& src, uint32_t n, uint32_t author,
                                const OpId* pred_at, const std::vector<std::string_view>& marks,
                                uint32_t* doc_order, uint32_t placed, bool few_actors,
                                int32_t* to_local, std::vector<uint32_t>& used) {
  used.clear();
  const Regen* const side_by_side = src.side_by_side;
  const Regen* const regen = src.regen;
  const uint32_t* const list = src.list;
  const uint32_t* const change_ops = src.change_ops;
  const uint32_t total_ops = src.total_ops;
  uint32_t requested = src.requested;
  // Up to 64 actors (nearly every document), one bit per actor, set without a branch.
  uint64_t seen = 0;
  auto note = [&](OpId id) {
    if (few_actors) {
      seen |= uint64_t{id.counter != 0} << id.actor;
    } else if (!id.is_zero() && id.actor != author && to_local[id.actor] == -1) {
      to_local[id.actor] = 0;  // seen
      used.push_back(id.actor);
    }
  };
  ch.ops.append_made(n, [&](Op* at, size_t i) {
    const uint32_t oi = static_cast<uint32_t>(i);
    const Regen* gp;
    if (side_by_side) {
      // The slot 32 ahead (2 KiB) is requested too. Changes of several actors interleave,
      // each reading a run of its own actor's slots, written long before; the hardware's
      // prefetching alone left a stall at each first read. (An address, not a pointer:
      // near the end it lies past the slots.)
      __builtin_prefetch(reinterpret_cast<const void*>(
          reinterpret_cast<uintptr_t>(side_by_side + oi) + 32 * sizeof(Regen)));
      gp = side_by_side + oi;
      // The doc_order entry of the op 8 ahead, asked for to be written: the rows of a
      // change's ops lie all over the document, and each write waited for its line.
      if (doc_order && oi + 8 < n) __builtin_prefetch(doc_order + side_by_side[oi + 8].row, 1);
    } else {
      if (requested < total_ops) __builtin_prefetch(&regen[change_ops[requested++]]);
      gp = regen + list[oi];
    }
    const Regen& g = *gp;
    // The op 16 ahead (1 KiB) asked for, to be written: a change of many ops writes them to
    // fresh memory, 64 bytes each, and each first write waited for its line (8 ahead still
    // left it waiting: a full load ~2.5 % slower). (An address: it may lie past the ops,
    // mostly in the next change's; a prefetch never faults.)
    __builtin_prefetch(
        reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(at) + 16 * sizeof(Op)), 1);
    if (doc_order && g.action != kDelAction) doc_order[g.row] = placed + oi;
    Op& op = *new (at) Op;
    // The flags as one byte (each flag on its own was a read-modify-write of it). A
    // delete's slot has none of them set but map_key (write_regen).
    op.flags = static_cast<uint8_t>(g.map_key * Op::kMapKeyFlag | g.insert * Op::kInsertFlag |
                                    g.expand * Op::kExpandFlag |
                                    (g.mark != 0) * Op::kMarkNameFlag);
    op.action = g.action;
    if (g.map_key) op.key.assign(g.key());  // (a new op's key is empty)
    if (g.action != kDelAction) {
      g.value.copy_to(&op.value);
      if (g.mark != 0) ch.mutable_mark_names().emplace_back(oi, marks[g.mark - 1]);
    }
    note(g.obj);
    op.obj = g.obj;
    if (!g.map_key) {
      note(g.elem);
      op.elem = g.elem;
    }
    op.pred_count = g.pred_count;
    for (uint32_t k = 0; k < g.pred_count; ++k) {
      note(pred_at[g.pred_begin + k]);
      ch.preds.push_back(pred_at[g.pred_begin + k]);
    }
  });
  src.requested = requested;
  if (few_actors) {
    seen &= ~(uint64_t{1} << author);
    for (; seen != 0; seen &= seen - 1)
      used.push_back(static_cast<uint32_t>(std::countr_zero(seen)));
  } else {
    std::sort(used.begin(), used.end());
  }
  // The actor indexes made local, in a pass over the ops just made (in cache). None to make
  // when the ops refer to their author alone and the author is the document's actor 0 (every
  // change of a single-actor document): each index is 0 in both tables.
  if (used.empty() && author == 0) return;
  to_local[author] = 0;
  for (size_t k = 0; k < used.size(); ++k) to_local[used[k]] = static_cast<int32_t>(k + 1);
  auto make_local = [&](OpId& id) {
    if (!id.is_zero()) id.actor = static_cast<uint32_t>(to_local[id.actor]);
  };
  Op* const ops = ch.ops.data();
  for (size_t i = 0, count = ch.ops.size(); i < count; ++i) {
    make_local(ops[i].obj);
    make_local(ops[i].elem);  // (zero for map ops)
  }
  for (OpId& p : ch.preds) make_local(p);
  to_local[author] = -1;
  for (uint32_t a : used) to_local[a] = -1;
}

// The change rows of a document (§6.2), document actor indexes.
struct ChangeRow {
  uint32_t actor;
  uint64_t seq, max_op;
  int64_t time;
  std::string_view message;  // into the inflated columns
  uint32_t deps_begin, deps_count;  // range in the deps list
  ByteView extra;  // into the inflated columns
};

// The op rows and regenerated ops (§7.2) of only the changes that are not `is_known`, for
// merging a document into one that holds most of it. One pass reads just the id and
// successor columns to find the rows that matter: ops of new changes, and ops that a new
// change overwrote or deleted (their successor lists name it). A second pass decodes those
// rows and skips the others a run at a time. Rows of known changes are skipped unchecked
// beyond their column encoding: the caller keeps its own copy of those changes.
Status read_new_ops(const DocLayout& d, const std::vector<ChangeRow>& rows,
                    const std::vector<bool>& is_known, size_t num_rows, size_t max_succ,
                    std::vector<Row>* ops, std::vector<OpId>* succ,
                    std::vector<std::string_view>* marks, std::vector<Regen>* regen,
                    std::vector<OpId>* preds) {
  // Per actor, the counter ranges (after, upto] of its new changes, ascending.
  const uint32_t num_actors = static_cast<uint32_t>(d.actors.size());
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> fresh(num_actors);
  {
    std::vector<uint64_t> last_max(num_actors, 0);
    for (size_t i = 0; i < rows.size(); ++i) {
      const ChangeRow& r = rows[i];
      if (!is_known[i]) fresh[r.actor].emplace_back(last_max[r.actor], r.max_op);
      last_max[r.actor] = r.max_op;
    }
  }
  // Whether counters lo..hi of `actor` meet the range of one of its new changes.
  auto touches_new = [&](uint64_t actor, uint64_t lo, uint64_t hi) {
    if (actor >= num_actors) return false;
    const auto& ranges = fresh[actor];
    auto it = std::lower_bound(ranges.begin(), ranges.end(), lo,
                               [](const auto& r, uint64_t c) { return r.second < c; });
    return it != ranges.end() && it->first < hi;
  };
  auto is_new = [&](uint64_t actor, int64_t ctr) {
    return ctr >= 0 && touches_new(actor, static_cast<uint64_t>(ctr), static_cast<uint64_t>(ctr));
  };

  // Pass 1: which rows to decode. Runs of rows by actors without new changes and without
  // successors (most of a document) are passed over whole.
  std::vector<bool> actor_has_new(num_actors);
  for (uint32_t a = 0; a < num_actors; ++a) actor_has_new[a] = !fresh[a].empty();
  std::vector<uint32_t> wanted;
  // The id and successor columns at the first row of each run of consecutive wanted rows,
  // and after the last row. Pass 1 decoded them in full (with every canonical-form check).
  std::vector<IdColumns> resume;
  IdColumns end_ids{UintDecoder({}), DeltaDecoder({}), UintDecoder({}), UintDecoder({}),
                    DeltaDecoder({})};
  {
    const auto& oc = d.op_cols;
    RunCursor<uint64_t> id_actor(find_column(oc, col::kIdActor));
    RunCursor<int64_t> id_delta(find_column(oc, col::kIdCounter));
    RunCursor<uint64_t> succ_group(find_column(oc, col::kSuccGroup));
    RunCursor<uint64_t> succ_actor(find_column(oc, col::kSuccActor));
    RunCursor<int64_t> succ_delta(find_column(oc, col::kSuccCounter));
    int64_t id_ctr = 0, succ_ctr = 0;
    size_t total_succ = 0;
    UintDecoder succ_actor_at({});  // see run_start below
    DeltaDecoder succ_ctr_at({});
    for (size_t i = 0; i < num_rows;) {
      AM_TRY(id_actor.fill());
      AM_TRY(id_delta.fill());
      AM_TRY(succ_group.fill());
      const bool new_actor = id_actor.has && id_actor.value < num_actors &&
                             actor_has_new[id_actor.value];
      const bool no_succ = !succ_group.has || succ_group.value == 0;
      // Rows of an actor with new changes can still be passed over a run at a time when
      // their ascending counters miss every new range (one actor typing a long text).
      const uint64_t k = std::min({id_actor.left, id_delta.left, succ_group.left, num_rows - i});
      bool skip_run = !new_actor;
      if (new_actor && no_succ && id_delta.has && id_delta.value > 0) {
        const uint64_t lo = static_cast<uint64_t>(id_ctr) + static_cast<uint64_t>(id_delta.value);
        const uint64_t hi = static_cast<uint64_t>(id_ctr) + static_cast<uint64_t>(id_delta.value) * k;
        skip_run = id_ctr >= 0 && hi >= lo && !touches_new(id_actor.value, lo, hi);
      }
      if (skip_run && no_succ) {
        if (id_delta.has)
          id_ctr = static_cast<int64_t>(static_cast<uint64_t>(id_ctr) +
                                        static_cast<uint64_t>(id_delta.value) * k);
        id_actor.left -= k;
        id_delta.left -= k;
        succ_group.left -= k;
        i += k;
        continue;
      }
      // One row.
      const int64_t row_start_ctr = id_ctr;
      if (id_delta.has)
        id_ctr = static_cast<int64_t>(static_cast<uint64_t>(id_ctr) + static_cast<uint64_t>(id_delta.value));
      bool want = new_actor && id_delta.has && is_new(id_actor.value, id_ctr);
      uint64_t g = no_succ ? 0 : succ_group.value;
      // Where this row starts, kept if it begins a run of wanted rows (known below). The id
      // and successor-group cursors stay at this row until it is done, so their decoders
      // here are made only for the few rows wanted; its successors move the successor
      // cursors, whose place is kept first (rows with successors only).
      const bool run_start = wanted.empty() || wanted.back() + 1 != i;
      if (run_start && g > 0) {
        succ_actor_at = succ_actor.at_next_row();
        succ_ctr_at = DeltaDecoder(succ_delta.at_next_row(), succ_ctr);
      }
      if (g > max_succ || total_succ + g > max_succ)
        return Status::Error("document has more successors than its size allows");
      total_succ += g;
      for (uint64_t k = 0; k < g; ++k) {
        AM_TRY(succ_actor.fill());
        AM_TRY(succ_delta.fill());
        if (succ_delta.has)
          succ_ctr = static_cast<int64_t>(static_cast<uint64_t>(succ_ctr) +
                                          static_cast<uint64_t>(succ_delta.value));
        want |= succ_actor.has && succ_delta.has && is_new(succ_actor.value, succ_ctr);
        --succ_actor.left;
        --succ_delta.left;
      }
      if (want) {
        if (run_start) {
          resume.push_back(IdColumns{
              id_actor.at_filled_row(), DeltaDecoder(id_delta.at_filled_row(), row_start_ctr),
              succ_group.at_filled_row(), g > 0 ? succ_actor_at : succ_actor.at_next_row(),
              g > 0 ? succ_ctr_at : DeltaDecoder(succ_delta.at_next_row(), succ_ctr)});
        }
        wanted.push_back(static_cast<uint32_t>(i));
      }
      --id_actor.left;
      --id_delta.left;
      --succ_group.left;
      ++i;
    }
    end_ids = IdColumns{id_actor.at_next_row(), DeltaDecoder(id_delta.at_next_row(), id_ctr),
                        succ_group.at_next_row(), succ_actor.at_next_row(),
                        DeltaDecoder(succ_delta.at_next_row(), succ_ctr)};
  }

  // Pass 2: decode the wanted rows, skipping the other columns up to each run of them.
  OpRowReader reader(d.op_cols, num_actors, max_succ);
  ops->resize(wanted.size());
  uint32_t at = 0;
  size_t next_resume = 0;
  for (size_t k = 0; k < wanted.size(); ++k) {
    if (k == 0 || wanted[k] != at) {
      AM_TRY(reader.skip_non_ids(wanted[k] - at));
      reader.resume_ids(resume[next_resume++]);
    }
    AM_TRY(reader.read(&(*ops)[k], succ, marks));
    at = wanted[k] + 1;
  }
  AM_TRY(reader.skip_non_ids(num_rows - at));
  reader.resume_ids(end_ids);
  if (!reader.done()) return Status::Error("op columns have different numbers of rows");

  // New op rows take as preds the rows whose successor lists name them; a new id named in
  // successor lists without a row of its own is a delete in the slot of those rows. Targets
  // (new rows, then deletes) are numbered; each (target, pred) edge is kept in row order,
  // then grouped by target (a stable counting sort), so that each target's preds stay in
  // the order of their rows.
  U64Map<uint32_t> target_of;  // new op id → target: index in ops (rows), or rows + delete
  target_of.reserve(wanted.size());
  uint32_t new_rows = 0;
  for (uint32_t i = 0; i < ops->size(); ++i) {
    const OpId id = (*ops)[i].id;
    if (is_new(id.actor, id.counter)) {
      target_of.emplace(opid_key(id), i);
      ++new_rows;
    }
  }
  const uint32_t num_ops = static_cast<uint32_t>(ops->size());
  std::vector<std::pair<OpId, uint32_t>> dels;  // id, a row of its slot
  std::vector<std::pair<uint32_t, OpId>> edges;  // (target, pred)
  for (uint32_t i = 0; i < num_ops; ++i) {
    const Row& r = (*ops)[i];
    for (uint32_t k = r.succ_begin, e = succ_end(ops->data(), ops->size(), i, succ->size()); k < e;
         ++k) {
      const OpId s = (*succ)[k];
      if (!is_new(s.actor, s.counter)) continue;
      auto [t, added] = target_of.emplace(opid_key(s), num_ops + static_cast<uint32_t>(dels.size()));
      if (*t < num_ops) {
        if (!same_slot(r, (*ops)[*t]))
          return Status::Error("op and its predecessor are in different slots");
      } else if (added) {
        dels.emplace_back(s, i);
      } else if (!same_slot(r, (*ops)[dels[*t - num_ops].second])) {
        return Status::Error("delete names predecessors in different slots");
      }
      edges.emplace_back(*t, r.id);
    }
  }
  std::vector<uint32_t> first(num_ops + dels.size() + 1, 0);  // target t's preds: from first[t]
  for (const auto& e : edges) ++first[e.first + 1];
  for (size_t t = 1; t < first.size(); ++t) first[t] += first[t - 1];
  std::vector<OpId> by_target(edges.size());
  {
    std::vector<uint32_t> fill(first.begin(), first.end() - 1);
    for (const auto& [t, pred] : edges) by_target[fill[t]++] = pred;
  }
  regen->reserve(regen->size() + new_rows + dels.size());
  auto add = [&](OpId id, uint32_t row, bool del, uint32_t t) {
    write_regen(&regen->emplace_back(), (*ops)[row], del, id, row,
                static_cast<uint32_t>(preds->size()), first[t + 1] - first[t], false);
    preds->insert(preds->end(), by_target.begin() + first[t], by_target.begin() + first[t + 1]);
  };
  for (uint32_t i = 0; i < num_ops; ++i)
    if (is_new((*ops)[i].id.actor, (*ops)[i].id.counter)) add((*ops)[i].id, i, false, i);
  for (uint32_t k = 0; k < dels.size(); ++k) add(dels[k].first, dels[k].second, true, num_ops + k);
  return Status::Ok();
}

}  // namespace

struct ParsedDocument::Impl {
  ByteView body;
  DocLayout d;
  bool columns_read = false;
  size_t op_rows = 0;
  size_t succ_rows = 0;
  std::vector<ChangeRow> rows;
  std::vector<uint32_t> deps;  // dep lists of `rows`: indexes of earlier rows
  // Found as the rows are read, while they are in cache (a typed text's 10^5 rows are
  // 7 MB, and a pass of its own over them for each cost a few percent of its load): per
  // row, whether a later row depends on it (the others are the heads); per actor, the
  // maxOp of its last row.
  std::vector<bool> is_dep;
  std::vector<uint64_t> last_max;
};

ParsedDocument::ParsedDocument() = default;
ParsedDocument::ParsedDocument(ParsedDocument&&) noexcept = default;
ParsedDocument& ParsedDocument::operator=(ParsedDocument&&) noexcept = default;
ParsedDocument::~ParsedDocument() = default;

const std::vector<ChangeHash>& ParsedDocument::heads() const { return impl_->d.heads; }
bool ParsedDocument::columns_read() const { return impl_->columns_read; }
size_t ParsedDocument::op_rows() const { return impl_->op_rows; }
size_t ParsedDocument::succ_rows() const { return impl_->succ_rows; }
size_t ParsedDocument::change_rows() const { return impl_->rows.size(); }

Status parse_document_header(ByteView body, ParsedDocument* parsed) {
  parsed->impl_ = std::make_unique<ParsedDocument::Impl>();
  parsed->impl_->body = body;
  return read_layout(body, &parsed->impl_->d);
}

Status parse_document(ByteView body, ParsedDocument* parsed) {
  AM_TRY(parse_document_header(body, parsed));
  return parse_document_columns(parsed);
}

Status check_document_deflate_strict(ByteView chunk) {
  // Its checksum was verified when it was loaded: not hashed again (1 ms a MB).
  if (!is_single_document_chunk(chunk)) return Status::Error("not one document chunk");
  ParsedDocument parsed;
  AM_TRY(parse_document_header(chunk_body(chunk), &parsed));
  for (const auto* cols : {&parsed.impl_->d.change_cols, &parsed.impl_->d.op_cols})
    for (const Column& col : *cols)
      if (col.deflated) AM_TRY(check_deflate_strict(col.data, inflate_budget_for(chunk.size())));
  return Status::Ok();
}

Status parse_document_columns(ParsedDocument* parsed, size_t* inflate_budget) {
  ParsedDocument::Impl& p = *parsed->impl_;
  if (p.columns_read) return Status::Ok();
  const ByteView body = p.body;
  DocLayout& d = p.d;
  size_t own_budget = inflate_budget_for(body.size());
  AM_TRY(inflate_columns(inflate_budget ? inflate_budget : &own_budget, &d));
  const uint32_t num_actors = static_cast<uint32_t>(d.actors.size());

  // ---- change rows ----
  std::vector<ChangeRow>& rows = p.rows;
  std::vector<uint32_t>& deps = p.deps;
  {
    const auto& cc = d.change_cols;
    size_t n;
    AM_TRY(count_rows(find_column(cc, col::kChangeActor), max_rows_for(body.size()), &n));
    rows.clear();  // (of a try that failed part way)
    deps.clear();
    rows.reserve(n);
    std::vector<bool>& is_dep = p.is_dep;
    is_dep.assign(n, false);
    UintDecoder actor(find_column(cc, col::kChangeActor));
    DeltaDecoder seq(find_column(cc, col::kChangeSeq));
    DeltaDecoder max_op(find_column(cc, col::kChangeMaxOp));
    DeltaDecoder time(find_column(cc, col::kChangeTime));
    StringDecoder message(find_column(cc, col::kChangeMessage));
    UintDecoder deps_group(find_column(cc, col::kChangeDepsGroup));
    DeltaDecoder deps_index(find_column(cc, col::kChangeDepsIndex));
    ByteView extra_meta = find_column(cc, col::kChangeExtraMeta);
    ValueDecoder extra(extra_meta, find_column(cc, col::kChangeExtraRaw));
    std::vector<uint64_t> last_seq(num_actors, 0);
    std::vector<uint64_t>& last_max = p.last_max;
    last_max.assign(num_actors, 0);
    // A block of rows at a time, each column decoded a run at a time (a typed text has 10^5
    // rows, nearly all in runs), then the block's rows checked and made.
    constexpr size_t kBlock = kColumnBlockRows;
    struct {
      uint64_t actor[kBlock], deps_n[kBlock];
      int64_t seq[kBlock], max_op[kBlock], time[kBlock];
      std::string_view message[kBlock];
      ValueView extra[kBlock];
      bool h_actor[kBlock], h_seq[kBlock], h_max_op[kBlock], h_time[kBlock],
          h_message[kBlock], h_deps_n[kBlock];
    } b;
    for (size_t at = 0; at < n; at += kBlock) {
      const size_t m = std::min(kBlock, n - at);
      AM_TRY(actor.next_n(m, b.actor, b.h_actor));
      AM_TRY(seq.next_n(m, b.seq, b.h_seq));
      AM_TRY(max_op.next_n(m, b.max_op, b.h_max_op));
      AM_TRY(time.next_n(m, b.time, b.h_time));
      AM_TRY(message.next_n(m, b.message, b.h_message));
      AM_TRY(deps_group.next_n(m, b.deps_n, b.h_deps_n));
      if (!extra_meta.empty()) AM_TRY(extra.next_n(m, b.extra));  // (nearly always empty)
      for (size_t j = 0; j < m; ++j) {
        // (`made`, not rows.size(): the rows' stores may alias the vector, whose size, 72-byte
        // rows, was then a division each time.)
        const size_t made = at + j;  // this row's index: the rows before are the changes before
        ChangeRow& row = rows.emplace_back();
        // The row 8 ahead asked for, to be written: the rows are fresh memory (a typed text's
        // 10^5 take 7 MB), and a profile put a row's first stores among the loop's costliest.
        // (An address: near the end it lies past the rows; a prefetch never faults.)
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(&row) +
                                                         8 * sizeof(ChangeRow)),
                           1);
        if (!b.h_actor[j] || b.actor[j] >= num_actors)
          return Status::Error("change actor index out of range");
        row.actor = static_cast<uint32_t>(b.actor[j]);
        if (!b.h_seq[j] || b.seq[j] < 1) return Status::Error("change seq missing or out of range");
        row.seq = static_cast<uint64_t>(b.seq[j]);
        if (row.seq != last_seq[row.actor] + 1) return Status::Error("changes out of order");
        last_seq[row.actor] = row.seq;
        if (!b.h_max_op[j] || b.max_op[j] < 0 || static_cast<uint64_t>(b.max_op[j]) > kMaxCounter)
          return Status::Error("change maxOp missing or out of range");
        row.max_op = static_cast<uint64_t>(b.max_op[j]);
        if (row.max_op < last_max[row.actor]) return Status::Error("change maxOp decreases");
        last_max[row.actor] = row.max_op;
        row.time = b.h_time[j] ? b.time[j] : 0;
        row.message = b.h_message[j] ? b.message[j] : std::string_view();
        const uint64_t u = b.h_deps_n[j] ? b.deps_n[j] : 0;
        if (u > made) return Status::Error("change has more deps than earlier changes");
        if (deps.size() + u > max_rows_for(body.size()))
          return Status::Error("document has more deps than its size allows");
        row.deps_begin = static_cast<uint32_t>(deps.size());
        row.deps_count = static_cast<uint32_t>(u);
        for (uint64_t k = 0; k < u; ++k) {
          bool has;
          int64_t i;
          AM_TRY(deps_index.next(&has, &i));
          if (!has || i < 0 || static_cast<uint64_t>(i) >= made)
            return Status::Error("change dep index does not point to an earlier change");
          deps.push_back(static_cast<uint32_t>(i));
          is_dep[static_cast<size_t>(i)] = true;
        }
        if (!extra_meta.empty()) {
          const ValueView& v = b.extra[j];
          if (v.kind() != ValueType::kBytes) return Status::Error("change extra data is not bytes");
          row.extra = as_bytes(std::string_view(v.data, v.size));
        }
      }
    }
    if (!(actor.done() && seq.done() && max_op.done() && time.done() && message.done() &&
          deps_group.done() && deps_index.done() && extra.done()))
      return Status::Error("change columns have different numbers of rows");
    // The actor list is exactly the authors (spec §6.1; 3.5.0 panics on an unused actor).
    for (uint32_t a = 0; a < num_actors; ++a)
      if (last_seq[a] == 0) return Status::Error("document lists an actor that authored no change");
  }
  AM_TRY(count_rows(find_column(d.op_cols, col::kIdActor), max_rows_for(body.size()), &p.op_rows));
  AM_TRY(count_rows(find_column(d.op_cols, col::kSuccActor), max_rows_for(body.size()), &p.succ_rows));
  // Columns the library needs even where all their rows are empty (it always writes them):
  // without one, or with one of no data, it refuses the document ("invalid load length",
  // "invalid column length"). (find_column gives no data for a column not listed.)
  if (!rows.empty() && (find_column(d.change_cols, col::kChangeDepsGroup).empty() ||
                        find_column(d.change_cols, col::kChangeExtraMeta).empty()))
    return Status::Error(
        "document change columns lack the deps or the extra data column, or list it with no data");
  if (p.op_rows > 0 && find_column(d.op_cols, col::kSuccGroup).empty())
    return Status::Error(
        "document op columns lack the successor column, or list it with no data");
  p.columns_read = true;
  return Status::Ok();
}

Status decode_document(ByteView body, std::vector<std::unique_ptr<StoredChange>>* out,
                       const KnownChange& known) {
  ParsedDocument parsed;
  AM_TRY(parse_document(body, &parsed));
  return decode_document(parsed, out, known);
}

Status decode_document(const ParsedDocument& parsed, std::vector<std::unique_ptr<StoredChange>>* out,
                       const KnownChange& known, const ChangeSink& sink,
                       std::vector<uint32_t>* doc_order, bool lean,
                       ChangeColumns* change_columns, std::unique_ptr<ChangeHash[]>* hashes_out) {
  if (!parsed.columns_read()) return Status::Error("document columns were not read");
  const ByteView body = parsed.impl_->body;
  const DocLayout& d = parsed.impl_->d;
  const std::vector<ChangeRow>& rows = parsed.impl_->rows;
  const std::vector<uint32_t>& deps = parsed.impl_->deps;
  const uint32_t num_actors = static_cast<uint32_t>(d.actors.size());

  // Rows the caller already has (same actor and seq) keep the caller's hash and are not
  // regenerated. Sound because the heads are still verified: a head hash covers its
  // ancestors' hashes, so a row that differs from the caller's change cannot pass.
  // Of the rows regenerated here, each written as its row is (before any later row or the
  // heads read it): not zeroed first (3 MB for a typed text).
  auto hashes = std::make_unique_for_overwrite<ChangeHash[]>(rows.size());
  std::vector<bool> is_known(rows.size(), false);
  size_t num_known = 0;
  if (known) {
    // Per actor, how many of its rows (seqs 1..m, checked when parsed) the caller has: a
    // prefix, found by binary search.
    std::vector<uint64_t> last_seq(num_actors, 0), have(num_actors, 0);
    for (const ChangeRow& r : rows) last_seq[r.actor] = r.seq;
    for (uint32_t a = 0; a < num_actors; ++a) {
      uint64_t lo = 0, hi = last_seq[a];
      while (lo < hi) {
        const uint64_t mid = lo + (hi - lo + 1) / 2;
        if (known(d.actors[a], mid)) lo = mid; else hi = mid - 1;
      }
      have[a] = lo;
    }
    for (uint32_t i = 0; i < rows.size(); ++i) {
      if (rows[i].seq <= have[rows[i].actor]) {
        is_known[i] = true;
        ++num_known;
      }
    }
  }
  const bool any_known = num_known > 0;  // (is_known, a bit vector, is tested only if so)
  // The hash of change row i: the caller's for a known row (null if the caller lacks it).
  // A pointer, not a Result: it runs for every dep of every change.
  auto hash_of = [&](uint32_t i) -> const ChangeHash* {
    return any_known && is_known[i] ? known(d.actors[rows[i].actor], rows[i].seq) : &hashes[i];
  };
  const char* const kKnownGap = "known changes are not a prefix of their actor's seqs";

  // ---- op rows, predecessors and deletes (§7.2) ----
  std::vector<Row> ops;  // the rows read (a whole document: a block at a time)
  std::vector<OpId> succ;
  std::vector<std::string_view> marks;  // mark names (Row::mark, Regen::mark)
  std::vector<Regen> regen;
  std::vector<OpId> preds;  // pred lists of `regen`, document actor indexes
  const size_t num_rows = parsed.impl_->op_rows;
  // Where the ops go. Counter space: when the actors' counters are about as many as the ops
  // (a whole document, not a few new changes of a long history), each op goes straight to
  // the slot of its id (actor a's counter c at counter_base[a] + c − 1), so that a change's
  // ops lie side by side in counter order, and are read in sequence when it is regenerated.
  // Otherwise into `regen` in document order, and assigned to their changes after.
  // (Never with known changes: the new ops are few, and counter space would span every
  // counter of a long history.)
  std::vector<uint64_t> counter_base(num_actors, 0);
  const std::vector<uint64_t>& last_max = parsed.impl_->last_max;  // per actor
  uint64_t total_counters = 0;
  if (num_known == 0) {
    for (uint32_t a = 0; a < num_actors; ++a) {
      counter_base[a] = total_counters;
      total_counters += last_max[a];
    }
  }
  const bool by_counter =
      num_known == 0 && total_counters <= 2 * (num_rows + parsed.impl_->succ_rows);
  // Counter space; only taken slots are written. Plain bytes, aligned here to the records'
  // 64: allocated over-aligned (glibc's memalign), the freed buffer was left apart from the
  // heap's top, and a later load's came from fresh pages (the benchmark's repeated loads of
  // its 1 MB document: each after the first ~10 % slower, and 150 MB more at the peak).
  std::unique_ptr<char[]> slot_bytes;
  Regen* slots = nullptr;
  std::vector<uint8_t> taken;  // which slots hold an op
  if (by_counter) {
    slot_bytes.reset(new char[total_counters * sizeof(Regen) + alignof(Regen)]);
    const uintptr_t at = reinterpret_cast<uintptr_t>(slot_bytes.get());
    slots = reinterpret_cast<Regen*>((at + alignof(Regen) - 1) & ~uintptr_t{alignof(Regen) - 1});
    taken.assign(total_counters, 0);
  }
  const char* const kNotContiguous = "change ops are not contiguous (missing or duplicate ops)";
  Regen junk;  // where an op that cannot be placed goes
  OpPlacer placer{.by_counter = by_counter, .regen = &regen, .slots = slots,
                  .taken = taken.data(), .base = counter_base.data(),
                  .last_max = last_max.data(), .junk = &junk};
  if (num_known > 0) {
    AM_TRY(read_new_ops(d, rows, is_known, num_rows, max_rows_for(body.size()), &ops, &succ,
                        &marks, &regen, &preds));
  } else {
    OpRowReader reader(d.op_cols, num_actors, max_rows_for(body.size()));
    constexpr size_t kBlockRows = 1024;  // 64 KiB of rows, read, checked and matched in cache
    ops.resize(std::min(num_rows, kBlockRows));  // each block read over the one before
    succ.reserve(parsed.impl_->succ_rows);
    preds.reserve(parsed.impl_->succ_rows);  // one pred for each successor entry
    if (!by_counter) regen.reserve(num_rows + parsed.impl_->succ_rows);
    {
      // Successor ids named in the current slot and not yet matched by an op row, in
      // first-seen order, each with the rows naming it (a list through `links`, in row
      // order). Slots rarely hold more than a few: a short array searched linearly, with a
      // hash table only once a slot holds many; nothing is allocated per slot or per id.
      struct Pending {
        OpId id;  // zero: consumed by an op row of this slot
        uint32_t head, tail, count;
      };
      constexpr uint32_t kEnd = UINT32_MAX;
      constexpr size_t kLinear = 8;
      std::vector<Pending> pending;
      std::vector<std::pair<OpId, uint32_t>> links;  // a naming row's id, the next link
      std::unordered_map<uint64_t, uint32_t, KeyedU64Hash> pending_at;  // beyond kLinear entries
      bool hashed = false;
      size_t live = 0;
      auto find = [&](OpId id) -> uint32_t {
        if (live == 0) return kEnd;
        if (!hashed) {
          for (uint32_t i = 0; i < pending.size(); ++i)
            if (pending[i].id == id) return i;
          return kEnd;
        }
        auto it = pending_at.find(opid_key(id));
        return it == pending_at.end() ? kEnd : it->second;
      };
      auto take_preds = [&](const Pending& p) {
        for (uint32_t l = p.head; l != kEnd; l = links[l].second) preds.push_back(links[l].first);
      };
      const Row* slot_row = nullptr;  // the current slot's last row: the last row matched
      uint32_t slot_index = 0;        // its row number
      Row carried;                    // slot_row when it was read in an earlier block
      auto flush = [&](OpPlacer& placing) {
        for (const Pending& p : pending) {
          if (p.id.is_zero()) continue;
          write_regen(placing.place(p.id), *slot_row, true, p.id, slot_index,
                      static_cast<uint32_t>(preds.size()), p.count, by_counter);
          take_preds(p);
        }
        pending.clear();
        links.clear();
        if (hashed) pending_at.clear();
        hashed = false;
        live = 0;
      };
      // Matches the block of rows in `ops` (its first `block_rows`), the first of which is
      // row number `base`.
      auto match = [&](uint32_t base, uint32_t block_rows) {
        // The placer and the block as locals (OpPlacer says why), copied back at the end.
        OpPlacer placing = placer;
        const Row* const block = ops.data();
        const OpId* const succ_at = succ.data();
        const uint32_t succ_rows = static_cast<uint32_t>(succ.size());
        for (uint32_t li = 0; li < block_rows; ++li) {
          const Row& row = block[li];
          // Nothing pending: whether the slot changes does not matter.
          if (!pending.empty() && !same_slot(*slot_row, row)) flush(placing);
          slot_row = &row;
          slot_index = base + li;
          const uint32_t pred_begin = static_cast<uint32_t>(preds.size());
          uint32_t pred_count = 0;
          if (uint32_t at = find(row.id); at != kEnd) {
            Pending& p = pending[at];
            take_preds(p);
            pred_count = p.count;
            p.id = OpId{};  // consumed: flush skips it, and a later naming starts afresh
            --live;
            if (hashed) pending_at.erase(opid_key(row.id));
          }
          write_regen(placing.place(row.id), row, false, row.id, base + li, pred_begin,
                      pred_count, placing.by_counter);
          for (uint32_t k = row.succ_begin, e = succ_end(block, block_rows, li, succ_rows); k < e;
               ++k) {
            const OpId s = succ_at[k];
            uint32_t at = find(s);
            const uint32_t link = static_cast<uint32_t>(links.size());
            links.emplace_back(row.id, kEnd);
            if (at == kEnd) {
              at = static_cast<uint32_t>(pending.size());
              pending.push_back(Pending{s, link, link, 1});
              ++live;
              if (hashed) {
                pending_at.emplace(opid_key(s), at);
              } else if (pending.size() > kLinear) {
                hashed = true;
                for (uint32_t i = 0; i < pending.size(); ++i)
                  if (!pending[i].id.is_zero()) pending_at.emplace(opid_key(pending[i].id), i);
              }
            } else {
              Pending& p = pending[at];
              links[p.tail].second = link;
              p.tail = link;
              ++p.count;
            }
          }
        }
        placer = placing;
      };
      // Each block's rows are copied into `regen` as they are matched: after that, no row is
      // read again, and the block is reused for the next. Its last row is kept: the order
      // check compares the next block's first row with it, and its slot may go on.
      DocumentOrderCheck order;
      for (size_t at = 0; at < num_rows; at += kBlockRows) {
        if (slot_row) {
          carried = *slot_row;
          slot_row = &carried;
        }
        const size_t block_size = std::min(kBlockRows, num_rows - at);
        AM_TRY(reader.read_rows(block_size, ops.data(), &succ, &marks));
        AM_TRY(order.check(std::span<const Row>(ops.data(), block_size), slot_row));
        match(static_cast<uint32_t>(at), static_cast<uint32_t>(block_size));
      }
      if (!reader.done()) return Status::Error("op columns have different numbers of rows");
      if (slot_row) flush(placer);
#if defined(__x86_64__)
      if (by_counter) _mm_sfence();  // the slots' streamed stores, before they are read
#endif
      if (placer.error) return Status::Error(placer.error);
    }
  }

  // ---- assign ops to changes (§7.3) ----
  // Counter space: a change's ops are the taken slots at the top of its counters, checked
  // as it is regenerated. Else each op's change row (kNone: a known change's), then the ops
  // of each change as one flat array (a counting sort): no list per change.
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> op_start(rows.size() + 1, 0);
  constexpr uint32_t kFree = UINT32_MAX;
  std::vector<uint32_t> change_ops;
  // Op p of the changes back to back is change_ops' entry p (every row is regenerated).
  if (doc_order) doc_order->clear();
  const bool with_order = doc_order && num_known == 0 && !lean;
  if (with_order) doc_order->resize(num_rows);
  if (!by_counter) {
    std::vector<std::vector<uint32_t>> by_actor(num_actors);  // change rows per actor
    for (uint32_t i = 0; i < rows.size(); ++i) by_actor[rows[i].actor].push_back(i);
    std::vector<uint32_t> owner(regen.size());
    // Consecutive ops mostly belong to the same change (a change's ops on one object are
    // stored together): try the actor's last change first, else a binary search.
    std::vector<uint32_t> last_hit(num_actors, 0);  // position in by_actor[actor]
    for (uint32_t i = 0; i < regen.size(); ++i) {
      const OpId id = regen[i].id;
      const auto& list = by_actor[id.actor];
      uint32_t& hit = last_hit[id.actor];
      uint32_t pos;
      if (hit < list.size() && rows[list[hit]].max_op >= id.counter &&
          (hit == 0 || rows[list[hit - 1]].max_op < id.counter)) {
        pos = hit;
      } else {
        auto it = std::lower_bound(list.begin(), list.end(), id.counter,
                                   [&](uint32_t row, uint32_t c) { return rows[row].max_op < c; });
        if (it == list.end()) return Status::Error("op does not belong to any change");
        pos = hit = static_cast<uint32_t>(it - list.begin());
      }
      owner[i] = is_known[list[pos]] ? kNone : list[pos];
      if (owner[i] != kNone) ++op_start[owner[i] + 1];
    }
    for (size_t r = 0; r < rows.size(); ++r) op_start[r + 1] += op_start[r];
    // Each change's ops in counter order: a change's n ops must have the counters
    // maxOp − n + 1 .. maxOp, so op `c` goes straight to its place (no sort), and a counter
    // out of range or taken twice is an error.
    change_ops.assign(op_start.back(), kFree);
    for (uint32_t i = 0; i < regen.size(); ++i) {
      const uint32_t r = owner[i];
      if (r == kNone) continue;
      const uint64_t n = op_start[r + 1] - op_start[r];
      // (Wraps around when the row claims fewer counters than it has ops: every op then
      // fails the range check.)
      const uint64_t first = rows[r].max_op + 1 - n;
      const uint64_t c = regen[i].id.counter;
      if (c < first || c - first >= n || change_ops[op_start[r] + (c - first)] != kFree)
        return Status::Error(kNotContiguous);
      change_ops[op_start[r] + (c - first)] = i;
      if (with_order && regen[i].action != kDelAction)
        (*doc_order)[regen[i].row] = op_start[r] + (c - first);
    }
  }

  // ---- regenerate each change (§7.4) ----
  out->clear();
  out->reserve(rows.size() - num_known);
  std::vector<int32_t> local_actors(num_actors, -1);
  const bool few_actors = num_actors <= 64;
  // For make_ops, which keeps them in locals (OpPlacer says why).
  int32_t* const to_local = local_actors.data();
  const OpId* const pred_at = preds.data();
  std::vector<uint32_t> used;
  // Not in counter space, a change's ops are scattered over `regen` (in document order, not
  // change order), a cache line each. Each is requested kAhead ops before the first pass
  // over its change's ops reads it (the requests do not depend on each other, so the cache
  // misses overlap): one request per op read keeps the distance steady, where requesting a
  // whole change at once left a large change's first ops no time to arrive.
  constexpr uint32_t kAhead = 64;
  const uint32_t total_ops = op_start.back();
  OpSource source{.regen = regen.data(), .change_ops = change_ops.data(), .total_ops = total_ops};
  std::vector<uint64_t> prev_max(num_actors, 0);  // per actor, the maxOp of its row before
  uint32_t placed = 0;  // counter space: ops of the changes before, back to back
  StoredChange scratch;
  ChangeArena arena(rows.size() - num_known);
  // (The rows' count read once: the loop's stores may alias the vector, whose size, 72-byte
  // rows, was a division at every change.)
  const uint32_t num_changes = static_cast<uint32_t>(rows.size());
  for (uint32_t ri = 0; ri < num_changes; ++ri) {
    const ChangeRow& row = rows[ri];
    const uint64_t author_max_op = prev_max[row.actor];
    prev_max[row.actor] = row.max_op;
    if (any_known && is_known[ri]) continue;
    const Regen* side_by_side = nullptr;  // counter space: the change's ops
    const uint32_t* list = nullptr;       // else: the change's ops, in regen
    uint32_t list_size;
    if (by_counter) {
      // The change's counters (maxOp of the actor's change before, maxOp]: its ops must be
      // the taken slots at the top of them, without a gap.
      const uint64_t base = counter_base[row.actor];
      uint64_t first = base + author_max_op;
      const uint64_t end = base + row.max_op;
      while (first < end && !taken[first]) ++first;
      if (std::find(taken.begin() + first, taken.begin() + end, 0) != taken.begin() + end)
        return Status::Error(kNotContiguous);
      side_by_side = slots + first;
      list_size = static_cast<uint32_t>(end - first);
    } else {
      for (const uint32_t until = std::min(op_start[ri] + kAhead, total_ops);
           source.requested < until; ++source.requested)
        __builtin_prefetch(&regen[change_ops[source.requested]]);
      list = change_ops.data() + op_start[ri];
      list_size = op_start[ri + 1] - op_start[ri];
    }
    // Built in place, where the document keeps it: a change is ~200 bytes, and 10^5 of
    // them moved a few times add up. Lean, in `scratch`, whose buffers the next change
    // reuses.
    StoredChange& sc =
        lean ? scratch : *out->emplace_back(arena.make());
    Change& ch = sc.change;
    if (lean) {
      ch.ops.clear();
      ch.preds.clear();
      ch.deps.clear();
      ch.rare.reset();
    }
    ch.start_op = row.max_op + 1 - list_size;  // counters checked above, or with change_ops
    if (ch.start_op == 0) return Status::Error("change startOp out of range");
    // The ops, with document actor indexes at first, noting the actors they refer to; then
    // the actor table (author, then those others, sorted), and the indexes made local to
    // it, in a pass over the ops just made (in cache): the slots are read once.
    source.side_by_side = side_by_side;
    source.list = list;
    make_ops(ch, source, list_size, row.actor, pred_at, marks,
             by_counter && with_order ? doc_order->data() : nullptr, placed, few_actors, to_local,
             used);
    ch.actors.resize(used.size() + 1);  // assigned, not pushed: a scratch change's strings
    ch.actors[0].assign(d.actors[row.actor]);  // keep their buffers
    for (size_t k = 0; k < used.size(); ++k) ch.actors[k + 1].assign(d.actors[used[k]]);
    placed += list_size;
    ch.seq = row.seq;
    ch.time = row.time;
    if (!row.message.empty()) ch.mutable_message().assign(row.message);
    if (!row.extra.empty()) ch.mutable_extra().assign(row.extra.begin(), row.extra.end());
    ch.deps.reserve(row.deps_count);
    uint64_t deps_max_op = 0;
    for (uint32_t k = 0; k < row.deps_count; ++k) {
      const uint32_t dep = deps[row.deps_begin + k];
      const ChangeHash* h = hash_of(dep);
      if (!h) return Status::Error(kKnownGap);
      ch.deps.push_back(*h);
      deps_max_op = std::max(deps_max_op, rows[dep].max_op);
    }
    AM_TRY(check_start_op(ch.start_op, list_size, deps_max_op, author_max_op));
    for (size_t k = 1; k < ch.deps.size(); ++k)
      if (!(ch.deps[k - 1] < ch.deps[k])) return Status::Error("document change deps are not in hash order");
    // Lean, sealed straight into the change kept, with the few fields a lean document keeps
    // of it (its chunk was sealed in the scratch change and copied: 100–120 bytes a change).
    StoredChange& sealed =
        lean ? *out->emplace_back(arena.make()) : sc;
    seal_change(ch, &sealed);
    hashes[ri] = sealed.hash;
    if (lean) {
      sc.hash = sealed.hash;  // for the sink
      sealed.change.seq = ch.seq;
      sealed.change.start_op = ch.start_op;
      sealed.change.time = ch.time;
    }
    if (sink) AM_TRY(sink(sc));
  }

  // Counter space: the changes' spans hold every taken slot (a taken slot below an empty
  // one in a span is refused above), so more ops placed than that means an op placed twice.
  if (by_counter && placer.placed != placed) return Status::Error(kNotContiguous);

  // ---- heads (§7.5, §7.6) ----
  const std::vector<bool>& is_dep = parsed.impl_->is_dep;
  std::vector<ChangeHash> heads;
  for (uint32_t i = 0; i < num_changes; ++i)
    if (!is_dep[i]) {
      const ChangeHash* h = hash_of(i);
      if (!h) return Status::Error(kKnownGap);
      heads.push_back(*h);
    }
  std::sort(heads.begin(), heads.end());
  if (heads != d.heads) return Status::Error("mismatching heads");
  if (change_columns && num_known == 0 && !lean)
    change_columns->take_loaded(d.change_cols, rows.size(), deps.size(), num_actors,
                                is_dep);
  if (hashes_out) *hashes_out = std::move(hashes);
  return Status::Ok();
}

Result<Bytes> encode_document(const std::vector<const StoredChange*>& changes, bool compress,
                              const ChangeIndex* positions) {
  AM_ASSIGN(OpSet s, build_op_set(changes));
  return encode_document(s, changes, compress, positions, nullptr);
}

Status ChangeColumns::extend(const std::vector<const StoredChange*>& changes,
                             const OpSet& s, const ChangeIndex& row_of) {
  if (rows_ > changes.size()) *this = ChangeColumns();
  if (actors_ != s.actors.size() && rows_ > 0) {
    // Actors joined, which moves the indexes of those after them: only the author column
    // holds actor indexes, so only it is written again.
    actor_.reset();
    for (size_t i = 0; i < rows_; ++i) actor_.append(s.change_author[i]);
  }
  actors_ = s.actors.size();
  is_dep_.resize(changes.size(), false);
  for (uint32_t i = static_cast<uint32_t>(rows_); i < changes.size(); ++i) {
    // A change lies apart from the next, and its deps beyond one behind a pointer of their
    // own (its hash is compared with the next change's first dep): fetched changes ahead.
    if (i + 32 < changes.size()) prefetch_change(changes[i + 32]);
    if (i + 16 < changes.size()) __builtin_prefetch(changes[i + 16]->change.deps.data());
    const Change& c = changes[i]->change;
    actor_.append(s.change_author[i]);
    seq_.append(static_cast<int64_t>(c.seq));
    max_op_.append(static_cast<int64_t>(c.max_op()));
    time_.append(c.time);
    if (c.message().empty()) message_.append_null(); else message_.append(c.message());
    deps_group_.append(c.deps.size());
    for (const ChangeHash& h : c.deps) {
      // Usually the change just before (one author typing): no table lookup, which would
      // miss the cache for every change of a long history.
      uint32_t at;
      if (i > 0 && hash_equal(changes[i - 1]->hash, h)) {
        at = i - 1;
      } else {
        at = row_of.find(h, [&](uint32_t k) -> const ChangeHash& { return changes[k]->hash; });
        if (at == ChangeIndex::kNone || at >= i) {
          *this = ChangeColumns();
          return Status::Error("change dependency is missing or not earlier in causal order");
        }
      }
      deps_index_.append(at);
      is_dep_[at] = true;
    }
    Value v;
    v.type = static_cast<uint8_t>(ValueType::kBytes);
    v.bytes.assign(as_chars(c.extra()));
    extra_.append(v);
  }
  rows_ = changes.size();
  return Status::Ok();
}

bool ChangeColumns::take_loaded(const std::vector<Column>& columns, size_t rows, size_t deps,
                               size_t actors, const std::vector<bool>& is_dep) {
  if (rows == 0 || is_dep.size() != rows) return false;
  // Messages and extra bytes: none, or the rows are encoded as usual.
  if (!find_column(columns, col::kChangeExtraRaw).empty()) return false;
  // Whether every one of the rows of a column, read a run at a time with `d`, passes `ok`.
  auto every_row = [rows](auto& d, auto&& ok) {
    for (uint64_t left = rows; left > 0;) {
      bool has;
      typename std::remove_reference_t<decltype(d)>::value_type v{};
      uint64_t count;
      if (!d.next_run(left, &has, &v, &count).ok() || count == 0 || !ok(has, v)) return false;
      left -= std::min(count, left);
    }
    return true;
  };
  StringDecoder message(find_column(columns, col::kChangeMessage));
  if (!every_row(message, [](bool has, std::string_view) { return !has; })) return false;
  ChangeColumns c;
  ResumedColumn got[7];
  if (!c.actor_.resume(find_column(columns, col::kChangeActor), &got[0]) ||
      !c.seq_.resume(find_column(columns, col::kChangeSeq), &got[1]) ||
      !c.max_op_.resume(find_column(columns, col::kChangeMaxOp), &got[2]) ||
      !c.time_.resume(find_column(columns, col::kChangeTime), &got[3]) ||
      !c.deps_group_.resume(find_column(columns, col::kChangeDepsGroup), &got[4]) ||
      !c.deps_index_.resume(find_column(columns, col::kChangeDepsIndex), &got[5]) ||
      !c.extra_.resume(find_column(columns, col::kChangeExtraMeta), ByteView(), &got[6]))
    return false;
  // extend() writes a value in every row of these columns, where the loader also takes a
  // null time or deps count (as 0): columns with nulls are not the bytes extend() writes.
  for (int k = 0; k < 7; ++k)
    if (got[k].rows != (k == 5 ? deps : rows) || got[k].nulls != 0) return false;
  // Each extra value must be the empty byte string extend() writes.
  Value empty;
  empty.type = static_cast<uint8_t>(ValueType::kBytes);
  uint8_t raw[32];
  const uint64_t empty_meta = write_value_raw(raw, empty);
  UintDecoder meta(find_column(columns, col::kChangeExtraMeta));
  if (!every_row(meta, [&](bool has, uint64_t m) { return has && m == empty_meta; }))
    return false;
  c.message_.append_null_n(rows);
  c.is_dep_ = is_dep;
  c.rows_ = rows;
  c.actors_ = actors;
  *this = std::move(c);
  return true;
}

void ChangeColumns::finish(ColumnWriter& cw) {
  if (rows_ == 0) return;
  cw.add(col::kChangeActor, actor_.finish(), true);
  cw.add(col::kChangeSeq, seq_.finish(), true);
  cw.add(col::kChangeMaxOp, max_op_.finish(), true);
  cw.add(col::kChangeTime, time_.finish(), true);
  if (message_.any_value()) cw.add(col::kChangeMessage, message_.finish(), true);
  cw.add(col::kChangeDepsGroup, deps_group_.finish(), true);
  cw.add(col::kChangeDepsIndex, deps_index_.finish());
  cw.add(col::kChangeExtraMeta, extra_.finish_meta(), true);
  cw.add(col::kChangeExtraRaw, extra_.finish_raw());
}

Result<Bytes> encode_document(const OpSet& s, const std::vector<const StoredChange*>& changes,
                              bool compress, const ChangeIndex* positions,
                              ChangeColumns* kept) {
  ChangeIndex own_positions;
  if (!positions) {
    auto hash_at = [&](uint32_t k) -> const ChangeHash& { return changes[k]->hash; };
    own_positions.insert_all(0, static_cast<uint32_t>(changes.size()), hash_at, hash_at);
    positions = &own_positions;
  }
  // Finished here: a copy of the kept columns (they go on taking rows), or columns of
  // their own. Alive until the body is written: the column writer holds views into them.
  ChangeColumns columns;
  if (kept) {
    AM_TRY(kept->extend(changes, s, *positions));
    columns = *kept;
  } else {
    AM_TRY(columns.extend(changes, s, *positions));
  }
  ColumnWriter cw;
  columns.finish(cw);
  const std::vector<bool>& is_dep = columns.is_dep();

  ColumnWriter ow;
  UintEncoder obj_actor, obj_ctr, key_actor, id_actor, action, succ_group, succ_actor;
  DeltaEncoder key_ctr, id_ctr, succ_ctr;
  StringEncoder key_str, mark_name;
  BoolEncoder insert, expand;
  ValueEncoder value;
  if (!s.order.empty()) {
    bool any_obj = false, any_key_actor = false, any_elem = false, any_map = false, any_mark = false;
    // Object by object (each one range of the order): its object columns are one run, and
    // so are the key columns its kind of object leaves null (a map's element columns, a
    // list's key strings).
    const size_t n = s.order.size();
    // Ops since the last that expands a mark or has a mark name (nearly all of them, for
    // most documents): appended as one run each when such an op comes, or at the end.
    uint64_t plain = 0;
    uint64_t no_succ = 0;  // likewise, ops without successors since the last with some
    size_t i = 0;
    for (const ObjectRange& r : s.objects) {
      if (r.begin != i || r.end < r.begin || r.end > n)
        return Status::Error("op set objects do not cover its order");
      const uint32_t len = r.end - r.begin;
      if (r.id.is_zero()) {
        obj_actor.append_null_n(len);
        obj_ctr.append_null_n(len);
      } else {
        any_obj |= len > 0;
        obj_actor.append_n(r.id.actor, len);
        obj_ctr.append_n(r.id.counter, len);
      }
      const bool map = r.type == ObjType::kMap;
      if (map) {
        any_map |= len > 0;
        key_actor.append_null_n(len);
        key_ctr.append_null_n(len);
      } else {
        any_elem |= len > 0;
        key_str.append_null_n(len);
      }
      for (; i < r.end; ++i) {
        // Document order visits the ops scattered over the changes' memory: fetch an op's
        // entry 64 rows ahead, and 32 rows ahead the op itself (a cache line) and, if it
        // has successors, their range, so that the misses overlap instead of stalling every
        // row. (The entry holds the successor count: an op without successors, most of
        // them, needs no successor range.)
        if (i + 64 < n) __builtin_prefetch(&s.all[s.order[i + 64]]);
        if (i + 32 < n) {
          const uint32_t near = s.order[i + 32];
          const DocOp& ahead = s.all[near];
          __builtin_prefetch(ahead.op);
          if (ahead.succ_count > 0) __builtin_prefetch(&s.succ_start[near]);
        }
        const uint32_t at = s.order[i];
        const DocOp& d = s.all[at];
        const Op& op = *d.op;
        if (op.map_key != map) return Status::Error("op's key is not of its object's kind");
        if (map) {
          key_str.append(op.key.view());
        } else {
          if (d.elem.is_zero()) {
            key_actor.append_null();
          } else {
            any_key_actor = true;
            key_actor.append(d.elem.actor);
          }
          key_ctr.append(d.elem.counter);
        }
        id_actor.append(d.id.actor);
        id_ctr.append(d.id.counter);
        insert.append(op.insert);
        action.append(op.action);
        value.append(op.value);
        if (d.succ_count == 0) {
          ++no_succ;
        } else {
          succ_group.append_n(0, no_succ);
          no_succ = 0;
          succ_group.append(d.succ_count);
          for (uint32_t k = s.succ_start[at], e = k + d.succ_count; k < e; ++k) {
            succ_actor.append(s.succ[k].actor);
            succ_ctr.append(s.succ[k].counter);
          }
        }
        if (!op.expand && !op.has_mark_name) {
          ++plain;
          continue;
        }
        expand.append_n(false, plain);
        mark_name.append_null_n(plain);
        plain = 0;
        expand.append(op.expand);
        if (op.has_mark_name) {
          any_mark = true;
          mark_name.append(s.mark_name(at));
        } else {
          mark_name.append_null();
        }
      }
    }
    if (i != n) return Status::Error("op set objects do not cover its order");
    expand.append_n(false, plain);
    mark_name.append_null_n(plain);
    succ_group.append_n(0, no_succ);
    if (any_obj) {
      ow.add(col::kObjActor, obj_actor.finish(), true);
      ow.add(col::kObjCounter, obj_ctr.finish(), true);
    }
    if (any_key_actor) ow.add(col::kKeyActor, key_actor.finish(), true);
    if (any_elem) ow.add(col::kKeyCounter, key_ctr.finish(), true);
    if (any_map) ow.add(col::kKeyString, key_str.finish(), true);
    ow.add(col::kIdActor, id_actor.finish(), true);
    ow.add(col::kIdCounter, id_ctr.finish(), true);
    ow.add(col::kInsert, insert.finish(), true);
    ow.add(col::kAction, action.finish(), true);
    ow.add(col::kValueMeta, value.finish_meta(), true);
    ow.add(col::kValueRaw, value.finish_raw());
    ow.add(col::kSuccGroup, succ_group.finish(), true);
    ow.add(col::kSuccActor, succ_actor.finish());
    ow.add(col::kSuccCounter, succ_ctr.finish());
    if (expand.any_true()) ow.add(col::kExpand, expand.finish(), true);
    if (any_mark) ow.add(col::kMarkName, mark_name.finish(), true);
  }

  std::vector<std::pair<ChangeHash, uint32_t>> heads;
  for (uint32_t i = 0; i < changes.size(); ++i)
    if (!is_dep[i]) heads.emplace_back(changes[i]->hash, i);
  std::sort(heads.begin(), heads.end());

  // The body's parts apart from the columns' data (a few hundred bytes), so that its size is
  // known before it is written: then the chunk is written once, at its size, rather than
  // built by doubling and copied into the chunk (a megabyte for a large document).
  Bytes head, tail;
  put_uleb(head, s.actors.size());
  for (const auto& a : s.actors) put_prefixed(head, a);
  put_uleb(head, heads.size());
  for (const auto& h : heads) put_bytes(head, h.first);
  cw.write_metadata(head, compress);
  ow.write_metadata(head, compress);
  for (const auto& h : heads) put_uleb(tail, h.second);
  const size_t body_size = head.size() + cw.data_size() + ow.data_size() + tail.size();
  Bytes out;
  out.reserve(16 + body_size);
  begin_chunk(out, ChunkType::kDocument, body_size);
  put_bytes(out, head);
  cw.write_data(out);
  ow.write_data(out);
  put_bytes(out, tail);
  finish_chunk(out, 0);
  return out;
}

Result<Bytes> inflate_document_body(ByteView body) {
  DocLayout d;
  AM_TRY(read_layout(body, &d));
  size_t budget = inflate_budget_for(body.size());
  AM_TRY(inflate_columns(&budget, &d));
  Bytes out;
  put_uleb(out, d.actors.size());
  for (const auto& a : d.actors) put_prefixed(out, a);
  put_uleb(out, d.heads.size());
  for (const auto& h : d.heads) put_bytes(out, h);
  for (auto* cols : {&d.change_cols, &d.op_cols}) {
    put_uleb(out, cols->size());
    for (const Column& c : *cols) {
      put_uleb(out, c.spec);
      put_uleb(out, c.data.size());
    }
  }
  for (auto* cols : {&d.change_cols, &d.op_cols})
    for (const Column& c : *cols) put_bytes(out, c.data);
  for (uint64_t i : d.heads_index) put_uleb(out, i);
  return out;
}

}  // namespace amstore
