#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>

#include "actors/update_gate.hpp"
#include "compute/aggregation.hpp"
#include "compute/model.hpp"
#include "tests/runtime_helpers.hpp"

using namespace fedq;
using namespace fedq::test_helpers;
using actors::client_update;
using actors::task_in_flight;
using actors::update_gate;

namespace {

compute::model_options model() {
  compute::model_options o;
  o.d_model = 16;
  o.layers = 1;
  o.heads = 2;
  o.kv_heads = 1;
  o.ffn = 32;
  o.r_max = 8;
  o.classes = 3;
  return o;
}

const auto global = compute::init_adapter(model(), 1);

/// A valid answer of client 2 to its round-5 task at rank 4 from version 7.
client_update answer(const serialization::adapter_payload& p) {
  client_update u;
  u.round = 5;
  u.base_version = 7;
  u.client = 2;
  u.rank = 4;
  u.samples = 100;
  u.adapter = serialization::encode(p);
  return u;
}

client_update good() { return answer(compute::truncate(global, 4)); }

update_gate gate(double max_norm = 0) {
  update_gate g(global, {8, max_norm}, {50, 50, 100});
  g.dispatched(2, {5, 7, 4, 0.0});
  return g;
}

std::string check(const client_update& u, uint32_t sender = 2, uint64_t version = 9) {
  auto g = gate();
  return g.check(sender, *g.in_flight(2), u, version);
}

} // namespace

TEST_CASE("a valid update passes the gate, and its task leaves the ledger") {
  auto g = gate();
  REQUIRE(g.busy(2));
  auto task = g.take(2, 5);
  REQUIRE(task);
  CHECK(g.check(2, *task, good(), 9).empty());
  CHECK(g.idle());
}

TEST_CASE("the gate refuses each kind of bad update, with its reason") {
  auto nan_update = [] {
    auto p = compute::truncate(global, 4);
    p.lora[1].b[3] = std::numeric_limits<float>::quiet_NaN();
    return answer(p);
  }();
  CHECK_THAT(check(nan_update), Catch::Contains("non-finite") && Catch::Contains(global.lora[1].name));
  auto inf_head = [] {
    auto p = compute::truncate(global, 4);
    p.dense[0].values[0] = std::numeric_limits<float>::infinity();
    return answer(p);
  }();
  CHECK_THAT(check(inf_head), Catch::Contains("dense tensor") && Catch::Contains("non-finite"));
  auto huge = [] { // the largest floats are finite, and so are their squares' sum
    auto p = compute::truncate(global, 4);
    for (auto& x : p.lora[1].a)
      x = std::numeric_limits<float>::max();
    p.dense[0].values.back() = -std::numeric_limits<float>::max();
    return answer(p);
  }();
  CHECK(check(huge).empty());

  auto wrong_shape = [] {
    auto p = compute::truncate(global, 4);
    p.lora[0].d_in = 8;
    p.lora[0].a.resize(size_t(4) * 8);
    return answer(p);
  }();
  CHECK_THAT(check(wrong_shape), Catch::Contains("LoRA pair 0") && Catch::Contains("8"));
  auto missing_pair = [] {
    auto p = compute::truncate(global, 4);
    p.lora.pop_back();
    return answer(p);
  }();
  CHECK_THAT(check(missing_pair), Catch::Contains("LoRA pairs"));

  auto above = answer(compute::truncate(global, 8));
  above.rank = 9;
  CHECK_THAT(check(above), Catch::Contains("rank 9 is above r_max 8"));
  auto other_rank = answer(compute::truncate(global, 6));
  other_rank.rank = 6;
  CHECK_THAT(check(other_rank), Catch::Contains("rank 6, the task asked for rank 4"));
  auto pruned = answer(compute::truncate(global, 3));  // HetLoRA's self-pruning: fewer components
  pruned.rank = 3;
  CHECK(check(pruned).empty());
  auto pair_rank = answer(compute::truncate(global, 6));  // says 4, carries 6
  CHECK_THAT(check(pair_rank), Catch::Contains("has rank 6; the update says 4"));

  auto future = good();
  future.base_version = 10;
  CHECK_THAT(check(future), Catch::Contains("from the future"));
  auto future_round = good();
  future_round.round = 6;
  CHECK_THAT(check(future_round), Catch::Contains("from the future"));
  auto old = good();
  old.base_version = 6;
  CHECK_THAT(check(old), Catch::Contains("do not match the task"));

  CHECK_THAT(check(good(), 1), Catch::Contains("sent for client 2 by client 1"));

  auto no_samples = good();
  no_samples.samples = 0;
  CHECK_THAT(check(no_samples), Catch::Contains("claims 0 training examples"));
  auto too_many = good();
  too_many.samples = 101;
  CHECK_THAT(check(too_many), Catch::Contains("claims 101 training examples; the client holds 100"));

  auto garbage = good();
  garbage.adapter.assign(40, 'x');
  CHECK_THAT(check(garbage), Catch::Contains("does not decode"));
  auto torn = good();
  torn.adapter.resize(torn.adapter.size() / 2);
  CHECK_THAT(check(torn), Catch::Contains("does not decode"));
}

TEST_CASE("max_update_norm refuses a large update, and is off at 0") {
  auto big = [] {
    auto p = compute::truncate(global, 4);
    for (auto& x : p.dense[0].values)
      x = 100;
    return answer(p);
  }();
  auto off = gate(0);
  CHECK(off.check(2, *off.in_flight(2), big, 9).empty());
  auto on = gate(10);
  CHECK_THAT(on.check(2, *on.in_flight(2), big, 9), Catch::Contains("exceeds aggregator.max_update_norm"));
  CHECK(on.check(2, *on.in_flight(2), good(), 9).empty());
}

TEST_CASE("a second answer for the same task, or one never asked for, finds no task") {
  auto g = gate();
  REQUIRE(g.take(2, 5));
  CHECK_FALSE(g.take(2, 5));
  CHECK_THAT(g.unexpected(2, 5), Catch::Contains("a duplicate"));
  CHECK_THAT(g.unexpected(1, 5), Catch::Contains("client 1 was not asked to train in round 5"));
  CHECK_THAT(g.unexpected(7, 5), Catch::Contains("does not exist"));
  g.dispatched(2, {6, 8, 4, 1.0});
  CHECK_FALSE(g.take(2, 9));  // the task in flight is round 6's
  CHECK(g.busy(2));
  CHECK_THAT(g.unexpected(2, 9), Catch::Contains("not asked to train in round 9"));
}

// -- in a whole run: a client whose answers are tampered with ----------------

namespace {

using tamper_fn = std::function<void(uint32_t round, client_update&)>;

/// Forwards every task to the real client and tampers with its answer.
actors::client_actor::behavior_type tampering_proxy(actors::client_actor::pointer self,
                                                   actors::client_actor real, tamper_fn tamper) {
  return {
    [=](actors::train_task& t) {
      auto rp = self->make_response_promise<client_update>();
      auto round = t.round;
      self->request(real, caf::infinite, std::move(t))
        .then([=](client_update& u) mutable {
          tamper(round, u);
          rp.deliver(std::move(u));
        }, [=](caf::error& e) mutable { rp.deliver(std::move(e)); });
      return rp;
    },
    [](actors::done_atom, client_update&) {},
  };
}

actors::rewire_fn tamper_client(uint32_t client, tamper_fn tamper) {
  return [=](caf::actor_system& sys, actors::server_setup& ss) {
    ss.clients.at(client) = sys.spawn(tampering_proxy, ss.clients.at(client), tamper);
  };
}

/// Round by round, a different kind of bad update.
void bad_in_every_round(uint32_t round, client_update& u) {
  switch (round % 5) {
  case 0: {
    auto p = serialization::decode(u.adapter);
    p.lora[0].a[0] = std::numeric_limits<float>::quiet_NaN();
    u.adapter = serialization::encode(p);
    break;
  }
  case 1: {
    auto p = serialization::decode(u.adapter);
    p.lora[0].d_in += 1;
    p.lora[0].a.resize(size_t(p.lora[0].rank) * p.lora[0].d_in);
    u.adapter = serialization::encode(p);
    break;
  }
  case 2: u.rank = 99; break;
  case 3: u.base_version += 1000; break;
  default: u.client = u.client == 0 ? 1 : 0; break;  // speaks for another client
  }
}

const char* one_tier = R"(
[run]
rounds = 5
[round]
mode = "sync"
[scheduler]
policy = "fixed"
rank = 4
local_steps = 2
[[tiers]]
name = "gpu-fast"
count = 2
jitter = 0.0
)";

} // namespace

TEST_CASE("bad updates in a run are refused with their reasons, counted, and never applied") {
  auto setup = setup_of(one_tier, {});
  auto r = run_setup(setup, tamper_client(1, bad_in_every_round));
  check_nothing_lost(r);
  CHECK(r.summary.invalid == 5);
  CHECK(r.summary.on_time == 5);  // client 0's
  std::vector<std::string> want{"non-finite", "LoRA pair 0", "rank 99 is above r_max", "from the future",
                                "sent for client 0 by client 1"};
  REQUIRE(r.rec.rounds.size() == 5);
  for (const auto& round : r.rec.rounds) {
    INFO("round " << round.round);
    REQUIRE(round.participants.size() == 2);
    CHECK(round.participants[0].on_time);
    CHECK_THAT(round.participants[1].rejected, Catch::Contains(want.at(round.round % 5)));
    CHECK_FALSE(round.all_on_time);
  }
  CHECK(r.rec.late.empty());  // nothing comes late in sync rounds

  // Only the tampered client: nothing is ever applied, the global stays as it began.
  auto alone = setup_of(one_tier, {});
  alone.server.clients.resize(1);
  alone.shards.resize(1);
  auto first = run_setup(alone, tamper_client(0, [](uint32_t, client_update& u) { u.rank = 99; }));
  CHECK(first.summary.invalid == 5);
  CHECK(first.summary.final_version == 0);
  auto initial = serialization::encode(compute::init_adapter(alone.model, alone.adapter_seed));
  CHECK(first.summary.final_global == initial);
}

TEST_CASE("a bad update that arrives after its round closed is refused as a late update") {
  // As in the late-failure test: the slow client (2) arrives after the deadline.
  auto r = run_setup(setup_of(two_fast_one_slow, {"round.mode=deadline", "scheduler.policy=fixed",
                                                  "scheduler.rank=4", "scheduler.local_steps=8",
                                                  "round.deadline_s=2.0", "run.rounds=4"}),
                     tamper_client(2, [](uint32_t, client_update& u) { u.samples = 0; }));
  check_nothing_lost(r);
  CHECK(r.summary.late_merged == 0);
  uint64_t late_invalid = 0;
  for (const auto& l : r.rec.late) {
    CHECK(l.client == 2);
    CHECK(l.invalid);
    CHECK_FALSE(l.merged);
    CHECK_THAT(l.reason, Catch::StartsWith("invalid update: it claims 0 training examples"));
    late_invalid += 1;
  }
  CHECK(late_invalid >= 1);
  uint64_t on_time_refused = 0;
  for (const auto& round : r.rec.rounds)
    on_time_refused += round.rejected();
  CHECK(r.summary.invalid == late_invalid + on_time_refused);
  CHECK(r.summary.late_rejected == late_invalid);
}
