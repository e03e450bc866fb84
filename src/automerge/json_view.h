// Algorithm C: the current value of a document as JSON (mapping in docs/json-mapping.md).
#pragma once

#include <string>

#include "automerge/op_set.h"

namespace amstore {

Result<std::string> render_json(const OpSet& ops);

// Helpers shared with the CLI.
void append_json_string(std::string& out, std::string_view utf8);
std::string format_js_number(double d);  // as JavaScript's Number#toString, "null" if not finite
std::string format_iso_time(int64_t millis);  // as Date#toJSON; empty if out of Date's range
std::string base64(std::string_view bytes);

}  // namespace amstore
