// `amstore check`: reads every document of a data directory as it is, and says which load
// as they are, which end in a crash's torn append, and which are damaged or unreadable. No
// document's files are changed (it only takes the shared lock of each, as a GET does), so
// it can run beside live servers; with --repair it mends them as a request would.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "automerge/leb128.h"
#include "cli/commands.h"
#include "storage/fs_store.h"

namespace amstore {
namespace {

struct CheckFlags {
  std::string data_dir = "./data";
  std::vector<std::string> ids;  // empty: every document
  bool repair = false;           // mend torn and damaged documents as a request would
};

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// What the document holds (or will, once the next request has mended its files).
std::string contents(const FileCheck& c) {
  return plural(c.info.changes, "change", "changes") + ", " + std::to_string(c.info.pending) +
         " waiting for dependencies, " + plural(c.info.heads.size(), "head", "heads") +
         "; snapshot " + std::to_string(c.snapshot_bytes) + " B, log " +
         std::to_string(c.log_bytes) + " B";
}

int run_check(const CheckFlags& flags) {
  struct stat st;
  if (::stat(flags.data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "amstore: %s is not a directory\n", flags.data_dir.c_str());
    return 1;
  }
  FsStoreOptions o;
  o.data_dir = flags.data_dir;
  o.background_compaction = false;
  std::string error;
  std::unique_ptr<FsStore> store = FsStore::open(o, &error);
  if (!store) {
    std::fprintf(stderr, "amstore: %s\n", error.c_str());
    return 1;
  }
  const std::vector<std::string> ids = flags.ids.empty() ? store->list() : flags.ids;
  size_t ok = 0, torn = 0, damaged = 0, unreadable = 0, repaired = 0;
  for (const std::string& id : ids) {
    FileCheck c;
    const StoreStatus s = store->check(id, &c);
    std::string line = id + ": ";
    bool mendable = true;  // torn or damaged
    // Damage that the next request mends by rewriting the snapshot (not just cutting the log).
    const bool rewrites = c.snapshot_damaged_at || c.log_chunks_after_damage > 0;
    if (!s.ok()) {
      mendable = false;
      ++unreadable;
      line += "unreadable: " + (s.code == StoreCode::kNotFound ? "no such document" : s.message);
    } else if (rewrites || c.log_tail_damaged) {
      ++damaged;
      line += "damaged:";
      if (c.snapshot_damaged_at)
        line += " snapshot from byte " + std::to_string(*c.snapshot_damaged_at) + " on, " +
                plural(c.snapshot_chunks, "whole chunk", "whole chunks") + " in it;";
      if (c.log_chunks_after_damage > 0)
        line += " log from byte " + std::to_string(c.log_whole) + " on, " +
                plural(c.log_chunks_after_damage, "whole chunk", "whole chunks") + " after it;";
      else if (c.log_tail_damaged)
        line += " log ends in " + std::to_string(c.log_bytes - c.log_whole) +
                " B from byte " + std::to_string(c.log_whole) +
                " on that no crash leaves (a whole chunk failing its checksum, or bytes that "
                "do not start a chunk);";
      else if (c.log_whole < c.log_bytes)
        line += " log ends in a torn append of " + std::to_string(c.log_bytes - c.log_whole) +
                " B;";
      if (c.mended_chunks > 0)
        line += " " + plural(c.mended_chunks, "chunk", "chunks") +
                " of those mended (only the magic number was damaged);";
      if (rewrites)
        line += " the next request keeps every whole chunk, sets the damaged bytes aside and "
                "rewrites the snapshot, leaving " + contents(c);
      else
        line += " the next request sets those bytes aside and cuts them off, leaving " +
                contents(c);
    } else if (c.log_whole < c.log_bytes) {
      ++torn;
      line += "torn: the log's last " + std::to_string(c.log_bytes - c.log_whole) +
              " B are a crash's torn append, never acknowledged (the next request cuts them "
              "off); " + contents(c);
    } else {
      mendable = false;
      ++ok;
      line += "ok: " + contents(c);
    }
    std::printf("%s\n", line.c_str());
    if (!flags.repair || !mendable) continue;
    // What the next request would do, done now (under the exclusive lock, as it would be).
    GetResult g;
    StoreStatus r = store->get(id, false, &g);
    if (r.ok()) r = store->check(id, &c);
    if (r.ok() && !c.snapshot_damaged_at && c.log_whole == c.log_bytes) {
      std::printf("%s: repaired: %s\n", id.c_str(), contents(c).c_str());
      ++repaired;
    } else {
      std::printf("%s: not repaired: %s\n", id.c_str(),
                  r.ok() ? "still damaged" : r.message.c_str());
    }
  }
  // What earlier repairs set aside (docs/server.md: "Damage on disk").
  std::error_code ec;
  std::vector<std::string> aside;
  for (const auto& e : std::filesystem::directory_iterator(flags.data_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (FsStore::is_set_aside(name))
      aside.push_back(name + " (" + std::to_string(e.file_size(ec)) + " B)");
  }
  std::sort(aside.begin(), aside.end());
  for (const std::string& a : aside) std::printf("set aside: %s\n", a.c_str());
  std::printf("%zu documents: %zu ok, %zu torn, %zu damaged, %zu unreadable", ids.size(), ok,
              torn, damaged, unreadable);
  if (flags.repair) std::printf("; %zu repaired", repaired);
  std::printf("\n");
  std::fflush(stdout);
  const size_t bad = damaged + unreadable;
  return (flags.repair ? bad + torn > repaired : bad > 0) ? 1 : 0;
}

}  // namespace

void add_check_command(CLI::App& app) {
  auto flags = std::make_shared<CheckFlags>();
  auto* sub = app.add_subcommand(
      "check", "Read a data directory's documents as they are and report torn, damaged or "
               "unreadable ones, changing nothing (unless --repair); exit status 1 if any is "
               "damaged or unreadable");
  sub->add_option("--data-dir", flags->data_dir, "Directory holding the documents")
      ->envname("AMSTORE_DATA_DIR")
      ->capture_default_str();
  sub->add_option("IDS", flags->ids, "Documents to check (default: all)");
  sub->add_flag("--repair", flags->repair,
                "Mend torn and damaged documents now, as the next request for each would (exit "
                "status 1 if any is left damaged or unreadable)");
  sub->callback([flags] {
    if (int status = run_check(*flags); status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace amstore
