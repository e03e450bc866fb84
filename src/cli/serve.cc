// `amstore serve`: the HTTP storage server over the filesystem store.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/malloc_tunables.h"
#include "server/server.h"
#include "storage/fs_store.h"

namespace amstore {
namespace {

constexpr int kDefaultWorkers = 64;

// A cached (lean) document takes ~18 bytes per op (a 96 KB document: ~3 MB); a fixed small
// cache would reload busy documents over and over on a big machine.
uint64_t physical_memory() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

uint64_t default_cache_mb() { return std::max<uint64_t>(256, (physical_memory() >> 20) / 8); }

// One op per KiB of memory, at least a million: decoding an upload takes ~200 bytes an op,
// and one decode per core runs at a time, so two at their limit take ~40 % of memory on a
// 2-core machine. (A million ops is a 1 MB document of typed text.)
uint64_t default_max_ops() { return std::max<uint64_t>(1000000, physical_memory() / 1024); }

struct ServeFlags {
  std::string host = "127.0.0.1";
  int port = 5000;
  std::string data_dir = "./data";
  std::string max_body = "64M";
  uint64_t cache_mb = 0;  // 0: default_cache_mb()
  uint64_t max_ops = 0;   // 0: default_max_ops()
  int threads = 0;  // 0: from the number of cores
  int workers = 0;
  std::string cors_origin = "*";
  std::string compact_min = "256K";
  int shutdown_grace = 20;
  bool quiet = false;
};

// "1048576", "64M", "512k", "1G" → bytes; false if malformed.
bool parse_size(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + uint64_t(s[i] - '0');
    ++i;
  }
  if (i == 0) return false;
  std::string suffix = s.substr(i);
  uint64_t mul = 1;
  if (suffix.empty() || suffix == "B" || suffix == "b") mul = 1;
  else if (suffix == "K" || suffix == "k" || suffix == "KiB") mul = 1ull << 10;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB") mul = 1ull << 20;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB") mul = 1ull << 30;
  else return false;
  if (v > UINT64_MAX / mul) return false;
  *out = v * mul;
  return true;
}

[[noreturn]] void serve_fail(const std::string& what) {
  std::fprintf(stderr, "amstore serve: %s\n", what.c_str());
  std::exit(1);
}

// glibc gives threads up to 8 malloc arenas per core, and each keeps the memory its threads
// freed. The workers are many (kDefaultWorkers) but few allocate at once (decoding runs on
// one thread per core), so two arenas per core serve them: measured on the server
// benchmark, peak RSS ~40 % lower at the same throughput. A user's GLIBC_TUNABLES
// arena_max stands. Called before any thread starts.
void limit_malloc_arenas(int cores) {
  if (glibc_tunable_given("glibc.malloc.arena_max")) return;
  mallopt(M_ARENA_MAX, 2 * cores);
}

// Each connection holds a descriptor, and so does each document file being read or
// written; the usual soft limit (1024) is far below what the kernel lets the process have
// (the hard limit), and a server at its limit cannot accept or open anything. Raised to
// the hard limit, as most servers do.
void raise_descriptor_limit() {
  rlimit r;
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) return;
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
}

void run_serve(const ServeFlags& f) {
  ServerOptions so;
  so.host = f.host;
  if (f.port < 0 || f.port > 65535) serve_fail("--port must be 0..65535");
  so.port = static_cast<uint16_t>(f.port);
  if (!parse_size(f.max_body, &so.max_body) || so.max_body == 0)
    serve_fail("--max-body: expected a size such as 1048576, 512K or 64M");
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  limit_malloc_arenas(cores);
  so.io_threads = f.threads > 0 ? f.threads : std::min(cores, 4);
  // Workers spend much of their time waiting: for a document's lock (uploads queued behind
  // one another, or behind a create), or for fsync. With few of them, uploads waiting on one
  // busy document hold every worker and requests for other documents stall. The store
  // limits the CPU-heavy part (decoding) to one thread per core on its own.
  so.worker_threads = f.workers > 0 ? f.workers : kDefaultWorkers;
  so.cors_origin = f.cors_origin == "none" ? "" : f.cors_origin;
  so.access_log = !f.quiet;
  so.shutdown_grace_s = f.shutdown_grace;

  FsStoreOptions fo;
  fo.data_dir = f.data_dir;
  fo.cache_bytes = (f.cache_mb > 0 ? f.cache_mb : default_cache_mb()) << 20;
  if (!parse_size(f.compact_min, &fo.compact_min_bytes))
    serve_fail("--compact-min: expected a size such as 262144 or 256K");
  fo.max_upload_ops = f.max_ops > 0 ? f.max_ops : default_max_ops();
  // Under a file size limit (ulimit -f), a write past it raises SIGXFSZ, whose default
  // action ends the process. Ignored, the write fails with EFBIG and the upload gets a 500
  // with nothing acknowledged, as on a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  raise_descriptor_limit();
  std::string error;
  auto store = FsStore::open(fo, &error);
  if (!store) serve_fail(error);
  std::fprintf(stderr, "amstore: data directory %s\n", fo.data_dir.c_str());
  int rc = run_server(so, *store, &error);
  if (rc != 0) serve_fail(error);
  store.reset();  // waits for a running background compaction
  std::exit(0);
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* sub = app.add_subcommand("serve", "Serve Automerge documents over HTTP (merge on upload)");
  sub->add_option("--host", flags->host, "Address to listen on")
      ->envname("AMSTORE_HOST")
      ->capture_default_str();
  sub->add_option("--port", flags->port, "TCP port (0: any free port)")
      ->envname("AMSTORE_PORT")
      ->capture_default_str();
  sub->add_option("--data-dir", flags->data_dir, "Directory holding the documents")
      ->envname("AMSTORE_DATA_DIR")
      ->capture_default_str();
  sub->add_option("--max-body", flags->max_body, "Largest accepted upload (bytes, or K/M/G)")
      ->envname("AMSTORE_MAX_BODY")
      ->capture_default_str();
  sub->add_option("--cache-mb", flags->cache_mb,
                  "Memory for cached parsed documents (MiB; default: 1/8 of physical memory, "
                  "at least 256)")
      ->envname("AMSTORE_CACHE_MB");
  sub->add_option("--max-ops", flags->max_ops,
                  "Most ops an upload may hold, a whole document counting all of its ops "
                  "(default: one per KiB of physical memory, at least 1000000)")
      ->envname("AMSTORE_MAX_OPS");
  sub->add_option("--threads", flags->threads, "I/O threads (default: cores, at most 4)")
      ->envname("AMSTORE_THREADS");
  sub->add_option("--workers", flags->workers,
                  "Threads for storage work, mostly waiting on locks and fsync (default: " +
                      std::to_string(kDefaultWorkers) + ")")
      ->envname("AMSTORE_WORKERS");
  sub->add_option("--cors-origin", flags->cors_origin,
                  "Access-Control-Allow-Origin value; \"none\" (or empty) disables CORS headers")
      ->envname("AMSTORE_CORS_ORIGIN")
      ->capture_default_str();
  sub->add_option("--compact-min", flags->compact_min,
                  "Compact a document's log once it exceeds max(this, snapshot size)")
      ->envname("AMSTORE_COMPACT_MIN")
      ->capture_default_str();
  sub->add_option("--shutdown-grace", flags->shutdown_grace,
                  "Seconds in-flight requests get after SIGTERM")
      ->envname("AMSTORE_SHUTDOWN_GRACE")
      ->capture_default_str();
  sub->add_flag("--quiet", flags->quiet, "No access log")->envname("AMSTORE_QUIET");
  sub->callback([flags] { run_serve(*flags); });
}

}  // namespace amstore
