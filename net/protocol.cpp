#include "net/protocol.hpp"

#include <filesystem>

#include <caf/io/all.hpp>

namespace fedq::net {

std::vector<file_digest> backbone_files(const std::string& checkpoint_dir, uint64_t seed) {
  if (checkpoint_dir.empty())
    return {{"backbone", "the built-in random model, seed " + std::to_string(seed)}};
  std::vector<file_digest> out;
  auto dir = std::filesystem::path(checkpoint_dir);
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json"}) {
    auto p = dir / f;
    out.emplace_back(f, std::filesystem::exists(p) ? sha256_file(p) : "none");
  }
  return out;
}

std::string describe_difference(const std::vector<file_digest>& server,
                                const std::vector<file_digest>& worker) {
  std::string out;
  for (size_t i = 0; i < std::max(server.size(), worker.size()); ++i) {
    auto s = i < server.size() ? server[i] : file_digest{"?", "none"};
    auto w = i < worker.size() ? worker[i] : file_digest{"?", "none"};
    if (s == w)
      continue;
    out += std::string(out.empty() ? "" : "; ") + "the backbone's " + s.first + " differs (server " +
           s.second.substr(0, 48) + ", worker " + w.first + " " + w.second.substr(0, 48) + ")";
  }
  return out;
}

void configure_network(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.workers", 0);
  register_types(cfg);
}

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<file_digest>("fedq::file_digest");
  cfg.add_message_type<std::vector<file_digest>>("fedq::file_digests");
  cfg.add_message_type<std::vector<uint32_t>>("fedq::client_ids");
  cfg.add_message_type<actors::client_actor>("fedq::client_actor");
  cfg.add_message_type<std::vector<actors::client_actor>>("fedq::client_actors");
  cfg.add_message_type<actors::local_shard>("fedq::local_shard");
  cfg.add_message_type<std::vector<actors::local_shard>>("fedq::local_shards");
  cfg.add_message_type<hello_msg>("fedq::hello");
  cfg.add_message_type<welcome_msg>("fedq::welcome");
  cfg.add_message_type<join_msg>("fedq::join");
}

} // namespace fedq::net
