#pragma once
// The gate in front of CAF's network layer. CAF's protocol trusts its
// peers: a frame header may claim a 4 GB payload, which CAF then
// allocates. So no byte from the network reaches CAF before the peer has
// proven the token, and a worker's frames larger than the largest message
// it can legitimately send close its connection.
//
// fedq serve listens with a server_relay; each connection that passes the
// preamble is spliced to CAF's port on 127.0.0.1. fedq worker's CAF
// connects to a worker_relay on 127.0.0.1, which dials the server, runs the
// preamble and splices. The preamble (fixed sizes, 10 s to complete):
//   worker -> server  "FEDQ", protocol (u32 BE), worker nonce (32)
//   server -> worker  "FEDQ", protocol, server nonce (32), server proof (32)
//   worker -> server  worker proof (32)
//   server -> worker  status (1), reason length (u16 BE), reason
// with the proofs of handshake.hpp (all zero without a token). With TLS on,
// the relays speak TLS 1.2+ to each other (OpenSSL's libssl), each
// verifying the other's certificate against the CA (and the worker the
// server's name); the preamble and everything after it travel inside.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/handshake.hpp"

namespace fedq::net {

using log_fn = std::function<void(const std::string&)>;

/// PEM files; all empty: no TLS. Either all three or none.
struct tls_files {
  std::string cert, key, ca;
  bool on() const { return !cert.empty(); }
};

/// Refuses a half-given set, or files that cannot be read or do not match
/// (input_error naming the file).
void check_tls_files(const tls_files& t);

class server_relay {
public:
  /// Listens on `listen` (throws input_error when it cannot); splices each
  /// proven connection to 127.0.0.1:`inner_port`. A worker frame of CAF's
  /// protocol with a payload over `max_frame` bytes closes the connection.
  server_relay(const endpoint& listen, std::string token, uint16_t inner_port, size_t max_frame,
               log_fn info, log_fn warn, const tls_files& tls = {});
  ~server_relay();
  server_relay(const server_relay&) = delete;
  server_relay& operator=(const server_relay&) = delete;
  uint16_t port() const;

  struct state;

private:
  std::shared_ptr<state> s_;
};

class worker_relay {
public:
  /// Listens on 127.0.0.1 (any free port) for this process's CAF.
  worker_relay(const endpoint& server, std::string token, const tls_files& tls = {});
  ~worker_relay();
  worker_relay(const worker_relay&) = delete;
  worker_relay& operator=(const worker_relay&) = delete;
  uint16_t port() const;
  /// Why the last preamble failed ("" when it did not); final: trying again
  /// cannot help (a wrong token, another protocol).
  std::string last_refusal(bool* final = nullptr) const;

  struct state;

private:
  std::shared_ptr<state> s_;
};

} // namespace fedq::net
