// The request target (path and query) of an HTTP request, read into what it names before any
// store call: the route, the document id (percent-decoded, then checked) and, for reads, the
// heads of `?since=`. Bytes from the network, so a pure function with its own fuzz target.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "automerge/hash.h"

namespace amstore {

struct RequestTarget {
  enum class Kind { kMetrics, kDocument, kJson };
  Kind kind = Kind::kDocument;
  std::string id;                 // kDocument, kJson: a valid document id
  bool has_since = false;         // kDocument, read with `read_since`: `since` was given
  std::vector<ChangeHash> since;  // its heads, in the order given (empty values skipped)
};

// Why a target was refused: the HTTP status to answer, the route it counts under in the
// metrics, and the message for the client.
struct TargetError {
  unsigned status;
  std::string route;
  std::string message;
};

// Percent-decodes a path segment or query value; false on a malformed escape.
bool percent_decode(std::string_view in, std::string* out);

// Reads "/metrics", "/:id" and "/:id/json"; with `read_since` (GET and HEAD), also every
// `since` parameter of a document's query (comma-separated 64-digit hex hashes; repeated
// parameters add up). Other parameters are ignored. On error, `out` is unspecified.
std::optional<TargetError> parse_request_target(std::string_view target, bool read_since,
                                                RequestTarget* out);

}  // namespace amstore
