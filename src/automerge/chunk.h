// The chunk container (spec §3): magic, checksum, type, length, body.
#pragma once

#include <cstring>
#include <vector>

#include "automerge/hash.h"
#include "automerge/leb128.h"

namespace amstore {

inline constexpr uint8_t kMagic[4] = {0x85, 0x6f, 0x4a, 0x83};

enum class ChunkType : uint8_t { kDocument = 0, kChange = 1, kCompressedChange = 2, kBundle = 3 };

struct Chunk {
  ChunkType type = ChunkType::kDocument;
  ByteView bytes;  // the whole chunk as it was read
  // The body: for type 2 the inflated change body (in `uncompressed`).
  ByteView body;
  Bytes uncompressed;  // type 2: the same change as an uncompressed (type 1) chunk
  // SHA-256 over type || uLEB(len) || body (type 2: of the uncompressed type-1 form). For
  // changes this is the change hash.
  ChangeHash hash{};
};

// Reads one chunk at the start of `data`, verifying magic and checksum. Refuses bundles and
// unknown types. On success `*consumed` is the chunk's total length. A compressed change
// inflates to at most `*inflate_budget` bytes, which it then uses up (without a budget:
// inflate_budget_for the chunk).
Status read_chunk(ByteView data, Chunk* chunk, size_t* consumed, size_t* inflate_budget = nullptr);
// Splits a concatenation of chunks; fails as a whole if any chunk is bad. Compressed changes
// share one budget (without one: inflate_budget_for all of `data`).
Status read_chunks(ByteView data, std::vector<Chunk>* chunks, size_t* inflate_budget = nullptr);

// The whole length (header and body) of the chunk whose header starts `data`, if its magic
// is right and its body lies within `data`; nothing else is checked (0 otherwise).
size_t chunk_extent(ByteView data);
// The same whatever the first four bytes hold: for a chunk whose magic number was damaged.
size_t claimed_chunk_extent(ByteView data);

// True if `data` is exactly one document chunk, judged by its header alone (magic, type,
// length; the checksum is not verified): for callers that have already loaded it.
bool is_single_document_chunk(ByteView data);
// The body of the chunk whose header starts `data`, judged by its header alone as
// claimed_chunk_extent judges it (empty if its body does not lie within `data`): for
// callers that have already verified the chunk.
ByteView chunk_body(ByteView data);

// A chunk through a pointer, for one built in a buffer of the caller's: the header's size,
// the header written at p (its checksum left zero), and the checksum set in a whole chunk
// of `size` bytes at p (returns the hash); with `pad_room`, the kSha256PadRoom bytes after
// the chunk are scratch for the hash's padding (sha256_padded).
size_t chunk_header_size(size_t body_size);
void write_chunk_header(uint8_t* p, ChunkType type, size_t body_size);
ChangeHash seal_chunk(uint8_t* p, size_t size, bool pad_room = false);

// Appends a chunk around `body` to `out` (Bytes, or a StoredChange's chunk); returns the
// SHA-256 (the change hash for type 1).
template <typename Out>
ChangeHash write_chunk(Out& out, ChunkType type, ByteView body) {
  const size_t start = out.size(), head = chunk_header_size(body.size());
  out.resize(start + head + body.size());
  write_chunk_header(out.data() + start, type, body.size());
  if (!body.empty()) std::memcpy(out.data() + start + head, body.data(), body.size());
  return seal_chunk(out.data() + start, head + body.size());
}

// The same with the body written in place (a large one need not be built apart and copied):
// begin_chunk appends the header of a chunk whose body will be `body_size` bytes, the
// caller appends exactly that body, and finish_chunk sets the checksum and returns the
// hash. `start`: out.size() before begin_chunk.
void begin_chunk(Bytes& out, ChunkType type, size_t body_size);
ChangeHash finish_chunk(Bytes& out, size_t start);

}  // namespace amstore
