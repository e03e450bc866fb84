// libFuzzer target for the scans of a document's files (storage/chunk_scan.h): arbitrary
// bytes as a log or a snapshot read from disk. Their chunks came from clients, so the bytes
// after damage may hold anything, magic numbers included. Whatever the scans return must be
// whole chunks, in order and apart; after one bad byte, every whole chunk that follows it
// is found. Any violation aborts, like a crash; a scan that takes too long is a timeout.
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_check.h"
#include "automerge/chunk.h"
#include "storage/chunk_scan.h"

namespace {

using namespace amstore;

// The chunks of `bytes`, one after another, as far as they are whole.
std::vector<ByteView> prefix_chunks(ByteView bytes) {
  std::vector<ByteView> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    Chunk c;
    size_t n = 0;
    if (!read_chunk(bytes.subspan(pos), &c, &n).ok()) break;
    FUZZ_CHECK(n > 0 && n <= bytes.size() - pos);
    out.push_back(bytes.subspan(pos, n));
    pos += n;
  }
  return out;
}

// What chunks_after_damage found in `rest`: whole chunks, in order, apart, none at rest[0].
void check_found(ByteView rest, const std::vector<ByteView>& found) {
  size_t next = 1;  // the first byte a chunk may start at
  for (ByteView c : found) {
    FUZZ_CHECK(c.data() >= rest.data() + next);
    FUZZ_CHECK(c.data() + c.size() <= rest.data() + rest.size());
    FUZZ_CHECK(c.size() >= sizeof kMagic && std::memcmp(c.data(), kMagic, sizeof kMagic) == 0);
    Chunk parsed;
    size_t n = 0;
    FUZZ_CHECK(read_chunk(c, &parsed, &n).ok() && n == c.size());
    next = static_cast<size_t>(c.data() - rest.data()) + c.size();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in(data, size);
  const size_t whole = valid_log_prefix(in);
  FUZZ_CHECK(whole <= size);
  const std::vector<ByteView> prefix = prefix_chunks(in);
  size_t covered = 0;
  for (ByteView c : prefix) covered += c.size();
  FUZZ_CHECK(covered == whole);
  std::vector<ByteView> all = prefix;
  if (whole < size) {
    const ByteView rest = in.subspan(whole);
    const std::vector<ByteView> found = chunks_after_damage(rest);
    check_found(rest, found);
    all.insert(all.end(), found.begin(), found.end());
  }
  const std::vector<ByteView> listed = whole_chunks(in);  // the two scans together
  FUZZ_CHECK(listed.size() == all.size());
  for (size_t i = 0; i < all.size(); ++i)
    FUZZ_CHECK(listed[i].data() == all[i].data() && listed[i].size() == all[i].size());

  // One bad byte before the whole chunks: each of them is found, and nothing else. (Unless
  // one is a compressed change that inflates beyond what the scan may spend on one.)
  if (!prefix.empty()) {
    bool compressed = false;
    for (ByteView c : prefix) compressed |= c[8] == 2;
    Bytes damaged{0};
    put_bytes(damaged, ByteView(data, whole));
    const std::vector<ByteView> found = chunks_after_damage(damaged);
    check_found(damaged, found);
    if (!compressed) {
      FUZZ_CHECK(found.size() == prefix.size());
      for (size_t i = 0; i < found.size(); ++i)
        FUZZ_CHECK(found[i].data() == damaged.data() + 1 + (prefix[i].data() - data) &&
                   found[i].size() == prefix[i].size());
    }
  }
  return 0;
}
