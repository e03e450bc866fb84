// Load generator for the server benchmark (bench/run, issue 4): one epoll thread, N
// keep-alive HTTP/1.1 connections to one loopback server, one JSON line on stdout.
//
//   driver --port P --mode MODE [options]
//
// Modes (the request each connection sends next):
//   get        GET /ID                                   (--id)
//   contended  connection i POSTs fork i to /PREFIX-c<r>, r = how many it has done: all
//              connections upload their fork to the same id at once, then move on to a
//              fresh id together (each id ends up holding the 64 forks)
//   distinct   connection i POSTs fork (i+k)%64 to /PREFIX-u<i>-<k/64>, k = how many it
//              has done: the same 1 create + 63 merges per id as `contended`, but every
//              connection has ids of its own
//   seq        one connection POSTs the saves of seq.bin in order to /PREFIX-s (the
//              tutorial's pattern); after --budget seconds it skips ahead to the last
//              --window uploads, so that the end of the sequence is always measured
// Options: --host 127.0.0.1 --conns 64 --duration 5 (seconds issuing new requests)
//          --grace 60 (seconds waiting for requests in flight after that)
//          --payloads DIR (fork-NN.bin; seq.bin, seq.idx) --prefix STR --window 100
//          --budget 20 --max-requests N
// Requests are counted from the start to the last response, so the queue that a slow
// server has built up when --duration ends is part of its time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "driver: %s\n", m.c_str());
  std::exit(2);
}

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) die("cannot read " + p);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Body {
  const char* data = nullptr;
  size_t size = 0;
};

struct Conn {
  int index = 0;
  int fd = -1;
  long gen = 0;  // bumped by every (re)connect
  bool connecting = false;
  bool busy = false;  // a request is out
  long done = 0;      // responses completed on this connection
  // request being sent
  std::string head;
  Body body;
  size_t sent = 0;
  double t_start = 0;
  long seq_index = -1;
  // response being read
  std::string in;
  bool have_head = false;
  int status = 0;
  bool chunked = false;
  bool close_after = false;
  long long remaining = -1;  // body bytes still expected (content-length mode)
  // chunked mode state
  long long chunk_left = -1;  // -1: expecting a chunk-size line
  bool chunk_trailer = false;
  long long body_bytes = 0;
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string mode;
  int conns = 64;
  double duration = 5;
  double grace = 60;
  std::string payloads;
  std::string prefix = "b";
  std::string id = "doc";
  int window = 100;
  double budget = 20;
  long max_requests = -1;
};

Options opt;
std::vector<std::string> forks;
std::string seq_blob;
std::vector<Body> seq;
long seq_next = 0;
long seq_skip_from = -1;
std::vector<double> seq_lat;  // per upload index, seconds; <0: not run
std::vector<double> latencies;
long issued = 0, completed = 0, errors = 0, conn_errors = 0;
long long body_total = 0;
double t0 = 0, t_last = 0;
int ep = -1;
bool stopping = false;

void open_conn(Conn& c) {
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) die("socket");
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(opt.port));
  if (inet_pton(AF_INET, opt.host.c_str(), &a.sin_addr) != 1) die("bad host " + opt.host);
  int r = connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (r < 0 && errno != EINPROGRESS) die(std::string("connect: ") + std::strerror(errno));
  c.connecting = true;
  ++c.gen;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.ptr = &c;
  epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
}

void close_conn(Conn& c) {
  if (c.fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
  }
  c.fd = -1;
  c.in.clear();
  c.have_head = false;
}

void want_write(Conn& c, bool w) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (w ? uint32_t(EPOLLOUT) : 0u);
  ev.data.ptr = &c;
  epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
}

// Fills c.head/c.body with the connection's next request; false: nothing more to send.
bool next_request(Conn& c) {
  if (stopping) return false;
  if (opt.max_requests >= 0 && issued >= opt.max_requests) {
    stopping = true;  // wait for those in flight, then end
    return false;
  }
  std::string path;
  Body b;
  const int nf = int(forks.size());
  if (opt.mode == "get") {
    path = "/" + opt.id;
  } else if (opt.mode == "contended") {
    path = "/" + opt.prefix + "-c" + std::to_string(c.done);
    const std::string& f = forks[size_t(c.index % nf)];
    b = {f.data(), f.size()};
  } else if (opt.mode == "distinct") {
    path = "/" + opt.prefix + "-u" + std::to_string(c.index) + "-" + std::to_string(c.done / nf);
    const std::string& f = forks[size_t((c.index + c.done) % nf)];
    b = {f.data(), f.size()};
  } else {  // seq
    long n = long(seq.size());
    if (seq_next >= n) return false;
    if (seq_skip_from < 0 && now_s() - t0 > opt.budget && seq_next < n - opt.window) {
      seq_skip_from = seq_next;
      seq_next = n - opt.window;
    }
    path = "/" + opt.prefix + "-s";
    c.seq_index = seq_next;
    b = seq[size_t(seq_next++)];
  }
  std::string h;
  if (b.data) {
    h = "POST " + path + " HTTP/1.1\r\nHost: " + opt.host + ":" + std::to_string(opt.port) +
        "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
        std::to_string(b.size) + "\r\n\r\n";
  } else {
    h = "GET " + path + " HTTP/1.1\r\nHost: " + opt.host + ":" + std::to_string(opt.port) +
        "\r\n\r\n";
  }
  c.head = std::move(h);
  c.body = b;
  c.sent = 0;
  c.busy = true;
  c.have_head = false;
  c.chunked = false;
  c.close_after = false;
  c.remaining = -1;
  c.chunk_left = -1;
  c.chunk_trailer = false;
  c.body_bytes = 0;
  c.t_start = now_s();
  ++issued;
  return true;
}

void start_next(Conn& c);

// Sends what it can; returns false on a broken connection.
bool do_send(Conn& c) {
  while (true) {
    size_t total = c.head.size() + c.body.size;
    if (c.sent >= total) {
      want_write(c, false);
      return true;
    }
    iovec iov[2];
    int n = 0;
    if (c.sent < c.head.size()) {
      iov[n++] = {const_cast<char*>(c.head.data()) + c.sent, c.head.size() - c.sent};
      if (c.body.size) iov[n++] = {const_cast<char*>(c.body.data), c.body.size};
    } else {
      size_t off = c.sent - c.head.size();
      iov[n++] = {const_cast<char*>(c.body.data) + off, c.body.size - off};
    }
    ssize_t w = writev(c.fd, iov, n);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        want_write(c, true);
        return true;
      }
      return false;
    }
    c.sent += size_t(w);
  }
}

void finish_response(Conn& c) {
  double t = now_s();
  double lat = t - c.t_start;
  c.busy = false;
  ++c.done;
  ++completed;
  t_last = t;
  body_total += c.body_bytes;
  if (c.status < 200 || c.status > 299) {
    ++errors;
    if (errors <= 5) std::fprintf(stderr, "driver: HTTP %d on connection %d\n", c.status, c.index);
  }
  latencies.push_back(lat);
  if (c.seq_index >= 0) seq_lat[size_t(c.seq_index)] = lat;
  if (c.close_after) {
    close_conn(c);
    open_conn(c);  // the next request goes out once connected
    return;
  }
  start_next(c);
}

void start_next(Conn& c) {
  if (!next_request(c)) return;
  if (!do_send(c)) {
    ++conn_errors;
    close_conn(c);
    c.busy = false;
  }
}

// Parses what has arrived; returns false on a protocol error.
bool parse(Conn& c) {
  while (c.busy) {
    if (!c.have_head) {
      size_t e = c.in.find("\r\n\r\n");
      if (e == std::string::npos) return c.in.size() < 65536;
      std::string head = c.in.substr(0, e);
      c.in.erase(0, e + 4);
      if (head.compare(0, 5, "HTTP/") != 0) return false;
      size_t sp = head.find(' ');
      c.status = std::atoi(head.c_str() + sp + 1);
      std::string lower = head;
      for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
      size_t p = lower.find("\r\ncontent-length:");
      if (p != std::string::npos) c.remaining = std::atoll(lower.c_str() + p + 17);
      else c.remaining = -1;
      c.chunked = lower.find("\r\ntransfer-encoding: chunked") != std::string::npos;
      c.close_after = lower.find("\r\nconnection: close") != std::string::npos;
      c.have_head = true;
      if (!c.chunked && c.remaining < 0) c.remaining = 0;  // no body framing: none expected
    }
    if (!c.chunked) {
      long long take = std::min<long long>(c.remaining, (long long)c.in.size());
      c.in.erase(0, size_t(take));
      c.remaining -= take;
      c.body_bytes += take;
      if (c.remaining > 0) return true;
      finish_response(c);
      continue;
    }
    // chunked
    if (c.chunk_left < 0) {
      size_t e = c.in.find("\r\n");
      if (e == std::string::npos) return c.in.size() < 1024;
      long long n = std::strtoll(c.in.c_str(), nullptr, 16);
      c.in.erase(0, e + 2);
      if (n == 0) {
        c.chunk_trailer = true;
        c.chunk_left = 0;
      } else {
        c.chunk_left = n + 2;  // data and its CRLF
      }
    }
    if (c.chunk_trailer) {
      size_t e = c.in.find("\r\n");
      if (e == std::string::npos) return true;
      c.in.erase(0, e + 2);
      if (e == 0) finish_response(c);  // blank line ends the trailer
      continue;
    }
    long long take = std::min<long long>(c.chunk_left, (long long)c.in.size());
    c.in.erase(0, size_t(take));
    c.chunk_left -= take;
    c.body_bytes += take;
    if (c.chunk_left > 0) return true;
    c.body_bytes -= 2;
    c.chunk_left = -1;
  }
  return true;
}

// Feeds bytes read from a connection to parse(). The body of a response in progress is
// counted straight from the read buffer, not copied into `in` first: copying every byte
// received (and moving what followed a header to the front of `in`) cost the driver about
// a quarter of the machine in the 1 MB GET runs, CPU the server under test then lacked.
// Returns false on a protocol error.
bool consume(Conn& c, const char* p, size_t n) {
  const long gen = c.gen;
  while (n > 0) {
    if (c.busy && c.have_head && !c.chunked && c.in.empty() && c.remaining > 0) {
      size_t k = size_t(std::min<long long>(c.remaining, (long long)n));
      c.remaining -= (long long)k;
      c.body_bytes += (long long)k;
      p += k;
      n -= k;
      if (c.remaining > 0) return true;
      if (!parse(c)) return false;  // finishes the response
    } else {
      // Up to the end of a header block when it ends in these bytes, so that the body
      // after it takes the branch above. (A block end split between two reads is found by
      // parse() in `in`.)
      size_t k = n;
      if (!c.have_head) {
        size_t e = std::string_view(p, n).find("\r\n\r\n");
        if (e != std::string_view::npos) k = e + 4;
      }
      c.in.append(p, k);
      p += k;
      n -= k;
      if (!parse(c)) return false;
    }
    if (c.fd < 0 || c.gen != gen) return true;  // reopened after Connection: close
  }
  return true;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(p / 100.0 * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--host") opt.host = val();
    else if (a == "--port") opt.port = std::atoi(val().c_str());
    else if (a == "--mode") opt.mode = val();
    else if (a == "--conns") opt.conns = std::atoi(val().c_str());
    else if (a == "--duration") opt.duration = std::atof(val().c_str());
    else if (a == "--grace") opt.grace = std::atof(val().c_str());
    else if (a == "--payloads") opt.payloads = val();
    else if (a == "--prefix") opt.prefix = val();
    else if (a == "--id") opt.id = val();
    else if (a == "--window") opt.window = std::atoi(val().c_str());
    else if (a == "--budget") opt.budget = std::atof(val().c_str());
    else if (a == "--max-requests") opt.max_requests = std::atol(val().c_str());
    else die("unknown option " + a);
  }
  if (opt.port <= 0) die("--port is required");
  if (opt.host.rfind("127.", 0) != 0) die("only loopback (127.0.0.0/8) targets");
  if (opt.mode == "contended" || opt.mode == "distinct") {
    for (int f = 0; f < 64; ++f) {
      char name[32];
      std::snprintf(name, sizeof name, "/fork-%02d.bin", f);
      forks.push_back(read_file(opt.payloads + name));
    }
  } else if (opt.mode == "seq") {
    seq_blob = read_file(opt.payloads + "/seq.bin");
    std::ifstream idx(opt.payloads + "/seq.idx");
    long long off, len;
    while (idx >> off >> len) {
      if (off < 0 || len < 0 || size_t(off + len) > seq_blob.size()) die("bad seq.idx");
      seq.push_back({seq_blob.data() + off, size_t(len)});
    }
    if (seq.empty()) die("empty seq.idx");
    opt.window = std::min<int>(opt.window, int(seq.size()));
    seq_lat.assign(seq.size(), -1);
    opt.conns = 1;
  } else if (opt.mode != "get") {
    die("--mode must be get, contended, distinct or seq");
  }

  ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(size_t(opt.conns));
  t0 = now_s();
  t_last = t0;
  for (int i = 0; i < opt.conns; ++i) {
    conns[size_t(i)].index = i;
    open_conn(conns[size_t(i)]);
  }
  std::vector<epoll_event> evs(256);
  std::vector<char> buf(1 << 20);
  bool timed_out = false;
  while (true) {
    double t = now_s();
    if (!stopping && t - t0 >= opt.duration) stopping = true;
    bool any_busy = false;
    for (auto& c : conns)
      if (c.busy || (c.connecting && !stopping)) any_busy = true;
    if (stopping && !any_busy) break;
    if (stopping && t - t0 >= opt.duration + opt.grace) {
      timed_out = true;
      break;
    }
    if (opt.mode == "seq" && seq_next >= long(seq.size()) && !any_busy) break;
    int n = epoll_wait(ep, evs.data(), int(evs.size()), 50);
    for (int k = 0; k < n; ++k) {
      Conn& c = *static_cast<Conn*>(evs[size_t(k)].data.ptr);
      if (c.fd < 0) continue;
      uint32_t e = evs[size_t(k)].events;
      if (c.connecting) {
        if (!(e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) die(std::string("connect: ") + std::strerror(err));
        c.connecting = false;
        want_write(c, false);
        if (c.busy) {  // the request was queued behind a reconnect: cannot happen
          die("internal: busy while connecting");
        }
        start_next(c);
        continue;
      }
      if ((e & EPOLLOUT) && c.busy) {
        if (!do_send(c)) {
          ++conn_errors;
          close_conn(c);
          c.busy = false;
          continue;
        }
      }
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        bool eof = false;
        const long gen = c.gen;
        while (true) {
          ssize_t r = read(c.fd, buf.data(), buf.size());
          if (r > 0) {
            if (!consume(c, buf.data(), size_t(r))) {
              ++conn_errors;
              close_conn(c);
              c.busy = false;
              break;
            }
            if (c.fd < 0 || c.gen != gen) break;  // reopened after Connection: close
            continue;
          }
          if (r == 0) eof = true;
          else if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;
          break;
        }
        if (eof && c.fd >= 0 && c.gen == gen) {
          if (c.busy) {
            ++conn_errors;
            c.busy = false;
          }
          close_conn(c);
          if (!stopping) open_conn(c);
        }
      }
    }
  }
  long in_flight = 0;
  for (auto& c : conns) {
    if (c.busy) ++in_flight;
    close_conn(c);
  }
  double elapsed = std::max(1e-9, t_last - t0);
  std::string out = "{";
  auto kv = [&](const char* k, double v, bool last = false) {
    char b[96];
    std::snprintf(b, sizeof b, "\"%s\":%.6g%s", k, v, last ? "" : ",");
    out += b;
  };
  kv("completed", double(completed));
  kv("errors", double(errors));
  kv("conn_errors", double(conn_errors));
  kv("unfinished", double(in_flight));
  kv("timed_out", timed_out ? 1 : 0);
  kv("elapsed_s", elapsed);
  kv("rps", double(completed) / elapsed);
  kv("p50_ms", pct(latencies, 50) * 1e3);
  kv("p99_ms", pct(latencies, 99) * 1e3);
  kv("max_ms", pct(latencies, 100) * 1e3);
  kv("mean_body_bytes", completed ? double(body_total) / double(completed) : 0);
  if (opt.mode == "contended" || opt.mode == "distinct") {
    long lo = -1;
    for (auto& c : conns) lo = lo < 0 ? c.done : std::min(lo, c.done);
    // contended: ids PREFIX-c0 .. c<rounds-1> got all 64 forks; distinct: PREFIX-u<i>-0 ..
    // <full_ids-1> for every connection i
    kv("full_rounds", double(opt.mode == "contended" ? lo : lo / long(forks.size())));
  }
  if (opt.mode == "seq") {
    std::vector<double> a, b;
    long n = long(seq.size());
    for (long i = 0; i < opt.window; ++i)
      if (seq_lat[size_t(i)] >= 0) a.push_back(seq_lat[size_t(i)]);
    for (long i = n - opt.window; i < n; ++i)
      if (seq_lat[size_t(i)] >= 0) b.push_back(seq_lat[size_t(i)]);
    kv("uploads", double(n));
    kv("window", opt.window);
    kv("skipped_from", double(seq_skip_from));
    kv("start_median_ms", pct(a, 50) * 1e3);
    kv("end_median_ms", pct(b, 50) * 1e3);
    kv("start_p99_ms", pct(a, 99) * 1e3);
    kv("end_p99_ms", pct(b, 99) * 1e3);
    kv("start_n", double(a.size()));
    kv("end_n", double(b.size()));
  }
  kv("duration_s", opt.duration, true);
  out += "}";
  std::printf("%s\n", out.c_str());
  return 0;
}
