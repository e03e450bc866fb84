#include "storage/store.h"

#include <unistd.h>

namespace amstore {

DocVersion::~DocVersion() {
  if (fd >= 0) ::close(fd);
}

bool valid_document_id(std::string_view id) {
  if (id.empty() || id.size() > 200 || id[0] == '.') return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string make_etag(const std::vector<ChangeHash>& heads,
                      const std::vector<ChangeHash>& pending_hashes) {
  Bytes buf;
  for (const auto& h : heads) buf.insert(buf.end(), h.begin(), h.end());
  if (!pending_hashes.empty()) {
    // Separator, so that heads {a,b} and heads {a} + pending {b} differ.
    buf.push_back(0xff);
    for (const auto& h : pending_hashes) buf.insert(buf.end(), h.begin(), h.end());
  }
  ChangeHash digest = sha256(buf);
  std::string etag = "\"";
  etag += to_hex(ByteView(digest.data(), 20));
  etag += '"';
  return etag;
}

}  // namespace amstore
