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

}  // namespace

size_t valid_log_prefix(ByteView log) { return whole_prefix(log, nullptr); }

std::vector<ByteView> chunks_after_damage(ByteView rest) {
  // What candidates that turn out not to be chunks may cost: bytes made to hold many magic
  // numbers and plausible lengths (a client's string values, say) would otherwise each
  // cost a hash over up to the rest of the bytes, or an inflation. The scan stops when it
  // runs out; the bytes it did not reach are set aside all the same (recover_damaged_log).
  uint64_t budget = 4 * uint64_t{rest.size()} + (uint64_t{1} << 20);
  std::vector<ByteView> found;
  size_t pos = 1;  // rest[0] starts the bad bytes
  while (pos < rest.size()) {
    const void* hit = ::memmem(rest.data() + pos, rest.size() - pos, kMagic, sizeof kMagic);
    if (!hit) break;
    const size_t at = static_cast<size_t>(static_cast<const uint8_t*>(hit) - rest.data());
    pos = at + 1;
    const ByteView candidate = rest.subspan(at);
    const size_t extent = chunk_extent(candidate);
    if (extent == 0) continue;  // no whole chunk could start here: nothing is hashed
    size_t inflate_cap = static_cast<size_t>(
        std::min<uint64_t>(inflate_budget_for(extent), budget));
    const uint64_t cost = extent + (candidate[8] == 2 ? inflate_cap : 0);
    Chunk chunk;
    size_t consumed = 0;
    if (read_chunk(candidate, &chunk, &consumed, &inflate_cap).ok()) {
      found.push_back(rest.subspan(at, consumed));
      pos = at + consumed;
    } else if (cost >= budget) {
      break;
    } else {
      budget -= cost;
    }
  }
  return found;
}

bool is_damaged_tail(ByteView rest) { return chunk_extent(rest) != 0; }

std::vector<ByteView> whole_chunks(ByteView bytes) {
  std::vector<ByteView> out;
  const size_t pos = whole_prefix(bytes, &out);
  if (pos < bytes.size())
    for (ByteView c : chunks_after_damage(bytes.subspan(pos))) out.push_back(c);
  return out;
}

}  // namespace amstore
