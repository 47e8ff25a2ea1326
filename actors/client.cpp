#include "actors/client.hpp"

#include <map>

#include "compute/aggregation.hpp"
#include "serialization/adapter_payload.hpp"

namespace fedq::actors {

client_update start_update(const train_task& t, uint32_t client, uint32_t samples) {
  client_update u;
  u.round = t.round;
  u.base_version = t.base_version;
  u.client = client;
  u.rank = t.rank;
  u.samples = samples;
  u.tel.round = t.round;
  u.tel.rank = t.rank;
  u.tel.trained_rank = t.rank;
  u.tel.bits = t.bits;
  u.tel.steps = t.steps;
  u.tel.bytes_down = t.adapter.size();
  return u;
}

void set_adapter(client_update& u, blob adapter) {
  u.adapter = std::move(adapter);
  u.tel.rank = u.rank;
  u.tel.bytes_up = u.adapter.size();
}

client_update run_task(const client_setup& c, const train_task& t) {
  auto u = start_update(t, c.id, static_cast<uint32_t>(c.shard.size()));
  try {
    auto start = serialization::decode(t.adapter);
    if (start.rank() != t.rank)
      throw std::runtime_error("task says rank " + std::to_string(t.rank) +
                               " but the adapter has rank " + std::to_string(start.rank()));
    auto bb = c.backbones.find(t.bits);
    if (bb == c.backbones.end())
      throw std::runtime_error("no backbone in format '" + t.bits + "' on this client");
    const auto& backbone = *bb->second;
    auto r = compute::train_local(backbone, start, c.shard, c.train, t.steps, t.seed);
    if (c.train.prune_threshold > 0) { // HetLoRA: a weak tail is cut off
      uint32_t kept = compute::self_pruned_rank(r.adapter, c.train.prune_keep, c.train.prune_threshold);
      if (kept < t.rank) {
        r.adapter = compute::truncate(r.adapter, kept);
        u.rank = kept;
      }
    }
    set_adapter(u, serialization::encode(r.adapter));
    u.tel.compute_s = r.seconds;
    u.tel.loss_before = r.loss_before;
    u.tel.loss_after = r.loss_after;
    u.tel.memory_mb = compute::training_memory_mb(backbone.options(), t.rank, c.train.batch_size,
                                                  c.train.checkpointing);
    if (t.validate_rank > 0) { // FAH-QLoRA: the loss now, and with the rank tail zeroed
      const auto& held_out = c.validation.empty() ? c.shard : c.validation;
      u.tel.val_loss = compute::evaluate(backbone, r.adapter, held_out).loss;
      u.tel.val_loss_cf = t.validate_rank >= u.rank
                            ? u.tel.val_loss
                            : compute::evaluate(backbone, compute::truncate(r.adapter, t.validate_rank), held_out).loss;
    }
  } catch (const std::exception& e) {
    u.adapter.clear();
    u.error = "client " + std::to_string(c.id) + ", round " + std::to_string(t.round) + ": " +
              e.what();
  }
  return u;
}

namespace {

struct client_state {
  std::map<uint32_t, caf::typed_response_promise<client_update>> pending;  // by round
};

client_actor::behavior_type client_behavior(client_actor::stateful_pointer<client_state> self,
                                            std::shared_ptr<const client_setup> setup) {
  return {
    [=](train_task& t) -> caf::typed_response_promise<client_update> {
      auto rp = self->make_response_promise<client_update>();
      self->state.pending.emplace(t.round, rp);
      auto me = caf::actor_cast<client_actor>(self);
      setup->exec->submit(setup->threads, [setup, me, t = std::move(t)] {
        caf::anon_send(me, done_atom::value, run_task(*setup, t));
      });
      return rp;
    },
    [=](done_atom, client_update& u) {
      auto it = self->state.pending.find(u.round);
      if (it == self->state.pending.end())
        return;
      if (u.error.empty())
        it->second.deliver(std::move(u));
      else
        it->second.deliver(caf::make_error(caf::sec::runtime_error, u.error));
      self->state.pending.erase(it);
    },
  };
}

} // namespace

client_actor spawn_client(caf::actor_system& sys, client_setup setup) {
  return sys.spawn(client_behavior, std::make_shared<const client_setup>(std::move(setup)));
}

} // namespace fedq::actors
