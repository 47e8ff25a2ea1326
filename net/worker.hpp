#pragma once
// fedq worker: hosts some clients of a fedq serve run in this process. It
// joins the server (net/protocol.hpp), builds its clients' shards itself
// from the config the server sends, and trains their tasks until the server
// says bye; when the connection drops it reconnects and joins again.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/experiment.hpp"
#include "net/handshake.hpp"
#include "net/relay.hpp"

namespace fedq::net {

struct worker_options {
  endpoint server;
  std::vector<uint32_t> clients;
  std::string token;        ///< empty: none (the server must not want one)
  tls_files tls;            ///< TLS to the server, when on
  uint32_t threads = 0;     ///< compute threads; 0: one per core
  double wait_s = 60;       ///< for the server, at start and after a lost connection
  std::string name;         ///< for the server's logs
  bool quiet = false;
};

/// What a worker makes of the config the server sent: its hash (of the
/// config as this fedq parses it, for the join) and the run's setup (data,
/// partition, backbones) with the worker's own local settings applied.
struct worker_build {
  uint64_t config_hash = 0;
  std::shared_ptr<actors::experiment_setup> setup;
  std::vector<actors::local_shard> local;  ///< shards read from this machine's own files
};
using build_fn = std::function<worker_build(const std::string& config_toml)>;

/// Runs until the server says bye (0) or the worker is refused or gives up
/// (1, the reason on stderr). `build` may throw std::runtime_error.
int run_worker(const worker_options& o, const build_fn& build);

} // namespace fedq::net
