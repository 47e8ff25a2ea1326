#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "actors/experiment.hpp"
#include "actors/round_book.hpp"
#include "app/config.hpp"
#include "app/profile_command.hpp"
#include "compute/aggregation.hpp"
#include "compute/model.hpp"
#include "compute/tensor_memory.hpp"
#include "scheduling/policy.hpp"
#include "tests/runtime_helpers.hpp"

using namespace fedq;
using namespace fedq::test_helpers;


TEST_CASE("a 3-client run learns the synthetic task") {
  auto r = run(R"(
[[tiers]]
name = "gpu-fast"
count = 3
)",
               {"round.mode=sync", "run.rounds=8", "data.dirichlet_alpha=100.0",
                "scheduler.local_steps=15"});
  REQUIRE(r.rec.rounds.size() == 8);
  CHECK(r.rec.rounds.front().score < 0.6);
  CHECK(r.summary.final_score > 0.7);  // four topics: chance is 0.25
  CHECK(r.rec.rounds.back().train_loss < r.rec.rounds.front().train_loss);
  CHECK(r.summary.on_time == 24);
  CHECK(r.summary.late_merged == 0);
}

TEST_CASE("a slow client's update arrives after the deadline and is merged late") {
  // fixed policy, rank 4, 8 steps: fast clients need ~0.5 s, the slow one ~10 s.
  auto r = run(two_fast_one_slow, {"round.mode=deadline", "scheduler.policy=fixed",
                                   "scheduler.rank=4", "scheduler.local_steps=8",
                                   "round.deadline_s=2.0", "run.rounds=6"});
  REQUIRE(r.rec.rounds.size() == 6);
  const auto& first = r.rec.rounds.front();
  REQUIRE(first.participants.size() == 3);
  CHECK(first.participants[2].client == 2);
  CHECK_FALSE(first.participants[2].on_time);
  CHECK(first.on_time() == 2);
  CHECK(first.t_close <= first.t_start + 2.0 + 1e-9);  // closed by its deadline
  REQUIRE(r.summary.late_merged >= 1);
  const auto& l = r.rec.late.front();
  CHECK(l.client == 2);
  CHECK(l.merged);
  CHECK(l.staleness >= 1);
  CHECK(l.weight < 0.6);  // alpha scaled down by staleness
  CHECK(r.summary.late_rejected == 0);
  check_nothing_lost(r);
}

TEST_CASE("a late merge survives the next round's aggregation") {
  // The same run with late updates merged and with all of them rejected:
  // the rounds' models differ only if merges outlive the round they land in.
  std::vector<std::string> base{"round.mode=deadline", "scheduler.policy=fixed", "scheduler.rank=4",
                                "scheduler.local_steps=8", "round.deadline_s=2.0", "run.rounds=30"};
  auto merged = run(two_fast_one_slow, [&] { auto b = base; b.push_back("aggregator.max_staleness=20"); return b; }());
  base.push_back("aggregator.max_staleness=0");
  auto rejected = run(two_fast_one_slow, base);
  REQUIRE(merged.summary.late_merged >= 2);
  REQUIRE(rejected.summary.late_merged == 0);
  size_t differ = 0;
  for (size_t i = 0; i + 1 < merged.rec.rounds.size(); ++i)  // rounds before the last
    differ += merged.rec.rounds[i].eval_loss != rejected.rec.rounds[i].eval_loss;
  CHECK(differ >= 2);
}

TEST_CASE("sync rounds wait for the slow client and so nothing is late and rounds take longer") {
  auto sync = run(two_fast_one_slow, {"round.mode=sync", "scheduler.policy=fixed",
                                      "scheduler.rank=4", "scheduler.local_steps=8",
                                      "round.deadline_s=2.0", "run.rounds=3"});
  auto dl = run(two_fast_one_slow, {"round.mode=deadline", "scheduler.policy=fixed",
                                    "scheduler.rank=4", "scheduler.local_steps=8",
                                    "round.deadline_s=2.0", "run.rounds=3"});
  CHECK(sync.summary.late_merged + sync.summary.late_rejected == 0);
  CHECK(sync.summary.on_time == 9);
  CHECK(sync.summary.deadline_hit_rate == 0.0);
  CHECK(sync.rec.rounds.back().t_close > 3 * dl.rec.rounds.back().t_close);
  check_nothing_lost(sync);
}

TEST_CASE("a late update past max staleness is rejected with its reason and counted") {
  auto r = run(two_fast_one_slow, {"round.mode=deadline", "scheduler.policy=fixed",
                                   "scheduler.rank=4", "scheduler.local_steps=8",
                                   "round.deadline_s=2.0", "run.rounds=4",
                                   "aggregator.max_staleness=0"});
  REQUIRE(r.summary.late_rejected >= 1);
  CHECK(r.summary.late_merged == 0);
  CHECK_THAT(r.rec.late.front().reason, Catch::Contains("max_staleness"));
  check_nothing_lost(r);
}

TEST_CASE("the same seed gives the same per-round metrics twice") {
  std::vector<std::string> o{"round.mode=deadline", "run.rounds=5", "seed=7"};
  auto a = run(two_fast_one_slow, o);
  auto b = run(two_fast_one_slow, o);
  REQUIRE(a.rec.rounds.size() == b.rec.rounds.size());
  for (size_t i = 0; i < a.rec.rounds.size(); ++i) {
    const auto &x = a.rec.rounds[i], &y = b.rec.rounds[i];
    CHECK(x.score == y.score);
    CHECK(x.train_loss == y.train_loss);
    CHECK(x.t_close == y.t_close);
    CHECK(x.deadline_s == y.deadline_s);
    CHECK(x.version == y.version);
    REQUIRE(x.participants.size() == y.participants.size());
    for (size_t k = 0; k < x.participants.size(); ++k) {
      CHECK(x.participants[k].rank == y.participants[k].rank);
      CHECK(x.participants[k].duration_s == y.participants[k].duration_s);
      CHECK(x.participants[k].on_time == y.participants[k].on_time);
    }
    CHECK(x.late_merged() == y.late_merged());
  }
  CHECK(a.summary.final_score == b.summary.final_score);
  auto c = run(two_fast_one_slow, {"round.mode=deadline", "run.rounds=5", "seed=8"});
  CHECK(c.rec.rounds.front().train_loss != a.rec.rounds.front().train_loss);
}

TEST_CASE("deadline-aware plans a lower rank for the slow client than for the fast ones") {
  auto r = run(two_fast_one_slow,
               {"round.mode=deadline", "run.rounds=2", "scheduler.policy=deadline-aware"});
  const auto& p = r.rec.rounds.front().participants;
  REQUIRE(p.size() == 3);
  CHECK(p[0].rank == 16);
  CHECK(p[2].rank < p[0].rank);
}

TEST_CASE("a wall-clock run uses real timers and still accounts for every update") {
  auto r = run(two_fast_one_slow, {"run.clock=wall", "round.mode=deadline",
                                   "scheduler.policy=fixed", "scheduler.rank=4",
                                   "scheduler.local_steps=3", "round.deadline_s=5.0",
                                   "run.rounds=2"});
  REQUIRE(r.rec.rounds.size() == 2);
  CHECK(r.summary.on_time >= 1);
  CHECK(r.summary.wall_s > 0);
  CHECK(r.summary.clock_s <= r.summary.wall_s + 1e-6);
  check_nothing_lost(r);
}

TEST_CASE("a run reports per-client fairness over every client's local test set") {
  auto r = run(two_fast_one_slow, {"run.rounds=3", "data.partition=shards",
                                   "data.labels_per_client=2", "data.test_fraction=0.25"});
  REQUIRE(r.rec.rounds.size() == 3);
  for (const auto& round : r.rec.rounds) {
    REQUIRE(round.client_scores.size() == 3);
    CHECK(round.fairness.clients == 3);
    CHECK(round.fairness.worst <= round.fairness.p50);
    CHECK(round.fairness.jain > 0);
    CHECK(round.fairness.jain <= 1.0 + 1e-12);
    CHECK(round.score_parts.size() == 1);
  }
  CHECK(r.summary.final_fairness.clients == 3);
}

TEST_CASE("run.fairness_every evaluates the clients' test sets every N rounds and after the last only") {
  auto all = run(two_fast_one_slow, {"run.rounds=5", "data.test_fraction=0.25"});
  auto some = run(two_fast_one_slow, {"run.rounds=5", "data.test_fraction=0.25", "run.fairness_every=2"});
  REQUIRE(some.rec.rounds.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    const auto& a = all.rec.rounds[i];
    const auto& b = some.rec.rounds[i];
    CHECK(b.score == a.score);  // the dev set every round, the same run
    bool measured = i == 1 || i == 3 || i == 4;  // rounds 2 and 4, and the last
    CHECK(b.client_scores.size() == (measured ? 3u : 0u));
    if (measured)
      CHECK(b.fairness.worst == a.fairness.worst);
  }
  CHECK(some.summary.final_fairness.clients == 3);
  CHECK(some.summary.final_fairness.worst == all.summary.final_fairness.worst);
  auto last_only = run(two_fast_one_slow, {"run.rounds=3", "data.test_fraction=0.25", "run.fairness_every=0"});
  REQUIRE(last_only.rec.rounds.size() == 3);
  CHECK(last_only.rec.rounds[0].client_scores.empty());
  CHECK(last_only.rec.rounds[1].client_scores.empty());
  CHECK(last_only.rec.rounds[2].client_scores.size() == 3);
}

TEST_CASE("STS-B runs end to end as a regression task scored by Pearson and Spearman") {
  std::string glue = std::string(FEDQ_SHARED_DATA) + "/glue";
  if (!std::filesystem::exists(glue + "/STS-B/train.tsv")) {
    WARN("skipped: no GLUE data at " << glue);
    return;
  }
  auto r = run(two_fast_one_slow, {"data.task=stsb", "data.dir=\"" + glue + "\"",
                                   "data.dev_limit=200", "run.rounds=2", "data.dirichlet_alpha=0.1"});
  REQUIRE(r.rec.rounds.size() == 2);
  REQUIRE(r.summary.final_parts.size() == 2);
  CHECK(r.summary.final_parts[0].first == "pearson");
  CHECK(r.summary.final_parts[1].first == "spearman");
  CHECK(r.summary.final_score ==
        Approx((r.summary.final_parts[0].second + r.summary.final_parts[1].second) / 2));
  CHECK(r.summary.final_fairness.clients == 3);
}

TEST_CASE("a run fine-tunes a Hugging Face checkpoint stored as NF4") {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
    WARN("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
    return;
  }
  auto dir = std::filesystem::temp_directory_path() / "fedq_run_checkpoint";
  std::filesystem::remove_all(dir);
  auto cmd = std::string("/usr/bin/python3 ") + FEDQ_SOURCE_DIR +
             "/tests/golden/llama_reference.py " + dir.string() + " byte-vocab";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto r = run(two_fast_one_slow, {"model.checkpoint=\"" + dir.string() + "\"", "model.bits=nf4",
                                   "model.double_quant=true", "model.targets=[\"q\", \"v\", \"up\"]",
                                   "run.rounds=3"});
  REQUIRE(r.rec.rounds.size() == 3);
  check_nothing_lost(r);
  CHECK(r.summary.failed == 0);
  // Real gradients flow through the dequantized backbone into the adapters.
  CHECK(r.rec.rounds.back().train_loss < r.rec.rounds.front().participants[0].loss_before);
  std::filesystem::remove_all(dir);
}

TEST_CASE("every scheduler policy runs end to end and its plans are recorded") {
  for (const auto& policy : scheduling::policy_names()) {
    INFO("policy " << policy);
    auto r = run(two_fast_one_slow, {"round.mode=deadline", "run.rounds=4",
                                     "scheduler.policy=" + policy, "scheduler.r_init=8"});
    REQUIRE(r.rec.rounds.size() == 4);
    for (const auto& round : r.rec.rounds) {
      CHECK(round.deadline_s > 0);
      CHECK(round.decision_us > 0);
      CHECK(round.eval_ms > 0);
      for (const auto& p : round.participants) {
        CHECK(p.predicted_s > 0);
        CHECK(p.bits == "fp32");
        CHECK(p.rank >= 2);
        CHECK(p.rank <= 16);
      }
    }
    REQUIRE(r.summary.peak_memory_mb.size() == 2);
    CHECK(r.summary.peak_memory_mb[0] > 0);
    check_nothing_lost(r);
  }
}

TEST_CASE("fah warms up at r_max then r_min and evaluates the rank below the mean after that") {
  auto r = run(two_fast_one_slow, {"round.mode=sync", "run.rounds=4", "scheduler.policy=fah",
                                   "scheduler.r_init=8"});
  REQUIRE(r.rec.rounds.size() == 4);
  for (const auto& p : r.rec.rounds[0].participants)
    CHECK(p.rank == 16);
  for (const auto& p : r.rec.rounds[1].participants)
    CHECK(p.rank == 2);
  uint32_t sum = 0;
  for (const auto& p : r.rec.rounds[2].participants)
    sum += p.rank;
  CHECK(sum == 3 * 8); // P1's budget: N * r_bar
  // The slow client gets the smallest share of it.
  CHECK(r.rec.rounds[2].participants[2].rank < r.rec.rounds[2].participants[0].rank);
}

TEST_CASE("online with adapt_bits trains a memory-tight client on a smaller backbone format") {
  // Wide enough, and batches small enough, for the stored weights to weigh
  // more than the activations.
  auto cfg = app::parse_config(std::string(small_model) + two_fast_one_slow, "test.toml",
                               {"run.rounds=3", "scheduler.adapt_bits=true", "scheduler.on_time_target=1.0",
                                "model.d_model=256", "model.ffn=512", "train.batch_size=1"});
  auto setup = app::make_setup(cfg);
  setup.compute_threads = 2;
  auto m = compute::training_memory_model(setup.model, setup.train.batch_size, false,
                                          {"fp32", "bf16", "int8", "nf4"});
  // The slow tier holds nf4 or int8 at rank 4 but not fp32 or bf16 at r_min.
  double cap_mb = std::max(m.mb(4, "int8"), m.mb(4, "nf4"));
  REQUIRE(cap_mb < m.mb(2, "bf16"));
  setup.server.tiers[1].memory_gb = cap_mb / 1024.0;
  run_result r;
  r.summary = actors::run_experiment(setup, &r.rec);
  REQUIRE(r.rec.rounds.size() == 3);
  for (const auto& round : r.rec.rounds)
    for (const auto& p : round.participants) {
      if (p.client == 2) {
        CHECK((p.bits == "nf4" || p.bits == "int8"));
        CHECK(m.mb(p.rank, p.bits) <= cap_mb + 1e-9);
      } else {
        CHECK(p.bits == "fp32"); // memory to spare: the highest precision
      }
    }
  CHECK(r.summary.peak_memory_mb[1] <= cap_mb + 1e-9);
  CHECK(r.summary.peak_memory_mb[1] > 0);
  check_nothing_lost(r);
}

TEST_CASE("a client that goes offline holds its task until it is back, and nothing is lost") {
  const char* flaky = R"(
[[tiers]]
name = "gpu-fast"
count = 2
jitter = 0.0
[[tiers]]
name = "cpu-slow"
count = 2
jitter = 0.0
online_s = 3.0
offline_s = 20.0
bandwidth = "vehicle"
)";
  std::vector<std::string> o{"round.mode=deadline", "run.rounds=6", "scheduler.policy=fixed",
                             "scheduler.rank=4", "scheduler.local_steps=4", "round.deadline_s=2.0"};
  auto r = run(flaky, o);
  std::string always_on = flaky;
  always_on.replace(always_on.find("online_s = 3.0"), 14, "online_s = 0.0");
  always_on.replace(always_on.find("offline_s = 20.0"), 16, "offline_s = 0.0");
  auto steady = run(always_on, o);
  REQUIRE(r.rec.rounds.size() == 6);
  check_nothing_lost(r);
  check_nothing_lost(steady);
  // Offline periods (20 s on average) hold the slow clients' tasks back.
  CHECK(r.summary.clock_s > steady.summary.clock_s + 5);
  // Rounds went on without the offline clients: the fast ones answered on time.
  for (const auto& round : r.rec.rounds)
    CHECK(round.on_time() >= 2);
}

TEST_CASE("a run where no client's memory holds any plan stops with a reason to act on") {
  const char* tiny = R"(
[[tiers]]
name = "gpu-fast"
count = 2
memory_gb = 0.0001
)";
  CHECK_THROWS_WITH(run(tiny, {"run.rounds=2"}),
                    Catch::Contains("no plan fits any client's memory") &&
                      Catch::Contains("tiers.memory_gb"));
}

TEST_CASE("fedq profile times real steps per format, rank and threads, measures step peaks and writes the cost table") {
  auto dir = std::filesystem::temp_directory_path() / "fedq_profile_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "small.toml") << small_model << two_fast_one_slow;
  app::profile_args a;
  a.config = (dir / "small.toml").string();
  a.ranks = {2, 16};
  a.bits = {"fp32", "nf4"};
  a.threads = {1, 2};
  a.steps = 2;
  // Batches large enough for a step's activations to span many pages (the
  // kernel counts a thread's RSS changes in batches of 64 pages).
  a.overrides = {"train.batch_size=128"};
  a.out = (dir / "cost.csv").string();
  REQUIRE(app::profile_command(a) == 0);
  std::ifstream csv(a.out);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(csv, line))
    rows.push_back(line);
  REQUIRE(rows.size() == 9);
  CHECK(rows[0] == "bits,rank,threads,tokens_per_step,step_s,us_per_token,step_peak_mb,step_tensors_mb,model_mb");
  CHECK(rows[1].rfind("fp32,2,1,", 0) == 0);
  CHECK(rows[2].rfind("fp32,2,2,", 0) == 0);
  CHECK(rows[8].rfind("nf4,16,2,", 0) == 0);
  for (size_t i = 1; i < rows.size(); ++i) {  // a measured peak: above 1 MB, below a gigabyte here
    std::vector<std::string> cells;
    std::stringstream row(rows[i]);
    for (std::string c; std::getline(row, c, ',');)
      cells.push_back(c);
    REQUIRE(cells.size() == 9);
    INFO(rows[i]);
    CHECK(std::stod(cells[6]) > 1.0);
    CHECK(std::stod(cells[6]) < 1024);
    CHECK(std::stod(cells[7]) > 1.0);                          // the step's tensors, counted
    CHECK(std::stod(cells[8]) >= 0.85 * std::stod(cells[7]));  // the model is never far below them
  }
  a.threads = {0};
  CHECK(app::profile_command(a) == 2);
  a.threads = {1};
  a.ranks = {99};
  CHECK(app::profile_command(a) == 2); // outside 1..r_max
}

TEST_CASE("run.max_clock_s ends a run at a clock budget instead of a round count") {
  auto r = run(two_fast_one_slow, {"round.mode=deadline", "run.rounds=200", "run.max_clock_s=6",
                                   "scheduler.policy=fixed", "round.deadline_s=1.0"});
  REQUIRE(r.rec.rounds.size() >= 2);
  CHECK(r.rec.rounds.size() < 200);
  CHECK(r.rec.rounds.back().t_close >= 6);
  CHECK(r.rec.rounds[r.rec.rounds.size() - 2].t_close < 6);
  check_nothing_lost(r);
}

TEST_CASE("buffered (FedBuff): one aggregate every K updates, clients training continuously") {
  auto r = run(two_fast_one_slow, {"round.mode=buffered", "round.buffer_size=3", "scheduler.policy=fixed",
                                   "scheduler.rank=4", "scheduler.local_steps=8", "run.rounds=6"});
  check_nothing_lost(r);
  REQUIRE(r.rec.rounds.size() >= 6);
  std::set<uint32_t> fast_twice;
  for (size_t i = 0; i < 6; ++i) {
    const auto& w = r.rec.rounds[i];
    INFO("window " << i);
    CHECK(w.participants.size() == 3);
    CHECK(w.on_time() == 3);
    CHECK(w.version == i + 1);  // one global version per aggregate
    CHECK(w.deadline_s == 0);
    std::map<uint32_t, int> count;
    for (const auto& p : w.participants)
      ++count[p.client];
    for (auto [c, n] : count)
      if (n > 1)
        fast_twice.insert(c);
  }
  // The slow client does not hold anyone back: fast clients come back
  // within one window, and the slow one's update lands stale.
  CHECK_FALSE(fast_twice.empty());
  CHECK_FALSE(fast_twice.count(2));
  uint64_t slow_staleness = 0;
  for (const auto& w : r.rec.rounds)
    for (const auto& p : w.participants)
      if (p.client == 2)
        slow_staleness = std::max(slow_staleness, p.staleness);
  CHECK(slow_staleness >= 2);
  CHECK(r.summary.deadline_hit_rate < 0);  // no deadlines to meet
  CHECK(r.summary.late_merged + r.summary.late_rejected == 0);
  CHECK(r.summary.final_version == r.rec.rounds.size());
}

TEST_CASE("async (FedAsync): every update mixed in on arrival, stale ones past max_staleness refused") {
  auto r = run(two_fast_one_slow, {"round.mode=async", "round.buffer_size=2", "scheduler.policy=fixed",
                                   "scheduler.rank=4", "scheduler.local_steps=8", "run.rounds=8",
                                   "aggregator.max_staleness=3"});
  check_nothing_lost(r);
  REQUIRE(r.rec.rounds.size() >= 8);
  uint64_t merged = 0;
  for (const auto& w : r.rec.rounds) {
    merged += w.on_time();
    CHECK(w.version == merged);  // one global version per merge
  }
  // The slow client's updates are ~20 merges behind: refused with the reason.
  REQUIRE(r.summary.late_rejected >= 1);
  for (const auto& l : r.rec.late) {
    CHECK(l.client == 2);
    CHECK_THAT(l.reason, Catch::Contains("max_staleness 3"));
  }
  auto kept = run(two_fast_one_slow, {"round.mode=async", "round.buffer_size=2", "scheduler.policy=fixed",
                                      "scheduler.rank=4", "scheduler.local_steps=8", "run.rounds=8",
                                      "aggregator.max_staleness=1000"});
  check_nothing_lost(kept);
  CHECK(kept.summary.late_rejected == 0);
  bool slow_used = false;
  for (const auto& w : kept.rec.rounds)
    for (const auto& p : w.participants)
      slow_used |= p.client == 2 && p.on_time && p.staleness > 3;
  CHECK(slow_used);
}

TEST_CASE("the deadline hit rate counts what the plan expected on time, and all_on_time counts every participant") {
  actors::round_book book;
  actors::participant_record on_plan, planned_late;
  on_plan.client = 0;
  on_plan.predicted_s = 1.0;
  planned_late.client = 1;
  planned_late.predicted_s = 5.0;  // the scheduler meant it to arrive after the deadline
  book.open(0, 10.0, 2.0, 0, {on_plan, planned_late});
  actors::client_update u;
  u.client = 0;
  book.arrived(u, 11.0, 100);
  auto rec = book.close(12.0);
  CHECK(rec.deadline_met);
  CHECK_FALSE(rec.all_on_time);

  book.open(1, 20.0, 2.0, 0, {on_plan, planned_late});  // the expected client missed it
  auto missed = book.close(22.0);
  CHECK_FALSE(missed.deadline_met);

  book.open(2, 30.0, 2.0, 0, {on_plan});  // sync: the round closed after its deadline
  u.round = 2;
  book.arrived(u, 33.0, 100);
  auto sync_late = book.close(33.0, true);
  CHECK_FALSE(sync_late.deadline_met);
  CHECK_FALSE(sync_late.all_on_time);
  book.open(3, 40.0, 2.0, 0, {on_plan});
  u.round = 3;
  book.arrived(u, 41.5, 100);
  auto sync_ok = book.close(41.5, true);
  CHECK(sync_ok.deadline_met);
  CHECK(sync_ok.all_on_time);

  auto s = actors::summarize({rec, missed, sync_late, sync_ok}, {}, 0, 0.5);
  CHECK(s.deadline_hit_rate == Approx(0.5));
  CHECK(s.all_on_time_rate == Approx(0.25));
  CHECK(s.on_time_fraction == Approx(3.0 / 6.0));
}

TEST_CASE("hetlora: a client's self-pruned update (fewer components than asked) is used, and its rank stays pruned") {
  auto r = run(two_fast_one_slow, {"round.mode=sync", "scheduler.policy=hetlora", "scheduler.local_steps=4",
                                   "scheduler.prune_threshold=0.99", "run.rounds=4"});
  check_nothing_lost(r);
  CHECK(r.summary.invalid == 0);
  CHECK(r.summary.on_time == 12);
  REQUIRE(r.rec.rounds.size() == 4);
  bool pruned = false;
  for (size_t i = 0; i < 3; ++i) {
    const auto& first = r.rec.rounds.front().participants[i];
    const auto& last = r.rec.rounds.back().participants[i];
    CHECK(last.rank <= first.rank);
    pruned |= last.rank < first.rank;
  }
  CHECK(pruned);
}

TEST_CASE("the memory model is within 15 % of a training step's measured tensor peak, every format, rank and "
          "checkpointing, on the quickstart model and the SST-2 backbone's shape") {
  compute::count_tensor_memory();
  const std::vector<std::pair<std::string, std::vector<std::string>>> shapes{
    {"quickstart", {}},
    {"the SST-2 backbone's shape", {"model.d_model=128", "model.layers=4", "model.heads=4", "model.kv_heads=2",
                                    "model.ffn=384"}}};
  for (const auto& [name, set] : shapes) {
    auto setup = app::make_setup(app::load_config(FEDQ_SOURCE_DIR "/configs/quickstart.toml", set));
    // Every example as long as the model reads (the model plans for full length).
    std::vector<data::example> shard;
    for (size_t i = 0; i < 2 * setup.train.batch_size; ++i)
      shard.push_back({std::string(setup.model.max_len + 8, char('a' + i % 26)), "", int32_t(i % 2), 0});
    for (const std::string bits : {"fp32", "bf16", "int8", "nf4"}) {
      auto o = setup.model;
      o.bits = bits;
      auto bb = compute::backbone::create(o);
      auto full = compute::init_adapter(o, 1);
      for (uint32_t rank : {setup.policy.r_min, setup.policy.r_max})
        for (bool ck : {false, true}) {
          auto t = setup.train;
          t.checkpointing = ck;
          t.threads = 1;
          double held = compute::tensor_memory_mb();
          compute::reset_tensor_peak();
          compute::train_local(*bb, compute::truncate(full, rank), shard, t, 2, 1);
          double measured = compute::tensor_peak_mb() - held;
          double model = compute::training_memory_mb(o, rank, t.batch_size, ck) - compute::frozen_memory_mb(o);
          INFO(name << " " << bits << " rank " << rank << (ck ? " checkpointed" : "") << ": measured "
                    << measured << " MB, the model " << model << " MB");
          CHECK(model >= 0.85 * measured);
          CHECK(model <= 1.15 * measured);
        }
    }
  }
}
