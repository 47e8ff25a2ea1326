#include "app/bench_report.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fedq::app {

using nlohmann::json;

bench_run read_bench_run(const std::filesystem::path& dir, double budget_s) {
  bench_run r;
  r.dir = dir;
  auto rounds = dir / "rounds.jsonl";
  std::ifstream in(rounds);
  if (!in)
    throw std::runtime_error(rounds.string() + ": cannot open");
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty())
      continue;
    try {
      auto j = json::parse(line);
      double t = j.at("t_close").get<double>();
      if (t > budget_s)
        break;  // records are in close order
      const auto& f = j.at("fairness");  // null where not measured: the last measured one holds
      bench_run::point p = r.curve.empty() ? bench_run::point{} : r.curve.back();
      p.t = t;
      p.score = j.at("score").get<double>();
      if (!f.is_null()) {
        p.worst = f.at("worst").get<double>();
        p.p10 = f.at("p10").get<double>();
        p.jain = f.at("jain").get<double>();
      }
      r.curve.push_back(p);
      r.bytes += j.at("bytes_up").get<uint64_t>() + j.at("bytes_down").get<uint64_t>();
      if (j.at("deadline_s").get<double>() > 0) {
        ++r.with_deadline;
        r.deadline_met += j.at("deadline_met").get<bool>() ? 1 : 0;
      }
      r.on_time += j.at("on_time").get<uint64_t>();
      r.participants += j.at("participants").size();
    } catch (const json::exception& e) {
      throw std::runtime_error(rounds.string() + ":" + std::to_string(n) + ": " + e.what());
    }
  }
  auto summary = dir / "summary.json";
  std::ifstream sin(summary);
  if (!sin)
    throw std::runtime_error(summary.string() + ": cannot open (the run has not finished)");
  try {
    auto j = json::parse(sin);
    r.wall_s = j.at("wall_s").get<double>();
    r.rounds_total = j.value("rounds", 0u);
    for (const auto& [tier, mb] : j.at("peak_memory_mb").items())
      r.peak_memory_mb[tier] = mb.get<double>();
  } catch (const json::exception& e) {
    throw std::runtime_error(summary.string() + ": " + e.what());
  }
  return r;
}

double time_to(const bench_run& r, double target) {
  for (const auto& p : r.curve)
    if (p.score >= target)
      return p.t;
  return -1;
}

std::optional<double> score_at(const bench_run& r, double t) {
  std::optional<double> s;
  for (const auto& p : r.curve)
    if (p.t <= t)
      s = p.score;
  return s;
}

std::optional<double> best_by(const bench_run& r, double t) {
  std::optional<double> s;
  for (const auto& p : r.curve)
    if (p.t <= t)
      s = std::max(s.value_or(p.score), p.score);
  return s;
}

namespace {

std::vector<const bench_run*> runs_of(const std::vector<bench_run>& runs, const std::string& group,
                                      const std::string& variant) {
  std::vector<const bench_run*> out;
  for (const auto& r : runs)
    if (r.group == group && r.variant == variant)
      out.push_back(&r);
  return out;
}

const bench_run* run_of(const std::vector<bench_run>& runs, const std::string& group,
                        const std::string& variant, uint32_t seed) {
  for (const auto& r : runs)
    if (r.group == group && r.variant == variant && r.seed == seed)
      return &r;
  return nullptr;
}

double mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x)
    s += v;
  return x.empty() ? NAN : s / x.size();
}

double sd(const std::vector<double>& x) {
  if (x.size() < 2)
    return 0;
  double m = mean(x), s = 0;
  for (double v : x)
    s += (v - m) * (v - m);
  return std::sqrt(s / (x.size() - 1));
}

/// "m ± sd" over the values; "(k/n)" when only k of n runs have one;
/// `none` when no run has one.
std::string mean_sd(const std::vector<double>& have, size_t of, int digits,
                    const std::string& none = "not reached") {
  if (have.empty())
    return of ? none : "—";
  std::string s = fmt::format("{:.{}f}", mean(have), digits);
  if (have.size() > 1)
    s += fmt::format(" ± {:.{}f}", sd(have), digits);
  if (have.size() < of)
    s += fmt::format(" ({}/{})", have.size(), of);
  return s;
}

std::string median_range(std::vector<double> x) {
  if (x.empty())
    return "—";
  std::sort(x.begin(), x.end());
  size_t n = x.size();
  double med = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
  if (n == 1)
    return fmt::format("{:.2f}", med);
  return fmt::format("{:.2f} ({:.2f}–{:.2f})", med, x.front(), x.back());
}

std::vector<std::string> group_names(const bench_suite& s) {
  std::vector<std::string> g;
  for (const auto& x : s.groups)
    g.push_back(x.name);
  if (g.empty())
    g.push_back("");
  return g;
}

std::set<uint32_t> seeds_of(const std::vector<bench_run>& runs, const std::string& group) {
  std::set<uint32_t> out;
  for (const auto& r : runs)
    if (r.group == group)
      out.insert(r.seed);
  return out;
}

std::string row(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells)
    s += " " + c + " |";
  return s + "\n";
}

std::string rule(size_t columns) {
  std::string s = "|---|";
  for (size_t i = 1; i < columns; ++i)
    s += "---:|";
  return s + "\n";
}

std::string target_label(double t) { return fmt::format("{:.3f}", t); }

} // namespace

std::vector<double> bench_targets(const bench_suite& s, const std::vector<bench_run>& runs,
                                  const std::string& group) {
  if (!s.targets.empty())
    return s.targets;
  std::vector<double> out;
  auto ref = runs_of(runs, group, s.reference);
  for (double f : s.target_at) {
    std::vector<double> best;
    for (const auto* r : ref)
      if (auto b = best_by(*r, f * s.budget_s))
        best.push_back(*b);
    if (!best.empty())
      out.push_back(mean(best));
  }
  return out;
}

std::string bench_table(const bench_suite& s, const std::vector<bench_run>& runs,
                        const std::string& header) {
  std::ostringstream md;
  md << header;
  std::set<std::string> tiers;
  for (const auto& r : runs)
    for (const auto& [t, mb] : r.peak_memory_mb)
      tiers.insert(t);
  for (const auto& g : group_names(s)) {
    auto targets = bench_targets(s, runs, g);
    auto seeds = seeds_of(runs, g);
    if (seeds.empty())
      continue;
    if (!g.empty()) {
      md << "\n### " << g << "\n";
      for (const auto& x : s.groups)
        if (x.name == g && !x.about.empty())
          md << "\n" << x.about << ".\n";
    }
    md << "\nBudget " << fmt::format("{:g}", s.budget_s) << " s of clock time per run, seeds";
    for (auto seed : seeds)
      md << " " << seed;
    md << ". Targets:";
    for (double t : targets)
      md << " " << target_label(t);
    if (s.targets.empty()) {
      md << " (the best score " << s.reference << " reached by";
      for (size_t i = 0; i < s.target_at.size(); ++i)
        md << (i ? ", " : " ") << fmt::format("{:g} %", 100 * s.target_at[i]);
      md << " of the budget, mean over seeds)";
    }
    md << ".\n\n";

    std::vector<std::string> head{"variant"};
    for (double t : targets)
      head.push_back("time to " + target_label(t) + " (s)");
    head.push_back(fmt::format("score at {:g} s", s.budget_s));
    md << row(head) << rule(head.size());
    for (const auto& v : s.variants) {
      auto rs = runs_of(runs, g, v.name);
      if (rs.empty())
        continue;
      std::vector<std::string> cells{v.name};
      for (double t : targets) {
        std::vector<double> x;
        for (const auto* r : rs)
          if (double tt = time_to(*r, t); tt >= 0)
            x.push_back(tt);
        cells.push_back(mean_sd(x, rs.size(), 1));
      }
      std::vector<double> at;
      for (const auto* r : rs)
        if (auto sc = score_at(*r, s.budget_s))
          at.push_back(*sc);
      cells.push_back(mean_sd(at, rs.size(), 3));
      md << row(cells);
    }

    // The score of every variant at the moment (per seed) the fastest variant reached each target.
    md << "\nScore of each variant when the fastest one reached the target (per seed, then mean ± sd):\n\n";
    std::vector<std::string> h2{"variant"};
    for (double t : targets)
      h2.push_back("at " + target_label(t));
    md << row(h2) << rule(h2.size());
    for (const auto& v : s.variants) {
      if (runs_of(runs, g, v.name).empty())
        continue;
      std::vector<std::string> cells{v.name};
      for (double t : targets) {
        std::vector<double> x;
        size_t of = 0;
        for (auto seed : seeds) {
          double fastest = -1;
          for (const auto& w : s.variants)
            if (const auto* r = run_of(runs, g, w.name, seed))
              if (double tt = time_to(*r, t); tt >= 0 && (fastest < 0 || tt < fastest))
                fastest = tt;
          const auto* r = run_of(runs, g, v.name, seed);
          if (r && fastest >= 0) {
            ++of;
            if (auto sc = score_at(*r, fastest))
              x.push_back(*sc);
          }
        }
        cells.push_back(mean_sd(x, of, 3, "no round closed yet"));
      }
      md << row(cells);
    }

    if (!s.ours.empty() && !runs_of(runs, g, s.ours).empty()) {
      md << "\nTime-to-target of each variant over " << s.ours
         << "'s, per seed: median (min–max); above 1: " << s.ours << " is sooner:\n\n";
      md << row(h2) << rule(h2.size());
      for (const auto& v : s.variants) {
        if (v.name == s.ours || runs_of(runs, g, v.name).empty())
          continue;
        std::vector<std::string> cells{v.name};
        for (double t : targets) {
          std::vector<double> x;
          size_t missed = 0;
          for (auto seed : seeds) {
            const auto* a = run_of(runs, g, v.name, seed);
            const auto* b = run_of(runs, g, s.ours, seed);
            if (!a || !b)
              continue;
            double ta = time_to(*a, t), tb = time_to(*b, t);
            if (ta >= 0 && tb > 0)
              x.push_back(ta / tb);
            else if (tb > 0)
              ++missed;  // the variant never reached it: at least budget / ours
          }
          auto cell = median_range(x);
          if (missed)
            cell += fmt::format(" ({} not reached)", missed);
          cells.push_back(cell);
        }
        md << row(cells);
      }
    }

    md << "\nSystems (mean ± sd over seeds, up to the budget):\n\n";
    std::vector<std::string> h3{"variant", "rounds", "bytes per round (kB)", "deadlines met",
                                "updates on time", "worst client", "p10 client", "Jain"};
    for (const auto& t : tiers)
      h3.push_back("peak MB " + t);
    h3.push_back("wall s");
    h3.push_back("wall ms per round");
    md << row(h3) << rule(h3.size());
    for (const auto& v : s.variants) {
      auto rs = runs_of(runs, g, v.name);
      if (rs.empty())
        continue;
      std::vector<double> rounds, bytes, hits, on_time, worst, p10, jain, wall, per_round;
      std::map<std::string, std::vector<double>> mem;
      for (const auto* r : rs) {
        rounds.push_back(r->curve.size());
        if (!r->curve.empty()) {
          bytes.push_back(r->bytes / 1e3 / r->curve.size());
          worst.push_back(r->curve.back().worst);
          p10.push_back(r->curve.back().p10);
          jain.push_back(r->curve.back().jain);
        }
        if (r->with_deadline)
          hits.push_back(100.0 * r->deadline_met / r->with_deadline);
        if (r->participants)
          on_time.push_back(100.0 * r->on_time / r->participants);
        for (const auto& t : tiers)
          if (auto it = r->peak_memory_mb.find(t); it != r->peak_memory_mb.end())
            mem[t].push_back(it->second);
        wall.push_back(r->wall_s);
        if (r->rounds_total)
          per_round.push_back(1e3 * r->wall_s / r->rounds_total);
      }
      auto pct = [&](const std::vector<double>& x) {
        return x.empty() ? std::string("n/a") : mean_sd(x, x.size(), 0) + " %";
      };
      std::vector<std::string> cells{v.name, mean_sd(rounds, rs.size(), 1), mean_sd(bytes, rs.size(), 1),
                                     pct(hits), pct(on_time), mean_sd(worst, rs.size(), 3),
                                     mean_sd(p10, rs.size(), 3), mean_sd(jain, rs.size(), 3)};
      for (const auto& t : tiers)
        cells.push_back(mean_sd(mem[t], rs.size(), 1));
      cells.push_back(mean_sd(wall, rs.size(), 0));
      cells.push_back(mean_sd(per_round, rs.size(), 0));
      md << row(cells);
    }
  }
  md << "\nVariants:\n\n";
  for (const auto& v : s.variants) {
    md << "- `" << v.name << "`" << (v.about.empty() ? "" : ": " + v.about);
    for (size_t i = 0; i < v.set.size(); ++i)
      md << (i ? ", " : " (") << "`" << v.set[i] << "`";
    md << (v.set.empty() ? " (the suite's config as it is)" : ")") << "\n";
  }
  return md.str();
}

std::string bench_csv(const bench_suite& s, const std::vector<bench_run>& runs) {
  std::set<std::string> tiers;
  for (const auto& r : runs)
    for (const auto& [t, mb] : r.peak_memory_mb)
      tiers.insert(t);
  size_t n_targets = 0;
  for (const auto& g : group_names(s))
    n_targets = std::max(n_targets, bench_targets(s, runs, g).size());
  std::ostringstream csv;
  csv << "group,variant,seed,budget_s,rounds";
  for (size_t i = 0; i < n_targets; ++i)
    csv << ",target_" << i + 1 << ",time_to_target_" << i + 1;
  csv << ",score_at_budget,worst_client,p10_client,jain,bytes_per_round,deadline_hit_rate,on_time_fraction";
  for (const auto& t : tiers)
    csv << ",peak_mb_" << t;
  csv << ",wall_s,rounds_total,dir\n";
  auto num = [](double x, bool valid = true) { return valid ? fmt::format("{:.6g}", x) : std::string(); };
  for (const auto& r : runs) {
    auto targets = bench_targets(s, runs, r.group);
    csv << r.group << "," << r.variant << "," << r.seed << "," << num(s.budget_s) << "," << r.curve.size();
    for (size_t i = 0; i < n_targets; ++i) {
      if (i < targets.size()) {
        double tt = time_to(r, targets[i]);
        csv << "," << num(targets[i]) << "," << num(tt, tt >= 0);
      } else {
        csv << ",,";
      }
    }
    bool any = !r.curve.empty();
    csv << "," << num(any ? r.curve.back().score : 0, any) << "," << num(any ? r.curve.back().worst : 0, any)
        << "," << num(any ? r.curve.back().p10 : 0, any) << "," << num(any ? r.curve.back().jain : 0, any) << ","
        << num(any ? double(r.bytes) / r.curve.size() : 0, any) << ","
        << num(r.with_deadline ? double(r.deadline_met) / r.with_deadline : 0, r.with_deadline > 0) << ","
        << num(r.participants ? double(r.on_time) / r.participants : 0, r.participants > 0);
    for (const auto& t : tiers) {
      auto it = r.peak_memory_mb.find(t);
      csv << "," << num(it != r.peak_memory_mb.end() ? it->second : 0, it != r.peak_memory_mb.end());
    }
    csv << "," << num(r.wall_s) << "," << r.rounds_total << "," << r.dir.string() << "\n";
  }
  return csv.str();
}

} // namespace fedq::app
