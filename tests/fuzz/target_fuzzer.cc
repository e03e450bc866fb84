// libFuzzer target for the request target of every HTTP request (server/request_target.h):
// arbitrary bytes as a path and query. Whatever is accepted names a valid document id (or
// /metrics), and written back as a target it parses to the same thing; whatever is refused
// gets a 400 or 404 with a message. Any violation aborts, like a crash.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "server/request_target.h"
#include "storage/store.h"

namespace {

using namespace amstore;

void exercise(std::string_view in, bool read_since) {
  RequestTarget t;
  std::optional<TargetError> e = parse_request_target(in, read_since, &t);
  if (e) {
    FUZZ_CHECK(e->status == 400 || e->status == 404);
    FUZZ_CHECK(!e->route.empty() && !e->message.empty());
    return;
  }
  if (t.kind == RequestTarget::Kind::kMetrics) return;
  FUZZ_CHECK(valid_document_id(t.id));
  FUZZ_CHECK(read_since || !t.has_since);
  FUZZ_CHECK(t.has_since || t.since.empty());
  FUZZ_CHECK(t.kind == RequestTarget::Kind::kDocument || !t.has_since);
  // Written back (an id's characters need no escaping), it reads the same.
  std::string again = "/" + t.id;
  if (t.kind == RequestTarget::Kind::kJson) again += "/json";
  if (t.has_since) {
    again += "?since=";
    for (size_t i = 0; i < t.since.size(); ++i) again += (i ? "," : "") + to_hex(t.since[i]);
  }
  RequestTarget u;
  FUZZ_CHECK(!parse_request_target(again, read_since, &u));
  FUZZ_CHECK(u.kind == t.kind && u.id == t.id && u.has_since == t.has_since &&
             u.since == t.since);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  exercise(in, true);
  exercise(in, false);
  std::string decoded;
  if (percent_decode(in, &decoded)) FUZZ_CHECK(decoded.size() <= in.size());
  return 0;
}
