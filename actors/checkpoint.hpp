#pragma once
// The server's checkpoint: everything a run needs to go on after a crash as
// if it had never stopped. Written after every round, atomically (temporary
// file, fsync, rename), framed (magic "FQCK", version, CRC-32); the previous
// one is kept beside it, and used when the last one is damaged.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "actors/messages.hpp"
#include "actors/round_book.hpp"
#include "actors/update_gate.hpp"
#include "scheduling/environment.hpp"

namespace fedq::actors {

/// An event of the round loop's queue (see server.cpp).
struct queued_event {
  double time = 0;
  uint64_t seq = 0;
  uint32_t kind = 0;  ///< 0 arrival, 1 deadline, 2 wake
  uint32_t client = 0;
  uint32_t round = 0;
};

struct server_checkpoint {
  uint64_t config_hash = 0;  ///< of the effective config (run_output::config_hash)
  uint32_t next_round = 0;
  uint64_t version = 0;
  double now = 0;            ///< the virtual clock
  std::string rng;           ///< the client sampler's generator, as text
  bool wake_pending = false;
  bool idle_unplannable = false;
  bool finishing = false;
  blob global;
  std::vector<round_record> records;
  std::vector<std::pair<late_record, uint64_t>> between;
  std::map<uint32_t, scheduling::telemetry> last_tel;
  std::map<uint32_t, scheduling::task_timing> timing;
  std::vector<double> peak_memory_mb;
  std::vector<queued_event> queue;
  uint64_t queue_seq = 0;
  std::map<uint32_t, task_in_flight> tasks;      ///< update_gate's ledger
  std::map<uint32_t, uint32_t> answered;         ///< update_gate: last round answered
  std::map<uint32_t, train_task> sent;           ///< tasks in flight, sent again on resume
  std::vector<scheduling::plan_input> plan_log;  ///< replayed into a fresh policy on resume
  std::vector<double> aggregator;                ///< the aggregator's state (server optimizer moments)
  std::map<uint32_t, participant_record> pending;  ///< buffered, async: the tasks in flight, as records
};

blob encode_checkpoint(const server_checkpoint& c);
/// Throws serialization::format_error naming `what` when `b` is damaged.
server_checkpoint decode_checkpoint(const blob& b, const std::string& what);

/// dir/checkpoint.bin, atomically; the one it replaces becomes
/// dir/checkpoint.prev.bin.
void write_checkpoint(const std::filesystem::path& dir, const server_checkpoint& c);

/// The last good checkpoint in `dir`: checkpoint.bin, or when it is damaged
/// (reported in `notes`), checkpoint.prev.bin. Throws std::runtime_error
/// with the reasons when neither is usable.
server_checkpoint read_checkpoint(const std::filesystem::path& dir, std::vector<std::string>& notes);

} // namespace fedq::actors
