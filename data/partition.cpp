#include "data/partition.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

namespace fedq::data {

namespace {

using split_t = std::vector<std::vector<uint32_t>>;
constexpr int max_draws = 1000;

bool has_min(const split_t& s, uint32_t min) {
  return std::all_of(s.begin(), s.end(), [&](const auto& c) { return c.size() >= min; });
}

split_t by_stratum(const dataset& d, const partition_options& o) {
  split_t out(strata_count(d, o.score_bins));
  auto st = strata(d, o.score_bins);
  for (uint32_t i = 0; i < st.size(); ++i)
    out[st[i]].push_back(i);
  return out;
}

/// Cuts `idx` into consecutive pieces with the given sizes (summing to idx.size()).
void deal(const std::vector<uint32_t>& idx, const std::vector<size_t>& sizes, split_t& into) {
  size_t start = 0;
  for (size_t c = 0; c < sizes.size(); ++c) {
    into[c].insert(into[c].end(), idx.begin() + long(start), idx.begin() + long(start + sizes[c]));
    start += sizes[c];
  }
}

/// Sizes proportional to `weights` summing exactly to n (largest remainders).
std::vector<size_t> proportional(size_t n, const std::vector<double>& weights) {
  double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<size_t> sizes(weights.size());
  std::vector<std::pair<double, size_t>> rest;
  size_t used = 0;
  for (size_t c = 0; c < weights.size(); ++c) {
    double exact = total > 0 ? n * weights[c] / total : double(n) / weights.size();
    sizes[c] = static_cast<size_t>(std::floor(exact));
    used += sizes[c];
    rest.push_back({exact - sizes[c], c});
  }
  std::stable_sort(rest.begin(), rest.end(), [](auto a, auto b) { return a.first > b.first; });
  for (size_t k = 0; used < n; ++k, ++used)
    ++sizes[rest[k % rest.size()].second];
  return sizes;
}

split_t iid(const dataset& d, const partition_options& o, std::mt19937_64& rng) {
  std::vector<uint32_t> idx(d.items.size());
  std::iota(idx.begin(), idx.end(), 0u);
  std::shuffle(idx.begin(), idx.end(), rng);
  split_t s(o.clients);
  deal(idx, proportional(idx.size(), std::vector<double>(o.clients, 1.0)), s);
  return s;
}

split_t quantity(const dataset& d, const partition_options& o, std::mt19937_64& rng) {
  std::vector<uint32_t> idx(d.items.size());
  std::iota(idx.begin(), idx.end(), 0u);
  std::shuffle(idx.begin(), idx.end(), rng);
  std::uniform_real_distribution<double> u(1e-12, 1.0);
  std::vector<double> w(o.clients);
  for (auto& x : w)
    x = std::pow(u(rng), -1.0 / o.power);  // Pareto(power) draws
  size_t floor_total = size_t{o.min_samples} * o.clients;
  auto sizes = proportional(idx.size() - floor_total, w);
  for (auto& s : sizes)
    s += o.min_samples;
  split_t s(o.clients);
  deal(idx, sizes, s);
  return s;
}

split_t dirichlet(const dataset& d, const partition_options& o, std::mt19937_64& rng) {
  split_t s(o.clients);
  std::gamma_distribution<double> gamma(o.alpha, 1.0);
  for (auto idx : by_stratum(d, o)) {
    std::shuffle(idx.begin(), idx.end(), rng);
    std::vector<double> p(o.clients);
    for (auto& x : p)
      x = gamma(rng);
    deal(idx, proportional(idx.size(), p), s);
  }
  return s;
}

// Hsu, Qi and Brown (2019): each client draws its label mix q ~ Dirichlet(alpha
// K prior), which is Dirichlet(alpha, ..., alpha) for balanced labels, and
// holds N / clients examples. Clients take their mix in order while the labels
// last; a label that has run out is made up from the labels that have not, in
// proportion to what is left, so every example is used once. Unlike the
// per-label split, a minimum per client always holds, for any client count.
split_t client_dirichlet(const dataset& d, const partition_options& o, std::mt19937_64& rng) {
  auto pools = by_stratum(d, o);
  for (auto& p : pools)
    std::shuffle(p.begin(), p.end(), rng);
  std::vector<size_t> left(pools.size());
  for (size_t k = 0; k < pools.size(); ++k)
    left[k] = pools[k].size();
  auto sizes = proportional(d.items.size(), std::vector<double>(o.clients, 1.0));
  split_t s(o.clients);
  for (size_t c = 0; c < o.clients; ++c) {
    std::vector<double> q(pools.size(), 0.0);
    for (size_t k = 0; k < pools.size(); ++k)
      if (!pools[k].empty()) {
        std::gamma_distribution<double> gamma(o.alpha * pools.size() * pools[k].size() /
                                              double(d.items.size()), 1.0);
        q[k] = gamma(rng);
      }
    auto want = proportional(sizes[c], q);
    size_t short_by = 0;
    for (size_t k = 0; k < pools.size(); ++k) {
      short_by += want[k] - std::min(want[k], left[k]);
      want[k] = std::min(want[k], left[k]);
    }
    std::vector<double> rest(pools.size());
    for (size_t k = 0; k < pools.size(); ++k)
      rest[k] = double(left[k] - want[k]);
    auto extra = proportional(short_by, rest);  // never above what is left
    for (size_t k = 0; k < pools.size(); ++k) {
      size_t take = want[k] + extra[k];
      size_t from = pools[k].size() - left[k];
      s[c].insert(s[c].end(), pools[k].begin() + long(from), pools[k].begin() + long(from + take));
      left[k] -= take;
    }
  }
  return s;
}

split_t shards(const dataset& d, const partition_options& o, std::mt19937_64& rng) {
  auto groups = by_stratum(d, o);
  auto labels = static_cast<uint32_t>(groups.size());
  uint32_t k = std::min(o.labels_per_client, labels);
  // Each client draws k distinct labels; redraw until every label has a holder.
  std::vector<std::vector<uint32_t>> holders;
  for (int draw = 0;; ++draw) {
    if (draw == max_draws)
      throw std::invalid_argument("data: no shards draw gave every label a client; raise "
                                  "data.labels_per_client or the number of clients");
    holders.assign(labels, {});
    std::vector<uint32_t> all(labels);
    std::iota(all.begin(), all.end(), 0u);
    for (uint32_t c = 0; c < o.clients; ++c) {
      std::shuffle(all.begin(), all.end(), rng);
      for (uint32_t j = 0; j < k; ++j)
        holders[all[j]].push_back(c);
    }
    if (std::all_of(holders.begin(), holders.end(), [](const auto& h) { return !h.empty(); }))
      break;
  }
  split_t s(o.clients);
  for (uint32_t l = 0; l < labels; ++l) {
    auto idx = groups[l];
    std::shuffle(idx.begin(), idx.end(), rng);
    split_t part(holders[l].size());
    deal(idx, proportional(idx.size(), std::vector<double>(holders[l].size(), 1.0)), part);
    for (size_t h = 0; h < holders[l].size(); ++h)
      s[holders[l][h]].insert(s[holders[l][h]].end(), part[h].begin(), part[h].end());
  }
  return s;
}

} // namespace

partition_kind parse_partition_kind(const std::string& name) {
  std::string known;  // the names, listed from the one list of kinds
  for (auto k : {partition_kind::iid, partition_kind::dirichlet, partition_kind::client_dirichlet,
                 partition_kind::shards, partition_kind::quantity}) {
    if (name == partition_name(k))
      return k;
    known += (known.empty() ? "" : ", ") + std::string(partition_name(k));
  }
  throw std::invalid_argument("'" + name + "' is not a partition (" + known + ")");
}

const char* partition_name(partition_kind k) {
  switch (k) {
  case partition_kind::iid: return "iid";
  case partition_kind::dirichlet: return "dirichlet";
  case partition_kind::client_dirichlet: return "client-dirichlet";
  case partition_kind::shards: return "shards";
  case partition_kind::quantity: return "quantity";
  }
  return "?";
}

uint32_t strata_count(const dataset& d, uint32_t bins) {
  return d.kind == task_kind::regression ? std::max(bins, 1u) : std::max(d.num_classes, 1u);
}

std::vector<uint32_t> strata(const dataset& d, uint32_t bins) {
  std::vector<uint32_t> out;
  out.reserve(d.items.size());
  if (d.kind != task_kind::regression) {
    for (const auto& e : d.items) {
      if (e.label < 0 || uint32_t(e.label) >= d.num_classes)
        throw std::invalid_argument("data: label " + std::to_string(e.label) + " out of range");
      out.push_back(uint32_t(e.label));
    }
    return out;
  }
  bins = std::max(bins, 1u);
  float lo = 0, hi = 0;
  if (!d.items.empty()) {
    auto [mn, mx] = std::minmax_element(d.items.begin(), d.items.end(),
                                        [](const auto& a, const auto& b) { return a.score < b.score; });
    lo = mn->score;
    hi = mx->score;
  }
  for (const auto& e : d.items) {
    double t = hi > lo ? (e.score - lo) / (hi - lo) : 0.0;
    out.push_back(std::min(bins - 1, static_cast<uint32_t>(t * bins)));
  }
  return out;
}

std::vector<client_shard> partition(const dataset& d, const partition_options& o) {
  if (o.clients == 0)
    throw std::invalid_argument("data: a partition needs at least one client");
  if (o.test_fraction < 0 || o.test_fraction >= 1)
    throw std::invalid_argument("data: test_fraction must be in [0, 1)");
  if (size_t{o.clients} * o.min_samples > d.items.size())
    throw std::invalid_argument("data: " + std::to_string(d.items.size()) +
                                " examples cannot give " + std::to_string(o.clients) +
                                " clients at least " + std::to_string(o.min_samples) + " each");
  if (((o.kind == partition_kind::dirichlet || o.kind == partition_kind::client_dirichlet) &&
       o.alpha <= 0) ||
      (o.kind == partition_kind::quantity && o.power <= 0) ||
      (o.kind == partition_kind::shards && o.labels_per_client == 0))
    throw std::invalid_argument(std::string("data: invalid parameter for the ") +
                                partition_name(o.kind) + " partition (alpha, power and "
                                "labels_per_client must be positive)");
  std::mt19937_64 rng(o.seed);
  split_t s;
  for (int draw = 0;; ++draw) {
    if (draw == max_draws)
      throw std::invalid_argument(std::string("data: no ") + partition_name(o.kind) +
                                  " split gave every client " + std::to_string(o.min_samples) +
                                  " examples in " + std::to_string(max_draws) +
                                  " draws; lower data.min_samples or make the skew milder");
    switch (o.kind) {
    case partition_kind::iid: s = iid(d, o, rng); break;
    case partition_kind::dirichlet: s = dirichlet(d, o, rng); break;
    case partition_kind::client_dirichlet: s = client_dirichlet(d, o, rng); break;
    case partition_kind::shards: s = shards(d, o, rng); break;
    case partition_kind::quantity: s = quantity(d, o, rng); break;
    }
    if (has_min(s, o.min_samples))
      break;
  }
  std::vector<client_shard> out(o.clients);
  for (size_t c = 0; c < s.size(); ++c) {
    auto& idx = s[c];
    std::shuffle(idx.begin(), idx.end(), rng);
    auto test = static_cast<size_t>(std::floor(o.test_fraction * idx.size()));
    out[c].test.assign(idx.begin(), idx.begin() + long(test));
    out[c].train.assign(idx.begin() + long(test), idx.end());
    std::sort(out[c].test.begin(), out[c].test.end());
    std::sort(out[c].train.begin(), out[c].train.end());
  }
  return out;
}

std::vector<std::vector<uint32_t>> strata_histogram(const dataset& d, uint32_t bins,
                                                    const std::vector<std::vector<uint32_t>>& indices) {
  auto st = strata(d, bins);
  std::vector<std::vector<uint32_t>> h(indices.size(),
                                       std::vector<uint32_t>(strata_count(d, bins), 0));
  for (size_t c = 0; c < indices.size(); ++c)
    for (auto i : indices[c])
      ++h[c].at(st.at(i));
  return h;
}

double entropy_bits(const std::vector<uint32_t>& histogram) {
  double n = std::accumulate(histogram.begin(), histogram.end(), 0.0);
  double e = 0;
  for (auto k : histogram)
    if (k > 0)
      e -= k / n * std::log2(k / n);
  return e;
}

} // namespace fedq::data
