#include "compute/server_opt.hpp"

#include <cmath>
#include <stdexcept>

namespace fedq::compute {

void check_server_opt(const server_opt_options& o) {
  if (o.kind != "none" && o.kind != "avgm" && o.kind != "adam" && o.kind != "yogi")
    throw std::invalid_argument("'" + o.kind + "' is not none, avgm, adam or yogi");
}

server_optimizer::server_optimizer(server_opt_options o) : o_(std::move(o)) { check_server_opt(o_); }

void server_optimizer::apply(const adapter_payload& base, adapter_payload& next) {
  if (o_.kind == "none")
    return;
  // Every value of the adapter, base and next side by side, in one order.
  std::vector<std::pair<const std::vector<float>*, std::vector<float>*>> parts;
  if (base.lora.size() != next.lora.size() || base.dense.size() != next.dense.size())
    throw std::invalid_argument("server optimizer: the adapters differ in their modules");
  for (size_t i = 0; i < next.lora.size(); ++i) {
    parts.emplace_back(&base.lora[i].a, &next.lora[i].a);
    parts.emplace_back(&base.lora[i].b, &next.lora[i].b);
  }
  for (size_t i = 0; i < next.dense.size(); ++i)
    parts.emplace_back(&base.dense[i].values, &next.dense[i].values);
  size_t n = 0;
  for (const auto& [b, x] : parts) {
    if (b->size() != x->size())
      throw std::invalid_argument("server optimizer: a tensor differs in size between base and aggregate");
    n += x->size();
  }
  if (m_.empty()) {
    m_.assign(n, 0.0);
    v_.assign(n, 0.0);
  }
  if (m_.size() != n)
    throw std::invalid_argument("server optimizer: the adapter's size changed between rounds");
  size_t k = 0;
  for (const auto& [b, x] : parts)
    for (size_t j = 0; j < x->size(); ++j, ++k) {
      double base_v = (*b)[j], delta = double((*x)[j]) - base_v, step;
      if (o_.kind == "avgm") {
        m_[k] = o_.beta1 * m_[k] + delta;
        step = m_[k];
      } else {
        m_[k] = o_.beta1 * m_[k] + (1 - o_.beta1) * delta;
        double d2 = delta * delta;
        if (o_.kind == "adam")
          v_[k] = o_.beta2 * v_[k] + (1 - o_.beta2) * d2;
        else // yogi
          v_[k] = v_[k] - (1 - o_.beta2) * d2 * (v_[k] > d2 ? 1.0 : v_[k] < d2 ? -1.0 : 0.0);
        step = m_[k] / (std::sqrt(v_[k]) + o_.tau);
      }
      (*x)[j] = static_cast<float>(base_v + o_.lr * step);
    }
}

std::vector<double> server_optimizer::state() const {
  auto s = m_;
  s.insert(s.end(), v_.begin(), v_.end());
  return s;
}

void server_optimizer::restore(const std::vector<double>& state) {
  if (state.size() % 2 != 0)
    throw std::invalid_argument("server optimizer: a state of odd size");
  m_.assign(state.begin(), state.begin() + long(state.size() / 2));
  v_.assign(state.begin() + long(state.size() / 2), state.end());
}

} // namespace fedq::compute
