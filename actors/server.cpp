#include "actors/server.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "actors/update_gate.hpp"
#include "compute/aggregation.hpp"
#include "scheduling/environment.hpp"
#include "scheduling/event_queue.hpp"
#include "serialization/adapter_payload.hpp"

namespace fedq::actors {

namespace {

/// An event of the round loop: an update (or failure) arriving, a round's
/// deadline, or (virtual clock) a moment when an offline client comes back.
struct event {
  enum kind_t { arrival, deadline, wake } kind = arrival;
  uint32_t client = 0;  ///< arrival
  uint32_t round = 0;   ///< arrival, deadline
};

/// What came back for a task: an update, or the reason there is none.
struct answer {
  client_update update;
  std::string error;
};

using key = std::pair<uint32_t, uint32_t>;  // (client, round)

struct server_state;
using server_ptr = server_actor::stateful_pointer<server_state>;

/// The round loop. Updates and deadlines become events; pump() handles them
/// in clock order, one at a time, and never while a request to the scheduler
/// or the aggregator is outstanding. The two clocks differ only in when
/// events enter the queue: on the virtual clock at dispatch (with the cost
/// model's arrival time) and at round start (the deadline); on the wall clock
/// when the update or the timer actually fires.
struct server_state {
  server_ptr self = nullptr;
  std::shared_ptr<server_setup> s;
  scheduling::event_queue<event> queue;
  std::map<key, answer> answers;
  std::optional<update_gate> gate;  // the tasks in flight; validates what comes back
  std::map<uint32_t, train_task> sent;  // the tasks in flight themselves (a checkpoint keeps them)
  // buffered, async: the records of the tasks in flight, and the open
  // window's buffer (updates with the adapters their clients started from)
  std::map<uint32_t, participant_record> pending;
  struct buffered_update {
    client_update update;
    blob base;
  };
  std::vector<buffered_update> buffer;
  uint32_t window_used = 0;     // updates the open window used (buffered or merged)
  uint32_t window_answers = 0;  // answers it handled, used or not
  std::vector<scheduling::plan_input> plan_log;  // every plan request, for a resumed scheduler
  std::vector<double> aggregator_state;          // after the last aggregation
  std::map<uint32_t, scheduling::telemetry> last_tel;
  std::map<uint32_t, scheduling::task_timing> timing;  // virtual clock: of the task in flight
  std::unique_ptr<scheduling::environment> env;        // virtual clock only
  std::vector<double> peak_memory_mb;                  // by tier
  bool wake_pending = false;
  static constexpr double presence_poll_s = 0.25;  // every idle client offline: look again this often
  bool idle_unplannable = false;  // the last plan left every idle client out
  round_book book;
  std::vector<round_record> records;
  // Late outcomes handled while no round is open: they go to the next
  // round's record, or (once no round will open) after the last one.
  std::vector<std::pair<late_record, uint64_t>> between;
  blob global;
  blob round_base;  // the global the open round's clients started from
  uint64_t version = 0;
  uint32_t next_round = 0;
  bool waiting = false;   // a request is outstanding
  bool finishing = false; // no more rounds: drain in-flight updates
  bool done = false;
  double now = 0;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  std::mt19937_64 rng;
  caf::typed_response_promise<run_summary> promise;

  const server_options& opts() const { return s->opts; }
  bool continuous_mode() const { return continuous(opts().mode); }
  bool virtual_clock() const { return opts().clock == clock_kind::virtual_clock; }
  double wall() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  double clock() const { return virtual_clock() ? now : wall(); }

  void fail(const std::string& reason) {
    spdlog::error("run failed: {}", reason);
    done = true;
    promise.deliver(caf::make_error(caf::sec::runtime_error, reason));
    self->quit();
  }

  /// Asks the scheduler for the next round's plan; false when every client
  /// is busy (then the next arrival frees one).
  bool start_round() {
    auto k = opts().clients_per_round;
    if (continuous_mode()) { // keep up to k clients training, until the clock budget is spent
      if (opts().max_clock_s > 0 && clock() >= opts().max_clock_s) {
        finishing = true;
        return false;
      }
      auto busy = uint32_t(gate->tasks().size());
      if (k > 0 && busy >= k)
        return false;
      k = k > 0 ? k - busy : 0;
    }
    std::vector<uint32_t> idle;
    double next_back = INFINITY;
    for (const auto& c : opts().clients) {
      if (gate->busy(c.id))
        continue;
      if (env && !env->online(c.id, now)) {
        next_back = std::min(next_back, env->next_online(c.id, now));
        continue;
      }
      if (s->presence && !s->presence->online(c.id)) {
        next_back = std::min(next_back, wall() + presence_poll_s);
        continue;
      }
      idle.push_back(c.id);
    }
    if (idle.empty()) {
      if (s->presence && std::isfinite(next_back) && !wake_pending) { // look again shortly
        wake_pending = true;
        self->delayed_send(caf::actor_cast<server_actor>(self),
                           std::chrono::milliseconds(int(presence_poll_s * 1000)), wake_atom::value);
        return false;
      }
      if (std::isfinite(next_back) && !wake_pending) { // everyone idle is offline: wait for one
        wake_pending = true;
        queue.push(next_back, event{event::wake});
      }
      return false;
    }
    if (k > 0 && k < idle.size()) {
      std::shuffle(idle.begin(), idle.end(), rng);
      idle.resize(k);
      std::sort(idle.begin(), idle.end());
    }
    scheduling::plan_input in;
    in.round = next_round;
    in.tokens_per_step = opts().tokens_per_step;
    in.bytes_fixed = opts().payload.fixed;
    in.bytes_per_rank = opts().payload.per_rank;
    for (auto id : idle) {
      const auto& c = opts().clients[id];
      scheduling::client_view v{id, c.tier, c.samples, false, {}};
      if (auto it = last_tel.find(id); it != last_tel.end()) {
        v.has_telemetry = true;
        v.last = it->second;
      }
      in.clients.push_back(v);
    }
    in.feedback = feedback();
    if (!s->checkpoint_dir.empty())
      plan_log.push_back(in);
    waiting = true;
    self->request(s->scheduler, caf::infinite, plan_atom::value, std::move(in))
      .then(
        [this](scheduling::round_plan& plan) {
          waiting = false;
          dispatch(plan);
          pump();
        },
        [this](caf::error& e) { fail("scheduler: " + self->system().render(e)); });
    return true;
  }

  /// What the scheduler may learn from the last closed round.
  scheduling::round_feedback feedback() const {
    scheduling::round_feedback f;
    if (records.empty())
      return f;
    const auto& r = records.back();
    f.valid = true;
    f.round = r.round;
    f.duration_s = r.t_close - r.t_start;
    f.on_time_fraction = r.participants.empty() ? 1.0
                                                : double(r.on_time()) / r.participants.size();
    f.mean_rank = r.mean_rank();
    f.loss = r.eval_loss;
    f.loss_prev = records.size() > 1 ? records[records.size() - 2].eval_loss : r.eval_loss;
    double prev_cf = 0;
    f.has_client_loss = r.client_losses(f.client_loss, f.client_loss_cf) && records.size() > 1 &&
                        records[records.size() - 2].client_losses(f.client_loss_prev, prev_cf);
    return f;
  }

  void dispatch(const scheduling::round_plan& plan) {
    if (plan.clients.empty()) { // every idle client was left out
      if (gate->idle())
        return fail("round " + std::to_string(plan.round) +
                    ": the scheduler planned no client (no plan fits any client's memory; "
                    "raise tiers.memory_gb, lower scheduler.r_min, or use a smaller model.bits)");
      idle_unplannable = true; // wait for an update before planning again
      return;
    }
    auto global_adapter = serialization::decode(global);
    std::vector<participant_record> parts;
    double t = clock();
    for (const auto& a : plan.clients) {
      if (a.rank < 1 || a.rank > opts().r_max || a.client >= opts().clients.size())
        return fail("scheduler planned rank " + std::to_string(a.rank) + " for client " +
                    std::to_string(a.client) + " (ranks must lie in 1..r_max = " +
                    std::to_string(opts().r_max) + ")");
      const auto& info = opts().clients[a.client];
      train_task task{plan.round, version, a.client, a.rank, a.steps,
                      scheduling::mix_seed(opts().seed, a.client, plan.round), a.bits,
                      serialization::encode(compute::truncate(global_adapter, a.rank)),
                      opts().local_validation ? std::max(opts().r_min, a.rank - 1) : 0};
      participant_record p;
      p.client = a.client;
      p.tier = info.tier;
      p.rank = a.rank;
      p.steps = a.steps;
      p.bits = a.bits;
      p.predicted_s = a.predicted_s;
      p.bytes_down = task.adapter.size();
      parts.push_back(p);
      gate->dispatched(a.client, {plan.round, version, a.rank, t});
      sent[a.client] = task;
      if (continuous_mode())
        pending[a.client] = p;
      if (env) {
        scheduling::work_item w{a.rank, a.steps, opts().tokens_per_step, p.bytes_down,
                                p.bytes_down, a.bits};
        auto tt = env->time_task(a.client, plan.round, t, w);
        timing[a.client] = tt;
        queue.push(t + tt.total_s(), event{event::arrival, a.client, plan.round});
      }
      send(std::move(task));
    }
    for (auto id : plan.skipped)
      spdlog::warn("round {}: client {} left out: no plan fits its memory", plan.round, id);
    if (continuous_mode())
      return; // no round opens: each answer joins the window open when it is handled
    round_base = global;
    book.open(plan.round, t, plan.deadline_s, plan.decision_us, std::move(parts), plan.skipped);
    for (auto& [l, bytes] : between) // handled since the previous round closed
      book.late(std::move(l), bytes);
    between.clear();
    ++next_round;
    if (opts().mode == round_mode::deadline) {
      if (virtual_clock())
        queue.push(t + plan.deadline_s, event{event::deadline, 0, plan.round});
      else
        self->delayed_send(caf::actor_cast<server_actor>(self),
                           std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::duration<double>(plan.deadline_s)),
                           deadline_atom::value, plan.round);
    }
  }

  void send(train_task task) {
    uint32_t client = task.client, round = task.round;
    self->request(s->clients.at(client), caf::infinite, std::move(task))
      .then([this, client, round](client_update& u) { on_answer(client, round, {std::move(u), {}}); },
            [this, client, round](caf::error& e) {
              answer failed;
              failed.error = error_reason(self->system(), e);
              on_answer(client, round, std::move(failed));
            });
  }

  void on_answer(uint32_t client, uint32_t round, answer a) {
    if (answers.count({client, round})) { // a second answer before the first was handled
      record_invalid(client, round, clock(),
                     "a duplicate: a second answer from client " + std::to_string(client) +
                       " for round " + std::to_string(round),
                     a.update.adapter.size());
      return;
    }
    answers[{client, round}] = std::move(a);
    if (!virtual_clock())
      queue.push(wall(), event{event::arrival, client, round});
    pump();
  }

  void on_deadline_timer(uint32_t round) {
    queue.push(wall(), event{event::deadline, 0, round});
    pump();
  }

  /// Handles events in clock order. A round starts as soon as the previous
  /// one closed, before any later event is looked at.
  void pump() {
    while (!waiting && !done) {
      if (!finishing && (continuous_mode() || !book.is_open()) && !idle_unplannable && start_round())
        continue; // waiting for the plan
      if (queue.empty())
        break;
      const auto& top = queue.top();
      if (top.event.kind == event::arrival && !answers.count({top.event.client, top.event.round}))
        break; // its result is still being computed
      auto e = queue.pop();
      now = std::max(now, e.time);
      if (e.event.kind == event::wake) {
        wake_pending = false; // the loop's next turn tries to start a round
      } else if (e.event.kind == event::deadline) {
        if (book.is_open() && book.round() == e.event.round)
          close_round();
      } else {
        handle_arrival(e.event.client, e.event.round);
      }
    }
    if (!waiting && !done && finishing)
      maybe_finish();
  }

  void handle_arrival(uint32_t client, uint32_t round) {
    auto node = answers.extract({client, round});
    answer a = std::move(node.mapped());
    double t = clock();
    auto reason = gate->unexpected(client, round);
    auto task = gate->take(client, round);
    if (!task)
      return record_invalid(client, round, t, reason, a.update.adapter.size());
    blob base;
    if (auto it = sent.find(client); it != sent.end()) {
      base = std::move(it->second.adapter);
      sent.erase(it);
    }
    double duration = t - task->dispatched_at;
    idle_unplannable = false;
    if (continuous_mode())
      return window_answer(client, *task, std::move(a), std::move(base), t);
    if (!a.error.empty()) {
      timing.erase(client);
      spdlog::warn("round {}: client {} failed: {}", round, client, a.error);
      if (book.expects(client, round)) {
        book.failed(client, t, a.error);
        if (book.complete())
          close_round();
      } else {
        record_late({client, round, t, 0, false, 0, a.error, true}, 0);
      }
      return;
    }
    client_update& u = a.update;
    uint64_t bytes = u.adapter.size();
    if (auto why = gate->check(client, *task, u, version); !why.empty()) {
      timing.erase(client);
      if (!book.expects(client, round))
        return record_invalid(client, round, t, why, bytes);
      spdlog::warn("round {}: update from client {} refused: {}", round, client, why);
      book.rejected(client, t, why);
      if (book.complete())
        close_round();
      return;
    }
    observe(client, u, duration);
    widen_pruned(u, task->rank);
    if (book.expects(client, round)) {
      book.arrived(u, t, bytes);
      if (book.complete())
        close_round();
      return;
    }
    waiting = true;
    late_request req{version, global, std::move(u)};
    if (opts().late_delta) {
      req.delta = true;
      req.base = std::move(base);
      req.share = late_share(client, round);
    }
    self->request(s->aggregator, caf::infinite, late_atom::value, std::move(req))
      .then(
        [this, client, round, t, bytes](late_result& r) {
          waiting = false;
          if (r.merged) {
            global = std::move(r.global);
            ++version;
          }
          record_late({client, round, t, r.staleness, r.merged, r.weight, r.reason}, bytes);
          pump();
        },
        [this](caf::error& e) { fail("aggregator: " + self->system().render(e)); });
  }

  /// A late update's data share had it arrived on time: its client's
  /// samples over those of its round's on-time participants plus its own.
  double late_share(uint32_t client, uint32_t round) const {
    double own = opts().clients.at(client).samples, on_time = 0;
    for (const auto& r : records)
      if (r.round == round)
        for (const auto& p : r.participants)
          if (p.on_time)
            on_time += opts().clients.at(p.client).samples;
    return own > 0 ? own / (own + on_time) : 0.0;
  }

  /// What the scheduler learns from a valid update: its telemetry, completed
  /// with the timing the server saw.
  void observe(uint32_t client, client_update& u, double duration) {
    u.tel.duration_s = duration;
    // The scheduler's work unit is the planned tokens per step (padded
    // batches), the same the cost model and the virtual clock charge for.
    u.tel.tokens_per_step = opts().tokens_per_step;
    if (auto tt = timing.find(client); tt != timing.end()) { // what the client would have seen
      u.tel.compute_s = tt->second.compute_s;
      u.tel.transfer_s = tt->second.transfer_s + tt->second.offline_s;
      timing.erase(tt);
    } else {
      u.tel.transfer_s = std::max(0.0, duration - u.tel.compute_s);
    }
    auto& peak = peak_memory_mb.at(opts().clients.at(client).tier);
    peak = std::max(peak, u.tel.memory_mb);
    last_tel[client] = u.tel;
  }

  /// An update that came back with fewer components than its task asked
  /// (HetLoRA's self-pruning) is aggregated as the client's adapter is: its
  /// pruned components zero. Kept at its own rank, the aggregation would
  /// leave those components at their last values in the global adapter,
  /// which nobody trains again once every client has pruned them.
  static void widen_pruned(client_update& u, uint32_t task_rank) {
    if (u.rank >= task_rank)
      return;
    u.adapter = serialization::encode(compute::pad_to_rank(serialization::decode(u.adapter), task_rank));
    u.rank = task_rank;
  }

  /// buffered, async: an answer joins the open window (opened now if none
  /// is). buffered keeps a valid update for the window's aggregate; async
  /// mixes it into the global adapter at once.
  void window_answer(uint32_t client, const task_in_flight& task, answer a, blob base, double t) {
    if (!book.is_open()) {
      book.open(next_round, records.empty() ? 0.0 : records.back().t_close, 0, 0, {});
      for (auto& [l, bytes] : between)
        book.late(std::move(l), bytes);
      between.clear();
    }
    participant_record p;
    if (auto it = pending.find(client); it != pending.end()) {
      p = std::move(it->second);
      pending.erase(it);
    }
    p.client = client;
    p.tier = opts().clients.at(client).tier;
    p.duration_s = t - task.dispatched_at;
    ++window_answers;
    if (!a.error.empty()) {
      timing.erase(client);
      spdlog::warn("client {} failed: {}", client, a.error);
      p.error = a.error;
      book.joined(std::move(p), false, {});
      return window_step();
    }
    client_update& u = a.update;
    p.bytes_up = u.adapter.size();
    if (auto why = gate->check(client, task, u, version); !why.empty()) {
      timing.erase(client);
      spdlog::warn("update from client {} refused: {}", client, why);
      p.rejected = why;
      book.joined(std::move(p), false, {});
      return window_step();
    }
    observe(client, u, p.duration_s);
    widen_pruned(u, task.rank);
    p.staleness = version - std::min(version, u.base_version);
    if (opts().mode == round_mode::buffered) {
      book.joined(std::move(p), true, u.tel);
      buffer.push_back({std::move(u), std::move(base)});
      ++window_used;
      return window_step();
    }
    waiting = true;
    auto tel = u.tel;
    late_request req{version, global, std::move(u)};
    self->request(s->aggregator, caf::infinite, late_atom::value, std::move(req))
      .then(
        [this, p, tel, t, round = task.round](late_result& r) mutable {
          waiting = false;
          p.staleness = r.staleness;
          if (r.merged) {
            global = std::move(r.global);
            ++version;
            ++window_used;
            book.joined(std::move(p), true, tel);
          } else { // past aggregator.max_staleness: a participant not used, and why
            record_late({p.client, round, t, r.staleness, false, 0, r.reason}, p.bytes_up);
            book.joined(std::move(p), false, tel);
          }
          window_step();
          pump();
        },
        [this](caf::error& e) { fail("aggregator: " + self->system().render(e)); });
  }

  /// Closes the open window after K used updates, or after 2K answers
  /// (failing clients cannot stall the run), or when the run drains.
  void window_step(bool draining = false) {
    auto k = std::max<uint32_t>(1, opts().buffer_size);
    if (!book.is_open() || (!draining && window_used < k && window_answers < 2 * k))
      return;
    window_used = window_answers = 0;
    auto rec = book.close(clock());
    ++next_round;
    if (buffer.empty())
      return finish_round(std::move(rec));
    buffer_request req{version, global, {}, {}, k};
    for (auto& b : buffer) {
      req.updates.push_back(std::move(b.update));
      req.bases.push_back(std::move(b.base));
    }
    buffer.clear();
    aggregate_then_finish(buffer_atom::value, std::move(req), std::move(rec));
  }

  /// Asks the aggregator for the next global adapter (a round's or a
  /// window's), then finishes the record with it.
  template <class Atom, class Request>
  void aggregate_then_finish(Atom atom, Request req, round_record rec) {
    waiting = true;
    self->request(s->aggregator, caf::infinite, atom, std::move(req))
      .then(
        [this, rec](aggregate_result& r) mutable {
          waiting = false;
          global = std::move(r.global);
          aggregator_state = std::move(r.state);
          ++version;
          finish_round(std::move(rec));
          pump();
        },
        [this](caf::error& e) { fail("aggregator: " + self->system().render(e)); });
  }

  /// An answer refused before it could be used (update_gate): a late
  /// outcome, rejected with the reason.
  void record_invalid(uint32_t client, uint32_t round, double t, const std::string& why, uint64_t bytes) {
    late_record r{client, round, t, 0, false, 0, "invalid update: " + why};
    r.invalid = true;
    record_late(std::move(r), bytes);
  }

  void record_late(late_record r, uint64_t bytes) {
    if (r.merged)
      spdlog::info("late update from client {} (round {}, staleness {}) merged with weight {:.3f}",
                   r.client, r.from_round, r.staleness, r.weight);
    else if (!r.failed)
      spdlog::warn("late update from client {} (round {}) rejected: {}", r.client, r.from_round,
                   r.reason);
    if (s->observer)
      s->observer->on_late(r);
    if (book.is_open())
      book.late(std::move(r), bytes);
    else
      between.emplace_back(std::move(r), bytes);
  }

  void close_round() {
    auto updates = book.take_updates();
    auto rec = book.close(clock(), opts().mode == round_mode::sync);
    if (updates.empty()) {
      spdlog::warn("round {}: no valid update arrived in time; global adapter unchanged",
                    rec.round);
      return finish_round(std::move(rec));
    }
    aggregate_request req{rec.round, std::move(updates), round_base, global};
    aggregate_then_finish(aggregate_atom::value, std::move(req), std::move(rec));
  }

  evaluation evaluate() const {
    return evaluate_global(*s->backbone, serialization::decode(global), s->eval);
  }

  void finish_round(round_record rec) {
    auto eval_start = std::chrono::steady_clock::now();
    auto adapter = serialization::decode(global);
    auto ev = evaluate_dev(*s->backbone, adapter, s->eval);
    bool reached = ev.score >= opts().target;
    bool out_of_time = opts().max_clock_s > 0 && rec.t_close >= opts().max_clock_s;
    if (records.size() + 1 >= opts().rounds || (opts().stop_at_target && reached) || out_of_time)
      finishing = true;
    auto every = opts().fairness_every;
    if (finishing || (every > 0 && (rec.round + 1) % every == 0))
      evaluate_clients(*s->backbone, adapter, s->eval, ev);
    rec.eval_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - eval_start).count();
    rec.score = ev.score;
    rec.eval_loss = ev.loss;
    rec.score_parts = std::move(ev.parts);
    rec.client_scores = std::move(ev.client_scores);
    rec.fairness = ev.fairness;
    rec.version = version;
    rec.wall_s = wall();
    records.push_back(std::move(rec));
    // The checkpoint first: once rounds.jsonl shows a round, a resume can
    // go on from it (a resume rewrites rounds.jsonl from the checkpoint).
    if (!s->checkpoint_dir.empty()) {
      try {
        write_checkpoint(s->checkpoint_dir, checkpoint());
      } catch (const std::exception& e) {
        return fail(std::string("checkpoint: ") + e.what());
      }
    }
    if (s->observer)
      s->observer->on_round(records.back());
  }

  /// Everything needed to go on from here after a crash. Answers that came
  /// but were not handled yet are left out: their tasks are sent again.
  server_checkpoint checkpoint() const {
    server_checkpoint c;
    c.config_hash = s->config_hash;
    c.next_round = next_round;
    c.version = version;
    c.now = now;
    std::ostringstream r;
    r << rng;
    c.rng = r.str();
    c.wake_pending = wake_pending;
    c.idle_unplannable = idle_unplannable;
    c.finishing = finishing;
    c.global = global;
    c.records = records;
    c.between = between;
    c.last_tel = last_tel;
    c.timing = timing;
    c.peak_memory_mb = peak_memory_mb;
    for (const auto& e : queue.entries())
      c.queue.push_back({e.time, e.seq, uint32_t(e.event.kind), e.event.client, e.event.round});
    c.queue_seq = queue.next_seq();
    c.tasks = gate->tasks();
    c.answered = gate->answered();
    c.sent = sent;
    c.plan_log = plan_log;
    c.aggregator = aggregator_state;
    c.pending = pending;
    return c;
  }

  void restore(const server_checkpoint& c) {
    next_round = c.next_round;
    version = c.version;
    now = c.now;
    std::istringstream r(c.rng);
    r >> rng;
    wake_pending = c.wake_pending;
    idle_unplannable = c.idle_unplannable;
    finishing = c.finishing;
    global = c.global;
    records = c.records;
    between = c.between;
    last_tel = c.last_tel;
    timing = c.timing;
    peak_memory_mb = c.peak_memory_mb;
    std::vector<scheduling::event_queue<event>::entry> entries;
    for (const auto& e : c.queue)
      entries.push_back({e.time, e.seq, event{event::kind_t(e.kind), e.client, e.round}});
    queue.restore(std::move(entries), c.queue_seq);
    gate->restore(c.tasks, c.answered);
    sent = c.sent;
    plan_log = c.plan_log;
    aggregator_state = c.aggregator;
    pending = c.pending;
  }

  void maybe_finish() {
    if (!gate->idle())
      return; // updates still in flight: they are merged (or rejected) before the end
    if (continuous_mode() && book.is_open()) {
      window_step(true); // the last window, with what it has
      if (waiting || done)
        return;
    }
    std::vector<late_record> after_last;
    uint64_t after_last_bytes = 0;
    for (auto& [l, bytes] : between) {
      after_last.push_back(std::move(l));
      after_last_bytes += bytes;
    }
    auto summary = summarize(records, after_last, after_last_bytes, opts().target, peak_memory_mb);
    if (std::any_of(after_last.begin(), after_last.end(), [](const auto& l) { return l.merged; })) {
      auto ev = evaluate(); // the final model includes the updates merged after the last round
      summary.final_score = ev.score;
      summary.final_loss = ev.loss;
      summary.final_parts = std::move(ev.parts);
      summary.final_fairness = ev.fairness;
    }
    summary.final_version = version;
    summary.final_global = global;
    summary.clock_s = std::max(summary.clock_s, clock());
    summary.wall_s = wall();
    done = true;
    promise.deliver(summary);
    self->quit();
  }
};

server_actor::behavior_type server_behavior(server_ptr self, std::shared_ptr<server_setup> setup) {
  auto& st = self->state;
  st.self = self;
  st.s = std::move(setup);
  st.global = st.s->initial_global;
  const auto& o = st.s->opts;
  std::vector<uint32_t> shard_sizes;
  for (const auto& c : o.clients)
    shard_sizes.push_back(c.samples);
  st.gate.emplace(serialization::decode(st.global), update_limits{o.r_max, o.max_update_norm},
                  std::move(shard_sizes));
  st.peak_memory_mb.assign(o.tiers.size(), 0.0);
  if (o.clock == clock_kind::virtual_clock) {
    std::vector<uint32_t> client_tier;
    for (const auto& c : o.clients)
      client_tier.push_back(c.tier);
    st.env = std::make_unique<scheduling::environment>(o.tiers, client_tier, o.cost, o.seed);
  }
  st.rng.seed(scheduling::mix_seed(st.s->opts.seed, 0xffffffffu, 0));
  if (st.s->resume)
    st.restore(*st.s->resume);
  return {
    [self](run_atom) -> caf::typed_response_promise<run_summary> {
      auto& st = self->state;
      st.promise = self->make_response_promise<run_summary>();
      st.t0 = std::chrono::steady_clock::now();
      if (st.s->resume)  // the tasks that were in flight at the checkpoint, once more
        for (const auto& [client, task] : st.sent)
          st.send(task);
      st.pump();
      return st.promise;
    },
    [self](deadline_atom, uint32_t round) { self->state.on_deadline_timer(round); },
    [self](wake_atom) {
      self->state.wake_pending = false;
      self->state.pump();
    },
  };
}

} // namespace

const char* round_mode_name(round_mode m) {
  switch (m) {
  case round_mode::sync: return "sync";
  case round_mode::deadline: return "deadline";
  case round_mode::buffered: return "buffered";
  case round_mode::async: return "async";
  }
  return "?";
}

round_mode parse_round_mode(const std::string& name) {
  for (auto m : {round_mode::sync, round_mode::deadline, round_mode::buffered, round_mode::async})
    if (name == round_mode_name(m))
      return m;
  throw std::invalid_argument("unknown round mode '" + name + "' (sync, deadline, buffered, async)");
}

server_actor spawn_server(caf::actor_system& sys, server_setup setup) {
  return sys.spawn(server_behavior, std::make_shared<server_setup>(std::move(setup)));
}

} // namespace fedq::actors
