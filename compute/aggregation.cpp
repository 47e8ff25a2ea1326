#include "compute/aggregation.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace fedq::compute {

using serialization::lora_pair;

namespace {

/// A pair re-laid at rank `r`: first min(r, old) components copied, the rest zero.
lora_pair relayout(const lora_pair& l, uint32_t r) {
  lora_pair out{l.name, l.d_in, l.d_out, r, {}, {}};
  uint32_t keep = std::min(r, l.rank);
  out.a.assign(size_t{r} * l.d_in, 0.0f);
  std::copy_n(l.a.begin(), size_t{keep} * l.d_in, out.a.begin());
  out.b.assign(size_t{l.d_out} * r, 0.0f);
  for (uint32_t row = 0; row < l.d_out; ++row)
    std::copy_n(l.b.begin() + size_t{row} * l.rank, keep, out.b.begin() + size_t{row} * r);
  return out;
}

void check_same_modules(const adapter_payload& x, const adapter_payload& y) {
  auto fail = [](const std::string& what) {
    throw std::invalid_argument("adapters do not match: " + what);
  };
  if (x.lora.size() != y.lora.size() || x.dense.size() != y.dense.size())
    fail("different numbers of modules");
  for (size_t i = 0; i < x.lora.size(); ++i)
    if (x.lora[i].name != y.lora[i].name || x.lora[i].d_in != y.lora[i].d_in ||
        x.lora[i].d_out != y.lora[i].d_out)
      fail("LoRA pair '" + x.lora[i].name + "' vs '" + y.lora[i].name + "'");
  for (size_t i = 0; i < x.dense.size(); ++i)
    if (x.dense[i].name != y.dense[i].name || x.dense[i].shape != y.dense[i].shape)
      fail("tensor '" + x.dense[i].name + "' vs '" + y.dense[i].name + "'");
}

void axpy(std::vector<float>& y, const std::vector<float>& x, double w) {
  for (size_t i = 0; i < y.size(); ++i)
    y[i] += static_cast<float>(w * x[i]);
}

} // namespace

adapter_payload zero_pad(const adapter_payload& p, uint32_t r_max) {
  adapter_payload out{{}, p.dense};
  for (const auto& l : p.lora) {
    if (l.rank > r_max)
      throw std::invalid_argument("LoRA pair '" + l.name + "' has rank " +
                                  std::to_string(l.rank) + " > r_max " + std::to_string(r_max));
    out.lora.push_back(relayout(l, r_max));
  }
  return out;
}

adapter_payload truncate(const adapter_payload& p, uint32_t rank) {
  adapter_payload out{{}, p.dense};
  for (const auto& l : p.lora)
    out.lora.push_back(l.rank <= rank ? l : relayout(l, rank));
  return out;
}

adapter_payload weighted_average(const std::vector<adapter_payload>& updates,
                                 const std::vector<double>& weights, uint32_t r_max) {
  if (updates.empty() || updates.size() != weights.size())
    throw std::invalid_argument("weighted_average needs one weight per update, and an update");
  double total = 0;
  for (double w : weights) {
    if (w < 0)
      throw std::invalid_argument("weighted_average: negative weight");
    total += w;
  }
  if (total <= 0)
    throw std::invalid_argument("weighted_average: weights sum to zero");
  adapter_payload acc = zero_pad(updates.front(), r_max);
  for (auto& l : acc.lora) {
    std::fill(l.a.begin(), l.a.end(), 0.0f);
    std::fill(l.b.begin(), l.b.end(), 0.0f);
  }
  for (auto& d : acc.dense)
    std::fill(d.values.begin(), d.values.end(), 0.0f);
  for (size_t k = 0; k < updates.size(); ++k) {
    check_same_modules(acc, updates[k]);
    adapter_payload padded = zero_pad(updates[k], r_max);
    double w = weights[k] / total;
    for (size_t i = 0; i < acc.lora.size(); ++i) {
      axpy(acc.lora[i].a, padded.lora[i].a, w);
      axpy(acc.lora[i].b, padded.lora[i].b, w);
    }
    for (size_t i = 0; i < acc.dense.size(); ++i)
      axpy(acc.dense[i].values, padded.dense[i].values, w);
  }
  return acc;
}

double lora_norm(const adapter_payload& p, uint32_t from) {
  double total = 0;
  for (const auto& l : p.lora) {
    uint32_t r = l.rank;
    if (from >= r)
      continue;
    // gram_b = B^T B and gram_a = A A^T over components [from, r): (r', r')
    uint32_t n = r - from;
    std::vector<double> gb(size_t{n} * n, 0.0), ga(size_t{n} * n, 0.0);
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t j = 0; j < n; ++j) {
        double sb = 0, sa = 0;
        for (uint32_t row = 0; row < l.d_out; ++row)
          sb += double(l.b[size_t{row} * r + from + i]) * l.b[size_t{row} * r + from + j];
        for (uint32_t col = 0; col < l.d_in; ++col)
          sa += double(l.a[size_t{from + i} * l.d_in + col]) * l.a[size_t{from + j} * l.d_in + col];
        gb[size_t{i} * n + j] = sb;
        ga[size_t{i} * n + j] = sa;
      }
    for (size_t k = 0; k < gb.size(); ++k) // trace(G_b G_a) with both symmetric
      total += gb[k] * ga[k];
  }
  return std::sqrt(std::max(0.0, total));
}

uint32_t self_pruned_rank(const adapter_payload& p, double keep, double threshold) {
  uint32_t r = p.rank();
  auto k = static_cast<uint32_t>(std::floor(keep * r));
  if (k < 1 || k >= r)
    return r;
  double whole = lora_norm(p);
  if (whole <= 0)
    return r;
  return lora_norm(p, k) / whole < threshold ? k : r;
}

void mix(adapter_payload& global, const adapter_payload& update, double w) {
  check_same_modules(global, update);
  auto blend = [w](float& x, float y) { x = static_cast<float>((1 - w) * x + w * y); };
  for (size_t i = 0; i < global.lora.size(); ++i) {
    auto& g = global.lora[i];
    const auto& u = update.lora[i];
    if (u.rank > g.rank)
      throw std::invalid_argument("late update of rank " + std::to_string(u.rank) +
                                  " exceeds the global rank " + std::to_string(g.rank));
    for (size_t j = 0; j < size_t{u.rank} * u.d_in; ++j)
      blend(g.a[j], u.a[j]);
    for (uint32_t row = 0; row < g.d_out; ++row)
      for (uint32_t c = 0; c < u.rank; ++c)
        blend(g.b[size_t{row} * g.rank + c], u.b[size_t{row} * u.rank + c]);
  }
  for (size_t i = 0; i < global.dense.size(); ++i)
    for (size_t j = 0; j < global.dense[i].values.size(); ++j)
      blend(global.dense[i].values[j], update.dense[i].values[j]);
}

void carry_over(adapter_payload& aggregate, const adapter_payload& before, const adapter_payload& after) {
  check_same_modules(aggregate, before);
  check_same_modules(aggregate, after);
  auto add = [](std::vector<float>& x, const std::vector<float>& b, const std::vector<float>& a,
                const std::string& what) {
    if (x.size() != b.size() || x.size() != a.size())
      throw std::invalid_argument("carry_over: " + what + " differs in size between the adapters");
    for (size_t j = 0; j < x.size(); ++j)
      x[j] += a[j] - b[j];
  };
  for (size_t i = 0; i < aggregate.lora.size(); ++i) {
    add(aggregate.lora[i].a, before.lora[i].a, after.lora[i].a, aggregate.lora[i].name + " A");
    add(aggregate.lora[i].b, before.lora[i].b, after.lora[i].b, aggregate.lora[i].name + " B");
  }
  for (size_t i = 0; i < aggregate.dense.size(); ++i)
    add(aggregate.dense[i].values, before.dense[i].values, after.dense[i].values, aggregate.dense[i].name);
}

} // namespace fedq::compute
