#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace fedq::data {

/// How training examples are spread over clients.
enum class partition_kind {
  iid,        ///< uniform shuffle, equal sizes
  dirichlet,  ///< per label, client shares ~ Dirichlet(alpha); 0.1 is severe skew
  client_dirichlet,  ///< per client, label mix ~ Dirichlet(alpha); equal sizes; for many clients
  shards,     ///< each client holds `labels_per_client` labels
  quantity,   ///< IID labels, power-law client sizes
};

/// "iid", "dirichlet", "client-dirichlet", "shards" or "quantity"; throws std::invalid_argument.
partition_kind parse_partition_kind(const std::string& name);
const char* partition_name(partition_kind k);

struct partition_options {
  partition_kind kind = partition_kind::dirichlet;
  uint32_t clients = 1;
  double alpha = 0.5;               ///< dirichlet and client-dirichlet concentration
  uint32_t labels_per_client = 2;   ///< shards
  double power = 1.5;               ///< quantity: Pareto shape of client sizes (lower: more skew)
  uint32_t min_samples = 16;        ///< every client's shard (train + test) has at least this
  double test_fraction = 0.2;       ///< of each shard held out as the client's local test set
  uint32_t score_bins = 5;          ///< regression: labels are equal-width score bins
  uint64_t seed = 1;
};

/// One client's data: indices into the dataset, each list sorted.
struct client_shard {
  std::vector<uint32_t> train;
  std::vector<uint32_t> test;
};

/// The label each example is partitioned by: its class, or (regression) its
/// score bin out of `bins` equal-width bins over the data's score range.
std::vector<uint32_t> strata(const dataset& d, uint32_t bins);
uint32_t strata_count(const dataset& d, uint32_t bins);

/// Splits every example of `d` over `o.clients` clients (none is dropped or
/// repeated), then each shard into local train and test. Skewed kinds redraw
/// (deterministically) until every client has `min_samples`; throws
/// std::invalid_argument when that cannot hold. Deterministic for a seed.
std::vector<client_shard> partition(const dataset& d, const partition_options& o);

/// Per client, how many of `indices` fall in each stratum.
std::vector<std::vector<uint32_t>> strata_histogram(const dataset& d, uint32_t bins,
                                                    const std::vector<std::vector<uint32_t>>& indices);

/// Shannon entropy (bits) of a histogram; 0 for an empty one.
double entropy_bits(const std::vector<uint32_t>& histogram);

} // namespace fedq::data
