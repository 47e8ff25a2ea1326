#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "actors/checkpoint.hpp"
#include "actors/evaluation.hpp"
#include "actors/messages.hpp"
#include "actors/round_book.hpp"
#include "compute/model.hpp"
#include "scheduling/cost_model.hpp"

namespace fedq::actors {

/// sync: a round waits for every participant (FedAvg-LoRA). deadline: a round
/// closes at its deadline (or when all arrived); late updates are merged
/// asynchronously with a staleness weight. buffered (FedBuff) and async
/// (FedAsync) have no rounds: clients train continuously, each new task from
/// the global of the moment; buffered applies one aggregate every K arrivals
/// (aggregator::apply_buffer), async mixes every arrival in at once
/// (merge_late). There a "round" of the records is a window of K arrivals,
/// closed by the aggregate (buffered) or the K-th merge (async), and
/// evaluated like a round.
enum class round_mode { sync, deadline, buffered, async };
const char* round_mode_name(round_mode m);
/// Throws std::invalid_argument naming the modes.
round_mode parse_round_mode(const std::string& name);
inline bool continuous(round_mode m) { return m == round_mode::buffered || m == round_mode::async; }

/// virtual: durations from the tiers' cost model, events in virtual-time
/// order (reproducible). wall: real compute time and real timers.
enum class clock_kind { virtual_clock, wall };
inline const char* clock_name(clock_kind c) { return c == clock_kind::wall ? "wall" : "virtual"; }

struct client_info {
  uint32_t id = 0;
  uint32_t tier = 0;
  uint32_t samples = 0;
};

struct server_options {
  round_mode mode = round_mode::deadline;
  clock_kind clock = clock_kind::virtual_clock;
  uint32_t rounds = 20;
  uint32_t clients_per_round = 0;  ///< 0: every idle client; buffered, async: the most training at once
  uint32_t buffer_size = 4;        ///< buffered, async: K, the arrivals per window
  double target = 0.8;
  bool stop_at_target = false;
  double max_clock_s = 0;          ///< no round starts after this clock time; 0 = no limit
  /// Every client's local test set is evaluated (fairness) after every
  /// this many rounds and after the last; 0: after the last only.
  uint32_t fairness_every = 1;
  uint32_t r_max = 16;
  uint64_t seed = 1;
  uint32_t tokens_per_step = 0;    ///< for the cost model
  compute::payload_size payload;   ///< for the scheduler's byte model
  uint32_t r_min = 1;
  bool local_validation = false;   ///< clients measure F and F^ after training (fah, waterfill)
  double max_update_norm = 0;      ///< > 0: refuse updates above this L2 norm (update_gate)
  /// deadline, sync: how a late update is merged. false: FedAsync's mix of
  /// the whole adapter; true: its change from the adapter it was sent, at
  /// the data share it would have had on time (async mode always mixes).
  bool late_delta = false;
  scheduling::cost_options cost;
  std::vector<scheduling::tier_profile> tiers;
  std::vector<client_info> clients;
};

/// Receives the run's records as they are made (on the server's thread).
struct run_observer {
  virtual ~run_observer() = default;
  virtual void on_round(const round_record&) {}
  virtual void on_late(const late_record&) {}
};

/// Which clients can be reached now (fedq serve: those whose worker is
/// connected). Written by whoever hosts the clients, read by the server
/// when it picks a round's participants: it plans none that is offline.
class client_presence {
public:
  explicit client_presence(size_t clients) : online_(clients) {}
  void set(uint32_t id, bool online) { online_.at(id).store(online); }
  bool online(uint32_t id) const { return online_.at(id).load(); }

private:
  std::vector<std::atomic<bool>> online_;
};

struct server_setup {
  server_options opts;
  std::shared_ptr<const compute::backbone> backbone;  ///< for evaluation
  eval_sets eval;
  blob initial_global;
  scheduler_actor scheduler;
  aggregator_actor aggregator;
  std::vector<client_actor> clients;  ///< indexed like opts.clients
  /// Not null: plan only the clients it says are online (wall clock).
  std::shared_ptr<const client_presence> presence;
  run_observer* observer = nullptr;
  /// Not empty: a checkpoint is written there after every round.
  std::filesystem::path checkpoint_dir;
  uint64_t config_hash = 0;           ///< recorded in every checkpoint
  /// Go on from this checkpoint instead of starting (the scheduler and the
  /// aggregator were spawned from it too).
  std::optional<server_checkpoint> resume;
};

server_actor spawn_server(caf::actor_system& sys, server_setup setup);

} // namespace fedq::actors
