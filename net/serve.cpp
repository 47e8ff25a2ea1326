#include "net/serve.hpp"

#include <cstring>

#include <chrono>
#include <iostream>
#include <map>

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "net/relay.hpp"

namespace fedq::net {

namespace {

using attach_atom = caf::atom_constant<caf::atom("attach")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;
using await_atom = caf::atom_constant<caf::atom("await")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;
using local_atom = caf::atom_constant<caf::atom("local")>;

using clock = std::chrono::steady_clock;

/// A worker's largest message is an update: the adapter at r_max and its
/// telemetry. Frames over the adapter's size plus this are refused.
constexpr size_t max_frame_slack = 1 << 16;

std::string every_client(size_t n) { return n == 1 ? "0" : "0-" + std::to_string(n - 1); }

caf::error refusal(const std::string& why) { return caf::make_error(caf::sec::runtime_error, why); }

/// A client as the server sees it: forwards each task to the client's actor
/// in the worker that hosts it, checks what comes back, and fails the tasks
/// in flight when that worker is lost.
using proxy_actor = actors::client_actor::extend<
  caf::reacts_to<attach_atom, actors::client_actor, uint64_t>,
  caf::reacts_to<lost_atom, uint64_t, std::string>>;

struct proxy_state {
  actors::client_actor remote;
  uint64_t session = 0;
  uint64_t next = 0;
  std::map<uint64_t, caf::typed_response_promise<actors::client_update>> pending;
};

proxy_actor::behavior_type proxy_behavior(proxy_actor::stateful_pointer<proxy_state> self,
                                          uint32_t id, uint64_t max_bytes) {
  auto who = "client " + std::to_string(id);
  auto settle = [self](uint64_t k) -> std::optional<caf::typed_response_promise<actors::client_update>> {
    auto it = self->state.pending.find(k);
    if (it == self->state.pending.end())
      return std::nullopt; // failed already: its worker was lost
    auto p = it->second;
    self->state.pending.erase(it);
    return p;
  };
  return {
    [=](actors::train_task& t) -> caf::typed_response_promise<actors::client_update> {
      auto rp = self->make_response_promise<actors::client_update>();
      auto& st = self->state;
      if (!st.remote) {
        rp.deliver(refusal(who + ": worker lost (no worker hosts it now)"));
        return rp;
      }
      auto k = st.next++;
      st.pending.emplace(k, rp);
      self->request(st.remote, caf::infinite, std::move(t))
        .then(
          [=](actors::client_update& u) {
            auto p = settle(k);
            if (!p)
              return;
            if (u.client != id)
              p->deliver(refusal(who + ": its worker sent an update for client " +
                                 std::to_string(u.client) + " (refused)"));
            else if (u.adapter.size() > max_bytes)
              p->deliver(refusal(who + ": an update of " + std::to_string(u.adapter.size()) +
                                 " bytes, more than an adapter at r_max can be (" +
                                 std::to_string(max_bytes) + "); refused before decoding"));
            else
              p->deliver(std::move(u));
          },
          [=](caf::error& e) {
            if (auto p = settle(k))
              p->deliver(std::move(e));
          });
      return rp;
    },
    [](actors::done_atom, actors::client_update&) {}, // a stand-in runs no job of its own
    [=](attach_atom, actors::client_actor remote, uint64_t session) {
      self->state.remote = std::move(remote);
      self->state.session = session;
    },
    [=](lost_atom, uint64_t session, const std::string& reason) {
      auto& st = self->state;
      if (session != st.session)
        return;
      st.remote = nullptr;
      for (auto& [k, p] : st.pending)
        p.deliver(refusal(who + ": worker lost (" + reason + ")"));
      st.pending.clear();
    },
  };
}

struct session_info {
  caf::node_id node;
  std::string name;
};

struct worker_entry {
  std::string name;
  caf::actor agent;  // the worker's own actor: monitored, sent bye
  std::vector<uint32_t> clients;
  clock::time_point last_beat;
};

struct gate_state {
  std::shared_ptr<const serve_options> o;
  std::vector<proxy_actor> proxies;
  std::shared_ptr<actors::client_presence> presence;
  std::map<uint64_t, session_info> sessions;  // said hello
  std::map<uint64_t, worker_entry> workers;   // joined, by session
  std::vector<uint64_t> host_of;              // per client: its worker's session, 0: none
  std::vector<caf::response_promise> awaiting;
  std::map<uint32_t, actors::local_shard> local;  // shards workers read from their own files
  bool started = false;   // every client had a worker once: the rounds began
  bool finished = false;

  bool all_hosted() const {
    return std::all_of(host_of.begin(), host_of.end(), [](uint64_t s) { return s != 0; });
  }
};

using gate_ptr = caf::stateful_actor<gate_state>*;

void lose(gate_ptr self, uint64_t session, const std::string& reason) {
  auto& st = self->state;
  auto it = st.workers.find(session);
  if (it == st.workers.end())
    return;
  auto w = std::move(it->second);
  st.workers.erase(it);
  st.sessions.erase(session);
  self->demonitor(w.agent);
  for (auto c : w.clients)
    if (st.host_of[c] == session) {
      st.host_of[c] = 0;
      st.presence->set(c, false);
      self->send(st.proxies[c], lost_atom::value, session, reason);
    }
  if (!st.finished)
    spdlog::warn("worker {} lost ({}): clients {} are offline until a worker hosts them again",
                 w.name, reason, format_client_list(w.clients));
}

caf::behavior gate_behavior(gate_ptr self, std::shared_ptr<const serve_options> o,
                            std::vector<proxy_actor> proxies,
                            std::shared_ptr<actors::client_presence> presence) {
  auto& st = self->state;
  st.o = o;
  st.host_of.assign(proxies.size(), 0);
  st.proxies = std::move(proxies);
  st.presence = std::move(presence);
  self->set_down_handler([self](caf::down_msg& dm) {
    for (const auto& [session, w] : self->state.workers)
      if (w.agent.address() == dm.source) {
        lose(self, session, "its connection closed");
        return;
      }
  });
  auto beat = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::duration<double>(o->heartbeat_s));
  self->delayed_send(self, beat, check_atom::value);
  return {
    [=](hello_atom, const hello_msg& h) -> caf::result<welcome_msg> {
      auto& st = self->state;
      auto sender = self->current_sender();
      if (!sender)
        return refusal("a hello needs a sender");
      if (h.protocol != protocol_version)
        return refusal("the worker speaks protocol " + std::to_string(h.protocol) +
                       ", this server " + std::to_string(protocol_version) +
                       ": run the same fedq version on both");
      uint64_t session = 0;
      while (session == 0 || st.sessions.count(session)) {
        auto r = random_bytes(8);
        std::memcpy(&session, r.data(), 8);
      }
      st.sessions[session] = {sender->node(), h.worker};
      return welcome_msg{session, st.o->config_toml, st.o->config_hash, st.o->heartbeat_s,
                         st.o->patience};
    },
    [=](join_atom, const join_msg& j) -> caf::result<std::string> {
      auto& st = self->state;
      auto sender = self->current_sender();
      auto sit = st.sessions.find(j.session);
      if (!sender || sit == st.sessions.end() || sit->second.node != sender->node())
        return refusal("a join must follow a hello on the same connection");
      const auto& name = sit->second.name;
      if (st.finished)
        return refusal("the run is over");
      if (st.workers.count(j.session))
        return refusal("this worker has joined already");
      if (j.config_hash != st.o->config_hash)
        return refusal("the worker made another config of the server's one: run the same fedq "
                       "version on both");
      if (auto diff = describe_difference(st.o->files, j.files); !diff.empty())
        return refusal(diff);
      if (j.clients.empty() || j.handles.size() != j.clients.size())
        return refusal("a join names its clients and sends one actor for each");
      auto n = st.host_of.size();
      for (size_t i = 0; i < j.clients.size(); ++i) {
        auto c = j.clients[i];
        if (c >= n)
          return refusal("client " + std::to_string(c) + " does not exist: the run has " +
                         std::to_string(n) + " clients (" + every_client(n) + ")");
        if (st.host_of[c] != 0)
          return refusal("client " + std::to_string(c) + " is hosted by worker " +
                         st.workers.at(st.host_of[c]).name + " already");
        if (!j.handles[i] || j.handles[i].node() != sender->node())
          return refusal("client " + std::to_string(c) + "'s actor does not live in the worker");
      }
      for (const auto& l : j.local) {
        if (std::find(j.clients.begin(), j.clients.end(), l.client) == j.clients.end())
          return refusal("a local shard for client " + std::to_string(l.client) + ", which the worker does not host");
        auto it = st.local.find(l.client);
        if (it != st.local.end() && (it->second.train != l.train || it->second.test != l.test))
          return refusal("client " + std::to_string(l.client) + " joined before with a local shard of " +
                         std::to_string(it->second.train) + " training examples; this one has " +
                         std::to_string(l.train));
        if (it == st.local.end() && st.started)
          return refusal("client " + std::to_string(l.client) + " joined before with the partition's "
                         "shard; the run cannot switch it to a local file");
        if (l.train == 0)
          return refusal("client " + std::to_string(l.client) + "'s local shard has no training example");
      }
      for (const auto& l : j.local)
        st.local[l.client] = l;
      worker_entry w{name, caf::actor_cast<caf::actor>(sender), j.clients, clock::now()};
      self->monitor(w.agent);
      for (size_t i = 0; i < j.clients.size(); ++i) {
        auto c = j.clients[i];
        st.host_of[c] = j.session;
        self->send(st.proxies[c], attach_atom::value, j.handles[i], j.session);
        st.presence->set(c, true);
      }
      st.workers.emplace(j.session, std::move(w));
      auto what = "worker " + name + " joined with clients " + format_client_list(j.clients);
      spdlog::info("{}", what);
      if (st.all_hosted()) {
        st.started = true;
        for (auto& p : st.awaiting)
          p.deliver(true);
        st.awaiting.clear();
      }
      return what;
    },
    [=](beat_atom, uint64_t session) {
      auto sender = self->current_sender();
      if (!sender)
        return;
      auto it = self->state.workers.find(session);
      if (it == self->state.workers.end()) { // given up (or never joined): ask it to join again
        if (!self->state.finished)
          self->send(caf::actor_cast<caf::actor>(sender), join_atom::value, session);
        return;
      }
      if (sender->node() == it->second.agent.node())
        it->second.last_beat = clock::now();
    },
    [=](check_atom) {
      auto& st = self->state;
      auto limit = std::chrono::duration<double>(st.o->heartbeat_s * st.o->patience);
      std::vector<uint64_t> silent;
      for (const auto& [session, w] : st.workers)
        if (clock::now() - w.last_beat > limit)
          silent.push_back(session);
      for (auto s : silent)
        lose(self, s, "no heartbeat for " + std::to_string(st.o->heartbeat_s * st.o->patience) + " s");
      self->delayed_send(self, beat, check_atom::value);
    },
    [=](local_atom) {
      std::vector<actors::local_shard> out;
      for (const auto& [c, l] : self->state.local)
        out.push_back(l);
      return out;
    },
    [=](await_atom) -> caf::result<bool> {
      if (self->state.all_hosted())
        return true;
      auto rp = self->make_response_promise();
      self->state.awaiting.push_back(rp);
      return rp;
    },
    [=](finish_atom, const std::string& how) -> caf::result<bool> {
      auto& st = self->state;
      st.finished = true;
      auto rp = self->make_response_promise();
      if (st.workers.empty()) {
        rp.deliver(true);
        return rp;
      }
      auto left = std::make_shared<size_t>(st.workers.size());
      auto one_done = [rp, left]() mutable {
        if (--*left == 0)
          rp.deliver(true);
      };
      for (const auto& [session, w] : st.workers)
        self->request(w.agent, std::chrono::seconds(3), bye_atom::value, how)
          .then([one_done](bool) mutable { one_done(); },
                [one_done](caf::error&) mutable { one_done(); });
      return rp;
    },
  };
}

class network_host final : public actors::client_host {
public:
  explicit network_host(serve_options o) : o_(std::make_shared<const serve_options>(std::move(o))) {}

  void configure(caf::actor_system_config& cfg) override {
    configure_network(cfg);
  }

  void host(caf::actor_system& sys, actors::server_setup& ss) override {
    auto n = ss.opts.clients.size();
    presence_ = std::make_shared<actors::client_presence>(n);
    std::vector<proxy_actor> proxies;
    for (uint32_t i = 0; i < n; ++i) {
      proxies.push_back(sys.spawn(proxy_behavior, i, uint64_t(ss.initial_global.size())));
      ss.clients.push_back(proxies.back());
    }
    proxies_ = ss.clients;
    ss.presence = presence_;
    // Its own thread: heartbeats are seen on time while the server evaluates.
    gate_ = sys.spawn<caf::detached>(gate_behavior, o_, std::move(proxies), presence_);
    // CAF listens on loopback only; the relay takes the network's bytes.
    auto inner = sys.middleman().publish(gate_, 0, "127.0.0.1", true);
    if (!inner)
      throw std::runtime_error("cannot publish the gatekeeper on 127.0.0.1: " + sys.render(inner.error()));
    const auto& l = o_->listen;
    try {
      relay_ = std::make_unique<server_relay>(
        l, o_->token, *inner, ss.initial_global.size() + max_frame_slack,
        [](const std::string& m) { spdlog::info("{}", m); },
        [](const std::string& m) { spdlog::warn("{}", m); }, o_->tls);
    } catch (const input_error& e) {
      throw std::runtime_error(e.what());
    }
    auto all = every_client(n);
    address_ = (l.host.empty() ? "0.0.0.0" : l.host) + ":" + std::to_string(relay_->port());
    std::cout << "fedq serve: listening on " << address_ << "; waiting up to " << o_->wait_s
              << " s for workers to host clients " << all << std::endl;
    caf::scoped_actor self{sys};
    bool ready = false;
    self->request(gate_, std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(o_->wait_s)), await_atom::value)
      .receive([&](bool) { ready = true; }, [&](caf::error&) {});
    if (!ready) {
      std::vector<uint32_t> missing;
      for (uint32_t c = 0; c < n; ++c)
        if (!presence_->online(c))
          missing.push_back(c);
      auto m = format_client_list(missing);
      throw std::runtime_error("after " + std::to_string(int(o_->wait_s)) + " s, clients " + m +
                               " have no worker; start one with: fedq worker --connect " + address_ +
                               " --clients " + m + (o_->token.empty() ? "" : " --token-file FILE"));
    }
    self->request(gate_, std::chrono::seconds(10), local_atom::value)
      .receive([&](std::vector<actors::local_shard>& l) { local_ = std::move(l); },
               [&](caf::error& e) { throw std::runtime_error(actors::error_reason(sys, e)); });
    for (const auto& l : local_) { // its examples stay on the worker: weigh by its count, score it there only
      ss.opts.clients.at(l.client).samples = l.train;
      ss.eval.clients.at(l.client).items.clear();
      std::cout << "fedq serve: client " << l.client << " trains on its worker's own file ("
                << l.train << " training, " << l.test << " held-out examples)" << std::endl;
    }
    std::cout << "fedq serve: every client has a worker; the rounds begin" << std::endl;
  }

  void finish(caf::actor_system& sys, const std::string& how) override {
    if (!gate_)
      return;
    caf::scoped_actor self{sys};
    self->request(gate_, std::chrono::seconds(5), finish_atom::value, how)
      .receive([](bool) {}, [](caf::error&) {});
    // The workers' nodes may hold handles to these actors: end them, or the
    // actor system would wait for them at its shutdown.
    caf::anon_send_exit(gate_, caf::exit_reason::user_shutdown);
    for (const auto& p : proxies_)
      caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
    gate_ = nullptr; // the actor system waits for the detached gate until its last handle is gone
    proxies_.clear();
    relay_.reset();
  }

  std::vector<actors::local_shard> local_shards() const override { return local_; }

private:
  std::shared_ptr<const serve_options> o_;
  std::shared_ptr<actors::client_presence> presence_;
  caf::actor gate_;
  std::unique_ptr<server_relay> relay_;
  std::vector<actors::local_shard> local_;
  std::vector<actors::client_actor> proxies_;
  std::string address_;
};

} // namespace

std::unique_ptr<actors::client_host> make_network_host(serve_options o) {
  return std::make_unique<network_host>(std::move(o));
}

} // namespace fedq::net
