// The relays in front of CAF's network layer, over real sockets on
// 127.0.0.1: a proven connection is spliced byte for byte; a wrong token,
// random bytes and an oversized frame never reach the inner port.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/relay.hpp"

using namespace fedq::net;

namespace {

/// A plain listening socket on 127.0.0.1 standing for CAF's port.
struct inner_port {
  int fd = -1;
  uint16_t port = 0;
  inner_port() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~inner_port() { ::close(fd); }
  /// The next connection, or -1 when none comes within `ms`.
  int accept_within(int ms) const {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0 ? ::accept(fd, nullptr, nullptr) : -1;
  }
};

int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

/// Reads until `n` bytes came or the peer closed or 5 s passed.
std::string read_some(int fd, size_t n) {
  std::string out;
  char buf[4096];
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (out.size() < n && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    auto r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0)
      break;
    out.append(buf, size_t(r));
  }
  return out;
}

/// A frame as CAF 0.17 writes it: a 32-byte header (payload length, big
/// endian, at bytes 4..7), then the payload.
std::string frame(uint32_t payload, char fill) {
  std::string f(32, '\0');
  uint32_t be = htonl(payload);
  std::memcpy(f.data() + 4, &be, 4);
  return f + std::string(payload, fill);
}

const std::string token = "0123456789abcdef0123456789abcdef";

} // namespace

TEST_CASE("a worker that proves the token is spliced to the inner port both ways, byte for byte") {
  inner_port inner;
  server_relay server({"127.0.0.1", 0}, token, inner.port, 1000, {}, {});
  worker_relay worker({"127.0.0.1", server.port()}, token);
  int caf_side = dial(worker.port());
  int in = inner.accept_within(5000);
  REQUIRE(in >= 0);
  auto f = frame(500, 'x');
  REQUIRE(::send(caf_side, f.data(), f.size(), 0) == ssize_t(f.size()));
  CHECK(read_some(in, f.size()) == f);
  std::string back = "the server's answer";
  REQUIRE(::send(in, back.data(), back.size(), 0) == ssize_t(back.size()));
  CHECK(read_some(caf_side, back.size()) == back);
  CHECK(worker.last_refusal().empty());
  // a frame claiming more than the limit closes the connection before it is passed on
  auto big = frame(5000, 'y');
  ::send(caf_side, big.data(), big.size(), MSG_NOSIGNAL);
  CHECK(read_some(in, big.size()).empty());
  ::close(caf_side);
  ::close(in);
}

TEST_CASE("a wrong token never reaches the inner port, and the worker learns why (finally)") {
  inner_port inner;
  server_relay server({"127.0.0.1", 0}, token, inner.port, 1000, {}, {});
  worker_relay worker({"127.0.0.1", server.port()}, "another secret of the same length");
  int caf_side = dial(worker.port());
  CHECK(read_some(caf_side, 1).empty()); // closed
  CHECK(inner.accept_within(500) < 0);
  bool final = false;
  for (int i = 0; i < 50 && worker.last_refusal().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto why = worker.last_refusal(&final);
  CHECK(why.find("did not prove that it holds the token") != std::string::npos);
  CHECK(final);
  ::close(caf_side);
}

TEST_CASE("random and truncated bytes to the relay's port never reach the inner port, and it keeps serving") {
  inner_port inner;
  server_relay server({"127.0.0.1", 0}, "", inner.port, 1000, {}, {});
  for (int i = 0; i < 200; ++i) {
    int fd = dial(server.port());
    std::string junk(size_t(i % 50), char(i * 37));
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
  CHECK(inner.accept_within(300) < 0);
  worker_relay worker({"127.0.0.1", server.port()}, "");
  int caf_side = dial(worker.port());
  int in = inner.accept_within(5000);
  CHECK(in >= 0);
  ::close(caf_side);
  if (in >= 0)
    ::close(in);
}
