#include "server/request_target.h"

#include <algorithm>

#include "storage/store.h"

namespace amstore {

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return true;
}

std::optional<TargetError> parse_request_target(std::string_view target, bool read_since,
                                                RequestTarget* out) {
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  *out = RequestTarget();
  if (path.empty() || path[0] != '/') return TargetError{400, "other", "bad request target"};
  const std::string_view rest = path.substr(1);
  if (rest == "metrics") {
    out->kind = RequestTarget::Kind::kMetrics;
    return std::nullopt;
  }

  const size_t slash = rest.find('/');
  // Decoded first, then checked: an escaped '/', '.' or NUL cannot slip past the id rule.
  if (!percent_decode(rest.substr(0, slash), &out->id))
    return TargetError{400, "doc", "malformed percent-escape in id"};
  if (!valid_document_id(out->id))
    return TargetError{400, "doc",
                       "invalid document id: use 1-200 characters of [A-Za-z0-9._-], "
                       "not starting with '.'"};
  if (slash != std::string_view::npos) {
    if (rest.substr(slash + 1) != "json") return TargetError{404, "other", "no such route"};
    out->kind = RequestTarget::Kind::kJson;
    return std::nullopt;
  }
  if (!read_since) return std::nullopt;

  std::string values;  // every since parameter's value, decoded, joined by commas
  for (size_t pos = 0; pos <= query.size();) {
    const size_t amp = std::min(query.find('&', pos), query.size());
    const std::string_view kv = query.substr(pos, amp - pos);
    if (kv.starts_with("since=") || kv == "since") {
      std::string v;
      if (!percent_decode(kv.substr(std::min<size_t>(6, kv.size())), &v))
        return TargetError{400, "since", "malformed since"};
      if (out->has_since) values += ',';
      values += v;
      out->has_since = true;
    }
    pos = amp + 1;
  }
  for (size_t p = 0; p <= values.size() && out->has_since;) {
    const size_t c = std::min(values.find(',', p), values.size());
    const std::string_view h = std::string_view(values).substr(p, c - p);
    if (!h.empty()) {
      ChangeHash hash;
      if (!parse_hash_hex(h, &hash))
        return TargetError{400, "since",
                           "since: expected comma-separated 64-digit hex change hashes"};
      out->since.push_back(hash);
    }
    p = c + 1;
  }
  return std::nullopt;
}

}  // namespace amstore
