#include "data/synthetic_task.hpp"

#include <algorithm>
#include <array>
#include <random>

namespace fedq::data {

namespace {

const std::array<std::array<const char*, 6>, 4> topic_words{{
  {"goal", "match", "coach", "league", "striker", "stadium"},
  {"stock", "market", "profit", "bank", "shares", "trade"},
  {"planet", "orbit", "galaxy", "rocket", "comet", "telescope"},
  {"recipe", "oven", "flavor", "bake", "spice", "dinner"},
}};

const std::array<const char*, 16> filler{"the", "a", "we", "saw", "about", "new", "today",
                                         "and", "with", "very", "that", "report", "some",
                                         "people", "said", "it"};

} // namespace

dataset make_synthetic(uint32_t count, uint64_t seed) {
  dataset d{"synthetic", static_cast<uint32_t>(topic_words.size()), {}};
  std::mt19937_64 rng(seed);
  auto pick = [&rng](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  for (uint32_t i = 0; i < count; ++i) {
    auto label = static_cast<int32_t>(i % topic_words.size());
    size_t words = 5 + pick(4);
    size_t key_a = pick(words), key_b = pick(words);
    bool noise = std::bernoulli_distribution(0.15)(rng);
    size_t noise_at = pick(words);
    std::string text;
    for (size_t w = 0; w < words; ++w) {
      const char* word;
      if (w == key_a || w == key_b)
        word = topic_words[label][pick(6)];
      else if (noise && w == noise_at)
        word = topic_words[(label + 1 + pick(3)) % 4][pick(6)];
      else
        word = filler[pick(filler.size())];
      if (!text.empty())
        text += ' ';
      text += word;
    }
    d.items.push_back({std::move(text), {}, label, 0});
  }
  std::shuffle(d.items.begin(), d.items.end(), rng);
  return d;
}

task synthetic_task(uint32_t train_count, uint32_t eval_count, uint64_t seed) {
  return {make_synthetic(train_count, seed * 2 + 1), make_synthetic(eval_count, seed * 2 + 2),
          metric_kind::accuracy};
}

} // namespace fedq::data
