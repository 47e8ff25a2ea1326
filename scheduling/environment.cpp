#include "scheduling/environment.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
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
    if (!std::isfinite(v))
      throw std::runtime_error(where + ": " + column + " '" + cell + "' is not a finite number");
    return v;
  } catch (const std::logic_error&) {  // stod's invalid_argument and out_of_range
    throw std::runtime_error(where + ": " + column + " '" + cell + "' is not a number");
  }
}

} // namespace

bool is_bandwidth_pattern(const std::string& s) {
  return s == "static" || s == "walking" || s == "vehicle";
}

time_trace read_time_trace(const std::string& path, const std::vector<std::string>& columns,
                           const std::function<void(const std::vector<double>&, const std::string&)>& check) {
  std::string header = "time_s";
  for (const auto& c : columns)
    header += "," + c;
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error(path + ": cannot open trace (a CSV file with the header " + header + ")");
  time_trace tr;
  tr.values.resize(columns.size());
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
      if (line != header)
        throw std::runtime_error(where + ": the header must be " + header);
      continue;
    }
    if (cells.size() != columns.size() + 1)
      throw std::runtime_error(where + ": expected " + std::to_string(columns.size() + 1) +
                               " columns (" + header + "), got " + std::to_string(cells.size()));
    double t = parse_number(cells[0], where, "time_s");
    if (tr.time_s.empty() && t != 0)
      throw std::runtime_error(where + ": the first row must have time_s = 0");
    if (!tr.time_s.empty() && t <= tr.time_s.back())
      throw std::runtime_error(where + ": time_s must increase from row to row");
    std::vector<double> row;
    for (size_t c = 0; c < columns.size(); ++c)
      row.push_back(parse_number(cells[c + 1], where, columns[c].c_str()));
    check(row, where);
    tr.time_s.push_back(t);
    for (size_t c = 0; c < columns.size(); ++c)
      tr.values[c].push_back(row[c]);
  }
  if (tr.time_s.empty())
    throw std::runtime_error(path + ": the trace has no rows");
  // The last row lasts as long as the mean row, then the trace repeats.
  double mean = tr.time_s.size() > 1 ? tr.time_s.back() / (tr.time_s.size() - 1) : 1.0;
  tr.period_s = tr.time_s.back() + mean;
  return tr;
}

size_t time_trace::row_at(double t) const {
  double x = std::fmod(std::max(0.0, t), period_s);
  return std::upper_bound(time_s.begin(), time_s.end(), x) - time_s.begin() - 1;
}

time_trace read_bandwidth_trace(const std::string& path) {
  return read_time_trace(path, {"up_mbps", "down_mbps"}, [](const auto& row, const std::string& where) {
    if (row[0] <= 0 || row[1] <= 0)
      throw std::runtime_error(where + ": up_mbps and down_mbps must be > 0");
  });
}

time_trace read_availability_trace(const std::string& path) {
  auto tr = read_time_trace(path, {"online"}, [](const auto& row, const std::string& where) {
    if (row[0] != 0 && row[0] != 1)
      throw std::runtime_error(where + ": online must be 1 (online) or 0 (offline)");
  });
  const auto& online = tr.values[0];
  if (std::none_of(online.begin(), online.end(), [](double v) { return v != 0; }))
    throw std::runtime_error(path + ": every row is 0 (offline): no client of this tier could ever train");
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
  for (uint32_t i = 0; i < tiers_.size(); ++i) {
    if (!is_bandwidth_pattern(tiers_[i].bandwidth))
      traces_[i] = read_bandwidth_trace(tiers_[i].bandwidth);
    if (!tiers_[i].availability.empty())
      availability_[i] = read_availability_trace(tiers_[i].availability);
  }
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
  auto k = tr.row_at(t + tr.period_s * unit_uniform(mix_seed(seed_, client, 0xb3)));
  return {tr.values[0][k], tr.values[1][k]};
}

bool environment::has_availability(uint32_t tier) const {
  const auto& t = tiers_[tier];
  return availability_.count(tier) || (t.online_s > 0 && t.offline_s > 0);
}

const std::vector<double>& environment::periods_until(uint32_t client, double t) {
  auto& p = periods_[client];
  uint32_t tier_id = client_tier_.at(client);
  if (auto it = availability_.find(tier_id); it != availability_.end()) {
    // The tier's trace, replayed from this client's seeded offset.
    const auto& tr = it->second;
    const auto& online = tr.values[0];
    if (std::all_of(online.begin(), online.end(), [](double v) { return v != 0; })) {
      if (p.empty())
        p.push_back(0.0); // a trace that is always 1: always online, no boundary ever
      return p;
    }
    double offset = tr.period_s * unit_uniform(mix_seed(seed_, client, 0xa7));
    if (p.empty()) {
      p.push_back(0.0);
      if (tr.values[0][tr.row_at(offset)] == 0)
        p.push_back(0.0); // offline from the start
    }
    // Walk the trace rows from the last boundary, adding one where the state flips.
    double cur = p.back();
    while (p.back() <= t) {
      size_t k = tr.row_at(cur + offset);
      double x = std::fmod(cur + offset, tr.period_s);
      double row_end = k + 1 < tr.time_s.size() ? tr.time_s[k + 1] : tr.period_s;
      // At least a tiny step, so that rounding can never stall the walk.
      double next = std::max(cur + (row_end - x), cur + 1e-9 * std::max(1.0, std::abs(cur)));
      bool online_now = p.size() % 2 == 1; // odd size: the last boundary started an online period
      bool online_next = tr.values[0][tr.row_at(next + offset)] != 0;
      if (online_next != online_now)
        p.push_back(next);
      cur = next;
    }
    return p;
  }
  if (p.empty())
    p.push_back(0.0); // every client starts online
  const auto& tier = tiers_[tier_id];
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
  double down_mbps = bandwidth(client, t).second;
  double down_s = tier.latency_s + w.bytes_down * 8.0 / (down_mbps * 1e6);
  r.compute_s = compute_seconds(cost_, tier, w) * jitter_factor(seed_, client, round, tier.jitter);
  double up_mbps = bandwidth(client, t + down_s + r.compute_s).first;
  r.transfer_s = down_s + tier.latency_s + w.bytes_up * 8.0 / (up_mbps * 1e6);
  // Offline periods pause the task: it needs `busy` seconds of online time.
  double busy = r.compute_s + r.transfer_s, cur = t;
  if (has_availability(client_tier_.at(client))) {
    for (;;) {
      cur = next_online(client, cur);
      const auto& p = periods_until(client, cur);
      auto i = std::upper_bound(p.begin(), p.end(), cur) - p.begin() - 1;
      double end = size_t(i) + 1 < p.size() ? p[i + 1] : INFINITY; // none: online for good
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
