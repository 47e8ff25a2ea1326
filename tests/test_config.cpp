#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "app/config.hpp"

using namespace fedq::app;

TEST_CASE("quickstart.toml shows every key at its default") {
  auto q = load_config(std::string(FEDQ_SOURCE_DIR) + "/configs/quickstart.toml", {});
  CHECK(to_toml(q) == to_toml(experiment_config{}));
}

TEST_CASE("the effective config reads back as the same config") {
  auto c = parse_config("seed = 9\n[round]\nmode = \"sync\"\n", "t.toml", {"scheduler.rank=4"});
  auto back = parse_config(to_toml(c), "effective.toml", {});
  CHECK(to_toml(back) == to_toml(c));
  CHECK(back.seed == 9);
  CHECK(back.round.mode == "sync");
  CHECK(back.scheduler.rank == 4);
}

TEST_CASE("a command-line override sets a key and a bare word is taken as a string") {
  auto c = parse_config("", "t.toml", {"round.mode=sync", "run.rounds=3", "data.dir=/x/y"});
  CHECK(c.round.mode == "sync");
  CHECK(c.run.rounds == 3);
  CHECK(c.data.dir == "/x/y");
}

TEST_CASE("an unknown key is refused naming the key and the file and the line") {
  CHECK_THROWS_WITH(parse_config("seed = 1\n[round]\ndedline_s = 3.0\n", "exp.toml", {}),
                    Catch::Contains("exp.toml:3") && Catch::Contains("round.dedline_s") &&
                      Catch::Contains("round.deadline_s"));
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"run.roundz=3"}),
                    Catch::Contains("--set run.roundz=3") && Catch::Contains("unknown key"));
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"run.rounds=many"}),
                    Catch::StartsWith("--set run.rounds=many: run.rounds must be an integer"));
}

TEST_CASE("a value of the wrong type is refused with its line") {
  CHECK_THROWS_WITH(parse_config("[run]\nrounds = \"many\"\n", "exp.toml", {}),
                    Catch::Contains("exp.toml:2") && Catch::Contains("run.rounds must be an integer"));
  CHECK_THROWS_WITH(parse_config("[run]\nrounds = -2\n", "exp.toml", {}),
                    Catch::Contains("non-negative"));
}

TEST_CASE("a non-finite number is refused with its line, in a file, a tier or --set") {
  CHECK_THROWS_WITH(parse_config("seed = 1\n[train]\nlr = nan\n", "exp.toml", {}),
                    Catch::Contains("exp.toml:3") && Catch::Contains("train.lr must be a finite number"));
  CHECK_THROWS_WITH(
    parse_config("[[tiers]]\nname = \"gpu-fast\"\ncompute_factor = nan\n", "exp.toml", {}),
    Catch::Contains("exp.toml:3") && Catch::Contains("tiers.compute_factor must be a finite number"));
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"round.deadline_s=inf"}),
                    Catch::Contains("--set round.deadline_s=inf") && Catch::Contains("finite"));
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"aggregator.alpha=-nan"}),
                    Catch::Contains("finite"));
}

TEST_CASE("settings that would make a run meaningless are refused: no eval set, a zero LoRA scale") {
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"data.eval_samples=0"}),
                    Catch::Contains("data.eval_samples = 0: must be at least 1"));
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"model.lora_alpha=0"}),
                    Catch::Contains("model.lora_alpha"));
}

TEST_CASE("the late rule is mix or delta, and delta needs the fedavg rule") {
  CHECK(parse_config("", "exp.toml", {}).aggregator.late == "mix");
  CHECK(parse_config("", "exp.toml", {"aggregator.late=delta"}).aggregator.late == "delta");
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"aggregator.late=add"}),
                    Catch::Contains("aggregator.late = add: must be mix or delta"));
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"aggregator.late=delta", "aggregator.rule=flexlora"}),
                    Catch::Contains("needs aggregator.rule = fedavg"));
}

TEST_CASE("flexlora with a server optimizer is refused, saying why") {
  CHECK_THROWS_WITH(parse_config("[aggregator]\nrule = \"flexlora\"\nserver_opt = \"avgm\"\n", "exp.toml", {}),
                    Catch::Contains("aggregator.server_opt = avgm") && Catch::Contains("aggregator.rule = fedavg"));
  CHECK_THROWS_WITH(parse_config("", "exp.toml", {"aggregator.rule=svd"}),
                    Catch::Contains("aggregator.rule = svd: must be fedavg or flexlora"));
  CHECK_NOTHROW(parse_config("", "exp.toml", {"aggregator.rule=flexlora"}));
}

TEST_CASE("a rank above r_max is refused naming both keys") {
  CHECK_THROWS_WITH(parse_config("[scheduler]\nrank = 32\nr_max = 16\n", "exp.toml", {}),
                    Catch::Contains("scheduler.rank = 32") && Catch::Contains("r_max"));
}

TEST_CASE("an impossible tier is refused naming the tier") {
  CHECK_THROWS_WITH(
    parse_config("[[tiers]]\nname = \"gpu-fast\"\ncount = 2\ncompute_factor = 0.0\n", "exp.toml", {}),
    Catch::Contains("exp.toml:1") && Catch::Contains("gpu-fast") && Catch::Contains("compute_factor"));
  CHECK_THROWS_WITH(parse_config("[[tiers]]\nname = \"x\"\ncount = 0\n", "exp.toml", {}),
                    Catch::Contains("at least 1 client"));
  CHECK_THROWS_WITH(parse_config("[[tiers]]\nname = \"x\"\nspeed = 2\n", "exp.toml", {}),
                    Catch::Contains("tiers.speed"));
}

TEST_CASE("unknown modes and policies are refused with the accepted values") {
  CHECK_THROWS_WITH(parse_config("", "t", {"round.mode=fedbuff"}),
                    Catch::Contains("sync, deadline, buffered (FedBuff) or async (FedAsync)"));
  CHECK_THROWS_WITH(parse_config("", "t", {"round.mode=buffered", "aggregator.rule=flexlora"}),
                    Catch::Contains("must be fedavg with round.mode = buffered"));
  CHECK_THROWS_WITH(parse_config("", "t", {"round.buffer_size=0"}), Catch::Contains("at least 1"));
  CHECK_THROWS_WITH(parse_config("", "t", {"scheduler.policy=cvx"}),
                    Catch::Contains("fixed, deadline-aware, hetlora, fah, waterfill, online"));
  CHECK_THROWS_WITH(parse_config("", "t", {"data.task=sst2"}), Catch::Contains("data.dir"));
}

TEST_CASE("a missing config file or a TOML syntax error names the file") {
  CHECK_THROWS_WITH(load_config("/nonexistent/exp.toml", {}),
                    Catch::Contains("/nonexistent/exp.toml") && Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(parse_config("[run\nrounds = 1\n", "broken.toml", {}),
                    Catch::Contains("broken.toml:1"));
}

TEST_CASE("the setup gives each tier its clients and every client its shard") {
  auto c = parse_config("", "t", {"data.samples_per_client=40", "data.min_samples=5"});
  auto s = make_setup(c);
  REQUIRE(s.server.clients.size() == 6);
  CHECK(s.server.clients[0].tier == 0);
  CHECK(s.server.clients[5].tier == 2);
  size_t total = 0;
  for (const auto& shard : s.shards)
    total += shard.train.size() + shard.test.size();
  CHECK(total == 240);
  CHECK(s.model.classes == 4);
  CHECK(s.model.r_max == c.scheduler.r_max);
}

TEST_CASE("an availability trace that is 0 everywhere is refused at config time, naming the file") {
  auto path = std::filesystem::temp_directory_path() / "fedq_never_online.csv";
  std::ofstream(path) << "time_s,online\n0,0\n10,0\n";
  auto toml = "[[tiers]]\nname = \"cpu-slow\"\ncount = 2\navailability = \"" + path.string() + "\"\n";
  CHECK_THROWS_WITH(parse_config(toml, "t.toml", {}),
                    Catch::Contains("fedq_never_online.csv") && Catch::Contains("every row is 0") &&
                      Catch::Contains("cpu-slow"));
}

TEST_CASE("a tier's key is set with --set tiers.NAME.KEY=VALUE and checked like the file's") {
  auto path = std::string(FEDQ_SOURCE_DIR) + "/configs/quickstart.toml";
  auto c = load_config(path, {"tiers.cpu-slow.count=5", "tiers.gpu-fast.compute_factor=2.5"});
  REQUIRE(c.tiers.size() == 3);
  CHECK(c.tiers[2].name == "cpu-slow");
  CHECK(c.tiers[2].count == 5);
  CHECK(c.tiers[0].compute_factor == 2.5);
  CHECK(c.tiers[1].count == load_config(path, {}).tiers[1].count);
  CHECK_THROWS_WITH(load_config(path, {"tiers.cpu.count=1"}),
                    Catch::Contains("no [[tiers]] named 'cpu'") && Catch::Contains("gpu-fast, gpu-medium, cpu-slow"));
  CHECK_THROWS_WITH(load_config(path, {"tiers.cpu-slow.cores=1"}), Catch::Contains("unknown tier key 'cores'"));
  CHECK_THROWS_WITH(load_config(path, {"tiers.cpu-slow.compute_factor=0"}),
                    Catch::Contains("tier 'cpu-slow': compute_factor must be > 0"));
  CHECK_THROWS_WITH(load_config(path, {"tiers.count=1"}), Catch::Contains("tiers.NAME.KEY=VALUE"));
}
