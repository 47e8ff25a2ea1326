#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "compute/executor.hpp"
#include "compute/model.hpp"

namespace fedq::actors {

/// What a client holds. Only the backbones are shared (read-only).
struct client_setup {
  uint32_t id = 0;
  uint32_t threads = 1;                   ///< its tier's compute budget
  std::vector<data::example> shard;       ///< its own training data
  std::vector<data::example> validation;  ///< its own held-out data (local validation loss)
  /// The frozen backbone in each format the scheduler may pick (by model.bits name).
  std::map<std::string, std::shared_ptr<const compute::backbone>> backbones;
  compute::train_options train;
  compute::executor* exec = nullptr;      ///< where its training jobs run
};

/// The answer to task `t` from a client holding `samples` examples, before
/// its adapter: the task's round, version and rank, and the telemetry that
/// echoes the task (round, ranks, format, steps, bytes down).
client_update start_update(const train_task& t, uint32_t client, uint32_t samples);

/// Puts the trained adapter (encoded, at rank `u.rank`) into the update and
/// its telemetry (rank, bytes up).
void set_adapter(client_update& u, blob adapter);

/// Runs one task to completion (no actors involved): decodes the adapter,
/// trains, encodes the result. Failures are reported in `error`.
client_update run_task(const client_setup& c, const train_task& t);

client_actor spawn_client(caf::actor_system& sys, client_setup setup);

} // namespace fedq::actors
