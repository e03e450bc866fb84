// Finding the whole chunks in a document's files: a log's prefix of whole, checksummed
// chunks (what a crash mid-append leaves intact), and the whole chunks after bytes damaged
// on disk. Bytes in, views out; no I/O.
#pragma once

#include <cstddef>
#include <vector>

#include "automerge/leb128.h"

namespace amstore {

// Length of the longest prefix of `log` made of whole, checksummed chunks. Anything after it
// is a torn tail left by a crash mid-append, or, if whole chunks follow it
// (chunks_after_damage), bytes damaged on disk.
size_t valid_log_prefix(ByteView log);
// The whole, checksummed chunks in `rest`, the bytes of a log (or a snapshot) from its first
// bad one on, found by their magic number after the bad bytes; in order, apart. A crash
// only ever tears a log's last chunk, so none are found after a torn tail. The work is
// bounded by the bytes' length, however many magic numbers they hold.
// Where a chunk must start (at rest[0], and right after each chunk found), one whose magic
// number alone is damaged is mended: the checksum covers everything after the magic, so
// with the magic put back the chunk is checked whole. Its mended bytes are appended to
// `*mended`, which the view found points into (keep it while the views are used).
std::vector<ByteView> chunks_after_damage(ByteView rest, std::vector<Bytes>* mended);
// Whether `rest`, the bad bytes at the end of a log with no whole chunks after them, were
// damaged on disk rather than torn by a crash. A crash cuts an append short, leaving a
// prefix of the chunk (its magic number first) or, where a file system kept the length but
// not the data, zeros. So: all of a chunk's bytes (its magic number, its length, and that
// many bytes) that fail its checksum, or first bytes that are neither the magic number's
// nor zeros. Else a crash's torn append.
bool is_damaged_tail(ByteView rest);
// Every whole, checksummed chunk of `bytes` (a log or a snapshot, damaged or not): those of
// its whole-chunk prefix, then those after damage (chunks_after_damage, which may mend
// some into `*mended`).
std::vector<ByteView> whole_chunks(ByteView bytes, std::vector<Bytes>* mended);

}  // namespace amstore
