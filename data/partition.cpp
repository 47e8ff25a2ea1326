#include "data/partition.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>

namespace fedq::data {

std::vector<std::vector<uint32_t>> dirichlet_split(const dataset& d, uint32_t clients,
                                                   double alpha, uint32_t min_per_client,
                                                   uint64_t seed) {
  if (clients == 0 || alpha <= 0)
    throw std::invalid_argument("dirichlet_split needs clients > 0 and alpha > 0");
  if (size_t{clients} * min_per_client > d.items.size())
    throw std::invalid_argument("data: " + std::to_string(d.items.size()) +
                                " examples cannot give " + std::to_string(clients) +
                                " clients at least " + std::to_string(min_per_client) + " each");
  std::vector<std::vector<uint32_t>> by_label(d.num_classes);
  for (uint32_t i = 0; i < d.items.size(); ++i)
    by_label.at(static_cast<size_t>(d.items[i].label)).push_back(i);
  std::mt19937_64 rng(seed);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::vector<std::vector<uint32_t>> split(clients);
    for (auto idx : by_label) {
      std::shuffle(idx.begin(), idx.end(), rng);
      std::gamma_distribution<double> gamma(alpha, 1.0);
      std::vector<double> p(clients);
      double sum = 0;
      for (auto& x : p)
        sum += (x = gamma(rng));
      size_t start = 0;
      double cum = 0;
      for (uint32_t c = 0; c < clients; ++c) {
        cum += sum > 0 ? p[c] / sum : 1.0 / clients;
        size_t end = c + 1 == clients ? idx.size() : static_cast<size_t>(cum * idx.size());
        end = std::clamp(end, start, idx.size());
        split[c].insert(split[c].end(), idx.begin() + start, idx.begin() + end);
        start = end;
      }
    }
    bool ok = std::all_of(split.begin(), split.end(),
                          [&](const auto& s) { return s.size() >= min_per_client; });
    if (ok) {
      for (auto& s : split)
        std::sort(s.begin(), s.end());
      return split;
    }
  }
  throw std::invalid_argument("data: no Dirichlet(" + std::to_string(alpha) +
                              ") split gave every client " + std::to_string(min_per_client) +
                              " examples in 1000 draws; lower data.min_samples or raise alpha");
}

std::vector<std::vector<uint32_t>> label_histogram(const dataset& d,
                                                   const std::vector<std::vector<uint32_t>>& split) {
  std::vector<std::vector<uint32_t>> h(split.size(), std::vector<uint32_t>(d.num_classes, 0));
  for (size_t c = 0; c < split.size(); ++c)
    for (auto i : split[c])
      ++h[c][static_cast<size_t>(d.items[i].label)];
  return h;
}

} // namespace fedq::data
