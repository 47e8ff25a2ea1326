#pragma once
// Message types and typed interfaces of fedq's actors. Every task and update
// carries its round and the global version it was trained from.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "data/fairness.hpp"
#include "scheduling/policy.hpp"

namespace fedq::actors {

using blob = std::vector<char>;  ///< payloads travel as byte blobs (copied whole by CAF)

using plan_atom = caf::atom_constant<caf::atom("plan")>;
using aggregate_atom = caf::atom_constant<caf::atom("aggregate")>;
using late_atom = caf::atom_constant<caf::atom("late")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using buffer_atom = caf::atom_constant<caf::atom("buffer")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;

/// Server -> client: train the adapter at `rank` for `steps` local steps.
struct train_task {
  uint32_t round = 0;
  uint64_t base_version = 0;  ///< global version the adapter was taken from
  uint32_t client = 0;
  uint32_t rank = 0;
  uint32_t steps = 0;
  uint64_t seed = 0;
  std::string bits = "fp32";  ///< the backbone format to train on
  blob adapter;               ///< serialization::encode, truncated to `rank`
  /// > 0: after training, measure the local validation loss, and again with
  /// the adapter truncated to this rank (FAH-QLoRA's counterfactual).
  uint32_t validate_rank = 0;
};

/// Client -> server: the trained adapter and what the client observed.
struct client_update {
  uint32_t round = 0;
  uint64_t base_version = 0;
  uint32_t client = 0;
  uint32_t rank = 0;
  uint32_t samples = 0;       ///< local training examples (aggregation weight)
  blob adapter;
  scheduling::telemetry tel;
  std::string error;          ///< set instead of `adapter` when training failed
};

/// Server -> aggregator: merge a round's on-time updates.
struct aggregate_request {
  uint32_t round = 0;
  std::vector<client_update> updates;
  blob base;     ///< the global adapter the round's clients started from
  blob current;  ///< the global adapter at the close (late merges since included)
};

/// Aggregator -> server: the round's new global adapter, and the
/// aggregator's state after it (the server optimizer's moments; what a
/// checkpoint keeps).
struct aggregate_result {
  blob global;
  std::vector<double> state;
};

/// Server -> aggregator: apply a buffer of K updates at once (FedBuff).
struct buffer_request {
  uint64_t version = 0;       ///< current global version (each update's staleness is from it)
  blob global;
  std::vector<client_update> updates;
  std::vector<blob> bases;    ///< what each update's client started from (its task's adapter)
  uint32_t size = 0;          ///< K: each update's weight is s(staleness) / K
};

/// Server -> aggregator: merge one late update into the global adapter.
struct late_request {
  uint64_t version = 0;       ///< current global version
  blob global;
  client_update update;
  /// false: FedAsync, global <- (1 - w) global + w update, w = alpha s(tau).
  /// true: global <- global + w (update - base), w = s(tau) * share.
  bool delta = false;
  blob base;                  ///< delta: the adapter the client was sent
  double share = 0;           ///< delta: its samples over the on-time samples of its round plus its own
};

struct late_result {
  bool merged = false;
  uint64_t staleness = 0;     ///< version - update.base_version
  double weight = 0;          ///< mixing weight used, when merged
  std::string reason;         ///< why not, when rejected
  blob global;                ///< the new global adapter, when merged
};

/// What a run ended with (see app/run_output for the file it becomes).
struct run_summary {
  uint32_t rounds = 0;
  double time_to_target_s = -1;   ///< clock seconds; < 0: target never reached
  /// Of the rounds with a deadline, those that met it (round_record::
  /// deadline_met); < 0: no round had one (buffered, async).
  double deadline_hit_rate = 0;
  double all_on_time_rate = 0;    ///< rounds whose every participant arrived by the deadline
  double on_time_fraction = 0;    ///< of all participants (dispatched tasks), those on time
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  double final_score = 0;
  double final_loss = 0;
  std::vector<std::pair<std::string, double>> final_parts;  ///< parts of final_score
  data::fairness final_fairness;  ///< of the final model over clients' local test sets
  uint64_t on_time = 0;
  uint64_t late_merged = 0;
  uint64_t late_rejected = 0;
  uint64_t failed = 0;            ///< tasks whose training failed, on time or late
  /// Updates validation refused (update_gate), on time or late; the late
  /// ones are also in late_rejected.
  uint64_t invalid = 0;
  /// Of the totals above: the late outcomes handled after the last round
  /// closed (while in-flight updates were drained); every other late outcome
  /// is in the list of the round during which it was handled.
  uint64_t after_last_merged = 0;
  uint64_t after_last_rejected = 0;
  uint64_t after_last_failed = 0;
  double clock_s = 0;             ///< clock time at the end (virtual or wall)
  double wall_s = 0;
  uint64_t final_version = 0;
  std::vector<double> peak_memory_mb;  ///< by tier: the largest training memory a client reported
  uint64_t skipped = 0;           ///< client-rounds left out: no plan fit their memory
  blob final_global;              ///< the final global adapter (serialization::encode)
};

// -- typed interfaces ---------------------------------------------------------

/// Plans a round from the clients' telemetry.
using scheduler_actor = caf::typed_actor<
  caf::replies_to<plan_atom, scheduling::plan_input>::with<scheduling::round_plan>>;

/// Aggregates heterogeneous-rank updates; merges late ones by staleness.
using aggregator_actor = caf::typed_actor<
  // on-time updates of a round -> the new global adapter (at r_max)
  caf::replies_to<aggregate_atom, aggregate_request>::with<aggregate_result>,
  // a buffer of updates, each from its own base -> the new global adapter
  caf::replies_to<buffer_atom, buffer_request>::with<aggregate_result>,
  // one late update -> merged (or rejected, with the reason)
  caf::replies_to<late_atom, late_request>::with<late_result>>;

/// Trains on its own shard; replies when the training job is done.
using client_actor = caf::typed_actor<
  caf::replies_to<train_task>::with<client_update>,
  // internal: the compute job's result, sent by the job itself
  caf::reacts_to<done_atom, client_update>>;

/// Owns the round loop; replies with the summary when the run is over.
using server_actor = caf::typed_actor<
  caf::replies_to<run_atom>::with<run_summary>,
  // internal: the wall-clock deadline timer of a round
  caf::reacts_to<deadline_atom, uint32_t>,
  // internal: look again for an online client (wall clock, every idle client offline)
  caf::reacts_to<wake_atom>>;

/// Registers every message type with CAF (needed on both ends of a network link).
void register_types(caf::actor_system_config& cfg);

/// An error's reason for people: the text of make_error(code, "reason"), or
/// CAF's rendering of the error when it has none.
std::string error_reason(caf::actor_system& sys, const caf::error& e);

// -- inspect ------------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, train_task& x) {
  return f(caf::meta::type_name("train_task"), x.round, x.base_version, x.client, x.rank, x.steps,
           x.seed, x.bits, x.adapter, x.validate_rank);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_update& x) {
  return f(caf::meta::type_name("client_update"), x.round, x.base_version, x.client, x.rank,
           x.samples, x.adapter, x.tel, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, aggregate_request& x) {
  return f(caf::meta::type_name("aggregate_request"), x.round, x.updates, x.base, x.current);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, aggregate_result& x) {
  return f(caf::meta::type_name("aggregate_result"), x.global, x.state);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, buffer_request& x) {
  return f(caf::meta::type_name("buffer_request"), x.version, x.global, x.updates, x.bases, x.size);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, late_request& x) {
  return f(caf::meta::type_name("late_request"), x.version, x.global, x.update, x.delta, x.base,
           x.share);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, late_result& x) {
  return f(caf::meta::type_name("late_result"), x.merged, x.staleness, x.weight, x.reason,
           x.global);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_summary& x) {
  return f(caf::meta::type_name("run_summary"), x.rounds, x.time_to_target_s,
           x.deadline_hit_rate, x.all_on_time_rate, x.on_time_fraction, x.bytes_up, x.bytes_down, x.final_score, x.final_loss,
           x.final_parts, x.final_fairness, x.on_time,
           x.late_merged, x.late_rejected, x.failed, x.invalid, x.after_last_merged, x.after_last_rejected,
           x.after_last_failed, x.clock_s, x.wall_s, x.final_version,
           x.peak_memory_mb, x.skipped, x.final_global);
}

} // namespace fedq::actors

namespace fedq::data {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fairness& x) {
  return f(caf::meta::type_name("fairness"), x.clients, x.mean, x.worst, x.p10, x.p50, x.stddev,
           x.jain);
}

} // namespace fedq::data

namespace fedq::scheduling {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, telemetry& x) {
  return f(caf::meta::type_name("telemetry"), x.round, x.rank, x.steps, x.tokens_per_step,
           x.bytes_down, x.bytes_up, x.duration_s, x.compute_s, x.loss_before, x.loss_after,
           x.memory_mb, x.transfer_s, x.bits, x.trained_rank, x.val_loss, x.val_loss_cf);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, client_view& x) {
  return f(caf::meta::type_name("client_view"), x.id, x.tier, x.samples, x.has_telemetry, x.last);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, round_feedback& x) {
  return f(caf::meta::type_name("round_feedback"), x.valid, x.round, x.duration_s,
           x.on_time_fraction, x.mean_rank, x.loss, x.loss_prev, x.has_client_loss, x.client_loss,
           x.client_loss_prev, x.client_loss_cf);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plan_input& x) {
  return f(caf::meta::type_name("plan_input"), x.round, x.tokens_per_step, x.bytes_fixed,
           x.bytes_per_rank, x.clients, x.feedback);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, assignment& x) {
  return f(caf::meta::type_name("assignment"), x.client, x.rank, x.steps, x.predicted_s, x.bits);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, round_plan& x) {
  return f(caf::meta::type_name("round_plan"), x.round, x.deadline_s, x.clients, x.decision_us,
           x.skipped);
}

} // namespace fedq::scheduling
