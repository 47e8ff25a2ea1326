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

adapter_payload truncate(const adapter_payload& p, uint32_t rank) {
  adapter_payload out{{}, p.dense};
  for (const auto& l : p.lora)
    out.lora.push_back(l.rank <= rank ? l : relayout(l, rank));
  return out;
}

adapter_payload pad_to_rank(const adapter_payload& p, uint32_t rank) {
  adapter_payload out{{}, p.dense};
  for (const auto& l : p.lora)
    out.lora.push_back(l.rank >= rank ? l : relayout(l, rank));
  return out;
}

adapter_payload weighted_average(const adapter_payload& base, const std::vector<adapter_payload>& updates,
                                 const std::vector<double>& weights) {
  if (updates.empty() || updates.size() != weights.size())
    throw std::invalid_argument("weighted_average needs one weight per update, and an update");
  double total = 0;
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w))
      throw std::invalid_argument("weighted_average: a weight is negative or not finite");
    total += w;
  }
  if (total <= 0)
    throw std::invalid_argument("weighted_average: weights sum to zero");
  for (const auto& u : updates) {
    check_same_modules(base, u);
    for (size_t i = 0; i < u.lora.size(); ++i)
      if (u.lora[i].rank > base.lora[i].rank)
        throw std::invalid_argument("LoRA pair '" + u.lora[i].name + "' has rank " + std::to_string(u.lora[i].rank) +
                                    " > the global rank " + std::to_string(base.lora[i].rank));
  }
  adapter_payload next = base;
  for (size_t i = 0; i < next.lora.size(); ++i) {
    auto& g = next.lora[i];  // A (r, d_in), B (d_out, r)
    std::vector<double> covered(g.rank, 0.0);  // per component: the weight of the clients that trained it
    for (size_t k = 0; k < updates.size(); ++k)
      for (uint32_t j = 0; j < updates[k].lora[i].rank; ++j)
        covered[j] += weights[k];
    for (uint32_t j = 0; j < g.rank; ++j) {
      if (covered[j] <= 0)
        continue;  // nobody trained it: the base's value stays
      std::fill_n(g.a.begin() + size_t{j} * g.d_in, g.d_in, 0.0f);
      for (uint32_t row = 0; row < g.d_out; ++row)
        g.b[size_t{row} * g.rank + j] = 0.0f;
    }
    for (size_t k = 0; k < updates.size(); ++k) {
      const auto& u = updates[k].lora[i];
      for (uint32_t j = 0; j < u.rank; ++j) {
        if (covered[j] <= 0)
          continue;
        double w = weights[k] / covered[j];
        for (uint32_t col = 0; col < g.d_in; ++col)
          g.a[size_t{j} * g.d_in + col] += static_cast<float>(w * u.a[size_t{j} * u.d_in + col]);
        for (uint32_t row = 0; row < g.d_out; ++row)
          g.b[size_t{row} * g.rank + j] += static_cast<float>(w * u.b[size_t{row} * u.rank + j]);
      }
    }
  }
  for (auto& d : next.dense)
    std::fill(d.values.begin(), d.values.end(), 0.0f);
  for (size_t k = 0; k < updates.size(); ++k)
    for (size_t i = 0; i < next.dense.size(); ++i)
      axpy(next.dense[i].values, updates[k].dense[i].values, weights[k] / total);
  return next;
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

void buffered_step(adapter_payload& global, const std::vector<adapter_payload>& updates,
                   const std::vector<adapter_payload>& bases, const std::vector<double>& weights) {
  if (updates.size() != bases.size() || updates.size() != weights.size())
    throw std::invalid_argument("buffered_step needs a base and a weight per update");
  for (size_t k = 0; k < updates.size(); ++k) {
    const auto& u = updates[k];
    const auto& b = bases[k];
    check_same_modules(global, u);
    check_same_modules(global, b);
    double w = weights[k];
    for (size_t i = 0; i < global.lora.size(); ++i) {
      auto& g = global.lora[i];
      const auto &x = u.lora[i], &x0 = b.lora[i];
      if (x.rank != x0.rank || x.rank > g.rank)
        throw std::invalid_argument("buffered update of rank " + std::to_string(x.rank) +
                                    " on a base of rank " + std::to_string(x0.rank) +
                                    " (global rank " + std::to_string(g.rank) + ")");
      for (size_t j = 0; j < size_t{x.rank} * x.d_in; ++j)
        g.a[j] += static_cast<float>(w * (x.a[j] - x0.a[j]));
      for (uint32_t row = 0; row < g.d_out; ++row)
        for (uint32_t c = 0; c < x.rank; ++c) {
          size_t j = size_t{row} * x.rank + c;
          g.b[size_t{row} * g.rank + c] += static_cast<float>(w * (x.b[j] - x0.b[j]));
        }
    }
    for (size_t i = 0; i < global.dense.size(); ++i)
      for (size_t j = 0; j < global.dense[i].values.size(); ++j)
        global.dense[i].values[j] += static_cast<float>(w * (u.dense[i].values[j] - b.dense[i].values[j]));
  }
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
