#include "automerge/chunk.h"

#include <cstring>

#include "automerge/deflate.h"

namespace amstore {

namespace {
// The header of the chunk at the start of `data` (magic and checksum not looked at): where
// its body starts and how long it is, if the body lies within `data`.
bool read_chunk_header(ByteView data, size_t* body_at, size_t* body_size) {
  if (data.size() < 10) return false;
  Reader r(data.subspan(9));
  uint64_t len;
  if (!r.uleb(&len).ok() || len > r.remaining()) return false;
  *body_at = 9 + r.pos();
  *body_size = static_cast<size_t>(len);
  return true;
}
}  // namespace

size_t chunk_extent(ByteView data) {
  if (data.size() < 10 || std::memcmp(data.data(), kMagic, 4) != 0) return 0;
  return claimed_chunk_extent(data);
}

size_t claimed_chunk_extent(ByteView data) {
  size_t at, size;
  return read_chunk_header(data, &at, &size) ? at + size : 0;
}

ByteView chunk_body(ByteView data) {
  size_t at, size;
  return read_chunk_header(data, &at, &size) ? data.subspan(at, size) : ByteView();
}

bool is_single_document_chunk(ByteView data) {
  return data.size() >= 10 && data[8] == static_cast<uint8_t>(ChunkType::kDocument) &&
         chunk_extent(data) == data.size();
}

Status read_chunk(ByteView data, Chunk* chunk, size_t* consumed, size_t* inflate_budget) {
  if (data.size() < 4 || std::memcmp(data.data(), kMagic, 4) != 0)
    return Status::Error("invalid magic bytes");
  Reader r(data.subspan(4));
  ByteView checksum;
  AM_TRY(r.take(4, &checksum));
  uint8_t type;
  AM_TRY(r.byte(&type));
  size_t after_type = r.pos();
  uint64_t len;
  AM_TRY(r.uleb(&len));
  if (len > r.remaining()) return Status::Error("truncated chunk: body length exceeds the data");
  ByteView body;
  AM_TRY(r.take(static_cast<size_t>(len), &body));
  size_t total = 4 + r.pos();
  chunk->bytes = data.subspan(0, total);
  ByteView hashed = data.subspan(4 + after_type - 1, total - (4 + after_type - 1));
  switch (type) {
    case 0:
    case 1:
      chunk->type = static_cast<ChunkType>(type);
      chunk->body = body;
      chunk->hash = sha256(hashed);
      break;
    case 2: {
      chunk->type = ChunkType::kCompressedChange;
      Bytes inflated;
      AM_TRY(inflate_raw(body, &inflated,
                         inflate_budget ? *inflate_budget : inflate_budget_for(body.size())));
      if (inflate_budget) *inflate_budget -= inflated.size();
      // Its hash is that of the uncompressed change chunk, which is kept: a caller storing
      // the change takes it as it is, without writing and hashing it again.
      chunk->hash = write_chunk(chunk->uncompressed, ChunkType::kChange, inflated);
      chunk->body = chunk_body(chunk->uncompressed);
      break;
    }
    case 3:
      return Status::Error("bundle chunks (type 3) are not supported");
    default:
      return Status::Error("unknown chunk type " + std::to_string(type));
  }
  if (std::memcmp(chunk->hash.data(), checksum.data(), 4) != 0) return Status::Error("bad checksum");
  *consumed = total;
  return Status::Ok();
}

Status read_chunks(ByteView data, std::vector<Chunk>* chunks, size_t* inflate_budget) {
  size_t own_budget = inflate_budget_for(data.size());
  if (!inflate_budget) inflate_budget = &own_budget;
  size_t pos = 0;
  while (pos < data.size()) {
    Chunk c;
    size_t n;
    Status s = read_chunk(data.subspan(pos), &c, &n, inflate_budget);
    if (!s.ok()) return Status::Error("chunk at offset " + std::to_string(pos) + ": " + s.message());
    // The uncompressed chunk moves with the chunk; re-point the body at it.
    chunks->push_back(std::move(c));
    if (chunks->back().type == ChunkType::kCompressedChange)
      chunks->back().body = chunk_body(chunks->back().uncompressed);
    pos += n;
  }
  return Status::Ok();
}

size_t chunk_header_size(size_t body_size) { return 9 + uleb_size(body_size); }

void write_chunk_header(uint8_t* p, ChunkType type, size_t body_size) {
  std::memcpy(p, kMagic, 4);
  std::memset(p + 4, 0, 4);  // the checksum, set by seal_chunk
  p[8] = static_cast<uint8_t>(type);
  write_uleb(p + 9, body_size);
}

ChangeHash seal_chunk(uint8_t* p, size_t size, bool pad_room) {
  // The hash covers the type, the length and the body: what follows magic and checksum.
  ChangeHash h = pad_room ? sha256_padded(p + 8, size - 8) : sha256(ByteView(p + 8, size - 8));
  std::memcpy(p + 4, h.data(), 4);
  return h;
}

void begin_chunk(Bytes& out, ChunkType type, size_t body_size) {
  const size_t at = out.size();
  out.resize(at + chunk_header_size(body_size));
  write_chunk_header(out.data() + at, type, body_size);
}

ChangeHash finish_chunk(Bytes& out, size_t start) {
  return seal_chunk(out.data() + start, out.size() - start);
}

}  // namespace amstore
