// The runtime at scale: a population of simulated clients on the virtual
// clock whose trainer does nothing (it returns the adapter it was given,
// perturbed, at once), so that a round's wall time is everything but
// training: actors, messages, serialization, scheduling, aggregation,
// evaluation and output. Beside it, each scenario's own arithmetic measured
// alone: the evaluation, and the on-time average against a memcpy of the
// bytes it reads; and the heap memory idle client actors hold.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <random>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "bench/median.hpp"
#include "actors/client.hpp"
#include "app/run_output.hpp"
#include "compute/aggregation.hpp"
#include "compute/memory_probe.hpp"
#include "serialization/adapter_payload.hpp"

using namespace fedq;
namespace fs = std::filesystem;
using seconds = std::chrono::duration<double>;

namespace {

double now_s() {
  return seconds(std::chrono::steady_clock::now().time_since_epoch()).count();
}

using fedq::bench::median;

/// Every value moved by a small deterministic amount: what a client that
/// trained would send back, without the training.
void perturb(serialization::adapter_payload &p, uint64_t seed) {
  // A 64-bit LCG, about a nanosecond a value: the stand-in for training must
  // cost next to nothing, or the round's "everything but training" holds it
  // (std::mt19937 and a distribution took about 0.15 ms per update).
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (float(uint32_t(state >> 40)) / 16777216.0f - 0.5f) * 2e-3f; // in [-1e-3, 1e-3)
  };
  for (auto &l : p.lora) {
    for (auto &x : l.a)
      x += next();
    for (auto &x : l.b)
      x += next();
  }
  for (auto &t : p.dense)
    for (auto &x : t.values)
      x += next();
}

/// A client whose training is a no-op: the answer is sent at once (the
/// virtual clock gives it the cost model's arrival time all the same).
actors::client_actor::behavior_type
noop_client(actors::client_actor::pointer self, uint32_t samples) {
  return {
      [=](actors::train_task &t) -> actors::client_update {
        auto u = actors::start_update(t, t.client, samples);
        auto p = serialization::decode(t.adapter);
        perturb(p, t.seed);
        actors::set_adapter(u, serialization::encode(p));
        u.tel.loss_before = 1.0;
        u.tel.loss_after = 0.99;
        if (t.validate_rank > 0)
          u.tel.val_loss = u.tel.val_loss_cf = 1.0;
        (void)self;
        return u;
      },
      [](actors::done_atom, actors::client_update &) {},
  };
}

/// Records each round's wall time and passes the round on to the run's
/// usual output (rounds.jsonl), which is part of what is measured.
struct timing_observer : actors::run_observer {
  app::run_output *out = nullptr;
  std::vector<double> wall_s; // at each round's end
  std::vector<double> eval_ms; // the server's evaluation after each round
  std::vector<double>
      updates; // handled in each round: on time, and late ones merged or not
  void on_round(const actors::round_record &r) override {
    out->on_round(r);
    wall_s.push_back(r.wall_s);
    eval_ms.push_back(r.eval_ms);
    updates.push_back(double(r.on_time() + r.late.size()));
  }
};

struct scenario_result {
  uint32_t clients = 0, per_round = 0, rounds = 0;
  double round_ms = 0, round_max_ms = 0; // median and worst of the timed rounds
  double round_eval_ms = 0;              // median of the evaluation inside a timed round
  double rest_ms = 0;                    // median of a timed round less its own evaluation
  double updates_per_round = 0;          // on time and late, mean over timed rounds
  double eval_ms = 0;            // one evaluation of the global: dev set and every client's test set
  double eval_global_ms = 0;     // the dev set only
  double average_ms = 0, memcpy_ms = 0;  // weighted_average of per_round updates; a memcpy of its bytes
  double bytes_read_mb = 0;
  double adapter_kb = 0;                 // one update's adapter and head at r_max
  double idle_kb = 0, data_kb = 0;       // heap held per idle client actor, besides its data; its data
};

/// Median of `repeats` timings of f() in milliseconds.
template <class F> double time_ms(uint32_t repeats, F &&f) {
  std::vector<double> t;
  for (uint32_t i = 0; i < repeats; ++i) {
    double a = now_s();
    f();
    t.push_back((now_s() - a) * 1e3);
  }
  return median(t);
}

/// weighted_average of k updates against a memcpy of the same bytes.
void measure_average(const actors::experiment_setup &setup, uint32_t k,
                     scenario_result &r) {
  auto base = compute::init_adapter(setup.model, setup.adapter_seed);
  std::vector<serialization::adapter_payload> ups(k, base);
  for (uint32_t i = 0; i < k; ++i)
    perturb(ups[i], i + 1);
  std::vector<double> w(k, 1.0);
  size_t floats = 0;
  for (const auto &l : base.lora)
    floats += l.a.size() + l.b.size();
  for (const auto &t : base.dense)
    floats += t.values.size();
  size_t bytes = (k + 1) * floats * sizeof(float);
  r.bytes_read_mb = bytes / 1e6;
  r.adapter_kb = floats * sizeof(float) / 1e3;
  r.average_ms =
      time_ms(5, [&] { (void)compute::weighted_average(base, ups, w); });
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  r.memcpy_ms = time_ms(5, [&] { std::memcpy(dst.data(), src.data(), bytes); });
}

/// Heap memory held by `n` idle client actors as a run spawns them, less
/// the bytes of their examples (shard and local test set).
void measure_idle(const actors::experiment_setup &setup, scenario_result &r) {
  caf::actor_system_config cfg;
  actors::register_types(cfg);
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system sys{cfg};
  compute::executor exec(1);
  std::vector<actors::client_actor> clients;
  clients.reserve(setup.server.clients.size());
  double data_bytes = 0;
  double before = compute::heap_in_use_mb();
  for (const auto &c : setup.server.clients) {
    auto cs = actors::make_client_setup(setup, c.id, &exec);
    for (const auto *v : {&cs.shard, &cs.validation})
      for (const auto &e : *v)
        data_bytes += sizeof(e) +
                      (e.text.capacity() > 15 ? e.text.capacity() + 1 : 0) +
                      (e.text_b.capacity() > 15 ? e.text_b.capacity() + 1 : 0);
    clients.push_back(actors::spawn_client(sys, std::move(cs)));
  }
  double after = compute::heap_in_use_mb();
  double n = double(clients.size());
  r.data_kb = data_bytes / n / 1e3;
  r.idle_kb = (after - before) * 1048.576 / n - r.data_kb; // MiB to kB
  for (auto &c : clients)
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
}

scenario_result run_scenario(const std::string &config,
                             std::vector<std::string> sets, uint32_t n,
                             double fraction, uint32_t rounds,
                             const fs::path &out_dir) {
  uint32_t fast = (n + 2) / 3, medium = (n + 1) / 3, slow = n / 3;
  uint32_t k = std::max<uint32_t>(1, uint32_t(std::lround(fraction * n)));
  sets.push_back(fmt::format("tiers.gpu-fast.count={}", fast));
  sets.push_back(fmt::format("tiers.gpu-medium.count={}", medium));
  sets.push_back(fmt::format("tiers.cpu-slow.count={}", slow));
  sets.push_back(fmt::format("run.clients_per_round={}", k == n ? 0 : k));
  sets.push_back(fmt::format("run.rounds={}", rounds + 1));
  auto cfg = app::load_config(config, sets);
  auto setup = app::make_setup(cfg);
  scenario_result r;
  r.clients = n;
  r.per_round = k;
  r.rounds = rounds;

  measure_idle(setup, r);  // first, before the run's memory is there to be reused
  std::vector<std::string> tiers;
  for (const auto &t : cfg.tiers)
    tiers.push_back(t.name);
  fs::remove_all(out_dir);
  fs::create_directories(out_dir);
  app::run_output out(out_dir, tiers, cfg.run.rounds, true, false);
  timing_observer obs;
  obs.out = &out;
  std::vector<uint32_t> samples;
  for (const auto &c : setup.server.clients)
    samples.push_back(c.samples);
  actors::run_experiment(
      setup, &obs, {}, [&](caf::actor_system &sys, actors::server_setup &ss) {
        for (size_t i = 0; i < ss.clients.size(); ++i)
          ss.clients[i] = sys.spawn(noop_client, samples.at(i));
      });
  std::vector<double> per_round, in_round_eval, rest;
  for (size_t i = 1; i < obs.wall_s.size();
       ++i) { // round 1 is a warm-up (and setup)
    per_round.push_back((obs.wall_s[i] - obs.wall_s[i - 1]) * 1e3);
    in_round_eval.push_back(obs.eval_ms[i]);
    rest.push_back(per_round.back() - obs.eval_ms[i]);
  }
  r.round_ms = median(per_round);
  r.round_eval_ms = median(in_round_eval);
  r.rest_ms = median(rest);
  r.round_max_ms = per_round.empty()
                       ? 0
                       : *std::max_element(per_round.begin(), per_round.end());
  if (obs.updates.size() > 1)
    r.updates_per_round =
        std::accumulate(obs.updates.begin() + 1, obs.updates.end(), 0.0) /
        double(obs.updates.size() - 1);

  auto sets_eval = actors::make_eval_sets(setup);
  auto global = compute::init_adapter(setup.model, setup.adapter_seed);
  const auto &bb = *setup.backbones.at(setup.model.bits);
  r.eval_ms =
      time_ms(1, [&] { (void)actors::evaluate_global(bb, global, sets_eval); });
  sets_eval.clients.clear();
  r.eval_global_ms =
      time_ms(3, [&] { (void)actors::evaluate_global(bb, global, sets_eval); });
  measure_average(setup, k, r);
  return r;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"The runtime's wall time per round at 1,000 and 10,000 "
               "simulated clients, "
               "training left out (a no-op trainer); its parts measured alone "
               "beside it"};
  std::string config = "configs/quickstart.toml";
  std::vector<uint32_t> clients{1000, 10000};
  std::vector<double> fractions{0.1, 1.0};
  uint32_t rounds = 5;
  std::vector<std::string> sets{
      "model.layers=4",     "data.samples_per_client=20",
      "data.min_samples=4", "data.eval_samples=200",
      "data.partition=iid", "run.compute_threads=1"};
  std::string out = "";
  app.add_option("--config", config,
                 "Experiment config (its scheduler, round mode and model)")
      ->check(CLI::ExistingFile);
  app.add_option("--clients", clients,
                 "Population sizes (comma-separated or repeated)")
      ->delimiter(',');
  app.add_option("--fractions", fractions,
                 "Fractions of the population asked per round")
      ->delimiter(',');
  app.add_option("--rounds", rounds,
                 "Timed rounds per scenario (after one warm-up round)");
  app.add_option(
         "--set", sets,
         "Config overrides for every scenario (replace the defaults shown)")
      ->capture_default_str();
  app.add_option(
      "--out", out,
      "Where the runs' rounds.jsonl go (default: a temporary folder)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  fs::path out_dir = out.empty()
                         ? fs::temp_directory_path() / "fedq-bench-scale"
                         : fs::path(out);

  try {
    auto base = app::load_config(config, sets);
    std::cout << fmt::format(
        "config {} | {} {} | model d={} layers={} | "
        "{} timed rounds after 1 warm-up | no-op trainer, virtual clock | "
        "overrides:",
        config, base.round.mode, base.scheduler.name, base.model.d_model,
        base.model.layers, rounds);
    for (const auto &s : sets)
      std::cout << ' ' << s;
    std::cout << "\n\n";

    std::vector<scenario_result> results;
    for (auto n : clients)
      for (auto f : fractions) {
        std::cerr << fmt::format("running N={} fraction {} ...\n", n, f);
        results.push_back(run_scenario(config, sets, n, f, rounds,
                                       out_dir / fmt::format("n{}-f{}", n, f)));
      }

    std::cout << "1. Wall time per round (ms), training left out, and its "
                 "parts measured alone\n\n"
                 "| N | asked per round | updates per round | round, median | "
                 "round, worst | "
                 "evaluation in the round | "
                 "evaluation alone (dev + every client) | evaluation alone (dev only) | "
                 "round less its evaluation and average | "
                 "average (ms) | average / memcpy bandwidth |\n"
                 "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto &r : results)
      std::cout << fmt::format("| {} | {} | {:.0f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} "
                               "| {:.1f} | {:.1f} | {:.2f} | {:.2f} |\n",
                               r.clients, r.per_round, r.updates_per_round,
                               r.round_ms, r.round_max_ms, r.round_eval_ms, r.eval_ms,
                               r.eval_global_ms, r.rest_ms - r.average_ms,
                               r.average_ms, r.memcpy_ms / r.average_ms);
    std::cout
        << "\n2. Heap memory held by idle client actors (kB per client, malloc's bytes in use)\n\n"
           "| N | besides its data | its data (examples) |\n|---:|---:|---:|\n";
    for (const auto &r : results)
      if (&r == &results.front() || r.clients != (&r)[-1].clients)
        std::cout << fmt::format("| {} | {:.1f} | {:.1f} |\n", r.clients,
                                 r.idle_kb, r.data_kb);
    std::cout << fmt::format(
        "\n'average / memcpy bandwidth': the on-time average's read "
        "bandwidth ((updates + 1) adapters at r_max, {:.1f} kB each) over a "
        "memcpy of as many bytes; goal >= 0.5. 'round less its evaluation and "
        "average': each timed round's wall time less the evaluation the server timed in it "
        "(median over rounds), less the average measured alone; goal <= 50 ms at 1,000 updates a round.\n",
        results.empty() ? 0.0 : results.front().adapter_kb);
  } catch (const std::exception &e) {
    std::cerr << "bench_scale: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
