// The HTTP server of `amstore serve` (Boost.Beast): GET/HEAD/POST/PUT /:id, /:id?since=,
// /:id/json, /healthz, /metrics. Store calls that may block (locks, file reads, fsync) run
// on a worker pool so the I/O threads stay responsive; GETs of cached documents do not.
#pragma once

#include <cstdint>
#include <string>

#include "storage/store.h"

namespace amstore {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 5000;
  int io_threads = 2;  // event loops, one thread each
  int worker_threads = 4;
  uint64_t max_body = 64ull << 20;
  // CORS: the Access-Control-Allow-Origin value; empty disables CORS headers.
  std::string cors_origin = "*";
  bool access_log = true;
  // Seconds a connection may stay idle or take to send a request.
  int request_timeout_s = 60;
  // On SIGTERM/SIGINT, in-flight requests get this long before the process gives up.
  int shutdown_grace_s = 20;
};

// Runs until SIGTERM or SIGINT, then stops accepting, finishes in-flight requests and
// returns 0 (1 if the listening socket could not be set up; `error` says why).
int run_server(const ServerOptions& options, DocumentStore& store, std::string* error);

}  // namespace amstore
