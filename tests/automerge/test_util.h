// Helpers shared by the format-core tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>

#include "automerge/change.h"
#include "automerge/leb128.h"

namespace amstore::testing {

inline Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The parts one after another (chunks into one input, say).
inline Bytes cat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView p : parts) put_bytes(out, p);
  return out;
}

inline Bytes hex_bytes(std::string_view s) {
  Bytes out;
  std::string clean;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) clean.push_back(c);
  for (size_t i = 0; i + 1 < clean.size(); i += 2) out.push_back(std::stoi(clean.substr(i, 2), nullptr, 16));
  return out;
}

// The golden corpus written by tests/interop/gen-corpus.mjs; empty if not configured.
inline std::filesystem::path corpus_dir() {
  const char* d = std::getenv("AMSTORE_CORPUS");
  return d && *d ? std::filesystem::path(d) : std::filesystem::path();
}

// The first change of `actor`'s history (seq 1, first op 1, no deps), without ops yet.
inline Change first_change(std::string actor) {
  Change c;
  c.actors = {std::move(actor)};
  c.seq = 1;
  c.start_op = 1;
  return c;
}

// An op on key `key` of the root map.
inline Op root_op(std::string_view key, Action action) {
  Op op;
  op.map_key = true;
  op.key = key;
  op.action = static_cast<uint8_t>(action);
  return op;
}

// A chain of n changes by `actor`, concatenated: change i has seq and first op i + 1, and
// depends on the one before; fill(i, change) gives it its ops (and their preds).
template <typename Fill>
Bytes change_chain(const std::string& actor, uint32_t n, const Fill& fill) {
  Bytes chunks;
  ChangeHash prev{};
  for (uint32_t i = 0; i < n; ++i) {
    Change c = first_change(actor);
    c.seq = i + 1;
    c.start_op = i + 1;
    if (i > 0) c.deps = {prev};
    fill(i, c);
    StoredChange sc = store_change(std::move(c));
    prev = sc.hash;
    chunks.insert(chunks.end(), sc.chunk.begin(), sc.chunk.end());
  }
  return chunks;
}

}  // namespace amstore::testing
