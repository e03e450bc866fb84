#include "server/server.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "automerge/json_view.h"
#include "server/metrics.h"
#include "server/request_target.h"

namespace amstore {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

using Request = http::request<http::vector_body<uint8_t>>;
using Response = http::response<http::string_body>;
using Clock = std::chrono::steady_clock;
// A connection's read buffer: grown for a request body up to kMaxReadRoom, given back when
// larger than kKeptReadRoom between requests.
constexpr uint64_t kMaxReadRoom = 1 << 20;
constexpr size_t kKeptReadRoom = 64 << 10;

// For the access log: printable ASCII only, bounded length.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 300)) out += (c < 0x20 || c >= 0x7f) ? '?' : char(c);
  if (s.size() > 300) out += "...";
  return out;
}

bool etag_matches(std::string_view header, const std::string& etag) {
  // If-None-Match: "*" or a comma-separated list of (possibly weak) entity tags.
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    std::string_view item =
        header.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

std::string heads_json(const std::vector<ChangeHash>& heads) {
  std::string out = "[";
  for (size_t i = 0; i < heads.size(); ++i) {
    if (i) out += ",";
    out += "\"" + to_hex(heads[i]) + "\"";
  }
  return out + "]";
}

struct Reply {
  Response res;
  std::string route = "other";
  // Set for a 200 with a document: `res` is unused, Session::send_doc writes the response.
  std::shared_ptr<const DocVersion> doc;
};

Reply text_reply(const Request& req, http::status status, std::string route, std::string body,
                 const char* type = "text/plain; charset=utf-8") {
  Reply r;
  r.route = std::move(route);
  r.res = Response(status, req.version());
  r.res.set(http::field::content_type, type);
  r.res.body() = std::move(body);
  return r;
}

// A 304 for a conditional GET whose If-None-Match holds `etag`: no body, no type.
Reply not_modified(const Request& req, std::string route, const std::string& etag) {
  Reply r = text_reply(req, http::status::not_modified, std::move(route), "");
  r.res.erase(http::field::content_type);
  r.res.set(http::field::etag, etag);
  r.res.set(http::field::cache_control, "no-cache");
  return r;
}

std::string error_json(const std::string& message) {
  std::string out = "{\"error\":";
  append_json_string(out, message);
  out += "}\n";
  return out;
}

Reply error_reply(const Request& req, http::status status, std::string route,
                  const std::string& message) {
  return text_reply(req, status, std::move(route),
                    error_json(message), "application/json");
}

Reply store_error(const Request& req, const std::string& route, const StoreStatus& st) {
  switch (st.code) {
    case StoreCode::kNotFound: return error_reply(req, http::status::not_found, route, "not found");
    case StoreCode::kInvalid: return error_reply(req, http::status::bad_request, route, st.message);
    default:
      std::fprintf(stderr, "amstore: error: %s\n", st.message.c_str());
      return error_reply(req, http::status::internal_server_error, route, st.message);
  }
}

}  // namespace

namespace {

class Session;

class Server {
 public:
  Server(const ServerOptions& opt, DocumentStore& store)
      : opt_(opt),
        store_(store),
        pool_(std::max(1, opt.worker_threads)),
        acceptor_(ioc_),
        signals_(ioc_, SIGINT, SIGTERM),
        grace_(ioc_),
        accept_pause_(ioc_) {}

  bool listen(std::string* error) {
    beast::error_code ec;
    auto addr = net::ip::make_address(opt_.host, ec);
    if (ec) {
      *error = "invalid host address " + opt_.host + ": " + ec.message();
      return false;
    }
    tcp::endpoint ep(addr, opt_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + opt_.host + ":" + std::to_string(opt_.port) + ": " +
               ec.message();
      return false;
    }
    return true;
  }

  int run() {
    signals_.async_wait([this](const beast::error_code& ec, int) {
      if (!ec) begin_shutdown();
    });
    // One event loop per I/O thread, each connection living on one of them (like nginx's
    // workers): no strands, and no waking of another thread per request. ioc_, run by this
    // thread, also accepts; the others are kept running until ioc_ is done.
    std::vector<std::thread> threads;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    for (int i = 1; i < std::max(1, opt_.io_threads); ++i) {
      loops_.push_back(std::make_unique<net::io_context>(1));
      guards.push_back(net::make_work_guard(*loops_.back()));
    }
    for (auto& l : loops_) threads.emplace_back([l = l.get()] { l->run(); });
    do_accept();
    auto ep = acceptor_.local_endpoint();
    std::fprintf(stderr, "amstore: listening on http://%s:%u\n", ep.address().to_string().c_str(),
                 static_cast<unsigned>(ep.port()));
    ioc_.run();
    guards.clear();  // every session has ended, or the grace period is over
    for (auto& t : threads) t.join();
    pool_.join();
    std::fprintf(stderr, "amstore: stopped\n");
    return 0;
  }

  void begin_shutdown();
  void session_started(const std::shared_ptr<Session>& s);
  void session_ended();

  const ServerOptions& opt_;
  DocumentStore& store_;
  Metrics metrics_;
  net::io_context ioc_{1};
  std::vector<std::unique_ptr<net::io_context>> loops_;  // I/O threads after the first
  size_t next_loop_ = 0;
  net::thread_pool pool_;
  tcp::acceptor acceptor_;
  net::signal_set signals_;
  net::steady_timer grace_;
  net::steady_timer accept_pause_;  // after a failed accept, see do_accept
  bool accept_failing_ = false;     // (ioc_'s thread only)
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::mutex sessions_mu_;
  std::list<std::weak_ptr<Session>> sessions_;

 private:
  void do_accept();
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& srv, tcp::socket socket) : srv_(srv), stream_(std::move(socket)) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    remote_ = ec ? "-" : ep.address().to_string();
  }
  ~Session() { srv_.session_ended(); }

  void start() {
    // send_file calls send/sendfile on the descriptor directly: they must not block.
    beast::error_code ec;
    stream_.socket().native_non_blocking(true, ec);
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  // On the session's event loop: an idle connection (nothing of a next request received) is
  // closed now; a busy one closes after its response.
  void shutdown() {
    if (idle_ && !(parser_ && parser_->got_some())) stream_.cancel();
  }
  void post_shutdown() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->shutdown(); });
  }

 private:
  void do_read() {
    if (buffer_.capacity() > kKeptReadRoom) buffer_.shrink_to_fit();
    parser_.emplace();
    parser_->body_limit(srv_.opt_.max_body);
    parser_->header_limit(16 * 1024);
    idle_ = true;
    if (srv_.stopping_) return close();
    stream_.expires_after(std::chrono::seconds(srv_.opt_.request_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    idle_ = false;
    start_ = Clock::now();
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    auto len = parser_->content_length();
    if (len && *len > srv_.opt_.max_body) return reject_too_large();
    auto expect = req[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      // Tell the client to go ahead, so clients that wait for it do not stall.
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                      req.version());
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code ec2, size_t) {
                          if (ec2) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    // Beast reads at most the buffer's free space per receive, and the parser empties the
    // buffer into the body as it goes: with a fresh buffer (512 bytes) a 100 KB body took
    // ~190 receives (a fifth of an upload's CPU). Room for the body (up to 1 MiB) makes
    // it a few; do_read() gives large buffers back.
    if (auto len = parser_->content_length(); len && *len > buffer_.capacity() - buffer_.size())
      buffer_.reserve(buffer_.size() + std::min<uint64_t>(*len, kMaxReadRoom));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit) return reject_too_large();
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == http::error::partial_message)
      return close();
    // Malformed HTTP: answer 400 once, then close (the stream position is unknown).
    Request dummy;
    dummy.version(11);
    method_ = "-";
    target_ = "-";
    Reply r = error_reply(dummy, http::status::bad_request, "other", "bad request: " + ec.message());
    close_after_ = true;
    send(std::move(r));
  }

  void reject_too_large() {
    Request dummy;
    dummy.version(11);
    const auto& req = parser_->get();
    method_ = std::string(req.method_string());
    target_ = std::string(req.target());
    Reply r = error_reply(dummy, http::status::payload_too_large, "other",
                          "body exceeds the limit of " + std::to_string(srv_.opt_.max_body) +
                              " bytes");
    close_after_ = true;
    drain_after_ = true;
    send(std::move(r));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    Request req = parser_->release();
    method_ = std::string(req.method_string());
    target_ = std::string(req.target());
    bytes_in_ = req.body().size();
    version_ = req.version();
    close_after_ = !req.keep_alive();
    handle(std::move(req));
  }

  void handle(Request req);

  void send(Reply r) {
    if (r.doc) return send_doc(std::move(r.doc));
    auto& res = r.res;
    const auto& opt = srv_.opt_;
    if (!opt.cors_origin.empty()) {
      res.set(http::field::access_control_allow_origin, opt.cors_origin);
      res.set(http::field::access_control_expose_headers, "ETag");
      if (opt.cors_origin != "*") res.set(http::field::vary, "Origin");
    }
    res.set(http::field::server, "amstore");
    bool close = close_after_ || srv_.stopping_;
    res.keep_alive(!close);
    if (!head_) {
      res.prepare_payload();
    } else if (!res.body().empty()) {
      // HEAD: the length of what GET would send, and no body on the wire.
      res.content_length(res.body().size());
      res.body().clear();
    }
    record(r.route, static_cast<int>(res.result_int()), head_ ? 0 : res.body().size());
    res_ = std::make_shared<Response>(std::move(res));
    stream_.expires_after(std::chrono::seconds(srv_.opt_.request_timeout_s));
    http::async_write(stream_, *res_,
                      [self = shared_from_this(), close](beast::error_code ec, size_t) {
                        self->on_write(ec, close);
                      });
  }

  // 200 with a document, the hot path: the same header send() would make, written by hand
  // into a reused buffer; the cached bytes go out without a copy (sendfile from their
  // descriptor, DocVersion::fd, else a gather write of the shared buffer).
  void send_doc(std::shared_ptr<const DocVersion> doc) {
    const auto& opt = srv_.opt_;
    bool close = close_after_ || srv_.stopping_;
    size_t size = doc->bytes->size();
    std::string& h = header_buf_;
    h.clear();
    h += version_ == 10 ? "HTTP/1.0 200 OK\r\n" : "HTTP/1.1 200 OK\r\n";
    h += "Content-Type: application/octet-stream\r\nETag: ";
    h += doc->info.etag;
    h += "\r\nCache-Control: no-cache\r\n";
    if (!opt.cors_origin.empty()) {
      h += "Access-Control-Allow-Origin: ";
      h += opt.cors_origin;
      h += "\r\nAccess-Control-Expose-Headers: ETag\r\n";
      if (opt.cors_origin != "*") h += "Vary: Origin\r\n";
    }
    h += "Server: amstore\r\n";
    if (version_ == 10 && !close) h += "Connection: keep-alive\r\n";
    if (version_ != 10 && close) h += "Connection: close\r\n";
    char len[24];
    h += "Content-Length: ";
    h.append(len, std::to_chars(len, len + sizeof len, size).ptr);
    h += "\r\n\r\n";
    record("doc", 200, head_ ? 0 : size);
    if (doc->fd >= 0 && !head_) {
      doc_ = std::move(doc);
      sent_ = 0;
      return send_file(close);
    }
    std::array<net::const_buffer, 2> bufs{net::buffer(h),
                                          net::buffer(doc->bytes->data(), head_ ? 0 : size)};
    doc_ = std::move(doc);
    stream_.expires_after(std::chrono::seconds(srv_.opt_.request_timeout_s));
    net::async_write(stream_, bufs, [self = shared_from_this(), close](beast::error_code ec, size_t) {
      self->on_write(ec, close);
    });
  }

  // The header, then the document with sendfile from its descriptor (the snapshot file or
  // a memfd): the socket takes references to the pages instead of a copy, as nginx does.
  // When the socket buffer is full, waits for room (async_wait re-arms epoll, so no wakeup
  // is lost), under the request timeout like any other write.
  void send_file(bool close) {
    int sock = stream_.socket().native_handle();
    const std::string& h = header_buf_;
    uint64_t total = h.size() + doc_->bytes->size();
    while (sent_ < total) {
      ssize_t n;
      if (sent_ < h.size()) {
        n = ::send(sock, h.data() + sent_, h.size() - sent_, MSG_NOSIGNAL | MSG_MORE);
      } else {
        off_t off = static_cast<off_t>(sent_ - h.size());
        n = ::sendfile(sock, doc_->fd, &off, total - sent_);
      }
      if (n > 0) {
        sent_ += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        uint64_t seq = ++wait_seq_;
        send_timer_.expires_after(std::chrono::seconds(srv_.opt_.request_timeout_s));
        send_timer_.async_wait([self = shared_from_this(), seq](beast::error_code ec) {
          if (!ec && self->wait_seq_ == seq) {
            beast::error_code ignored;
            self->stream_.socket().cancel(ignored);
          }
        });
        stream_.socket().async_wait(tcp::socket::wait_write,
                                    [self = shared_from_this(), close](beast::error_code ec) {
                                      ++self->wait_seq_;
                                      self->send_timer_.cancel();
                                      if (ec) return self->on_write(ec, close);
                                      self->send_file(close);
                                    });
        return;
      }
      // n == 0: the file is shorter than the document (cannot happen: a memfd is sealed, and
      // a snapshot is never written in place).
      return on_write(beast::error_code(n < 0 ? errno : EIO, beast::system_category()), close);
    }
    on_write({}, close);
  }

  // Metrics and the access log line of the request being answered.
  void record(const std::string& route, int status, uint64_t out_bytes) {
    srv_.metrics_.request(route, method_, status, bytes_in_, out_bytes);
    if (srv_.opt_.access_log) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
      std::fprintf(stderr, "amstore: %s \"%s %s\" %d in=%llu out=%llu %.2fms\n", remote_.c_str(),
                   printable(method_).c_str(), printable(target_).c_str(), status,
                   static_cast<unsigned long long>(bytes_in_),
                   static_cast<unsigned long long>(out_bytes), ms);
    }
  }

  void on_write(beast::error_code ec, bool close) {
    res_.reset();
    doc_.reset();
    head_ = false;
    bytes_in_ = 0;
    if (ec) return this->close();
    if (drain_after_) return drain();
    if (close) return this->close();
    do_read();
  }

  // After a 413 the client may still be sending; reading (and discarding) for a moment
  // before closing lets it see the response instead of a connection reset.
  void drain() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    if (!drain_buf_) drain_buf_ = std::make_unique<std::array<char, 65536>>();
    stream_.async_read_some(net::buffer(*drain_buf_),
                            [self = shared_from_this()](beast::error_code ec2, size_t n) {
                              self->drained_ += n;
                              if (ec2 || self->drained_ > (256ull << 20)) return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  Server& srv_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::vector_body<uint8_t>>> parser_;
  std::shared_ptr<Response> res_;
  std::shared_ptr<const DocVersion> doc_;  // the document being sent
  std::string header_buf_;
  unsigned version_ = 11;
  uint64_t sent_ = 0;      // of header_buf_ and then the document, by send_file
  uint64_t wait_seq_ = 0;  // tells a stale send_timer_ expiry from the current wait's
  net::steady_timer send_timer_{stream_.get_executor()};
  std::string remote_, method_, target_;
  Clock::time_point start_ = Clock::now();
  uint64_t bytes_in_ = 0;
  bool idle_ = true;
  bool head_ = false;
  bool close_after_ = false;
  bool drain_after_ = false;
  uint64_t drained_ = 0;
  std::unique_ptr<std::array<char, 65536>> drain_buf_;
};

void Server::do_accept() {
  // Round robin over the event loops; each is single-threaded, so a session needs no strand.
  size_t i = next_loop_++ % (loops_.size() + 1);
  net::io_context& loop = i == 0 ? ioc_ : *loops_[i - 1];
  acceptor_.async_accept(loop, [this](beast::error_code ec, tcp::socket socket) {
    if (stopping_) return;
    if (!ec) {
      if (accept_failing_) std::fprintf(stderr, "amstore: accepting connections again\n");
      accept_failing_ = false;
      // No Nagle: a response's last, partial segment would otherwise wait for the client's
      // ACK of what went before (a large GET). Headers are held back for their body by
      // MSG_MORE or a gather write instead.
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto s = std::make_shared<Session>(*this, std::move(socket));
      session_started(s);
      s->start();
    } else if (ec == net::error::operation_aborted) {
      return;
    } else {
      // Out of descriptors (EMFILE, ENFILE) or memory: the connection stays queued, and an
      // accept tried again at once fails again at once, a busy loop until a descriptor is
      // freed. Say so once, and try again every 50 ms; the open connections go on.
      if (!accept_failing_)
        std::fprintf(stderr, "amstore: cannot accept connections: %s (trying again every 50 ms)\n",
                     ec.message().c_str());
      accept_failing_ = true;
      accept_pause_.expires_after(std::chrono::milliseconds(50));
      accept_pause_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping_) do_accept();
      });
      return;
    }
    do_accept();
  });
}

void Server::session_started(const std::shared_ptr<Session>& s) {
  ++active_;
  std::lock_guard<std::mutex> g(sessions_mu_);
  // Prune finished sessions now and then so the list stays small.
  if (sessions_.size() > 64)
    sessions_.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
  sessions_.push_back(s);
}

void Server::session_ended() {
  if (--active_ == 0 && stopping_) net::post(ioc_, [this] { grace_.cancel(); });
}

void Server::begin_shutdown() {
  if (stopping_.exchange(true)) return;
  std::fprintf(stderr, "amstore: shutting down: finishing in-flight requests\n");
  beast::error_code ec;
  acceptor_.close(ec);
  accept_pause_.cancel();
  signals_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> g(sessions_mu_);
    for (auto& w : sessions_)
      if (auto s = w.lock()) live.push_back(s);
    sessions_.clear();
  }
  for (auto& s : live) {
    // Session::shutdown must run on the session's own event loop; posting through the session
    // keeps it alive until then.
    s->post_shutdown();
  }
  if (active_ == 0 && live.empty()) return;
  grace_.expires_after(std::chrono::seconds(opt_.shutdown_grace_s));
  grace_.async_wait([this](beast::error_code ec2) {
    if (!ec2) {
      std::fprintf(stderr, "amstore: grace period over; stopping with requests in flight\n");
      ioc_.stop();
      for (auto& l : loops_) l->stop();
    }
  });
}

// With `can_block` false (on an I/O thread) answers what needs no blocking store call, the
// common case being a GET of a cached document, and returns nothing for the rest; the pool
// calls it again with `can_block` true.
std::optional<Reply> route(Server& srv, const Request& req, bool can_block) {
  DocumentStore& store = srv.store_;
  std::string_view target(req.target().data(), req.target().size());
  bool is_get = req.method() == http::verb::get || req.method() == http::verb::head;
  RequestTarget t;
  if (std::optional<TargetError> e = parse_request_target(target, is_get, &t))
    return error_reply(req, static_cast<http::status>(e->status), e->route, e->message);
  const std::string& id = t.id;

  if (t.kind == RequestTarget::Kind::kMetrics) {
    if (!is_get)
      return error_reply(req, http::status::method_not_allowed, "metrics", "use GET");
    if (!can_block) return std::nullopt;  // stats() lists the data directory
    Reply r = text_reply(req, http::status::ok, "metrics", srv.metrics_.render(store.stats()),
                         "text/plain; version=0.0.4; charset=utf-8");
    return r;
  }

  if (t.kind == RequestTarget::Kind::kJson) {  // GET /:id/json
    if (!is_get) return error_reply(req, http::status::method_not_allowed, "json", "use GET");
    if (!can_block) return std::nullopt;
    // The document's ETag marked as this representation's, so that a client polling the
    // JSON gets a 304 without the document being rendered again.
    auto json_etag = [](std::string etag) { return etag.insert(etag.size() - 1, "-json"); };
    auto inm = req[http::field::if_none_match];
    if (!inm.empty()) {
      std::string etag;
      if (std::shared_ptr<const DocVersion> v = store.cached(id)) {
        etag = v->info.etag;
      } else {
        GetResult got;
        StoreStatus st = store.get(id, false, &got);
        if (!st.ok()) return store_error(req, "json", st);
        etag = got.info.etag;
      }
      if (etag_matches(std::string_view(inm.data(), inm.size()), json_etag(etag)))
        return not_modified(req, "json", json_etag(etag));
    }
    std::string json;
    DocInfo info;
    StoreStatus st = store.json(id, &json, &info);
    if (!st.ok()) return store_error(req, "json", st);
    Reply r = text_reply(req, http::status::ok, "json", std::move(json) + "\n",
                         "application/json");
    r.res.set(http::field::etag, json_etag(info.etag));
    r.res.set(http::field::cache_control, "no-cache");
    return r;
  }

  if (is_get) {
    if (t.has_since) {  // ?since=H1,H2: only the changes the caller lacks
      if (!can_block) return std::nullopt;
      Bytes changes;
      DocInfo info;
      StoreStatus st = store.changes_since(id, t.since, &changes, &info);
      if (!st.ok()) return store_error(req, "since", st);
      Reply r = text_reply(req, http::status::ok, "since",
                           std::string(changes.begin(), changes.end()),
                           "application/octet-stream");
      r.res.set(http::field::cache_control, "no-cache");
      return r;
    }

    auto inm = req[http::field::if_none_match];
    std::shared_ptr<const DocVersion> v = store.cached(id);
    std::string etag;  // of the version answered
    if (v) {
      etag = v->info.etag;
    } else {
      if (!can_block) return std::nullopt;
      GetResult got;
      if (!inm.empty()) {
        StoreStatus st = store.get(id, false, &got);
        if (!st.ok()) return store_error(req, "doc", st);
        etag = got.info.etag;
      }
      if (inm.empty() || !etag_matches(std::string_view(inm.data(), inm.size()), etag)) {
        StoreStatus st = store.get(id, true, &got);
        if (!st.ok()) return store_error(req, "doc", st);
        auto fresh = std::make_shared<DocVersion>();
        fresh->info = std::move(got.info);
        fresh->bytes = std::move(got.bytes);
        v = std::move(fresh);
        etag = v->info.etag;
      }
    }
    if (!inm.empty() && etag_matches(std::string_view(inm.data(), inm.size()), etag))
      return not_modified(req, "doc", etag);
    Reply r;
    r.route = "doc";
    r.doc = std::move(v);
    return r;
  }

  if (req.method() == http::verb::post || req.method() == http::verb::put) {
    if (!can_block) return std::nullopt;  // merging takes locks, CPU and an fsync
    auto t0 = Clock::now();
    MergeResult m;
    StoreStatus st = store.merge(id, ByteView(req.body().data(), req.body().size()), &m);
    if (st.ok())
      srv.metrics_.merge_latency(std::chrono::duration<double>(Clock::now() - t0).count());
    if (!st.ok()) return store_error(req, "doc", st);
    std::string body = "{\"heads\":" + heads_json(m.info.heads) +
                       ",\"newChanges\":" + std::to_string(m.new_changes) +
                       ",\"created\":" + (m.created ? "true" : "false") + "}\n";
    Reply r = text_reply(req, http::status::ok, "doc", std::move(body), "application/json");
    r.res.set(http::field::etag, m.info.etag);
    return r;
  }

  Reply r = error_reply(req, http::status::method_not_allowed, "doc",
                        "method not allowed: use GET, HEAD, POST, PUT or OPTIONS");
  r.res.set(http::field::allow, "GET, HEAD, POST, PUT, OPTIONS");
  return r;
}

void Session::handle(Request req) {
  head_ = req.method() == http::verb::head;
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  const auto& opt = srv_.opt_;

  if (req.method() == http::verb::options) {  // CORS preflight, answered inline
    Reply r = text_reply(req, http::status::no_content, "options", "");
    r.res.erase(http::field::content_type);
    r.res.set(http::field::allow, "GET, HEAD, POST, PUT, OPTIONS");
    if (!opt.cors_origin.empty()) {
      r.res.set(http::field::access_control_allow_methods, "GET, HEAD, POST, PUT, OPTIONS");
      auto want = req[http::field::access_control_request_headers];
      r.res.set(http::field::access_control_allow_headers,
                want.empty() ? beast::string_view("Content-Type, If-None-Match") : want);
      r.res.set(http::field::access_control_max_age, "86400");
    }
    return send(std::move(r));
  }
  if (path == "/healthz") {
    Reply r = text_reply(req, http::status::ok, "healthz", srv_.stopping_ ? "stopping\n" : "ok\n");
    return send(std::move(r));
  }

  // Cached documents and bad requests are answered here; only blocking work hops to the pool.
  try {
    if (std::optional<Reply> r = route(srv_, req, false)) return send(std::move(*r));
  } catch (const std::exception& e) {
    return send(error_reply(req, http::status::internal_server_error, "other",
                            std::string("internal error: ") + e.what()));
  }

  // The work guard keeps the I/O loop running while the pool works, so a shutdown cannot
  // end the process under an in-flight request.
  auto guard = net::make_work_guard(stream_.get_executor());
  auto shared_req = std::make_shared<Request>(std::move(req));
  net::post(srv_.pool_, [self = shared_from_this(), shared_req, guard]() mutable {
    Reply r;
    try {
      r = *route(self->srv_, *shared_req, true);
    } catch (const std::exception& e) {
      r = error_reply(*shared_req, http::status::internal_server_error, "other",
                      std::string("internal error: ") + e.what());
    }
    net::post(self->stream_.get_executor(),
              [self, r = std::move(r), guard = std::move(guard)]() mutable {
                self->send(std::move(r));
              });
  });
}

}  // namespace

int run_server(const ServerOptions& options, DocumentStore& store, std::string* error) {
  // sendfile (send_file above) takes no MSG_NOSIGNAL: writing to a connection the client has
  // reset raises SIGPIPE, whose default action ends the process. Ignored, the write fails
  // with EPIPE and only that connection closes.
  std::signal(SIGPIPE, SIG_IGN);
  Server srv(options, store);
  if (!srv.listen(error)) return 1;
  return srv.run();
}

}  // namespace amstore
