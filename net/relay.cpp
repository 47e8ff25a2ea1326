#include "net/relay.hpp"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace fedq::net {

namespace {

using steady = std::chrono::steady_clock;
constexpr auto preamble_time = std::chrono::seconds(10);
constexpr int tick_ms = 200;            // how often blocked loops look at the stop flag
constexpr size_t max_pending = 64;      // preambles in progress at once; more are closed at once
constexpr size_t basp_header = 32;      // CAF 0.17's BASP header; payload_len at bytes 4..7 (BE)


/// Threads of a relay: a stop flag they poll, and a count the destructor waits on.
struct threads {
  std::atomic<bool> stop{false};
  std::mutex m;
  std::condition_variable cv;
  size_t running = 0;
  size_t pending = 0; // of them, in the preamble

  template <class F>
  void start(F f) {
    {
      std::lock_guard<std::mutex> lk(m);
      ++running;
    }
    std::thread([this, f = std::move(f)]() mutable {
      f();
      std::lock_guard<std::mutex> lk(m);
      --running;
      cv.notify_all();
    }).detach();
  }
  void stop_and_wait() {
    stop = true;
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return running == 0; });
  }
};

/// Waits for `events` on fd until `deadline` or stop; false on timeout, stop or error.
bool wait_for(int fd, short events, steady::time_point deadline, const std::atomic<bool>& stop) {
  while (!stop) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0)
      return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, int(std::min<long long>(left, tick_ms)));
    if (r > 0)
      return (p.revents & events) != 0 || (p.revents & POLLHUP && events == POLLIN);
    if (r < 0 && errno != EINTR)
      return false;
  }
  return false;
}

bool write_all(int fd, const void* buf, size_t n) {
  auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    auto r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

std::string ssl_error() {
  char buf[256] = "unknown error";
  if (auto e = ERR_get_error())
    ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

using ssl_ctx = std::shared_ptr<SSL_CTX>;

ssl_ctx make_ctx(const tls_files& t, bool server) {
  if (!t.on())
    return nullptr;
  ssl_ctx ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()), SSL_CTX_free);
  if (!ctx)
    throw input_error("TLS: " + ssl_error());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), t.cert.c_str()) != 1)
    throw input_error("--tls-cert " + t.cert + ": " + ssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), t.key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw input_error("--tls-key " + t.key + ": " + ssl_error());
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    throw input_error("--tls-key " + t.key + " is not the key of --tls-cert " + t.cert);
  if (SSL_CTX_load_verify_locations(ctx.get(), t.ca.c_str(), nullptr) != 1)
    throw input_error("--tls-ca " + t.ca + ": " + ssl_error());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

/// One end of a relayed connection: a socket, maybe with TLS on it.
struct conn {
  int fd = -1;
  SSL* ssl = nullptr;
  explicit conn(int f = -1) : fd(f) {}
  ~conn() {
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    if (fd >= 0)
      ::close(fd);
  }
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  /// Starts TLS on the socket (accepting or connecting to `host`); "" or why not.
  std::string start_tls(SSL_CTX* ctx, bool accept, const std::string& host) {
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (!accept) {
      SSL_set_tlsext_host_name(ssl, host.c_str());
      SSL_set1_host(ssl, host.c_str()); // the certificate must name the host dialled
    }
    timeval tv{10, 0}; // a stalled handshake gives up
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int r = accept ? SSL_accept(ssl) : SSL_connect(ssl);
    if (r != 1) {
      auto v = SSL_get_verify_result(ssl);
      return v != X509_V_OK ? std::string("certificate: ") + X509_verify_cert_error_string(v)
                            : ssl_error();
    }
    return "";
  }
  bool pending() const { return ssl && SSL_pending(ssl) > 0; }
  ssize_t recv_some(char* b, size_t n) {
    if (!ssl)
      return ::recv(fd, b, n, 0);
    int r = SSL_read(ssl, b, int(std::min<size_t>(n, 1 << 30)));
    return r > 0 ? r : -1;
  }
  bool send_all(const char* b, size_t n) {
    if (!ssl)
      return write_all(fd, b, n);
    while (n > 0) {
      int r = SSL_write(ssl, b, int(std::min<size_t>(n, 1 << 30)));
      if (r <= 0)
        return false;
      b += r;
      n -= size_t(r);
    }
    return true;
  }
};

bool read_exact(conn& c, void* buf, size_t n, steady::time_point deadline, const std::atomic<bool>& stop) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    if (!c.pending() && !wait_for(c.fd, POLLIN, deadline, stop))
      return false;
    auto r = c.recv_some(p, n);
    if (r <= 0)
      return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

void no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int listen_on(const endpoint& e, uint16_t& bound) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  auto port = std::to_string(e.port);
  if (::getaddrinfo(e.host.empty() ? nullptr : e.host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    throw input_error("cannot listen on " + e.host + ":" + port + ": unknown address");
  int fd = ::socket(res->ai_family, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bool ok = fd >= 0 && ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 128) == 0;
  ::freeaddrinfo(res);
  if (!ok) {
    auto why = std::string(std::strerror(errno));
    if (fd >= 0)
      ::close(fd);
    throw input_error("cannot listen on " + e.host + ":" + port + ": " + why);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  bound = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                         : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

int connect_to(const std::string& host, uint16_t port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0)
    return -1;
  int fd = -1;
  for (auto* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd >= 0)
    no_delay(fd);
  return fd;
}

std::string peer_of(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

void put_u32(char* p, uint32_t v) {
  v = htonl(v);
  std::memcpy(p, &v, 4);
}
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}

/// Counts CAF frames in a byte stream and says when one is too large.
struct frame_meter {
  size_t max_payload = 0; // 0: no limit
  char header[basp_header];
  size_t have = 0;        // header bytes seen
  uint64_t payload_left = 0;
  uint32_t too_large = 0; // the offending payload length, once seen

  bool feed(const char* p, size_t n) {
    while (n > 0) {
      if (payload_left > 0) {
        auto k = std::min<uint64_t>(payload_left, n);
        payload_left -= k;
        p += k;
        n -= size_t(k);
        continue;
      }
      auto k = std::min(basp_header - have, n);
      std::memcpy(header + have, p, k);
      have += k;
      p += k;
      n -= k;
      if (have == basp_header) {
        have = 0;
        payload_left = get_u32(header + 4);
        if (max_payload > 0 && payload_left > max_payload) {
          too_large = uint32_t(payload_left);
          return false;
        }
      }
    }
    return true;
  }
};

/// Copies bytes both ways until either side closes or stop; `up` (a -> b)
/// goes through the meter when it has a limit.
void splice(conn& a, conn& b, frame_meter* up, const std::atomic<bool>& stop, const log_fn& warn,
            const std::string& who) {
  timeval none{0, 0};
  for (int fd : {a.fd, b.fd})
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  std::vector<char> buf(1 << 16);
  conn* ends[2] = {&a, &b};
  while (!stop) {
    bool ready[2] = {a.pending(), b.pending()};
    if (!ready[0] && !ready[1]) {
      pollfd p[2] = {{a.fd, POLLIN, 0}, {b.fd, POLLIN, 0}};
      int r = ::poll(p, 2, tick_ms);
      if (r < 0 && errno != EINTR)
        return;
      for (int i = 0; i < 2; ++i)
        ready[i] = (p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    }
    for (int i = 0; i < 2; ++i) {
      if (!ready[i])
        continue;
      auto n = ends[i]->recv_some(buf.data(), buf.size());
      if (n <= 0)
        return;
      if (i == 0 && up && !up->feed(buf.data(), size_t(n))) {
        if (warn)
          warn("closed the connection of " + who + ": a frame of " + std::to_string(up->too_large) +
               " bytes, more than any message a worker sends can be (" +
               std::to_string(up->max_payload) + ")");
        return;
      }
      if (!ends[1 - i]->send_all(buf.data(), size_t(n)))
        return;
    }
  }
}

/// Accepts connections on `listen_fd` in a thread of `t` until stop.
void accept_loop(threads& t, int listen_fd, std::function<void(int, const sockaddr_storage&)> on_accept) {
  t.start([&t, listen_fd, on_accept = std::move(on_accept)] {
    while (!t.stop) {
      pollfd p{listen_fd, POLLIN, 0};
      if (::poll(&p, 1, tick_ms) <= 0)
        continue;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      int fd = ::accept(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
      if (fd >= 0)
        on_accept(fd, ss);
    }
  });
}

const char magic[4] = {'F', 'E', 'D', 'Q'};

} // namespace

// -- server -------------------------------------------------------------------

struct server_relay::state {
  threads t;
  int listen_fd = -1;
  uint16_t port = 0;
  std::string token;
  uint16_t inner_port = 0;
  size_t max_frame = 0;
  log_fn info, warn;
  ssl_ctx tls;
  nonce_book challenges;
  std::mutex book_m;
};

namespace {

/// Holds one of the relay's preamble slots until released.
struct pending_slot {
  threads& t;
  bool held = true;
  void release() {
    if (!held)
      return;
    std::lock_guard<std::mutex> lk(t.m);
    --t.pending;
    held = false;
  }
  ~pending_slot() { release(); }
};

void serve_connection(const std::shared_ptr<server_relay::state>& s, int fd_in, const std::string& who) {
  conn fd(fd_in);
  pending_slot slot{s->t};
  auto deadline = steady::now() + preamble_time;
  auto refuse = [&](uint8_t code, const std::string& why) {
    char head[3] = {char(code), char((why.size() >> 8) & 0xff), char(why.size() & 0xff)};
    fd.send_all(head, 3);
    fd.send_all(why.data(), why.size());
    if (s->warn)
      s->warn("refused a connection from " + who + ": " + why);
  };
  if (s->tls) {
    auto why = fd.start_tls(s->tls.get(), true, "");
    if (!why.empty()) {
      if (s->warn)
        s->warn("refused a connection from " + who + ": TLS: " + why);
      return;
    }
  }
  char hello[40];
  if (!read_exact(fd, hello, sizeof hello, deadline, s->t.stop) || std::memcmp(hello, magic, 4) != 0)
    return; // not a fedq worker (or too slow): closed without a word
  uint32_t protocol = get_u32(hello + 4);
  bytes worker_nonce(hello + 8, hello + 40), nonce;
  {
    std::lock_guard<std::mutex> lk(s->book_m);
    nonce = s->challenges.issue(worker_nonce);
  }
  auto server_proof = proof(s->token, "server", worker_nonce, nonce);
  server_proof.resize(32, 0);
  char challenge[72];
  std::memcpy(challenge, magic, 4);
  put_u32(challenge + 4, protocol_version);
  std::memcpy(challenge + 8, nonce.data(), 32);
  std::memcpy(challenge + 40, server_proof.data(), 32);
  char answer[32];
  bool ok = fd.send_all(challenge, sizeof challenge) &&
            read_exact(fd, answer, sizeof answer, deadline, s->t.stop);
  std::optional<bytes> issued;
  {
    std::lock_guard<std::mutex> lk(s->book_m);
    issued = s->challenges.take(nonce); // answered once: a replay finds nothing
  }
  if (!ok || !issued)
    return;
  if (protocol != protocol_version)
    return refuse(2, "the worker speaks protocol " + std::to_string(protocol) + ", this server " +
                       std::to_string(protocol_version) + ": run the same fedq version on both");
  if (!s->token.empty() && !proof_matches(s->token, "worker", nonce, *issued, bytes(answer, answer + 32)))
    return refuse(1, "wrong token: the worker's --token-file does not hold the server's secret");
  conn inner(connect_to("127.0.0.1", s->inner_port));
  if (inner.fd < 0)
    return refuse(3, "the server is shutting down");
  char okay[3] = {0, 0, 0};
  if (!fd.send_all(okay, 3))
    return;
  no_delay(fd.fd);
  slot.release();
  if (s->info)
    s->info("a worker connected from " + who + (s->token.empty() ? "" : ", proved the token") +
            (s->tls ? ", over TLS with a certificate of the CA" : ""));
  frame_meter meter;
  meter.max_payload = s->max_frame;
  splice(fd, inner, &meter, s->t.stop, s->warn, who);
}

} // namespace

server_relay::server_relay(const endpoint& listen, std::string token, uint16_t inner_port,
                           size_t max_frame, log_fn info, log_fn warn, const tls_files& tls)
    : s_(std::make_shared<state>()) {
  s_->tls = make_ctx(tls, true);
  s_->token = std::move(token);
  s_->inner_port = inner_port;
  s_->max_frame = max_frame;
  s_->info = std::move(info);
  s_->warn = std::move(warn);
  s_->listen_fd = listen_on(listen, s_->port);
  auto s = s_;
  accept_loop(s->t, s->listen_fd, [s](int fd, const sockaddr_storage& ss) {
    {
      std::lock_guard<std::mutex> lk(s->t.m);
      if (s->t.pending >= max_pending) { // a flood: this one waits for no preamble
        ::close(fd);
        return;
      }
      ++s->t.pending;
    }
    auto who = peer_of(ss);
    s->t.start([s, fd, who] { serve_connection(s, fd, who); });
  });
}

server_relay::~server_relay() {
  s_->t.stop_and_wait();
  ::close(s_->listen_fd);
}

uint16_t server_relay::port() const { return s_->port; }

// -- worker -------------------------------------------------------------------

struct worker_relay::state {
  threads t;
  int listen_fd = -1;
  uint16_t port = 0;
  endpoint server;
  std::string token;
  ssl_ctx tls;
  mutable std::mutex m;
  std::string refusal;
  bool final = false;

  void refused(const std::string& why, bool is_final) {
    std::lock_guard<std::mutex> lk(m);
    refusal = why;
    final = is_final;
  }
};

namespace {

void dial(const std::shared_ptr<worker_relay::state>& s, int local_in) {
  conn local(local_in);
  auto where = s->server.host + ":" + std::to_string(s->server.port);
  conn remote(connect_to(s->server.host, s->server.port));
  if (remote.fd < 0)
    return s->refused("cannot connect to " + where + ": " + std::strerror(errno), false);
  if (s->tls) {
    auto why = remote.start_tls(s->tls.get(), false, s->server.host);
    if (!why.empty())
      return s->refused("TLS with " + where + " failed: " + why, true);
  }
  auto deadline = steady::now() + preamble_time;
  auto worker_nonce = random_bytes(32);
  char hello[40];
  std::memcpy(hello, magic, 4);
  put_u32(hello + 4, protocol_version);
  std::memcpy(hello + 8, worker_nonce.data(), 32);
  char challenge[72];
  bool answered = remote.send_all(hello, sizeof hello) &&
                  read_exact(remote, challenge, 4, deadline, s->t.stop);
  if (!answered && s->tls) // TLS 1.3: the server checks our certificate after the handshake
    return s->refused("TLS with " + where + ": the server refused this worker's certificate (" +
                      ssl_error() + ")", true);
  if (answered && !s->tls && (challenge[0] == 0x15 || challenge[0] == 0x16))
    return s->refused("the server at " + where + " speaks TLS: give --tls-cert, --tls-key and --tls-ca", true);
  if (!answered || std::memcmp(challenge, magic, 4) != 0 ||
      !read_exact(remote, challenge + 4, sizeof challenge - 4, deadline, s->t.stop))
    return s->refused(where + " did not answer as a fedq serve does" +
                        std::string(s->tls ? "" : " (if it runs with --tls-cert, give this worker "
                                                  "--tls-cert, --tls-key and --tls-ca)"),
                      false);
  bytes nonce(challenge + 8, challenge + 40), server_proof(challenge + 40, challenge + 72);
  if (!s->token.empty() && !proof_matches(s->token, "server", worker_nonce, nonce, server_proof))
    return s->refused("the server at " + where + " did not prove that it holds the token "
                      "(another secret in its --token-file, or not a fedq server)", true);
  auto mine = proof(s->token, "worker", nonce, worker_nonce);
  mine.resize(32, 0);
  char status[3];
  if (!remote.send_all(mine.data(), 32) ||
      !read_exact(remote, status, 3, deadline, s->t.stop))
    return s->refused(where + " closed the connection during the handshake", false);
  if (status[0] != 0) {
    size_t n = (size_t(uint8_t(status[1])) << 8) | uint8_t(status[2]);
    std::string why(n, '\0');
    read_exact(remote, why.data(), n, deadline, s->t.stop);
    return s->refused("refused by the server at " + where + ": " + why, status[0] != 3);
  }
  s->refused("", false);
  no_delay(local.fd);
  splice(local, remote, nullptr, s->t.stop, {}, where);
}

} // namespace

worker_relay::worker_relay(const endpoint& server, std::string token, const tls_files& tls)
    : s_(std::make_shared<state>()) {
  s_->tls = make_ctx(tls, false);
  s_->server = server;
  s_->token = std::move(token);
  s_->listen_fd = listen_on(endpoint{"127.0.0.1", 0}, s_->port);
  auto s = s_;
  accept_loop(s->t, s->listen_fd, [s](int fd, const sockaddr_storage&) {
    s->t.start([s, fd] { dial(s, fd); });
  });
}

worker_relay::~worker_relay() {
  s_->t.stop_and_wait();
  ::close(s_->listen_fd);
}

uint16_t worker_relay::port() const { return s_->port; }

std::string worker_relay::last_refusal(bool* final) const {
  std::lock_guard<std::mutex> lk(s_->m);
  if (final)
    *final = s_->final;
  return s_->refusal;
}

void check_tls_files(const tls_files& t) {
  int given = !t.cert.empty() + !t.key.empty() + !t.ca.empty();
  if (given != 0 && given != 3)
    throw input_error("--tls-cert, --tls-key and --tls-ca go together: give all three or none");
  make_ctx(t, true);
}

} // namespace fedq::net
