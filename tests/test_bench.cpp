// fedq bench's suite files and the tables it makes from run folders.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "app/bench_report.hpp"
#include "app/bench_suite.hpp"
#include "app/config.hpp"

using namespace fedq;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("fedq-test-bench-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// A run folder with one record per (t_close, score), a participant each.
fs::path write_run(const fs::path& dir, const std::vector<std::pair<double, double>>& curve,
                   double deadline_s = 5) {
  fs::create_directories(dir);
  std::ofstream rounds(dir / "rounds.jsonl");
  for (int k = 0; k < int(curve.size()); ++k) {
    auto [t, score] = curve[k];
    const char* met = k % 2 == 0 ? "true" : "false";  // rounds 0, 2, ... met their deadline
    rounds << fmt::format(R"({{"round":{},"t_close":{},"score":{},"fairness":{{"worst":{},"p10":{},"jain":{}}},)"
                          R"("bytes_up":1000,"bytes_down":3000,"deadline_s":{},"deadline_met":{},)"
                          R"("on_time":1,"participants":[{{}},{{}}]}})"
                          "\n",
                          k, t, score, score / 2, score / 1.5, score / 1.2, deadline_s, met);
  }
  std::ofstream(dir / "summary.json") << R"({"wall_s": 12.5, "peak_memory_mb": {"gpu": 40.0, "cpu": 20.0}})";
  return dir;
}

app::bench_run run_of(const fs::path& dir, const std::string& variant, uint32_t seed, double budget) {
  auto r = app::read_bench_run(dir, budget);
  r.variant = variant;
  r.seed = seed;
  return r;
}

app::bench_suite two_variants() {
  app::bench_suite s;
  s.name = "test";
  s.budget_s = 100;
  s.reference = "sync";
  s.target_at = {0.5, 1.0};
  s.ours = "ours";
  s.variants = {{"sync", "the baseline", {"round.mode=sync"}}, {"ours", "", {"round.mode=deadline"}}};
  return s;
}

} // namespace

TEST_CASE("bench: a run's records are read up to the budget, with time-to-target and scores at a time") {
  auto d = temp_dir("read");
  auto r = app::read_bench_run(write_run(d / "a", {{10, 0.3}, {20, 0.6}, {30, 0.5}, {120, 0.9}}), 100);
  REQUIRE(r.curve.size() == 3);  // the record past the budget is not used
  CHECK(app::time_to(r, 0.55) == 20);
  CHECK(app::time_to(r, 0.9) < 0);
  CHECK_FALSE(app::score_at(r, 5));   // no record closed yet
  CHECK(app::score_at(r, 35) == 0.5);  // the last one closed, not the best
  CHECK(app::best_by(r, 35) == 0.6);
  CHECK_FALSE(app::best_by(r, 5));
  // A negative score (Matthews, Pearson) is a score, not "none yet".
  auto neg = app::read_bench_run(write_run(d / "neg", {{10, -0.2}, {20, -0.05}}), 100);
  REQUIRE(app::score_at(neg, 25).has_value());
  CHECK(*app::score_at(neg, 25) == -0.05);
  CHECK(*app::best_by(neg, 25) == -0.05);
  CHECK(*app::best_by(neg, 15) == -0.2);
  CHECK(r.curve.back().worst == Approx(0.25));  // fairness of the last record by the budget
  CHECK(r.curve.back().p10 == Approx(0.5 / 1.5));
  CHECK(r.curve.back().jain == Approx(0.5 / 1.2));
  CHECK(r.bytes == 12000);
  CHECK(r.with_deadline == 3);
  CHECK(r.deadline_met == 2);
  CHECK(r.participants == 6);
  CHECK(r.on_time == 3);
  CHECK(r.peak_memory_mb.at("gpu") == 40.0);
  fs::remove(d / "a/summary.json");
  CHECK_THROWS_WITH(app::read_bench_run(d / "a", 100), Catch::Contains("summary.json"));
  std::ofstream(d / "a/rounds.jsonl", std::ios::app) << "{\"t_close\": tor\n";
  CHECK_THROWS_WITH(app::read_bench_run(d / "a", 1000), Catch::Contains("rounds.jsonl:5"));
}

TEST_CASE("bench: a record without fairness (not measured that round) keeps the last measured one") {
  auto d = temp_dir("null-fairness");
  write_run(d / "a", {{10, 0.6}});
  std::ofstream(d / "a/rounds.jsonl", std::ios::app)
    << R"({"round":1,"t_close":20,"score":0.7,"fairness":null,"bytes_up":0,"bytes_down":0,)"
    << R"("deadline_s":0,"deadline_met":false,"on_time":1,"participants":[{}]})" << "\n";
  auto r = app::read_bench_run(d / "a", 100);
  REQUIRE(r.curve.size() == 2);
  CHECK(r.curve.back().score == 0.7);
  CHECK(r.curve.back().worst == Approx(0.3));
  CHECK(r.curve.back().jain == Approx(0.5));
}

TEST_CASE("bench: targets come from the reference's best score by fractions of the budget, and the table compares at them") {
  auto d = temp_dir("table");
  auto s = two_variants();
  std::vector<app::bench_run> runs{
    run_of(write_run(d / "s1", {{20, 0.4}, {50, 0.6}, {100, 0.8}}), "sync", 1, 100),
    run_of(write_run(d / "s2", {{20, 0.5}, {50, 0.7}, {100, 0.7}}), "sync", 2, 100),
    run_of(write_run(d / "o1", {{5, 0.5}, {10, 0.7}, {25, 0.8}}), "ours", 1, 100),
    run_of(write_run(d / "o2", {{5, 0.6}, {40, 0.72}}), "ours", 2, 100),
  };
  auto targets = app::bench_targets(s, runs, "");
  REQUIRE(targets.size() == 2);
  CHECK(targets[0] == Approx(0.65));  // by 50 s: 0.6 and 0.7
  CHECK(targets[1] == Approx(0.75));  // by 100 s: 0.8 and 0.7
  auto md = app::bench_table(s, runs, "## test\n");
  INFO(md);
  // sync reaches 0.65 at 100 s (seed 1) and 50 s (seed 2); ours at 10 and 40.
  CHECK_THAT(md, Catch::Contains("| sync | 75.0 ± 35.4 | 100.0 (1/2) |"));
  CHECK_THAT(md, Catch::Contains("| ours | 25.0 ± 21.2 | 25.0 (1/2) |"));
  // Ratios per seed: 100/10 and 50/40 -> median 5.62; at 0.75 seed 1 only: 100/25, seed 2 neither.
  CHECK_THAT(md, Catch::Contains("| sync | 5.62 (1.25–10.00) | 4.00 |"));
  // When the fastest (ours) reached 0.65: sync had closed no round in seed 1 (10 s), 0.4 in seed 2 (40 s... 20 s record).
  CHECK_THAT(md, Catch::Contains("| sync | 0.500 (1/2) |"));
  CHECK_THAT(md, Catch::Contains("peak MB cpu"));
  CHECK_THAT(md, Catch::Contains("| worst client | p10 client | Jain |"));
  CHECK_THAT(md, Catch::Contains("`sync`: the baseline (`round.mode=sync`)"));
  auto csv = app::bench_csv(s, runs);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
  CHECK_THAT(csv, Catch::StartsWith("group,variant,seed,budget_s,rounds,target_1,time_to_target_1"));
}

TEST_CASE("bench: a bad suite file is refused with the file, the line and what is wrong") {
  auto d = temp_dir("suite");
  std::ofstream(d / "base.toml") << "seed = 1\n";
  auto write = [&](const std::string& text) {
    std::ofstream(d / "s.toml") << text;
    return (d / "s.toml").string();
  };
  std::string head = "config = \"base.toml\"\nbudget_s = 10.0\nreference = \"a\"\n";
  std::string a = "[[variant]]\nname = \"a\"\nset = [\"round.mode=sync\"]\n";
  auto ok = app::load_suite(write(head + a));
  CHECK(ok.name == "s");
  CHECK(ok.config == d / "base.toml");
  CHECK(ok.seeds == std::vector<uint32_t>{1, 2, 3});
  CHECK_THROWS_WITH(app::load_suite(write(head + "budget = 3\n" + a)),
                    Catch::Contains("s.toml:4") && Catch::Contains("unknown key 'budget'"));
  CHECK_THROWS_WITH(app::load_suite(write(head + a + a)), Catch::Contains("named twice"));
  CHECK_THROWS_WITH(app::load_suite(write(head + "[[variant]]\nname = \"b\"\n")),
                    Catch::Contains("reference = \"a\" must name a [[variant]]"));
  CHECK_THROWS_WITH(app::load_suite(write(head + "[[variant]]\nname = \"a\"\nset = [\"nokey\"]\n")),
                    Catch::Contains("must be KEY=VALUE"));
  CHECK_THROWS_WITH(app::load_suite(write("config = \"none.toml\"\nbudget_s = 1.0\n" + a)),
                    Catch::Contains("no such file"));
  CHECK_THROWS_WITH(app::load_suite("no-such-suite"),
                    Catch::Contains("no suite 'no-such-suite'") && Catch::Contains("quickstart"));
}
