#include "automerge/change.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <span>

#include "automerge/columns.h"

namespace amstore {

namespace {

constexpr uint64_t kMaxCounter = 0xffffffffu;

Status check_counter(int64_t c, bool allow_zero) {
  if (c < (allow_zero ? 0 : 1) || static_cast<uint64_t>(c) > kMaxCounter)
    return Status::Error("op counter out of range");
  return Status::Ok();
}

Status decode_ops(const std::vector<Column>& cols, size_t num_actors, size_t body_size, Change* ch) {
  for (const Column& c : cols) {
    if (c.deflated) return Status::Error("change contained compressed columns");
    uint32_t t = c.spec & 7;
    (void)t;
  }
  // Unknown columns are refused: the reference drops them when it saves a document, after
  // which the change could no longer be reproduced (spec §10.5).
  static const uint32_t known[] = {col::kObjActor, col::kObjCounter, col::kKeyActor,
                                   col::kKeyCounter, col::kKeyString, col::kInsert,
                                   col::kAction, col::kValueMeta, col::kValueRaw,
                                   col::kPredGroup, col::kPredActor, col::kPredCounter,
                                   col::kExpand, col::kMarkName};
  for (const Column& c : cols)
    if (std::find(std::begin(known), std::end(known), c.spec) == std::end(known))
      return Status::Error("change has an unknown column " + std::to_string(c.spec));

  ByteView action_data = find_column(cols, col::kAction);
  UintDecoder obj_actor(find_column(cols, col::kObjActor));
  UintDecoder obj_ctr(find_column(cols, col::kObjCounter));
  UintDecoder key_actor(find_column(cols, col::kKeyActor));
  DeltaDecoder key_ctr(find_column(cols, col::kKeyCounter));
  StringDecoder key_str(find_column(cols, col::kKeyString));
  BoolDecoder insert(find_column(cols, col::kInsert));
  UintDecoder action(action_data);
  ValueDecoder value(find_column(cols, col::kValueMeta), find_column(cols, col::kValueRaw));
  UintDecoder pred_group(find_column(cols, col::kPredGroup));
  UintDecoder pred_actor(find_column(cols, col::kPredActor));
  DeltaDecoder pred_ctr(find_column(cols, col::kPredCounter));
  BoolDecoder expand(find_column(cols, col::kExpand));
  StringDecoder mark_name(find_column(cols, col::kMarkName));

  auto actor_index = [&](bool has, uint64_t a, uint32_t* out) -> Status {
    if (!has) return Status::Error("missing actor index");
    if (a >= num_actors) return Status::Error("actor index out of range");
    *out = static_cast<uint32_t>(a);
    return Status::Ok();
  };

  const size_t max_rows = max_rows_for(body_size);
  while (!action.done()) {
    if (ch->ops.size() >= max_rows || ch->preds.size() >= max_rows)
      return Status::Error("change has more ops than its size allows");
    Op op;
    bool has_a, has_c, has_s;
    uint64_t a = 0, u = 0;
    int64_t c = 0;
    std::string_view s;
    // obj
    AM_TRY(obj_actor.next(&has_a, &a));
    AM_TRY(obj_ctr.next(&has_c, &u));
    if (has_a != has_c) return Status::Error("object id with only one of actor and counter");
    if (has_a) {
      AM_TRY(actor_index(true, a, &op.obj.actor));
      if (u == 0 || u > kMaxCounter) return Status::Error("object counter out of range");
      op.obj.counter = static_cast<uint32_t>(u);
    }
    // key
    AM_TRY(key_actor.next(&has_a, &a));
    AM_TRY(key_ctr.next(&has_c, &c));
    AM_TRY(key_str.next(&has_s, &s));
    if (has_s) {
      if (has_a || has_c) return Status::Error("op has both a map key and an element key");
      op.map_key = true;
      op.key.assign(s);
    } else {
      if (!has_c) return Status::Error("op has no key");
      AM_TRY(check_counter(c, true));
      if (has_a) {
        if (c == 0) return Status::Error("element id with counter 0");
        AM_TRY(actor_index(true, a, &op.elem.actor));
      } else if (c != 0) {
        return Status::Error("element id without an actor");
      }
      op.elem.counter = static_cast<uint32_t>(c);
    }
    bool flag;
    AM_TRY(insert.next(&flag));
    op.insert = flag;
    bool has_action;
    AM_TRY(action.next(&has_action, &u));
    if (!has_action) return Status::Error("null action");
    if (u > kMaxAction) return Status::Error("unrecognized action index " + std::to_string(u));
    op.action = static_cast<uint8_t>(u);
    AM_TRY(value.next(&op.value));
    if (op.action == static_cast<uint8_t>(Action::kInc) && op.value.kind() != ValueType::kInt &&
        op.value.kind() != ValueType::kUint)
      return Status::Error("increment with a non-numeric value");
    uint64_t n;
    AM_TRY(pred_group.next(&has_a, &n));
    if (!has_a) n = 0;
    if (n > max_rows) return Status::Error("pred count out of range");
    op.pred_count = static_cast<uint32_t>(n);
    for (uint64_t i = 0; i < n; ++i) {
      OpId p;
      AM_TRY(pred_actor.next(&has_a, &a));
      AM_TRY(actor_index(has_a, a, &p.actor));
      AM_TRY(pred_ctr.next(&has_c, &c));
      if (!has_c) return Status::Error("missing pred counter");
      AM_TRY(check_counter(c, false));
      p.counter = static_cast<uint32_t>(c);
      ch->preds.push_back(p);
    }
    AM_TRY(expand.next(&flag));
    op.expand = flag;
    AM_TRY(mark_name.next(&has_s, &s));
    if (has_s) {
      op.has_mark_name = true;
      ch->mutable_mark_names().emplace_back(static_cast<uint32_t>(ch->ops.size()), s);
    }
    // Documents keep deletes only as successors; Algorithm A regenerates them as plain
    // deletes (null value, no insert, expand or mark name): anything else could not survive
    // a document round trip.
    if (op.action == static_cast<uint8_t>(Action::kDel) &&
        (op.value.kind() != ValueType::kNull || op.insert || op.expand || op.has_mark_name))
      return Status::Error("delete op with a value, insert flag, expand flag or mark name");
    ch->ops.push_back(std::move(op));
  }
  if (!(obj_actor.done() && obj_ctr.done() && key_actor.done() && key_ctr.done() &&
        key_str.done() && insert.done() && value.done() && pred_group.done() &&
        pred_actor.done() && pred_ctr.done() && expand.done() && mark_name.done()))
    return Status::Error("op columns have different numbers of rows");
  return Status::Ok();
}

// Encoders of the change op columns, reused across calls (per thread) to avoid allocating.
// The delta columns are IntEncoders of the deltas, which encode_ops works out itself.
struct OpColumnEncoders {
  UintEncoder obj_actor, obj_ctr, key_actor, action, pred_group, pred_actor;
  IntEncoder key_ctr, pred_ctr;
  StringEncoder key_str, mark_name;
  BoolEncoder insert, expand;
  ValueEncoder value;
  void reset() {
    for (UintEncoder* e : {&obj_actor, &obj_ctr, &key_actor, &action, &pred_group, &pred_actor})
      e->reset();
    key_ctr.reset();
    pred_ctr.reset();
    key_str.reset();
    mark_name.reset();
    insert.reset();
    expand.reset();
    value.reset();
  }
};

// A change of one op (a character typed, a key set: most changes) with at most one pred:
// each column holds one value, whose canonical encoding is fixed (a literal run of one, or
// a boolean column's counts), so the columns are written directly, with the same column
// choices as encode_ops below. The encoders there cost several times more for a change
// this small. Tests hold it to encode_ops' bytes.
//
// The room one_op_columns needs for ch's op columns, or 0 for any other change: the columns'
// data (each column at most a run header and a LEB128, plus the strings), and before it their
// count and each one's spec and length.
size_t one_op_data_room(const Op& op, std::string_view mark) {
  return 14 * 11 + op.key.size() + value_raw_room(op.value) + 11 + mark.size();
}
size_t one_op_room(const Change& ch) {
  if (ch.ops.size() != 1 || ch.ops[0].pred_count > 1) return 0;
  const Op& op = ch.ops[0];
  const std::string_view mark = op.has_mark_name ? ch.mark_name(0) : std::string_view();
  return 1 + 14 * (2 * kMaxLebBytes) + one_op_data_room(op, mark);
}

// The op columns of a one-op change (see one_op_columns), at out; returns the bytes written.
// Direct: each column's spec and data length are a byte each, so the metadata's size is
// known from the column count, and the columns are written in place, spec and length as
// each one ends. Else the columns' data go to a buffer sized beforehand (on the stack for
// the usual few bytes), each column's spec and length to `specs`; at `out` then the count,
// the metadata and the data. (A template: decided once per op, not at every column.)
template <bool kDirect>
size_t write_one_op_columns(const Change& ch, const Op& op, std::string_view mark, uint8_t* out) {
  uint8_t small[256];
  uint8_t* buffer = small;  // not direct: the columns' data, `bound` bytes
  const size_t bound = kDirect ? 0 : one_op_data_room(op, mark);
  if constexpr (!kDirect) {
    thread_local Bytes large;
    if (bound > sizeof small) {
      large.resize(bound);
      buffer = large.data();
    }
  }
  // The value's raw bytes, written first (the column count needs its metadata: a raw column
  // or none), on the stack or where the data ends; moved behind its metadata column later.
  uint8_t* const raw = kDirect ? small : buffer + bound - value_raw_room(op.value);
  const uint64_t meta = write_value_raw(raw, op.value);
  const bool root = op.obj.is_zero(), elem_actor = !op.map_key && !op.elem.is_zero();
  // The columns but expand and mark name: the object's two (not for the root), the key's one
  // or two (an element's actor), insert, action, value metadata, value raw if any, the pred
  // group, and the pred's two.
  const size_t n = 2 * !root + 1 + elem_actor + 3 + (meta >> 4 > 0) + 1 + 2 * op.pred_count;
  uint8_t specs[kDirect ? 1 : 14 * 2 * kMaxLebBytes];
  uint8_t* m = kDirect ? out + 1 : specs;
  uint8_t* const data = kDirect ? out + 1 + 2 * n : buffer;
  uint8_t* p = data;
  const uint8_t* at = data;
  auto end_column = [&](uint32_t spec) {
    if constexpr (kDirect) {
      m[0] = static_cast<uint8_t>(spec);
      m[1] = static_cast<uint8_t>(p - at);
      m += 2;
    } else {
      m += write_uleb(m, spec);
      m += write_uleb(m, static_cast<uint64_t>(p - at));
    }
    at = p;
  };
  constexpr uint8_t kLiteralOfOne = 0x7f;  // sLEB128 −1
  auto uint_column = [&](uint32_t spec, uint64_t v) {
    *p++ = kLiteralOfOne;
    p += write_uleb(p, v);
    end_column(spec);
  };
  auto delta_column = [&](uint32_t spec, int64_t v) {  // the delta from 0 is v
    *p++ = kLiteralOfOne;
    p += write_sleb(p, v);
    end_column(spec);
  };
  auto string_column = [&](uint32_t spec, std::string_view v) {
    *p++ = kLiteralOfOne;
    p += write_uleb(p, v.size());
    copy_bytes(p, v.data(), v.size());
    p += v.size();
    end_column(spec);
  };
  auto bool_column = [&](uint32_t spec, bool v) {  // counts of false, then of true
    if (v) *p++ = 0;
    *p++ = 1;
    end_column(spec);
  };
  if (!root) {
    uint_column(col::kObjActor, op.obj.actor);
    uint_column(col::kObjCounter, op.obj.counter);
  }
  if (op.map_key) {
    string_column(col::kKeyString, op.key.view());
  } else {
    if (elem_actor) uint_column(col::kKeyActor, op.elem.actor);
    delta_column(col::kKeyCounter, op.elem.counter);
  }
  bool_column(col::kInsert, op.insert);
  uint_column(col::kAction, op.action);
  uint_column(col::kValueMeta, meta);
  if (meta >> 4 > 0) {
    copy_bytes(p, raw, meta >> 4);
    p += meta >> 4;
    end_column(col::kValueRaw);
  }
  uint_column(col::kPredGroup, op.pred_count);
  if (op.pred_count == 1) {
    const OpId& pred = ch.preds[0];  // (the only op's)
    uint_column(col::kPredActor, pred.actor);
    delta_column(col::kPredCounter, pred.counter);
  }
  if constexpr (kDirect) {  // (neither expand nor a mark name)
    out[0] = static_cast<uint8_t>(n);
    return static_cast<size_t>(p - out);
  } else {
    if (op.expand) bool_column(col::kExpand, true);
    if (op.has_mark_name) string_column(col::kMarkName, mark);
    const size_t count = n + op.expand + op.has_mark_name;
    uint8_t* o = out;
    o += write_uleb(o, count);
    copy_bytes(o, specs, static_cast<size_t>(m - specs));
    o += m - specs;
    copy_bytes(o, data, static_cast<size_t>(p - data));
    return static_cast<size_t>(o + (p - data) - out);
  }
}

// Writes the op columns of ch (one_op_room(ch) > 0) at out; returns the bytes written. Most
// ops (a character typed, a key set) go direct.
size_t one_op_columns(const Change& ch, uint8_t* out) {
  const Op& op = ch.ops[0];
  const std::string_view mark = op.has_mark_name ? ch.mark_name(0) : std::string_view();
  constexpr size_t kDirectRoom = 100;  // key and raw value (a column's data stays below 128)
  const bool direct = !op.expand && !op.has_mark_name && op.key.size() <= kDirectRoom &&
                      value_raw_room(op.value) <= kDirectRoom;
  return direct ? write_one_op_columns<true>(ch, op, mark, out)
                : write_one_op_columns<false>(ch, op, mark, out);
}

// Column by column (append_runs): each column is a pass of its own over the change's ops, in
// cache (they were just made or read); columns whose runs mostly end together share one.
void encode_ops(const Change& ch, Bytes& out) {
  const std::span<const Op> ops(ch.ops.data(), ch.ops.size());  // (data() looked up once)
  const size_t n = ops.size();
  if (n == 0) {
    put_uleb(out, 0);
    return;
  }
  thread_local OpColumnEncoders e;
  e.reset();
  // The object's two columns in one pass (RunSink): a run of one object is a run in both.
  RunSink obj_columns{[&](const OpId& obj, uint64_t count) {
    if (obj.is_zero()) {
      e.obj_actor.append_null_n(count);
      e.obj_ctr.append_null_n(count);
    } else {
      e.obj_actor.append_n(obj.actor, count);
      e.obj_ctr.append_n(obj.counter, count);
    }
  }};
  append_runs(obj_columns, n, nullptr, [&](size_t k) { return ops[k].obj; });
  // The key's three columns in one pass: a map op's key string, or a list op's element (its
  // actor, null for the head, and its counter's delta from the element before).
  int64_t last = 0;
  for (size_t i = 0; i < n;) {
    const Op& first = ops[i];
    size_t j = i + 1;
    if (first.map_key) {
      const std::string_view key = first.key.view();
      while (j < n && ops[j].map_key && ops[j].key.view() == key) ++j;
      e.key_actor.append_null_n(j - i);
      e.key_ctr.append_null_n(j - i);
      e.key_str.append_n(key, j - i);
    } else {
      const bool head = first.elem.is_zero();
      const uint32_t actor = first.elem.actor;
      const int64_t delta = counter_delta(first.elem.counter, last);
      int64_t at = first.elem.counter;
      for (; j < n && !ops[j].map_key && ops[j].elem.is_zero() == head &&
             (head || ops[j].elem.actor == actor) &&
             counter_delta(ops[j].elem.counter, at) == delta;
           ++j)
        at = ops[j].elem.counter;
      if (head)
        e.key_actor.append_null_n(j - i);
      else
        e.key_actor.append_n(actor, j - i);
      e.key_ctr.append_n(delta, j - i);
      e.key_str.append_null_n(j - i);
      last = at;
    }
    i = j;
  }
  // Likewise insert, action and the pred count (a character typed is an insert and a set
  // without preds; a deletion a delete with one).
  struct Kind {
    bool insert;
    uint8_t action;
    uint32_t pred_count;
    bool operator==(const Kind&) const = default;
  };
  RunSink kind_columns{[&](const Kind& k, uint64_t count) {
    e.insert.append_n(k.insert, count);
    e.action.append_n(k.action, count);
    e.pred_group.append_n(k.pred_count, count);
  }};
  append_runs(kind_columns, n, nullptr,
              [&](size_t k) { return Kind{ops[k].insert, ops[k].action, ops[k].pred_count}; });
  e.value.append_all(n, [&](size_t k) -> const Value& { return ops[k].value; });
  const OpId* preds = ch.preds.data();
  append_runs(e.pred_actor, ch.preds.size(), nullptr,
              [&](size_t k) { return uint64_t(preds[k].actor); });
  last = 0;
  append_delta_runs(e.pred_ctr, &last, ch.preds.size(), nullptr,
                    [&](size_t k) { return int64_t(preds[k].counter); });
  const bool any_expand =
      std::any_of(ops.begin(), ops.end(), [](const Op& op) { return op.expand; });
  if (any_expand) append_runs(e.expand, n, nullptr, [&](size_t k) { return bool(ops[k].expand); });
  // (Only ops with a mark name have an entry in mark_names.)
  const bool any_mark = !ch.mark_names().empty();
  if (any_mark)
    append_runs(e.mark_name, n, [&](size_t k) { return !ops[k].has_mark_name; },
                [&](size_t k) { return ch.mark_name(k); });
  const bool any_obj = e.obj_actor.any_value(), any_key_actor = e.key_actor.any_value(),
             any_elem = e.key_ctr.any_value(), any_map = e.key_str.any_value();
  ColumnWriter w;
  if (any_obj) {
    w.add(col::kObjActor, e.obj_actor.finish(), true);
    w.add(col::kObjCounter, e.obj_ctr.finish(), true);
  }
  if (any_key_actor) w.add(col::kKeyActor, e.key_actor.finish(), true);
  if (any_elem) w.add(col::kKeyCounter, e.key_ctr.finish(), true);
  if (any_map) w.add(col::kKeyString, e.key_str.finish(), true);
  w.add(col::kInsert, e.insert.finish(), true);
  w.add(col::kAction, e.action.finish(), true);
  w.add(col::kValueMeta, e.value.finish_meta(), true);
  w.add(col::kValueRaw, e.value.finish_raw());
  w.add(col::kPredGroup, e.pred_group.finish(), true);
  w.add(col::kPredActor, e.pred_actor.finish());
  w.add(col::kPredCounter, e.pred_ctr.finish());
  if (any_expand) w.add(col::kExpand, e.expand.finish(), true);
  if (any_mark) w.add(col::kMarkName, e.mark_name.finish(), true);
  w.write_metadata(out, false);
  w.write_data(out);
}

// The room write_body_head needs for ch: every field before the ops.
size_t body_head_room(const Change& ch) {
  size_t room = kMaxLebBytes + 32 * ch.deps.size() + 5 * kMaxLebBytes + ch.message().size();
  for (const ActorId& a : ch.actors) room += kMaxLebBytes + a.size();
  return room;
}

// Writes the fields of ch's body before its ops at p; returns the end.
uint8_t* write_body_head(const Change& ch, uint8_t* p) {
  auto prefixed = [&p](std::string_view s) {
    p += write_uleb(p, s.size());
    copy_bytes(p, s.data(), s.size());
    p += s.size();
  };
  p += write_uleb(p, ch.deps.size());
  for (const ChangeHash& d : ch.deps) {
    std::memcpy(p, d.data(), d.size());
    p += d.size();
  }
  prefixed(ch.actors[0]);
  p += write_uleb(p, ch.seq);
  p += write_uleb(p, ch.start_op);
  p += write_sleb(p, ch.time);
  prefixed(ch.message());
  p += write_uleb(p, ch.actors.size() - 1);
  for (size_t i = 1; i < ch.actors.size(); ++i) prefixed(ch.actors[i]);
  return p;
}

// Writes the whole body of a one-op change (room: body_head_room + one_op_room + its extra
// bytes) at p; returns the end.
uint8_t* write_one_op_body(const Change& ch, uint8_t* p) {
  p = write_body_head(ch, p);
  p += one_op_columns(ch, p);
  const Bytes& extra = ch.extra();
  if (!extra.empty()) std::memcpy(p, extra.data(), extra.size());  // (data() may be null)
  return p + extra.size();
}

// `general`: the op columns through the column encoders whatever the change's shape.
void encode_body(const Change& ch, Bytes& out, bool general) {
  const size_t at = out.size();
  if (const size_t one_op = general ? 0 : one_op_room(ch)) {
    out.resize(at + body_head_room(ch) + one_op + ch.extra().size());
    out.resize(static_cast<size_t>(write_one_op_body(ch, out.data() + at) - out.data()));
    return;
  }
  out.resize(at + body_head_room(ch));
  out.resize(static_cast<size_t>(write_body_head(ch, out.data() + at) - out.data()));
  encode_ops(ch, out);
  put_bytes(out, ch.extra());
}

// Other actors must be exactly the non-author actors that ops refer to, sorted.
Status check_actor_table(const Change& ch) {
  std::vector<bool> used(ch.actors.size(), false);
  for (const Op& op : ch.ops) {
    if (!op.obj.is_zero()) used[op.obj.actor] = true;
    if (!op.map_key && !op.elem.is_zero()) used[op.elem.actor] = true;
  }
  for (const OpId& p : ch.preds) used[p.actor] = true;
  for (size_t i = 1; i < ch.actors.size(); ++i) {
    if (!used[i]) return Status::Error("change lists an actor that no op uses");
    if (ch.actors[i] == ch.actors[0]) return Status::Error("change lists its author as another actor");
    if (i > 1 && !(ch.actors[i - 1] < ch.actors[i]))
      return Status::Error("change's other actors are not sorted");
  }
  return Status::Ok();
}

// A change body's deps (its first field).
Status read_deps(Reader& r, SmallVector<ChangeHash>* deps) {
  uint64_t n;
  AM_TRY(r.count(&n, 32));
  ByteView hashes;
  AM_TRY(r.take(32 * n, &hashes));
  const auto* first = reinterpret_cast<const ChangeHash*>(hashes.data());
  deps->assign(first, first + n);
  return Status::Ok();
}

}  // namespace

Result<Change> decode_change(ByteView body, bool check_canonical) {
  Change ch;
  Reader r(body);
  uint64_t n;
  AM_TRY(read_deps(r, &ch.deps));
  for (size_t i = 1; i < ch.deps.size(); ++i)
    if (!(ch.deps[i - 1] < ch.deps[i])) return Status::Error("change deps are not sorted");
  std::string author;
  AM_TRY(r.prefixed_string(&author));
  ch.actors.push_back(std::move(author));
  AM_TRY(r.uleb(&ch.seq));
  if (ch.seq == 0) return Status::Error("change seq must be at least 1");
  AM_TRY(r.uleb(&ch.start_op));
  if (ch.start_op == 0) return Status::Error("change startOp must be at least 1");
  AM_TRY(r.sleb(&ch.time));
  ByteView message;
  AM_TRY(r.prefixed(&message));
  if (!message.empty()) ch.mutable_message().assign(as_chars(message));
  AM_TRY(r.count(&n, 1));
  for (uint64_t i = 0; i < n; ++i) {
    std::string a;
    AM_TRY(r.prefixed_string(&a));
    ch.actors.push_back(std::move(a));
  }
  std::vector<Column> cols;
  AM_TRY(read_column_metadata(r, &cols));
  AM_TRY(locate_column_data(r, cols));
  ByteView extra = r.rest();
  if (!extra.empty()) ch.mutable_extra().assign(extra.begin(), extra.end());
  AM_TRY(decode_ops(cols, ch.actors.size(), body.size(), &ch));
  if (ch.start_op > kMaxCounter || ch.start_op + ch.ops.size() - 1 > kMaxCounter)
    return Status::Error("counter too large");
  const OpId* preds = ch.preds.data();
  for (const Op& op : ch.ops) {
    for (uint32_t i = 1; i < op.pred_count; ++i) {
      // Preds are in Lamport order; here actor indexes are change-local, so compare bytes.
      const OpId& a = preds[i - 1];
      const OpId& b = preds[i];
      if (a.counter > b.counter ||
          (a.counter == b.counter && !(ch.actors[a.actor] < ch.actors[b.actor])))
        return Status::Error("op preds are not sorted");
    }
    preds += op.pred_count;
  }
  AM_TRY(check_actor_table(ch));
  if (!check_canonical) return ch;
  thread_local Bytes again;
  again.clear();
  encode_change_body(ch, again);
  if (again.size() != body.size() || std::memcmp(again.data(), body.data(), body.size()) != 0)
    return Status::Error("change is not canonically encoded");
  return ch;
}

// The error of check_start_op, for counters that do not follow on.
Status start_op_error(uint64_t start_op, size_t num_ops, uint64_t deps_max_op,
                      uint64_t author_max_op) {
  if (deps_max_op < author_max_op)
    return Status::Error("change does not follow on from its author's previous change: its "
                         "dependencies' highest op counter " + std::to_string(deps_max_op) +
                         " is below that change's maxOp " + std::to_string(author_max_op));
  if (num_ops > 0 && start_op <= deps_max_op)
    return Status::Error("change startOp " + std::to_string(start_op) +
                         " is not above its dependencies' highest op counter " +
                         std::to_string(deps_max_op));
  if (num_ops == 0 && start_op != deps_max_op + 1)
    return Status::Error("empty change has startOp " + std::to_string(start_op) +
                         ", not one above its dependencies' highest op counter " +
                         std::to_string(deps_max_op));
  return Status::Ok();
}

Bytes encode_change_body(const Change& ch) {
  Bytes out;
  encode_change_body(ch, out);
  return out;
}

void encode_change_body(const Change& ch, Bytes& out) { encode_body(ch, out, false); }

Bytes encode_change_body_general(const Change& ch) {
  Bytes out;
  encode_body(ch, out, true);
  return out;
}

}  // namespace amstore

#include "automerge/chunk.h"

namespace amstore {

const std::string Change::kNoString;
const Bytes Change::kNoBytes;
const std::vector<std::pair<uint32_t, SmallString>> Change::kNoMarkNames;

std::string_view Change::mark_name(size_t i) const {
  const SmallString* name = find_by_index(mark_names(), i);
  return name ? name->view() : std::string_view();
}

StoredChange store_change(Change change) {
  StoredChange sc;
  sc.change = std::move(change);
  seal_change(sc.change, &sc);
  return sc;
}

void seal_change(const Change& ch, StoredChange* sc) {
  // A one-op change (most of them) is written whole into a buffer on the stack, its body
  // after room for the longest header, and copied once into its chunk: no growing vectors.
  constexpr size_t kRoom = 1024, kHeadRoom = 9 + kMaxLebBytes;  // (the longest chunk header)
  if (const size_t one_op = one_op_room(ch);
      one_op > 0 &&
      kHeadRoom + body_head_room(ch) + one_op + ch.extra().size() + kSha256PadRoom <= kRoom) {
    uint8_t buf[kRoom];
    uint8_t* const body = buf + kHeadRoom;
    uint8_t* const end = write_one_op_body(ch, body);
    const size_t body_size = static_cast<size_t>(end - body);
    uint8_t* const chunk = body - chunk_header_size(body_size);
    write_chunk_header(chunk, ChunkType::kChange, body_size);
    sc->hash = seal_chunk(chunk, static_cast<size_t>(end - chunk), true);
    static_assert(kHeadRoom + sizeof(StoredChange::chunk) <= kRoom);  // (read past `end`)
    sc->chunk.assign_padded(chunk, static_cast<size_t>(end - chunk));
    return;
  }
  thread_local Bytes body;
  body.clear();
  encode_change_body(ch, body);
  sc->chunk.clear();
  // Sized exactly, the header and then the body (write_chunk resizes it once): kept for as
  // long as the document is (a text of 10^5 changes: 10 bytes of slack each added a megabyte).
  sc->hash = write_chunk(sc->chunk, ChunkType::kChange, body);
}

}  // namespace amstore

namespace amstore {

// Every StoredChange is preceded by a header naming its block (null: made on its own), so
// that `delete` can tell the two kinds apart. 16 bytes keep the change 16-byte aligned.
struct alignas(16) ChangeHeader {
  ChangeArena::Block* block;
};
static_assert(sizeof(ChangeHeader) == 16);

struct ChangeArena::Block {
  // Its slots, less those freed: set to all of them when it is made, so that handing one
  // out costs no atomic operation; those never handed out are given up by retire().
  std::atomic<size_t> refs;
};

namespace {
constexpr size_t kSlot = sizeof(ChangeHeader) + (sizeof(StoredChange) + 15) / 16 * 16;
constexpr size_t kFirstSlot = (sizeof(ChangeArena::Block) + 15) / 16 * 16;
constexpr size_t kMaxSlots = (64 * 1024 - kFirstSlot) / kSlot;
static_assert(kMaxSlots >= 16);

void release(ChangeArena::Block* b, size_t n) {
  if (n > 0 && b->refs.fetch_sub(n, std::memory_order_acq_rel) == n) {
    b->~Block();
    ::operator delete(b);
  }
}
}  // namespace

void* StoredChange::operator new(size_t size) {
  auto* h = static_cast<ChangeHeader*>(::operator new(sizeof(ChangeHeader) + size));
  h->block = nullptr;
  return h + 1;
}

void StoredChange::operator delete(void* p) noexcept {
  if (!p) return;
  ChangeHeader* h = static_cast<ChangeHeader*>(p) - 1;
  if (h->block) release(h->block, 1); else ::operator delete(h);
}

void ChangeArena::retire() {
  if (block_) release(block_, slots_ - used_);
  block_ = nullptr;
}

void ChangeArena::next_block() {
  retire();
  slots_ = std::clamp<size_t>(left_, 1, kMaxSlots);
  block_ = new (::operator new(kFirstSlot + slots_ * kSlot)) Block{slots_};
  used_ = 0;
}

StoredChange* ChangeArena::make_in(Block* b, size_t slot, size_t slots) {
  char* const first = reinterpret_cast<char*>(b) + kFirstSlot;
  // (8 slots ahead measured best of 2–16: a typed text's lean load took 3–5 % less time.)
  constexpr size_t kAhead = 8;
  if (slot + kAhead < slots)
    for (size_t off = 0; off < kSlot; off += 64)
      __builtin_prefetch(first + (slot + kAhead) * kSlot + off, 1);
  auto* h = reinterpret_cast<ChangeHeader*>(first + slot * kSlot);
  h->block = b;
  return ::new (static_cast<void*>(h + 1)) StoredChange;
}

namespace {
// The body of a StoredChange's chunk: after magic (4), checksum (4), type (1), uLEB length.
Status stored_change_body(ByteView chunk, ByteView* body) {
  if (chunk.size() < 9) return Status::Error("stored change chunk is truncated");
  Reader r(chunk.subspan(9));
  uint64_t len = 0;
  AM_TRY(r.uleb(&len));
  *body = r.rest();
  return Status::Ok();
}
}  // namespace

Result<Change> decode_stored_change(ByteView chunk) {
  ByteView body;
  AM_TRY(stored_change_body(chunk, &body));
  return decode_change(body, false);
}

Status stored_change_deps(ByteView chunk, SmallVector<ChangeHash>* deps) {
  ByteView body;
  AM_TRY(stored_change_body(chunk, &body));
  Reader r(body);
  return read_deps(r, deps);
}

}  // namespace amstore
