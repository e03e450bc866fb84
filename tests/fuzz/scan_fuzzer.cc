// libFuzzer target for the scans of a document's files (storage/chunk_scan.h): arbitrary
// bytes as a log or a snapshot read from disk. Their chunks came from clients, so the bytes
// after damage may hold anything, magic numbers included. Whatever the scans return must be
// whole chunks, in order and apart; after one bad byte, every whole chunk that follows it
// is found; a chunk mended (its magic number alone damaged) is those bytes but for the magic
// number, where a chunk must start. Any violation aborts, like a crash; a scan that takes
// too long is a timeout.
#include <algorithm>
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

// What chunks_after_damage found in `rest`: whole chunks, in order, apart. Those in `rest`
// do not start at rest[0]; those it mended (in `mended`, in order) are the bytes where a
// chunk must start (rest[0], or the end of the chunk before) but for the magic number.
void check_found(ByteView rest, const std::vector<ByteView>& found,
                 const std::vector<Bytes>& mended) {
  size_t next = 0;  // where the chunk before ended (rest[0] at first)
  size_t used = 0;  // mended chunks met so far
  for (ByteView c : found) {
    FUZZ_CHECK(c.size() >= sizeof kMagic && std::memcmp(c.data(), kMagic, sizeof kMagic) == 0);
    Chunk parsed;
    size_t n = 0;
    FUZZ_CHECK(read_chunk(c, &parsed, &n).ok() && n == c.size());
    size_t at;
    if (used < mended.size() && c.data() == mended[used].data()) {
      FUZZ_CHECK(c.size() == mended[used].size());
      ++used;
      at = next;
      FUZZ_CHECK(at + c.size() <= rest.size());
      FUZZ_CHECK(std::memcmp(rest.data() + at, kMagic, sizeof kMagic) != 0);
      FUZZ_CHECK(std::memcmp(rest.data() + at + sizeof kMagic, c.data() + sizeof kMagic,
                             c.size() - sizeof kMagic) == 0);
    } else {
      FUZZ_CHECK(c.data() >= rest.data() + std::max<size_t>(next, 1));
      FUZZ_CHECK(c.data() + c.size() <= rest.data() + rest.size());
      at = static_cast<size_t>(c.data() - rest.data());
    }
    next = at + c.size();
  }
  FUZZ_CHECK(used == mended.size());
}

bool same_bytes(ByteView a, ByteView b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
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
  std::vector<Bytes> mended;
  if (whole < size) {
    const ByteView rest = in.subspan(whole);
    const std::vector<ByteView> found = chunks_after_damage(rest, &mended);
    check_found(rest, found, mended);
    all.insert(all.end(), found.begin(), found.end());
  }
  std::vector<Bytes> listed_mended;
  const std::vector<ByteView> listed = whole_chunks(in, &listed_mended);  // the two together
  FUZZ_CHECK(listed.size() == all.size() && listed_mended.size() == mended.size());
  for (size_t i = 0; i < all.size(); ++i) {
    FUZZ_CHECK(same_bytes(listed[i], all[i]));
    const bool in_input = all[i].data() >= data && all[i].data() < data + size;
    FUZZ_CHECK(!in_input || listed[i].data() == all[i].data());
  }

  // One bad byte before the whole chunks: each of them is found, and nothing else. (Unless
  // one is a compressed change that inflates beyond what the scan may spend on one.)
  if (!prefix.empty()) {
    bool compressed = false;
    for (ByteView c : prefix) compressed |= c[8] == 2;
    Bytes damaged{0};
    put_bytes(damaged, ByteView(data, whole));
    std::vector<Bytes> none;
    const std::vector<ByteView> found = chunks_after_damage(damaged, &none);
    check_found(damaged, found, none);
    if (!compressed) {
      FUZZ_CHECK(found.size() == prefix.size());
      for (size_t i = 0; i < found.size(); ++i)
        FUZZ_CHECK(found[i].data() == damaged.data() + 1 + (prefix[i].data() - data) &&
                   found[i].size() == prefix[i].size());
    }
  }
  return 0;
}
