#include "app/bench_command.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <chrono>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/bench_report.hpp"
#include "app/bench_suite.hpp"
#include "app/config.hpp"

extern char** environ;

namespace fedq::app {

namespace {

volatile std::sig_atomic_t interrupted = 0;
void on_signal(int) { interrupted = 1; }
void on_alarm(int) {}  // wakes waitpid for a progress line

/// "R rounds, clock T of B s" from a running run's rounds.jsonl.
std::string run_progress(const std::filesystem::path& dir, double budget_s) {
  std::ifstream in(dir / "rounds.jsonl");
  std::string line, last;
  size_t n = 0;
  while (std::getline(in, line))
    if (!line.empty()) {
      last = line;
      ++n;
    }
  if (n == 0)
    return "starting";
  try {
    return fmt::format("{} rounds, clock {:.0f} of {:g} s", n,
                       nlohmann::json::parse(last).at("t_close").get<double>(), budget_s);
  } catch (const nlohmann::json::exception&) {
    return fmt::format("{} rounds", n);
  }
}

struct planned_run {
  std::string group, variant;
  uint32_t seed = 0;
  std::filesystem::path dir;
  std::vector<std::string> sets;  ///< every --set but the thread count: the run's identity
  experiment_config config;       ///< what those settings make of the suite's config file today
  std::string identity() const {
    nlohmann::json j = sets;
    return j.dump();
  }
};

uint32_t cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("fedq") : p.string();
}

std::string duration(double s) {
  if (s < 90)
    return fmt::format("{:.0f}s", s);
  if (s < 5400)
    return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::fmod(s / 60, 60));
}

/// What an earlier invocation left in the run's folder: nothing; a finished
/// run; one to resume from its checkpoint; one that never checkpointed a
/// round (started again); one made with other settings, or with the same
/// settings on another effective config (its config file changed, or an
/// older fedq without a key): started again.
enum class found { nothing, finished, resumable, unstarted, other_settings };

found inspect_run(const planned_run& r, uint32_t& threads) {
  auto meta = r.dir / "bench.json";
  if (!std::filesystem::exists(meta))
    return std::filesystem::exists(r.dir) ? found::other_settings : found::nothing;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(std::ifstream(meta));
    if (j.at("identity").get<std::string>() != r.identity())
      return found::other_settings;
    threads = j.at("threads").get<uint32_t>();
  } catch (const nlohmann::json::exception&) {
    return found::other_settings;
  }
  if (std::ifstream in{r.dir / "config.toml"}) { // the effective config the run wrote
    std::stringstream text;
    text << in.rdbuf();
    auto today = r.config;
    today.run.compute_threads = threads;
    if (text.str() != to_toml(today))
      return found::other_settings;
  }
  if (j.value("finished", false))
    return found::finished;
  if (std::filesystem::exists(r.dir / "checkpoint.bin"))
    return found::resumable;
  return found::unstarted;
}

/// Marks the run finished in its bench.json: its process exited 0.
void mark_finished(const planned_run& r) {
  auto meta = r.dir / "bench.json";
  auto j = nlohmann::json::parse(std::ifstream(meta));
  j["finished"] = true;
  std::ofstream(meta) << j.dump(2) << "\n";
}

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

std::filesystem::path find_script(const std::string& name) {
  for (auto p : {std::filesystem::path("scripts") / name,
                 std::filesystem::path(FEDQ_SOURCE_DIR) / "scripts" / name})
    if (std::filesystem::is_regular_file(p))
      return p;
  return {};
}

} // namespace

int bench_command(const bench_args& args) {
  bench_suite suite;
  try {
    suite = load_suite(args.suite);
  } catch (const config_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  if (!args.seeds.empty())
    suite.seeds = args.seeds;
  suite.set.insert(suite.set.end(), args.overrides.begin(), args.overrides.end());
  if (args.budget_s > 0)
    suite.budget_s = args.budget_s;
  // --variants, --groups: the named subset, in the order given.
  auto subset = [&](std::vector<bench_variant>& all, const std::vector<std::string>& names,
                    const char* what) {
    std::vector<bench_variant> keep;
    for (const auto& name : names) {
      auto it = std::find_if(all.begin(), all.end(), [&](const auto& v) { return v.name == name; });
      if (it == all.end()) {
        std::string known;
        for (const auto& v : all)
          known += (known.empty() ? "" : ", ") + v.name;
        std::cerr << "error: --" << what << "s: suite " << suite.name << " has no " << what << " '"
                  << name << "' (it has " << (known.empty() ? "none" : known) << ")\n";
        return false;
      }
      keep.push_back(*it);
    }
    all = keep;
    return true;
  };
  if (!args.groups.empty() && !subset(suite.groups, args.groups, "group"))
    return 2;
  if (!args.variants.empty()) {
    if (!subset(suite.variants, args.variants, "variant"))
      return 2;
    const auto& keep = suite.variants;
    if (!suite.targets.empty() || std::none_of(keep.begin(), keep.end(), [&](const auto& v) {
          return v.name == suite.reference;
        })) {
      if (suite.targets.empty()) {
        std::cerr << "error: --variants must include the reference variant '" << suite.reference
                  << "' (the targets are taken from its runs)\n";
        return 2;
      }
    }
    if (std::none_of(keep.begin(), keep.end(), [&](const auto& v) { return v.name == suite.ours; }))
      suite.ours.clear();
  }
  std::filesystem::path out = args.out.empty() ? std::filesystem::path("results") / suite.name
                                               : std::filesystem::path(args.out);
  uint32_t n_cores = cores();
  uint32_t jobs = args.jobs ? args.jobs : n_cores;
  if (jobs > n_cores) {
    std::cout << "fedq bench: --jobs " << jobs << " is more than the " << n_cores
              << " cores here; running " << n_cores << " at once\n";
    jobs = n_cores;
  }
  uint32_t threads = std::max(1u, n_cores / jobs);

  std::vector<bench_variant> groups = suite.groups;
  if (groups.empty())
    groups.push_back({});
  std::vector<planned_run> plan;
  // Seed by seed within a group: an interrupted suite has whole seeds to compare.
  for (const auto& g : groups)
    for (auto seed : suite.seeds)
      for (const auto& v : suite.variants) {
        planned_run r{g.name, v.name, seed, out / "runs", {}, {}};
        if (!g.name.empty())
          r.dir /= g.name;
        r.dir = r.dir / v.name / ("seed-" + std::to_string(seed));
        r.sets = suite.set;
        r.sets.insert(r.sets.end(), g.set.begin(), g.set.end());
        r.sets.insert(r.sets.end(), v.set.begin(), v.set.end());
        r.sets.push_back("seed=" + std::to_string(seed));
        r.sets.push_back(fmt::format("run.max_clock_s={}", suite.budget_s));
        r.sets.push_back("run.rounds=" + std::to_string(suite.max_rounds));
        if (!args.data_dir.empty())
          r.sets.push_back("data.dir=\"" + args.data_dir + "\"");
        plan.push_back(std::move(r));
      }

  // Every run's config is checked before any starts: a bad key in a suite
  // fails now, not hours in; a missing backbone says how to make it.
  for (auto& r : plan) {
    try {
      r.config = load_config(suite.config.string(), r.sets);
      const auto& ck = r.config.model.checkpoint;
      if (!ck.empty() && !std::filesystem::exists(std::filesystem::path(ck) / "config.json")) {
        auto name = std::filesystem::path(ck).filename().string();
        std::string how = std::filesystem::exists("configs/" + name + ".toml")
                            ? "make it with `build/fedq pretrain configs/" + name + ".toml --out " + ck + "`"
                            : "make it with `build/fedq pretrain CONFIG --out " + ck + "`";
        std::cerr << "error: " << r.variant << ": model.checkpoint " << ck
                  << " is not there (no config.json); " << how << ", then run this again\n";
        return 2;
      }
    } catch (const config_error& e) {
      std::cerr << "error: " << suite.file.string() << ": variant " << r.variant
                << (r.group.empty() ? "" : " in group " + r.group) << ": " << e.what() << "\n";
      return 2;
    }
  }

  // And every run's partition is drawn (not only configs can fail at start:
  // a split the data cannot give would fail every run of a group the same
  // way). Each task is read once; runs that share a partition share a check.
  {
    std::map<std::string, data::task> tasks;
    std::map<std::string, std::string> checked;  // partition -> "" or why it cannot be drawn
    for (const auto& r : plan) {
      const auto& d = r.config.data;
      auto task_key = d.task == "synthetic"
                        ? fmt::format("synthetic {} {} {}", client_count(r.config) * d.samples_per_client,
                                      d.eval_samples, r.config.seed)
                        : d.task + "\n" + d.dir;
      auto po = partition_options_of(r.config);
      auto key = fmt::format("{}\n{} {} {} {} {} {} {} {} {}", task_key, int(po.kind), po.clients, po.alpha,
                             po.labels_per_client, po.power, po.min_samples, po.test_fraction,
                             po.score_bins, po.seed);
      auto it = checked.find(key);
      if (it == checked.end()) {
        std::string why;
        auto t = tasks.find(task_key);
        try {
          if (t == tasks.end())
            t = tasks.emplace(task_key, load_task(r.config)).first;
        } catch (const std::exception& e) {
          why = std::string("its data cannot be read: ") + e.what();
        }
        try {
          if (why.empty())
            draw_partition(t->second, po);
        } catch (const std::exception& e) {
          why = "its partition cannot be drawn (data.partition = \"" + d.partition + "\"): " + e.what();
        }
        it = checked.emplace(key, why).first;
      }
      if (!it->second.empty()) {
        std::cerr << "error: " << suite.file.string() << ": variant " << r.variant
                  << (r.group.empty() ? "" : " in group " + r.group) << ", seed " << r.seed << ": "
                  << it->second << "\n";
        return 2;
      }
    }
  }

  std::cout << "fedq bench " << suite.name << ": " << plan.size() << " runs (" << suite.variants.size()
            << " variants" << (suite.groups.empty() ? "" : fmt::format(" x {} groups", groups.size()))
            << " x " << suite.seeds.size() << " seeds), " << fmt::format("{:g}", suite.budget_s)
            << " s of clock each, " << jobs << " at once with " << threads << " thread"
            << (threads > 1 ? "s" : "") << " each; output " << out.string() << std::endl;

  struct job {
    size_t index;
    std::vector<std::string> argv;
    bool resume;
    uint32_t threads;
  };
  std::vector<job> todo;
  size_t skipped = 0;
  std::string exe = self_exe();
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& r = plan[i];
    uint32_t t = threads;
    auto state = inspect_run(r, t);
    if (state == found::finished) {
      ++skipped;
      continue;
    }
    if (state == found::other_settings)
      std::cout << "  " << r.dir.string()
                << ": left by a run with other settings or another effective config; starting it again\n";
    if (state != found::resumable && !args.dry_run) {
      std::filesystem::remove_all(r.dir);
      t = threads;
    }
    std::vector<std::string> argv{exe, "run", suite.config.string(), "--quiet"};
    for (const auto& kv : r.sets)
      argv.insert(argv.end(), {"--set", kv});
    argv.insert(argv.end(), {"--set", "run.compute_threads=" + std::to_string(t)});
    bool resume = state == found::resumable;
    argv.insert(argv.end(), {resume ? "--resume" : "--out", r.dir.string()});
    todo.push_back({i, std::move(argv), resume, t});
  }
  if (skipped)
    std::cout << "  " << skipped << " of " << plan.size()
              << " runs finished in an earlier invocation: kept, not run again\n";

  if (args.dry_run) {
    for (const auto& j : todo) {
      std::cout << "  " << plan[j.index].dir.string() << ":";
      for (size_t k = 1; k < j.argv.size(); ++k)
        std::cout << " " << j.argv[k];
      std::cout << "\n";
    }
    std::cout << "fedq bench: --dry-run: every run's config is valid; " << todo.size() << " to run\n";
    return 0;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: waitpid returns on a signal
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  struct sigaction al {}, old_alarm {};
  al.sa_handler = on_alarm;
  sigemptyset(&al.sa_mask);
  sigaction(SIGALRM, &al, &old_alarm);
  const unsigned progress_every_s = 60;
  double last_progress = 0;

  auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::map<pid_t, size_t> running;  // pid -> index into todo
  std::map<pid_t, double> started;
  size_t next = 0, done = 0, failed = 0;
  double run_seconds = 0;
  bool told = false;
  while (next < todo.size() || !running.empty()) {
    while (!interrupted && next < todo.size() && running.size() < jobs) {
      const auto& j = todo[next];
      const auto& r = plan[j.index];
      if (!j.resume) {
        std::filesystem::create_directories(r.dir);
        nlohmann::json meta{{"identity", r.identity()}, {"threads", j.threads}, {"argv", j.argv}};
        std::ofstream(r.dir / "bench.json") << meta.dump(2) << "\n";
      }
      pid_t pid = spawn(j.argv, r.dir / "log.txt");
      if (pid < 0) {
        std::cerr << "error: cannot start " << j.argv[0] << ": " << std::strerror(errno) << "\n";
        return 1;
      }
      running[pid] = next;
      started[pid] = elapsed();
      std::cout << fmt::format("  start {}{} seed {}{}", r.group.empty() ? "" : r.group + "/", r.variant,
                               r.seed, j.resume ? " (resumed from its checkpoint)" : "")
                << std::endl;
      ++next;
    }
    if (interrupted && !told) {
      told = true;
      std::cout << "fedq bench: interrupted; stopping the " << running.size()
                << " running run(s) (their checkpoints are kept)" << std::endl;
      for (const auto& [pid, k] : running)
        kill(pid, SIGINT);
    }
    if (running.empty())
      break;
    int status = 0;
    alarm(progress_every_s);
    pid_t pid = waitpid(-1, &status, 0);
    alarm(0);
    if (pid < 0) {
      if (errno != EINTR)
        break;
      if (!interrupted && elapsed() - last_progress >= progress_every_s - 1) {
        last_progress = elapsed();
        std::string line = "  running:";
        for (const auto& [p, k] : running) {
          const auto& rr = plan[todo[k].index];
          line += fmt::format(" {}{} seed {} ({});", rr.group.empty() ? "" : rr.group + "/", rr.variant,
                              rr.seed, run_progress(rr.dir, suite.budget_s));
        }
        std::cout << line << " elapsed " << duration(elapsed()) << std::endl;
      }
      continue;
    }
    auto it = running.find(pid);
    if (it == running.end())
      continue;
    const auto& j = todo[it->second];
    const auto& r = plan[j.index];
    double took = elapsed() - started[pid];
    running.erase(it);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (interrupted && !ok)
      continue;  // stopped by us: resumable
    if (ok)
      mark_finished(r);
    ++done;
    run_seconds += took;
    if (!ok) {
      ++failed;
      std::cout << fmt::format("  FAILED {} {} seed {} (exit {}): see {}", r.group, r.variant, r.seed,
                               WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                               (r.dir / "log.txt").string())
                << std::endl;
      continue;
    }
    size_t left = todo.size() - done;
    double eta = left ? run_seconds / done * std::ceil(double(left) / jobs) : 0;
    std::cout << fmt::format("[{:>3}/{}] done {}{} seed {} in {}  | {} running, {} to start, elapsed {}, ETA {}",
                             skipped + done, plan.size(), r.group.empty() ? "" : r.group + "/", r.variant,
                             r.seed, duration(took), running.size(), todo.size() - next,
                             duration(elapsed()), duration(eta))
              << std::endl;
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGALRM, &old_alarm, nullptr);
  if (interrupted) {
    std::cout << "fedq bench: interrupted after " << skipped + done << " of " << plan.size()
              << " runs; run the same command again to go on (finished runs are kept, "
                 "interrupted ones resume from their checkpoints)\n";
    return 130;
  }

  std::vector<bench_run> runs;
  for (const auto& r : plan) {
    uint32_t unused = 0;
    if (inspect_run(r, unused) != found::finished)
      continue;
    try {
      auto b = read_bench_run(r.dir, suite.budget_s);
      b.group = r.group;
      b.variant = r.variant;
      b.seed = r.seed;
      runs.push_back(std::move(b));
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      ++failed;
    }
  }
  auto now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::localtime(&now));
  std::string header = fmt::format("## {}\n\n`{}` ({}; {} cores; {} runs)\n", suite.name,
                                   args.command_line.empty() ? "fedq bench " + suite.name : args.command_line,
                                   date, n_cores, runs.size());
  auto table = bench_table(suite, runs, header);
  std::ofstream(out / "table.md") << table;
  std::ofstream(out / "runs.csv") << bench_csv(suite, runs);
  std::cout << "\n" << table << "\nfiles: " << (out / "table.md").string() << ", "
            << (out / "runs.csv").string();
  if (args.plots) {
    auto script = find_script("bench_plots");
    if (script.empty()) {
      std::cout << "\nplots: skipped (scripts/bench_plots is not here)";
    } else {
      // Debian's python3 (python3-matplotlib), before any other on the PATH.
      std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
      pid_t pid = spawn({python, script.string(), out.string()}, out / "plots.log");
      int status = 0;
      if (pid > 0)
        waitpid(pid, &status, 0);
      if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        std::cout << ", " << (out / "plots").string() << "/*.png";
      else
        std::cout << "\nplots: not made (see " << (out / "plots.log").string() << ")";
    }
  }
  std::cout << "\n";
  return failed ? 1 : 0;
}

} // namespace fedq::app
