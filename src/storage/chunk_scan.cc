#include "storage/chunk_scan.h"

#include <algorithm>
#include <cstring>

#include "automerge/chunk.h"
#include "automerge/deflate.h"

namespace amstore {
namespace {

// The length of `bytes`' prefix of whole chunks, and (if `chunks`) each of them.
size_t whole_prefix(ByteView bytes, std::vector<ByteView>* chunks) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    Chunk chunk;
    size_t consumed = 0;
    if (!read_chunk(bytes.subspan(pos), &chunk, &consumed).ok() || consumed == 0) break;
    if (chunks) chunks->push_back(bytes.subspan(pos, consumed));
    pos += consumed;
  }
  return pos;
}

// Whether `bytes` begin as the magic number does, as far as they go: a whole chunk's, or
// a torn append's that was cut inside it.
bool begins_like_magic(ByteView bytes) {
  return std::memcmp(bytes.data(), kMagic, std::min(bytes.size(), sizeof kMagic)) == 0;
}

}  // namespace

size_t valid_log_prefix(ByteView log) { return whole_prefix(log, nullptr); }

std::vector<ByteView> chunks_after_damage(ByteView rest, std::vector<Bytes>* mended) {
  // What candidates that turn out not to be chunks may cost: bytes made to hold many magic
  // numbers and plausible lengths (a client's string values, say) would otherwise each
  // cost a hash over up to the rest of the bytes, or an inflation. The scan stops when it
  // runs out; the bytes it did not reach are set aside all the same (recover_damaged_log).
  uint64_t budget = 4 * uint64_t{rest.size()} + (uint64_t{1} << 20);
  // Reads a chunk at the start of `candidate` (of `extent` bytes) within the budget: false
  // if it is not one, or the budget ran out (then `spent`). A mend is only tried when the
  // budget covers it: it must not end the scan for the chunks found by their magic number.
  bool spent = false;
  auto read_within = [&](ByteView candidate, size_t extent, size_t* consumed, bool mend) {
    size_t inflate_cap = static_cast<size_t>(
        std::min<uint64_t>(inflate_budget_for(extent), budget));
    const uint64_t cost = extent + (candidate[8] == 2 ? inflate_cap : 0);
    if (mend && cost >= budget) return false;
    Chunk chunk;
    if (read_chunk(candidate, &chunk, consumed, &inflate_cap).ok()) return true;
    if (cost >= budget) spent = true; else budget -= cost;
    return false;
  };
  std::vector<ByteView> found;
  size_t pos = 0;
  bool boundary = true;  // a chunk must start at pos: rest[0], or the end of one found
  while (pos < rest.size() && !spent) {
    if (boundary) {
      boundary = false;
      // Its magic number damaged and nothing else: mended (a crash's torn append or zeros
      // keep the magic number's bytes or have no checksum to match, so are never taken).
      const ByteView at = rest.subspan(pos);
      const size_t extent = begins_like_magic(at) ? 0 : claimed_chunk_extent(at);
      if (extent > 0) {
        Bytes copy(at.begin(), at.begin() + static_cast<long>(extent));
        std::memcpy(copy.data(), kMagic, sizeof kMagic);
        size_t consumed = 0;
        if (read_within(copy, extent, &consumed, true)) {
          mended->push_back(std::move(copy));
          found.push_back(mended->back());  // (its bytes stay put as `mended` grows)
          pos += extent;
          boundary = true;
          continue;
        }
      }
      if (pos == 0) pos = 1;  // rest[0] starts the bad bytes: no chunk starts there as it is
    }
    const void* hit = ::memmem(rest.data() + pos, rest.size() - pos, kMagic, sizeof kMagic);
    if (!hit) break;
    const size_t at = static_cast<size_t>(static_cast<const uint8_t*>(hit) - rest.data());
    pos = at + 1;
    const ByteView candidate = rest.subspan(at);
    const size_t extent = chunk_extent(candidate);
    if (extent == 0) continue;  // no whole chunk could start here: nothing is hashed
    size_t consumed = 0;
    if (read_within(candidate, extent, &consumed, false)) {
      found.push_back(rest.subspan(at, consumed));
      pos = at + consumed;
      boundary = true;
    }
  }
  return found;
}

bool is_damaged_tail(ByteView rest) {
  if (chunk_extent(rest) != 0) return true;
  const size_t n = std::min<size_t>(rest.size(), sizeof kMagic);
  const bool zeros = std::all_of(rest.begin(), rest.begin() + static_cast<long>(n),
                                 [](uint8_t b) { return b == 0; });
  return !begins_like_magic(rest) && !zeros;
}

std::vector<ByteView> whole_chunks(ByteView bytes, std::vector<Bytes>* mended) {
  std::vector<ByteView> out;
  const size_t pos = whole_prefix(bytes, &out);
  if (pos < bytes.size())
    for (ByteView c : chunks_after_damage(bytes.subspan(pos), mended)) out.push_back(c);
  return out;
}

}  // namespace amstore
