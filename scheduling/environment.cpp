#include "scheduling/environment.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fedq::scheduling {

namespace {

constexpr double two_pi = 6.283185307179586;

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ','))
    out.push_back(cell);
  return out;
}

double parse_number(const std::string& cell, const std::string& where, const char* column) {
  try {
    size_t used = 0;
    double v = std::stod(cell, &used);
    if (used != cell.size() && cell.find_first_not_of(" \t\r", used) != std::string::npos)
      throw std::invalid_argument(cell);
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error(where + ": " + column + " '" + cell + "' is not a number");
  }
}

bool is_pattern(const std::string& s) { return s == "static" || s == "walking" || s == "vehicle"; }

} // namespace

bandwidth_trace read_bandwidth_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error(path + ": cannot open bandwidth trace (tiers.bandwidth takes static, "
                             "walking, vehicle or a CSV file with time_s,up_mbps,down_mbps)");
  bandwidth_trace tr;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    std::string where = path + ":" + std::to_string(lineno);
    auto cells = split_csv(line);
    if (lineno == 1) {
      if (cells.size() != 3 || cells[0] != "time_s" || cells[1] != "up_mbps" || cells[2] != "down_mbps")
        throw std::runtime_error(where + ": the header must be time_s,up_mbps,down_mbps");
      continue;
    }
    if (cells.size() != 3)
      throw std::runtime_error(where + ": expected 3 columns (time_s,up_mbps,down_mbps), got " +
                               std::to_string(cells.size()));
    double t = parse_number(cells[0], where, "time_s");
    double up = parse_number(cells[1], where, "up_mbps");
    double down = parse_number(cells[2], where, "down_mbps");
    if (tr.time_s.empty() && t != 0)
      throw std::runtime_error(where + ": the first row must have time_s = 0");
    if (!tr.time_s.empty() && t <= tr.time_s.back())
      throw std::runtime_error(where + ": time_s must increase from row to row");
    if (up <= 0 || down <= 0)
      throw std::runtime_error(where + ": up_mbps and down_mbps must be > 0");
    tr.time_s.push_back(t);
    tr.up_mbps.push_back(up);
    tr.down_mbps.push_back(down);
  }
  if (tr.time_s.empty())
    throw std::runtime_error(path + ": the trace has no rows");
  // The last row lasts as long as the mean row, then the trace repeats.
  double mean = tr.time_s.size() > 1 ? tr.time_s.back() / (tr.time_s.size() - 1) : 1.0;
  tr.period_s = tr.time_s.back() + mean;
  return tr;
}

double bandwidth_multiplier(const std::string& pattern, uint64_t seed, uint32_t client, double t) {
  if (pattern == "static")
    return 1.0;
  double p1 = two_pi * unit_uniform(mix_seed(seed, client, 0xb1));
  double p2 = two_pi * unit_uniform(mix_seed(seed, client, 0xb2));
  if (pattern == "walking")
    return std::exp(0.35 * std::sin(two_pi * t / 120 + p1) + 0.15 * std::sin(two_pi * t / 37 + p2));
  if (pattern == "vehicle") {
    auto slot = static_cast<uint32_t>(std::max(0.0, t) / 2.0);
    if (unit_uniform(mix_seed(seed ^ 0x7e41c1e5ULL, client, slot)) < 0.08)
      return 0.05; // a handover or a dead zone
    return std::exp(0.6 * std::sin(two_pi * t / 30 + p1) + 0.3 * std::sin(two_pi * t / 7 + p2));
  }
  throw std::invalid_argument("unknown bandwidth pattern '" + pattern +
                              "' (known: static, walking, vehicle, or a CSV file)");
}

environment::environment(std::vector<tier_profile> tiers, std::vector<uint32_t> client_tier,
                         cost_options cost, uint64_t seed)
  : tiers_(std::move(tiers)), client_tier_(std::move(client_tier)), cost_(cost), seed_(seed) {
  for (uint32_t i = 0; i < tiers_.size(); ++i)
    if (!is_pattern(tiers_[i].bandwidth))
      traces_[i] = read_bandwidth_trace(tiers_[i].bandwidth);
}

std::pair<double, double> environment::bandwidth(uint32_t client, double t) const {
  uint32_t tier = client_tier_.at(client);
  const auto& p = tiers_[tier];
  auto it = traces_.find(tier);
  if (it == traces_.end()) {
    double m = bandwidth_multiplier(p.bandwidth, seed_, client, t);
    return {p.up_mbps * m, p.down_mbps * m};
  }
  // Clients of a tier replay the trace from different (seeded) offsets.
  const auto& tr = it->second;
  double offset = tr.period_s * unit_uniform(mix_seed(seed_, client, 0xb3));
  double x = std::fmod(std::max(0.0, t) + offset, tr.period_s);
  auto k = std::upper_bound(tr.time_s.begin(), tr.time_s.end(), x) - tr.time_s.begin() - 1;
  return {tr.up_mbps[k], tr.down_mbps[k]};
}

const std::vector<double>& environment::periods_until(uint32_t client, double t) {
  auto& p = periods_[client];
  if (p.empty())
    p.push_back(0.0); // every client starts online
  const auto& tier = tiers_[client_tier_.at(client)];
  if (tier.online_s <= 0 || tier.offline_s <= 0)
    return p;
  while (p.back() <= t) {
    auto k = static_cast<uint32_t>(p.size());
    double mean = k % 2 ? tier.online_s : tier.offline_s; // p[k] ends period k-1
    double u = unit_uniform(mix_seed(seed_ ^ 0xa5a1ab1eULL, client, k));
    p.push_back(p.back() - mean * std::log(u));
  }
  return p;
}

bool environment::online(uint32_t client, double t) { return next_online(client, t) == t; }

double environment::next_online(uint32_t client, double t) {
  const auto& p = periods_until(client, t);
  auto i = std::upper_bound(p.begin(), p.end(), t) - p.begin() - 1;
  return i % 2 == 0 ? t : p[i + 1];
}

task_timing environment::time_task(uint32_t client, uint32_t round, double t, const work_item& w) {
  const auto& tier = tiers_[client_tier_.at(client)];
  task_timing r;
  auto [up0, down0] = bandwidth(client, t);
  (void)up0;
  double down_s = tier.latency_s + w.bytes_down * 8.0 / (down0 * 1e6);
  r.compute_s = compute_seconds(cost_, tier, w) * jitter_factor(seed_, client, round, tier.jitter);
  auto [up1, down1] = bandwidth(client, t + down_s + r.compute_s);
  (void)down1;
  r.transfer_s = down_s + tier.latency_s + w.bytes_up * 8.0 / (up1 * 1e6);
  // Offline periods pause the task: it needs `busy` seconds of online time.
  double busy = r.compute_s + r.transfer_s, cur = t;
  if (tier.online_s > 0 && tier.offline_s > 0) {
    for (;;) {
      cur = next_online(client, cur);
      const auto& p = periods_until(client, cur);
      auto i = std::upper_bound(p.begin(), p.end(), cur) - p.begin() - 1;
      double end = p[i + 1];
      if (cur + busy <= end) {
        cur += busy;
        break;
      }
      busy -= end - cur;
      cur = end;
    }
    r.offline_s = cur - t - r.compute_s - r.transfer_s;
  }
  return r;
}

} // namespace fedq::scheduling
