#include "automerge/json_view.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "automerge/keyed_hash.h"

namespace amstore {

namespace {

// Objects nested deeper than this are refused rather than risking the stack.
constexpr int kMaxDepth = 2000;

// Whether op all[i] is visible.
bool visible(const OpSet& s, uint32_t i) {
  const Op& op = *s.all[i].op;
  uint8_t a = op.action;
  if (!(is_make(a) || a == static_cast<uint8_t>(Action::kSet))) return false;
  if (s.succ_count(i) == 0) return true;
  // Increments keep only a counter visible: an inc that names another value (it names every
  // value at its key) hides that value like any other successor.
  if (a != static_cast<uint8_t>(Action::kSet) || op.value.kind() != ValueType::kCounter) return false;
  for (uint32_t k = s.succ_start[i]; k < s.succ_start[i + 1]; ++k)
    if (s.succ_ops[k]->action != static_cast<uint8_t>(Action::kInc)) return false;
  return true;
}

class Renderer {
 public:
  explicit Renderer(const OpSet& s) : s_(s) {
    for (size_t i = 0; i < s.objects.size(); ++i) objects_.emplace(opid_key(s.objects[i].id), i);
  }

  Status object(OpId id, ObjType type, int depth, std::string& out) {
    if (depth > kMaxDepth) return Status::Error("objects nested too deeply to render");
    auto it = objects_.find(opid_key(id));
    const ObjectRange* r = it == objects_.end() ? nullptr : &s_.objects[it->second];
    if (type == ObjType::kMap) return map(r, depth, out);
    return sequence(r, type == ObjType::kText, depth, out);
  }

 private:
  Status map(const ObjectRange* r, int depth, std::string& out) {
    out.push_back('{');
    bool first = true;
    if (r) {
      for (uint32_t i = r->begin; i < r->end;) {
        uint32_t j = i;
        const uint32_t* winner = nullptr;  // index in `all`
        for (; j < r->end && s_.op(j).op->key == s_.op(i).op->key; ++j)
          if (visible(s_, s_.order[j])) winner = &s_.order[j];  // ops are in id order
        if (winner) {
          if (!first) out.push_back(',');
          first = false;
          append_json_string(out, s_.all[*winner].op->key);
          out.push_back(':');
          AM_TRY(value(*winner, depth, out));
        }
        i = j;
      }
    }
    out.push_back('}');
    return Status::Ok();
  }

  Status sequence(const ObjectRange* r, bool text, int depth, std::string& out) {
    std::string str;
    if (!text) out.push_back('[');
    bool first = true;
    if (r) {
      for (uint32_t i = r->begin; i < r->end;) {
        uint32_t j = i + 1;
        while (j < r->end && !s_.op(j).op->insert) ++j;
        const uint32_t* winner = nullptr;  // index in `all`
        for (uint32_t k = i; k < j; ++k)
          if (visible(s_, s_.order[k]) && (!winner || lamport_less(s_.all[*winner].id, s_.op(k).id)))
            winner = &s_.order[k];
        if (winner) {
          const Op& op = *s_.all[*winner].op;
          if (text) {
            if (op.action == static_cast<uint8_t>(Action::kSet) &&
                op.value.kind() == ValueType::kString)
              str += op.value.bytes;
            else
              str += "\xef\xbf\xbc";  // U+FFFC: an object or non-string inside text
          } else {
            if (!first) out.push_back(',');
            first = false;
            AM_TRY(value(*winner, depth, out));
          }
        }
        i = j;
      }
    }
    if (text) append_json_string(out, str); else out.push_back(']');
    return Status::Ok();
  }

  // The value of op all[i].
  Status value(uint32_t i, int depth, std::string& out) {
    const DocOp& d = s_.all[i];
    const Op& op = *d.op;
    switch (static_cast<Action>(op.action)) {
      case Action::kMakeMap:
      case Action::kMakeTable: return object(d.id, ObjType::kMap, depth + 1, out);
      case Action::kMakeList: return object(d.id, ObjType::kList, depth + 1, out);
      case Action::kMakeText: return object(d.id, ObjType::kText, depth + 1, out);
      default: break;
    }
    const Value& v = op.value;
    switch (v.kind()) {
      case ValueType::kNull: out += "null"; break;
      case ValueType::kFalse: out += "false"; break;
      case ValueType::kTrue: out += "true"; break;
      case ValueType::kUint: out += std::to_string(v.u); break;
      case ValueType::kInt: out += std::to_string(v.i); break;
      case ValueType::kF64: out += format_js_number(v.f); break;
      case ValueType::kString: append_json_string(out, v.bytes); break;
      case ValueType::kCounter: {
        // Initial value plus every increment that names this counter (wrapping like int64).
        uint64_t total = static_cast<uint64_t>(v.i);
        for (uint32_t k = s_.succ_start[i]; k < s_.succ_start[i + 1]; ++k) {
          const Op* inc = s_.succ_ops[k];
          total += inc->value.kind() == ValueType::kUint ? inc->value.u
                                                         : static_cast<uint64_t>(inc->value.i);
        }
        out += std::to_string(static_cast<int64_t>(total));
        break;
      }
      case ValueType::kTimestamp: {
        std::string t = format_iso_time(v.i);
        if (t.empty()) out += "null"; else append_json_string(out, t);
        break;
      }
      default:  // bytes and unknown types
        append_json_string(out, base64(v.bytes));
        break;
    }
    return Status::Ok();
  }

  const OpSet& s_;
  std::unordered_map<uint64_t, size_t, KeyedU64Hash> objects_;
};

}  // namespace

Result<std::string> render_json(const OpSet& s) {
  std::string out;
  Renderer r(s);
  AM_TRY(r.object(OpId{}, ObjType::kMap, 0, out));
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Copy one well-formed UTF-8 sequence, or emit U+FFFD for a malformed byte.
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    bool ok = len > 0 && c <= 0xf4 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len >= 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if (c == 0xe0 && c1 < 0xa0) ok = false;               // overlong
      if (c == 0xed && c1 >= 0xa0) ok = false;              // surrogate
      if (c == 0xf0 && c1 < 0x90) ok = false;               // overlong
      if (c == 0xf4 && c1 >= 0x90) ok = false;              // beyond U+10FFFF
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out.push_back('"');
}

std::string format_js_number(double d) {
  if (!std::isfinite(d)) return "null";
  if (d == 0) return "0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci: [-]d[.ddd]e(+|-)XX
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (sci[i] != '.') digits.push_back(sci[i]);
  int exp10 = std::stoi(sci.substr(e + 1));
  int k = static_cast<int>(digits.size());
  int n = exp10 + 1;  // the value is 0.digits × 10^n
  std::string out = neg ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(-n, '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += "e";
    out += (n - 1 >= 0 ? "+" : "-");
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

std::string format_iso_time(int64_t ms) {
  constexpr int64_t kMaxDate = 8640000000000000LL;  // ECMAScript time range
  if (ms > kMaxDate || ms < -kMaxDate) return "";
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;
  // Civil date from days since 1970-01-01 (proleptic Gregorian).
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];
  char year[16];
  if (y >= 0 && y <= 9999)
    std::snprintf(year, sizeof year, "%04lld", static_cast<long long>(y));
  else
    std::snprintf(year, sizeof year, "%c%06lld", y < 0 ? '-' : '+', static_cast<long long>(y < 0 ? -y : y));
  std::snprintf(buf, sizeof buf, "%s-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", year,
                static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rem / 3600000), static_cast<long long>(rem / 60000 % 60),
                static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return buf;
}

std::string base64(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8 | uint8_t(in[i + 2]);
    out += tbl[v >> 18];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += tbl[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16 | (i + 1 < in.size() ? uint8_t(in[i + 1]) << 8 : 0);
    out += tbl[v >> 18];
    out += tbl[v >> 12 & 63];
    out += i + 1 < in.size() ? tbl[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace amstore
