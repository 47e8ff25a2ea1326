#include "actors/round_book.hpp"

#include <algorithm>
#include <stdexcept>

namespace fedq::actors {

double round_record::mean_rank() const {
  double s = 0;
  for (const auto& p : participants)
    s += p.rank;
  return participants.empty() ? 0 : s / participants.size();
}

bool round_record::client_losses(double& loss, double& loss_cf) const {
  double s = 0, s_cf = 0;
  uint32_t n = 0;
  for (const auto& p : participants)
    if (p.on_time && p.val_loss >= 0) {
      s += p.val_loss;
      s_cf += p.val_loss_cf;
      ++n;
    }
  if (n == 0)
    return false;
  loss = s / n;
  loss_cf = s_cf / n;
  return true;
}

uint32_t round_record::on_time() const {
  return static_cast<uint32_t>(std::count_if(participants.begin(), participants.end(),
                                             [](const auto& p) { return p.on_time; }));
}

uint32_t round_record::missed() const {
  return static_cast<uint32_t>(participants.size()) - on_time();
}

uint32_t round_record::late_merged() const {
  return static_cast<uint32_t>(
    std::count_if(late.begin(), late.end(), [](const auto& l) { return l.merged; }));
}

uint32_t round_record::late_rejected() const {
  return static_cast<uint32_t>(
    std::count_if(late.begin(), late.end(), [](const auto& l) { return !l.merged && !l.failed; }));
}

uint32_t round_record::late_failed() const {
  return static_cast<uint32_t>(std::count_if(late.begin(), late.end(), [](const auto& l) { return l.failed; }));
}

uint32_t round_record::failed() const {
  return static_cast<uint32_t>(
    std::count_if(participants.begin(), participants.end(), [](const auto& p) { return !p.error.empty(); }));
}

uint32_t round_record::rejected() const {
  return static_cast<uint32_t>(std::count_if(participants.begin(), participants.end(),
                                             [](const auto& p) { return !p.rejected.empty(); }));
}

uint32_t round_record::late_invalid() const {
  return static_cast<uint32_t>(std::count_if(late.begin(), late.end(), [](const auto& l) { return l.invalid; }));
}

uint64_t round_record::bytes_up() const {
  uint64_t b = late_bytes_up;
  for (const auto& p : participants)
    b += p.on_time ? p.bytes_up : 0;
  return b;
}

uint64_t round_record::bytes_down() const {
  uint64_t b = 0;
  for (const auto& p : participants)
    b += p.bytes_down;
  return b;
}

void round_book::open(uint32_t round, double t_start, double deadline_s, double decision_us,
                      std::vector<participant_record> participants,
                      std::vector<uint32_t> skipped) {
  if (open_)
    throw std::logic_error("round_book: round " + std::to_string(rec_.round) + " is still open");
  open_ = true;
  rec_ = round_record{};
  rec_.round = round;
  rec_.t_start = t_start;
  rec_.deadline_s = deadline_s;
  rec_.decision_us = decision_us;
  rec_.participants = std::move(participants);
  rec_.skipped = std::move(skipped);
  updates_.clear();
}

participant_record* round_book::find(uint32_t client) {
  for (auto& p : rec_.participants)
    if (p.client == client)
      return &p;
  return nullptr;
}

bool round_book::expects(uint32_t client, uint32_t round) const {
  if (!open_ || round != rec_.round)
    return false;
  for (const auto& p : rec_.participants)
    if (p.client == client)
      return p.duration_s < 0 && p.error.empty() && p.rejected.empty();
  return false;
}

void round_book::arrived(const client_update& u, double now, uint64_t bytes_up) {
  auto* p = find(u.client);
  if (!p || !expects(u.client, u.round))
    throw std::logic_error("round_book: unexpected update");
  p->duration_s = now - rec_.t_start;
  p->on_time = true;
  p->bytes_up = bytes_up;
  p->loss_before = u.tel.loss_before;
  p->loss_after = u.tel.loss_after;
  p->memory_mb = u.tel.memory_mb;
  p->val_loss = u.tel.val_loss;
  p->val_loss_cf = u.tel.val_loss_cf;
  updates_[u.client] = u;
}

void round_book::failed(uint32_t client, double now, const std::string& error) {
  if (auto* p = find(client)) {
    p->duration_s = now - rec_.t_start;
    p->error = error;
  }
}

void round_book::rejected(uint32_t client, double now, const std::string& reason) {
  if (auto* p = find(client)) {
    p->duration_s = now - rec_.t_start;
    p->rejected = reason;
  }
}

void round_book::joined(participant_record p, bool used, const scheduling::telemetry& tel) {
  p.on_time = used;
  if (used) {
    p.loss_before = tel.loss_before;
    p.loss_after = tel.loss_after;
    p.memory_mb = tel.memory_mb;
    p.val_loss = tel.val_loss;
    p.val_loss_cf = tel.val_loss_cf;
  }
  rec_.participants.push_back(std::move(p));
}

void round_book::late(late_record r, uint64_t bytes_up) {
  rec_.late.push_back(std::move(r));
  rec_.late_bytes_up += bytes_up;
}

bool round_book::complete() const {
  return std::all_of(rec_.participants.begin(), rec_.participants.end(),
                     [](const auto& p) { return p.on_time || !p.error.empty() || !p.rejected.empty(); });
}

std::vector<client_update> round_book::take_updates() {
  std::vector<client_update> out;
  for (auto& [id, u] : updates_)
    out.push_back(std::move(u));
  updates_.clear();
  return out;
}

round_record round_book::close(double now, bool sync) {
  open_ = false;
  rec_.t_close = now;
  const double d = rec_.deadline_s * (1 + 1e-9);
  auto by_deadline = [&](const participant_record& p) { return p.on_time && p.duration_s <= d; };
  const auto& ps = rec_.participants;
  rec_.all_on_time = !ps.empty() && complete() && std::all_of(ps.begin(), ps.end(), by_deadline);
  bool closed_by_deadline = rec_.deadline_s > 0 && now - rec_.t_start <= d;
  rec_.deadline_met = closed_by_deadline &&
                      (sync || std::all_of(ps.begin(), ps.end(), [&](const participant_record& p) {
                         return p.predicted_s > d || by_deadline(p);
                       }));
  double loss = 0;
  uint32_t n = 0;
  for (const auto& p : rec_.participants)
    if (p.on_time) {
      loss += p.loss_after;
      ++n;
    }
  rec_.train_loss = n ? loss / n : 0;
  return rec_;
}

run_summary summarize(const std::vector<round_record>& rounds,
                      const std::vector<late_record>& after_last, uint64_t bytes_after_last,
                      double target, std::vector<double> peak_memory_mb) {
  run_summary s;
  s.peak_memory_mb = std::move(peak_memory_mb);
  s.rounds = static_cast<uint32_t>(rounds.size());
  uint32_t hits = 0, with_deadline = 0, all_on_time = 0;
  uint64_t participants = 0;
  for (const auto& r : rounds) {
    hits += r.deadline_met ? 1 : 0;
    with_deadline += r.deadline_s > 0 ? 1 : 0;
    all_on_time += r.all_on_time ? 1 : 0;
    participants += r.participants.size();
    s.bytes_up += r.bytes_up();
    s.bytes_down += r.bytes_down();
    s.on_time += r.on_time();
    s.late_merged += r.late_merged();
    s.late_rejected += r.late_rejected();
    s.failed += r.failed() + r.late_failed();
    s.invalid += r.rejected() + r.late_invalid();
    s.skipped += r.skipped.size();
    if (s.time_to_target_s < 0 && r.score >= target)
      s.time_to_target_s = r.t_close;
    s.final_score = r.score;
    s.final_loss = r.eval_loss;
    s.final_parts = r.score_parts;
    s.final_fairness = r.fairness;
    s.final_version = r.version;
    s.clock_s = r.t_close;
  }
  for (const auto& l : after_last) {
    s.invalid += l.invalid ? 1 : 0;
    (l.failed ? s.after_last_failed : l.merged ? s.after_last_merged : s.after_last_rejected) += 1;
  }
  s.late_merged += s.after_last_merged;
  s.late_rejected += s.after_last_rejected;
  s.failed += s.after_last_failed;
  s.bytes_up += bytes_after_last;
  s.deadline_hit_rate = with_deadline ? double(hits) / with_deadline : -1;
  s.all_on_time_rate = rounds.empty() ? 0 : double(all_on_time) / rounds.size();
  s.on_time_fraction = participants ? double(s.on_time) / participants : 0;
  return s;
}

} // namespace fedq::actors
