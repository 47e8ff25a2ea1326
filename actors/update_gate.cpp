#include "actors/update_gate.hpp"

#include <cmath>

#include "serialization/framing.hpp"

namespace fedq::actors {

update_gate::update_gate(const serialization::adapter_payload& model, update_limits limits,
                         std::vector<uint32_t> shard_sizes)
  : limits_(limits), shard_sizes_(std::move(shard_sizes)) {
  for (const auto& p : model.lora)
    lora_.push_back({p.name, p.d_in, p.d_out});
  for (const auto& d : model.dense)
    dense_.push_back({d.name, d.shape});
}

void update_gate::dispatched(uint32_t client, task_in_flight task) { tasks_[client] = task; }

const task_in_flight* update_gate::in_flight(uint32_t client) const {
  auto it = tasks_.find(client);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::optional<task_in_flight> update_gate::take(uint32_t client, uint32_t round) {
  auto it = tasks_.find(client);
  if (it == tasks_.end() || it->second.round != round)
    return std::nullopt;
  auto t = it->second;
  tasks_.erase(it);
  answered_[client] = round;
  return t;
}

std::string update_gate::unexpected(uint32_t client, uint32_t round) const {
  auto c = std::to_string(client), r = std::to_string(round);
  if (client >= shard_sizes_.size())
    return "an answer for client " + c + ", which does not exist";
  if (auto a = answered_.find(client); a != answered_.end() && round <= a->second &&
                                       !(busy(client) && tasks_.at(client).round == round))
    return "a duplicate: client " + c + " already answered for round " + r + " or later";
  return "client " + c + " was not asked to train in round " + r;
}

std::string update_gate::check(uint32_t sender, const task_in_flight& task, const client_update& u,
                               uint64_t current_version) const {
  auto n = [](auto v) { return std::to_string(v); };
  if (u.client != sender)
    return "sent for client " + n(u.client) + " by client " + n(sender) +
           " (a client may only send its own updates)";
  if (u.round > task.round || u.base_version > current_version)
    return "from the future: round " + n(u.round) + ", base version " + n(u.base_version) +
           " (the task was round " + n(task.round) + ", and the global version is " +
           n(current_version) + ")";
  if (u.round != task.round || u.base_version != task.base_version)
    return "round " + n(u.round) + " and base version " + n(u.base_version) +
           " do not match the task (round " + n(task.round) + ", version " + n(task.base_version) + ")";
  if (u.rank > limits_.r_max)
    return "rank " + n(u.rank) + " is above r_max " + n(limits_.r_max);
  if (u.rank == 0 || u.rank > task.rank)  // fewer is a client's own pruning (HetLoRA); more never
    return "rank " + n(u.rank) + ", the task asked for rank " + n(task.rank) +
           " (an update may come back with fewer components, never with more or none)";
  uint32_t shard = sender < shard_sizes_.size() ? shard_sizes_[sender] : 0;
  if (u.samples == 0 || u.samples > shard)
    return "it claims " + n(u.samples) + " training examples; the client holds " + n(shard);
  serialization::adapter_payload p;
  try {
    p = serialization::decode(u.adapter);
  } catch (const serialization::format_error& e) {
    return std::string("its adapter does not decode: ") + e.what();
  }
  if (p.lora.size() != lora_.size() || p.dense.size() != dense_.size())
    return "it has " + n(p.lora.size()) + " LoRA pairs and " + n(p.dense.size()) +
           " dense tensors; the model has " + n(lora_.size()) + " and " + n(dense_.size());
  double sq = 0;
  // A finite float squared is far inside double's range, so a tensor's sum
  // of squares in double is finite exactly when all its values are: one
  // branch-free pass (four sums, so that it vectorizes) checks and sums.
  auto finite = [&sq](const std::vector<float>& v) {
    double s[4] = {0, 0, 0, 0};
    size_t i = 0, n = v.size();
    for (; i + 4 <= n; i += 4)
      for (size_t k = 0; k < 4; ++k)
        s[k] += double(v[i + k]) * v[i + k];
    for (; i < n; ++i)
      s[0] += double(v[i]) * v[i];
    double t = (s[0] + s[1]) + (s[2] + s[3]);
    sq += t;
    return std::isfinite(t);
  };
  for (size_t i = 0; i < lora_.size(); ++i) {
    const auto& got = p.lora[i];
    const auto& want = lora_[i];
    if (got.name != want.name || got.d_in != want.d_in || got.d_out != want.d_out)
      return "LoRA pair " + n(i) + " is '" + got.name + "' (" + n(got.d_out) + " x " + n(got.d_in) +
             "); the model has '" + want.name + "' (" + n(want.d_out) + " x " + n(want.d_in) + ")";
    if (got.rank != u.rank)
      return "LoRA pair '" + got.name + "' has rank " + n(got.rank) + "; the update says " + n(u.rank);
    if (!finite(got.a) || !finite(got.b))
      return "LoRA pair '" + got.name + "' holds a non-finite value (NaN or infinity)";
  }
  for (size_t i = 0; i < dense_.size(); ++i) {
    if (p.dense[i].name != dense_[i].name || p.dense[i].shape != dense_[i].shape)
      return "dense tensor " + n(i) + " is '" + p.dense[i].name + "'; its name or shape differs from the model's '" +
             dense_[i].name + "'";
    if (!finite(p.dense[i].values))
      return "dense tensor '" + p.dense[i].name + "' holds a non-finite value (NaN or infinity)";
  }
  if (limits_.max_update_norm > 0 && std::sqrt(sq) > limits_.max_update_norm)
    return "its norm " + std::to_string(std::sqrt(sq)) + " exceeds aggregator.max_update_norm " +
           std::to_string(limits_.max_update_norm);
  return {};
}

} // namespace fedq::actors
