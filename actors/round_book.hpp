#pragma once
// The server's ledger: who was asked what in the open round, who answered
// on time, what came late; and the records a run reports. Plain data and
// logic, no actors.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "data/fairness.hpp"

namespace fedq::actors {

struct participant_record {
  uint32_t client = 0;
  uint32_t tier = 0;
  uint32_t rank = 0;
  uint32_t steps = 0;
  std::string bits;         ///< backbone format it trained on
  double predicted_s = 0;   ///< the scheduler's prediction
  double duration_s = -1;   ///< dispatch to arrival; < 0 while not arrived
  double memory_mb = 0;     ///< training memory it reported
  bool on_time = false;
  std::string error;        ///< training failed: why
  std::string rejected;     ///< an update came, and validation refused it: why
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
  double loss_before = 0;
  double loss_after = 0;
  double val_loss = -1;     ///< local validation loss after training (< 0: not measured)
  double val_loss_cf = -1;  ///< the same with the rank tail zeroed
  uint64_t staleness = 0;   ///< buffered, async: global versions since its task was sent
};

/// A late outcome: an update merged or rejected, or a training failure
/// that arrived after its round closed.
struct late_record {
  uint32_t client = 0;
  uint32_t from_round = 0;
  double at_s = 0;
  uint64_t staleness = 0;
  bool merged = false;
  double weight = 0;
  std::string reason;   ///< why it was rejected, or why training failed
  bool failed = false;  ///< training failed: no update came
  bool invalid = false; ///< rejected by validation (update_gate), not by staleness
};

struct round_record {
  uint32_t round = 0;
  double t_start = 0;
  double t_close = 0;
  double deadline_s = 0;          ///< 0: no deadline (buffered, async)
  /// deadline: the round closed by its deadline, and every participant the
  /// plan expected by then (predicted_s <= deadline_s) arrived by then;
  /// sync: the round closed by the deadline it was given. False without one.
  bool deadline_met = false;
  bool all_on_time = false;       ///< every participant arrived by the deadline
  uint64_t version = 0;           ///< global version after the round
  std::vector<participant_record> participants;
  std::vector<uint32_t> skipped;  ///< clients the plan left out (no plan fits their memory)
  /// Late outcomes handled after the previous round closed, up to this
  /// round's close (while it was open, or between the two rounds).
  std::vector<late_record> late;
  uint64_t late_bytes_up = 0;     ///< bytes of those late updates
  double score = 0;               ///< eval metric of the global adapter after the round
  double eval_loss = 0;
  std::vector<std::pair<std::string, double>> score_parts;  ///< e.g. f1 and accuracy
  std::vector<double> client_scores;  ///< global adapter on each client's local test set
  data::fairness fairness;            ///< of client_scores
  double train_loss = 0;          ///< mean probe loss after training, on-time updates
  double decision_us = 0;
  double eval_ms = 0;             ///< wall ms the server spent evaluating the global adapter after the round
  double wall_s = 0;              ///< wall seconds since the run started

  double mean_rank() const;       ///< of the plan
  /// Means over the on-time participants that measured them: F and F^ of
  /// FAH-QLoRA's stage 1. False when none did.
  bool client_losses(double& loss, double& loss_cf) const;
  uint32_t on_time() const;
  uint32_t missed() const;        ///< participants not on time (late or failed)
  uint32_t late_merged() const;
  uint32_t late_rejected() const;
  uint32_t late_failed() const;
  uint32_t failed() const;        ///< participants whose training failed before the round closed
  uint32_t rejected() const;      ///< participants whose update validation refused
  uint32_t late_invalid() const;  ///< of late_rejected(): refused by validation
  uint64_t bytes_up() const;      ///< on-time and late payloads received in this round
  uint64_t bytes_down() const;
};

class round_book {
public:
  void open(uint32_t round, double t_start, double deadline_s, double decision_us,
            std::vector<participant_record> participants, std::vector<uint32_t> skipped = {});
  bool is_open() const { return open_; }
  uint32_t round() const { return rec_.round; }
  double deadline_at() const { return rec_.t_start + rec_.deadline_s; }

  /// True if `client` is a participant of the open round `round` with no answer yet.
  bool expects(uint32_t client, uint32_t round) const;
  void arrived(const client_update& u, double now, uint64_t bytes_up);
  void failed(uint32_t client, double now, const std::string& error);
  /// The client's update arrived in time, and validation refused it.
  void rejected(uint32_t client, double now, const std::string& reason);
  void late(late_record r, uint64_t bytes_up);
  /// buffered, async: a participant joins the open window when its answer
  /// has been handled; `used`: its update went into the global adapter.
  void joined(participant_record p, bool used, const scheduling::telemetry& tel);
  /// Every participant has answered (or failed, or was refused).
  bool complete() const;

  /// The on-time updates, ordered by client id (a deterministic aggregation order).
  std::vector<client_update> take_updates();

  /// Closes the round at `now` and hands out its record; `sync`: the round
  /// waited for every participant (what its deadline means, see deadline_met).
  round_record close(double now, bool sync = false);

private:
  participant_record* find(uint32_t client);
  bool open_ = false;
  round_record rec_;
  std::map<uint32_t, client_update> updates_;
};

/// Folds round records (and late outcomes handled after the last round) into
/// the run summary; the summary's totals are the sums of the rounds' and the
/// after-the-last-round counts. time_to_target_s is the close time of the first round
/// whose score reached `target`. `peak_memory_mb` (by tier) is passed through.
run_summary summarize(const std::vector<round_record>& rounds,
                      const std::vector<late_record>& after_last, uint64_t bytes_after_last,
                      double target, std::vector<double> peak_memory_mb = {});

} // namespace fedq::actors
