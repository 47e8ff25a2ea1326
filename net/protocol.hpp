#pragma once
// The messages between fedq serve's gatekeeper and a fedq worker, once the
// connection has passed the relays' preamble (net/relay.hpp: the token is
// proven there). A worker joins in two requests: hello (the server answers
// with the run's config), join (the worker's client actors, the hashes of
// what it loaded). Then it sends a heartbeat every welcome.heartbeat_s
// until the server says bye.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/experiment.hpp"
#include "actors/messages.hpp"
#include "net/handshake.hpp"

namespace fedq::net {

using hello_atom = caf::atom_constant<caf::atom("hello")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;
using bye_atom = caf::atom_constant<caf::atom("bye")>;

/// A file a worker must have the same bytes of: (what it is, its sha256).
using file_digest = std::pair<std::string, std::string>;

struct hello_msg {
  uint32_t protocol = protocol_version;
  std::string worker;  ///< a name for the logs
};

struct welcome_msg {
  uint64_t session = 0;
  std::string config_toml;  ///< the run's effective config
  uint64_t config_hash = 0;
  double heartbeat_s = 1;
  uint32_t patience = 3;    ///< missed heartbeats before the server gives a worker up
};

struct join_msg {
  uint64_t session = 0;
  uint64_t config_hash = 0;            ///< of the config as the worker parsed it
  std::vector<file_digest> files;      ///< backbone_files of its checkpoint
  std::vector<uint32_t> clients;
  std::vector<actors::client_actor> handles;  ///< indexed like clients
  std::vector<actors::local_shard> local;     ///< clients whose shard is the worker's own file
};

/// What a worker must share with the server about its backbone: the
/// checkpoint's weights, architecture and tokenizer (sha256 each), or the
/// built-in random model's seed.
std::vector<file_digest> backbone_files(const std::string& checkpoint_dir, uint64_t seed);

/// "" when both lists agree, else what differs, for a refusal.
std::string describe_difference(const std::vector<file_digest>& server,
                                const std::vector<file_digest>& worker);

/// Registers the protocol's types on either end.
void register_types(caf::actor_system_config& cfg);

/// The network layer for fedq serve and fedq worker: CAF's middleman, the
/// protocol's types, and messages decoded on the network thread (CAF's
/// default decodes them on the actor scheduler, whose one thread the
/// server's evaluation holds for seconds: heartbeats would wait there).
void configure_network(caf::actor_system_config& cfg);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hello_msg& x) {
  return f(caf::meta::type_name("hello_msg"), x.protocol, x.worker);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, welcome_msg& x) {
  return f(caf::meta::type_name("welcome_msg"), x.session, x.config_toml, x.config_hash,
           x.heartbeat_s, x.patience);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_msg& x) {
  return f(caf::meta::type_name("join_msg"), x.session, x.config_hash, x.files, x.clients,
           x.handles, x.local);
}

} // namespace fedq::net
