// Whole files: reading one, and replacing one so that a crash leaves either the old file or
// the complete new one. Errors are one line naming the call, the file and errno's text.
#pragma once

#include <string>

#include "automerge/leb128.h"

namespace amstore {

// "<what> <name>: <strerror(errno)>".
std::string errno_text(const char* what, const std::string& name);

// write(2) until all `n` bytes are written (false with errno set on failure).
bool write_all(int fd, const uint8_t* p, size_t n);

// The whole of a regular file (false, and *error, for a directory or on a failed call).
bool read_whole_file(const std::string& path, Bytes* out, std::string* error);

// Replaces `name` in the directory `dir_fd` by `bytes`: written to `tmp_name` beside it,
// fsync'd, renamed over `name`, and the directory fsync'd, so that the rename is durable
// too. On failure `tmp_name` is removed and `name` is as it was (or, when only the final
// directory fsync failed, already replaced).
bool replace_file(int dir_fd, const std::string& name, const std::string& tmp_name,
                  ByteView bytes, std::string* error);

}  // namespace amstore
