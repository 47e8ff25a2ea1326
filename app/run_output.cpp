#include "app/run_output.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compute/memory_probe.hpp"
#include "data/partition.hpp"

namespace fedq::app {

using nlohmann::json;

namespace {

json to_json(const data::fairness& f) {
  return {{"clients", f.clients}, {"mean", f.mean}, {"worst", f.worst}, {"p10", f.p10},
          {"p50", f.p50},         {"std", f.stddev}, {"jain", f.jain}};
}

json to_json(const std::vector<std::pair<std::string, double>>& parts) {
  json j = json::object();
  for (const auto& [name, v] : parts)
    j[name] = v;
  return j;
}

} // namespace

run_output::run_output(std::filesystem::path dir, std::vector<std::string> tier_names,
                       uint32_t rounds, bool virtual_clock, bool print_progress)
  : dir_(std::move(dir)), tiers_(std::move(tier_names)), total_rounds_(rounds),
    virtual_(virtual_clock), progress_(print_progress) {
  std::filesystem::create_directories(dir_);
  rounds_.open(dir_ / "rounds.jsonl");
  if (!rounds_)
    throw std::runtime_error((dir_ / "rounds.jsonl").string() + ": cannot write");
}

void run_output::on_round(const actors::round_record& r) {
  json parts = json::array();
  for (const auto& p : r.participants) {
    json j{{"client", p.client},       {"tier", tiers_.at(p.tier)}, {"rank", p.rank},
           {"bits", p.bits},           {"steps", p.steps},         {"predicted_s", p.predicted_s},
           {"on_time", p.on_time},     {"bytes_down", p.bytes_down}, {"bytes_up", p.bytes_up},
           {"staleness", p.staleness}};
    j["duration_s"] = p.duration_s >= 0 ? json(p.duration_s) : json(nullptr);
    if (p.on_time) {
      j["loss_before"] = p.loss_before;
      j["loss_after"] = p.loss_after;
      j["memory_mb"] = p.memory_mb;
      if (p.val_loss >= 0) {
        j["val_loss"] = p.val_loss;
        j["val_loss_cf"] = p.val_loss_cf;
      }
    }
    if (!p.error.empty())
      j["error"] = p.error;
    if (!p.rejected.empty())
      j["rejected"] = p.rejected;
    parts.push_back(std::move(j));
  }
  json late = json::array();
  for (const auto& l : r.late) {
    json j{{"client", l.client}, {"from_round", l.from_round}, {"at_s", l.at_s},
           {"staleness", l.staleness}, {"merged", l.merged}};
    if (l.merged)
      j["weight"] = l.weight;
    else
      j["reason"] = l.reason;
    if (l.failed)
      j["failed"] = true;
    if (l.invalid)
      j["invalid"] = true;
    late.push_back(std::move(j));
  }
  json line{{"round", r.round},
            {"t_start", r.t_start},
            {"t_close", r.t_close},
            {"deadline_s", r.deadline_s},
            {"deadline_met", r.deadline_met},
            {"all_on_time", r.all_on_time},
            {"version", r.version},
            {"mean_rank", r.mean_rank()},
            {"skipped", r.skipped},
            {"on_time", r.on_time()},
            {"missed", r.missed()},
            {"late_merged", r.late_merged()},
            {"late_rejected", r.late_rejected()},
            {"failed", r.failed() + r.late_failed()},
            {"invalid", r.rejected() + r.late_invalid()},
            {"bytes_up", r.bytes_up()},
            {"bytes_down", r.bytes_down()},
            {"score", r.score},
            {"score_parts", to_json(r.score_parts)},
            {"eval_loss", r.eval_loss},
            {"fairness", r.client_scores.empty() ? json(nullptr) : to_json(r.fairness)},  // null: not measured this round (run.fairness_every)
            {"client_scores", r.client_scores},
            {"train_loss", r.train_loss},
            {"decision_us", r.decision_us},
            {"eval_ms", r.eval_ms},
            {"wall_s", r.wall_s},
            {"participants", std::move(parts)},
            {"late", std::move(late)}};
  rounds_ << line.dump() << '\n';
  rounds_.flush();
  if (progress_ && !replaying_)
    std::cout << fmt::format(
                   "round {:>3}/{}  t={:8.1f}s ({})  wall={:6.1f}s  on-time {}/{}  late merged {} "
                   "rejected {}  score {:.3f}  clients {}  train loss {:.3f}",
                   r.round + 1, total_rounds_, r.t_close, virtual_ ? "virtual" : "wall", r.wall_s,
                   r.on_time(), r.participants.size(), r.late_merged(), r.late_rejected(), r.score,
                   r.client_scores.empty() ? std::string("not evaluated")
                                           : fmt::format("worst {:.3f} jain {:.3f}", r.fairness.worst, r.fairness.jain),
                   r.train_loss)
              << std::endl;
}

void run_output::write_config(const std::string& toml_text) {
  std::ofstream(dir_ / "config.toml") << toml_text;
}

void run_output::write_summary(const actors::run_summary& s, double target, const std::string& mode,
                               const std::string& policy, uint64_t seed) {
  json j{{"rounds", s.rounds},
         {"time_to_target_s", s.time_to_target_s >= 0 ? json(s.time_to_target_s) : json(nullptr)},
         {"target", target},
         {"deadline_hit_rate", s.deadline_hit_rate >= 0 ? json(s.deadline_hit_rate) : json(nullptr)},
         {"all_on_time_rate", s.all_on_time_rate},
         {"on_time_fraction", s.on_time_fraction},
         {"bytes_up", s.bytes_up},
         {"bytes_down", s.bytes_down},
         {"final_score", s.final_score},
         {"final_score_parts", to_json(s.final_parts)},
         {"final_fairness", to_json(s.final_fairness)},
         {"final_loss", s.final_loss},
         {"on_time", s.on_time},
         {"late_merged", s.late_merged},
         {"late_rejected", s.late_rejected},
         {"failed", s.failed},
         {"invalid", s.invalid},
         {"after_last_round", {{"late_merged", s.after_last_merged},
                               {"late_rejected", s.after_last_rejected},
                               {"failed", s.after_last_failed}}},
         {"clock", virtual_ ? "virtual" : "wall"},
         {"clock_s", s.clock_s},
         {"wall_s", s.wall_s},
         {"final_version", s.final_version},
         {"bytes_per_round", s.rounds ? double(s.bytes_up + s.bytes_down) / s.rounds : 0.0},
         {"skipped", s.skipped},
         {"mode", mode},
         {"policy", policy},
         {"seed", seed}};
  json peak = json::object();
  for (size_t t = 0; t < tiers_.size() && t < s.peak_memory_mb.size(); ++t)
    peak[tiers_[t]] = s.peak_memory_mb[t];
  j["peak_memory_mb"] = std::move(peak);  // by tier: the memory model's figure for the plans it ran
  // Measured: this process's resident high-water mark (every simulated client
  // and the server together); `fedq profile` measures one client's step.
  j["process_peak_rss_mb"] = compute::status_mb("VmHWM");
  std::ofstream(dir_ / "summary.json") << j.dump(2) << '\n';
}

void run_output::write_partition(const actors::experiment_setup& s,
                                 const std::vector<actors::local_shard>& local) {
  uint32_t score_bins = s.partition.score_bins;
  std::vector<std::vector<uint32_t>> train, test;
  for (const auto& sh : s.shards) {
    train.push_back(sh.train);
    test.push_back(sh.test);
  }
  auto h_train = data::strata_histogram(s.task.train, score_bins, train);
  auto h_test = data::strata_histogram(s.task.train, score_bins, test);
  json clients = json::array();
  for (size_t c = 0; c < s.shards.size(); ++c) {
    const auto& info = s.server.clients.at(c);
    json entry{{"client", info.id},
               {"tier", tiers_.at(info.tier)},
               {"train", s.shards[c].train.size()},
               {"test", s.shards[c].test.size()},
               {"train_labels", h_train[c]},
               {"test_labels", h_test[c]}};
    for (const auto& l : local)
      if (l.client == info.id)
        entry = {{"client", info.id},
                 {"tier", tiers_.at(info.tier)},
                 {"train", l.train},
                 {"test", l.test},
                 {"train_labels", l.train_labels},
                 {"test_labels", l.test_labels},
                 {"source", "its worker's own file (fedq worker --data); the server never read it"}};
    clients.push_back(std::move(entry));
  }
  bool regression = s.task.train.kind == data::task_kind::regression;
  json j{{"task", s.task.train.name},
         {"partition", data::partition_name(s.partition.kind)},
         {"labels", regression ? "score bins (equal width over the training scores)" : "classes"},
         {"train_examples", s.task.train.items.size()},
         {"clients", std::move(clients)}};
  std::ofstream(dir_ / "partition.json") << j.dump(2) << '\n';
}

void run_output::replay(const std::vector<actors::round_record>& rounds) {
  replaying_ = true;
  for (const auto& r : rounds)
    on_round(r);
  replaying_ = false;
}

uint64_t config_hash(const std::string& effective_toml) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : effective_toml) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::filesystem::path default_out_dir(const std::string& config_path, const std::string& mode) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  auto base = std::filesystem::path("runs") /
              (std::filesystem::path(config_path).stem().string() + "-" + mode + "-" + stamp);
  auto dir = base;
  for (int n = 2; std::filesystem::exists(dir); ++n)
    dir = base.string() + "-" + std::to_string(n);
  return dir;
}

std::string describe(const actors::run_summary& s, bool virtual_clock) {
  std::string parts;
  if (s.final_parts.size() > 1)
    for (const auto& [name, v] : s.final_parts)
      parts += fmt::format("{}{}={:.3f}", parts.empty() ? " (" : ", ", name, v);
  if (!parts.empty())
    parts += ")";
  std::string hits = s.deadline_hit_rate >= 0 ? fmt::format("{:.0f}%", 100 * s.deadline_hit_rate)
                                              : std::string("n/a (no deadlines)");
  std::string ttt = s.time_to_target_s >= 0 ? fmt::format("{:.1f} s", s.time_to_target_s)
                                            : std::string("not reached");
  return fmt::format(
    "{} rounds | time-to-target {} ({} clock) | deadline hit rate {} | on time {:.0f}% of updates | bytes up {:.2f} MB, "
    "down {:.2f} MB | final score {:.3f}{} | clients: mean {:.3f}, worst {:.3f}, p10 {:.3f}, "
    "std {:.3f}, Jain {:.3f} | on time {}, late merged {}, late rejected {}, failed {}, invalid {}",
    s.rounds, ttt, virtual_clock ? "virtual" : "wall", hits, 100 * s.on_time_fraction, s.bytes_up / 1e6,
    s.bytes_down / 1e6, s.final_score, parts, s.final_fairness.mean, s.final_fairness.worst,
    s.final_fairness.p10, s.final_fairness.stddev, s.final_fairness.jain, s.on_time,
    s.late_merged, s.late_rejected, s.failed, s.invalid);
}

} // namespace fedq::app
