#include "net/worker.hpp"

#include <chrono>
#include <iostream>
#include <thread>

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "compute/executor.hpp"
#include "net/protocol.hpp"
#include "net/relay.hpp"

namespace fedq::net {

namespace {

using steady = std::chrono::steady_clock;

std::chrono::milliseconds ms(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

} // namespace

int run_worker(const worker_options& o, const build_fn& build) {
  caf::actor_system_config cfg;
  configure_network(cfg);
  actors::register_types(cfg);
  cfg.set("scheduler.max-threads", 1);
  cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::unique_ptr<compute::executor> exec;
  worker_build built;
  std::vector<actors::client_actor> clients;
  struct stop_at_exit { // the server's node may hold handles to them: end them for the shutdown
    std::vector<actors::client_actor>& actors;
    ~stop_at_exit() {
      for (const auto& c : actors)
        caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
    }
  } stop{clients};
  const auto where = o.server.host + ":" + std::to_string(o.server.port);
  worker_relay relay(o.server, o.token, o.tls);
  auto fail = [&](const std::string& why) {
    std::cerr << "error: fedq worker (clients " << format_client_list(o.clients) << "): " << why << "\n";
    return 1;
  };
  bool joined_before = false;
  while (true) {
    // 1. a connection through the relay (which proves the token), with backoff
    auto give_up = steady::now() + ms(o.wait_s);
    double backoff = 0.2;
    caf::actor gate;
    while (true) {
      auto g = sys.middleman().remote_actor("127.0.0.1", relay.port());
      if (g) {
        gate = *g;
        break;
      }
      bool final = false;
      auto why = relay.last_refusal(&final);
      if (final)
        return fail(why);
      if (steady::now() >= give_up)
        return fail("no fedq serve at " + where + " after " + std::to_string(int(o.wait_s)) +
                    " s (" + (why.empty() ? sys.render(g.error()) : why) + ")");
      std::this_thread::sleep_for(ms(backoff));
      backoff = std::min(backoff * 2, 5.0);
    }
    // 2. hello, join
    std::optional<std::string> refusal; // why the server refused the join: final
    uint64_t session = 0;
    double heartbeat_s = 1;
    auto on_error = [&](caf::error& e) { refusal = actors::error_reason(sys, e); };
    welcome_msg welcome;
    self->request(gate, std::chrono::seconds(30), hello_atom::value, hello_msg{protocol_version, o.name})
      .receive([&](welcome_msg& w) { welcome = std::move(w); }, on_error);
    if (!refusal && !built.setup) {
      try {
        built = build(welcome.config_toml);
      } catch (const std::exception& e) {
        return fail("the server's config: " + std::string(e.what()));
      }
      auto n = built.setup->server.clients.size();
      for (auto c : o.clients)
        if (c >= n)
          return fail("client " + std::to_string(c) + " does not exist: the run has " +
                      std::to_string(n) + " clients (0-" + std::to_string(n - 1) + ")");
      exec = std::make_unique<compute::executor>(compute::compute_threads(o.threads));
      size_t examples = 0;
      for (auto c : o.clients) {
        auto cs = actors::make_client_setup(*built.setup, c, exec.get());
        examples += cs.shard.size();
        clients.push_back(actors::spawn_client(sys, std::move(cs)));
      }
      if (!o.quiet)
        std::cout << "fedq worker: clients " << format_client_list(o.clients) << " hold " << examples
                  << " training examples of " << built.setup->task.train.name << "; "
                  << exec->total_threads() << " compute threads" << std::endl;
    }
    if (!refusal) {
      session = welcome.session;
      heartbeat_s = welcome.heartbeat_s;
      join_msg j{session, built.config_hash,
                 backbone_files(built.setup->model.checkpoint, built.setup->model.seed), o.clients,
                 clients, built.local};
      self->request(gate, std::chrono::seconds(30), join_atom::value, j)
        .receive([&](const std::string& what) {
                   if (!o.quiet)
                     std::cout << "fedq worker: " << (joined_before ? "joined again: " : "") << what
                               << " at " << where << std::endl;
                 },
                 on_error);
    }
    if (refusal)
      return fail("refused by the server at " + where + ": " + *refusal);
    joined_before = true;
    // 3. heartbeats until bye, a lost connection, or the server forgot us
    self->monitor(gate);
    bool lost = false, bye = false;
    std::string reason;
    while (!lost && !bye) {
      self->send(gate, beat_atom::value, session);
      self->receive(
        [&](bye_atom, const std::string& how) {
          bye = true;
          reason = how;
          return true;
        },
        [&](join_atom, uint64_t given_up) { // the server gave this session up (no heartbeat)
          if (given_up != session)
            return; // an older session's
          lost = true;
          reason = "the server gave this worker up";
        },
        [&](caf::down_msg& dm) {
          if (dm.source == gate.address()) {
            lost = true;
            reason = "the connection closed: " + sys.render(dm.reason);
          }
        },
        caf::after(ms(heartbeat_s)) >> [] {});
    }
    self->demonitor(gate);
    if (bye) {
      if (!o.quiet)
        std::cout << "fedq worker: the server said bye (" << reason << ")" << std::endl;
      return 0;
    }
    spdlog::warn("fedq worker: lost the server at {} ({}); joining again for up to {} s", where,
                 reason, int(o.wait_s));
  }
}

} // namespace fedq::net
