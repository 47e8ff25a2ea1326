#pragma once
// fedq serve's side of the network: the gatekeeper that workers join, and a
// stand-in actor per client that forwards its tasks to the worker hosting
// it, so that the server's round loop is the one `fedq run` uses.

#include <memory>
#include <string>
#include <vector>

#include "actors/experiment.hpp"
#include "net/protocol.hpp"
#include "net/relay.hpp"

namespace fedq::net {

struct serve_options {
  endpoint listen;
  std::string token;           ///< empty: no authentication (loopback only)
  tls_files tls;               ///< TLS between the relays, when on
  double wait_s = 120;         ///< for every client to have a worker before round 0
  double heartbeat_s = 1;
  uint32_t patience = 3;       ///< missed heartbeats before a worker is given up
  std::string config_toml;     ///< the run's effective config, sent at join
  uint64_t config_hash = 0;
  std::vector<file_digest> files;  ///< backbone_files of the server's checkpoint
};

/// Publishes a gatekeeper on o.listen and hosts the run's clients in the
/// workers that join it.
std::unique_ptr<actors::client_host> make_network_host(serve_options o);

} // namespace fedq::net
