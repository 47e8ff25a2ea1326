#pragma once
// Between the wire and the aggregator: the tasks in flight, and the one
// check every answer passes before its update may be used. Plain logic, no
// actors.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "serialization/adapter_payload.hpp"

namespace fedq::actors {

/// A task the server dispatched and has no answer for yet.
struct task_in_flight {
  uint32_t round = 0;
  uint64_t base_version = 0;
  uint32_t rank = 0;
  double dispatched_at = 0;  ///< clock time
};

struct update_limits {
  uint32_t r_max = 16;
  /// > 0: refuse an update whose L2 norm (over every value it carries: A, B
  /// and the dense tensors) exceeds this. 0 = off.
  double max_update_norm = 0;
};

/// The ledger of tasks in flight, one per client at most, and the validation
/// of what comes back. An answer ends its task whether it is valid or not;
/// an answer with no task in flight (a duplicate, or one never asked for) is
/// refused without touching the ledger.
class update_gate {
public:
  /// `model`: the global adapter at r_max (its names and shapes are what
  /// every update must match); `shard_sizes`: each client's training examples.
  update_gate(const serialization::adapter_payload& model, update_limits limits,
              std::vector<uint32_t> shard_sizes);

  void dispatched(uint32_t client, task_in_flight task);
  /// The client's task in flight, or none.
  const task_in_flight* in_flight(uint32_t client) const;
  bool busy(uint32_t client) const { return in_flight(client) != nullptr; }
  bool idle() const { return tasks_.empty(); }

  /// The task that an answer from `client` for `round` ends, removed from the
  /// ledger; none (and the ledger unchanged) when there is no such task: the
  /// answer is a duplicate, or for a round the client was not asked for.
  std::optional<task_in_flight> take(uint32_t client, uint32_t round);
  /// Why take(client, round) found no task: a duplicate, or never asked for.
  std::string unexpected(uint32_t client, uint32_t round) const;

  /// Why `u`, the answer that `sender` gave to `task`, must not be used; ""
  /// when it may. `current_version` is the server's global version now.
  /// The ledger, as a checkpoint keeps it, and back.
  const std::map<uint32_t, task_in_flight>& tasks() const { return tasks_; }
  const std::map<uint32_t, uint32_t>& answered() const { return answered_; }
  void restore(std::map<uint32_t, task_in_flight> tasks, std::map<uint32_t, uint32_t> answered) {
    tasks_ = std::move(tasks);
    answered_ = std::move(answered);
  }

  std::string check(uint32_t sender, const task_in_flight& task, const client_update& u,
                    uint64_t current_version) const;

private:
  struct pair_shape {
    std::string name;
    uint32_t d_in = 0, d_out = 0;
  };
  struct dense_shape {
    std::string name;
    std::vector<int64_t> shape;
  };
  std::vector<pair_shape> lora_;
  std::vector<dense_shape> dense_;
  update_limits limits_;
  std::vector<uint32_t> shard_sizes_;
  std::map<uint32_t, task_in_flight> tasks_;
  std::map<uint32_t, uint32_t> answered_;  ///< client -> last round answered
};

} // namespace fedq::actors
