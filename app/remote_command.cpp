#include "app/remote_command.hpp"

#include <iostream>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/run_output.hpp"
#include "net/serve.hpp"
#include "net/worker.hpp"

namespace fedq::app {

int serve_command(const serve_args& args) {
  net::serve_options so;
  try {
    so.listen = net::parse_endpoint(args.listen);
    if (!args.token_file.empty())
      so.token = net::read_token_file(args.token_file);
    else if (!net::is_loopback(so.listen.host) && !args.insecure)
      throw net::input_error(
        "--listen " + args.listen + " reaches beyond this machine: give --token-file (a secret "
        "both ends hold), or --insecure to let anyone who reaches the port join, receive the "
        "config and send updates");
    so.tls = {args.tls_cert, args.tls_key, args.tls_ca};
    net::check_tls_files(so.tls);
    if (args.wait_s <= 0 || args.heartbeat_s <= 0 || args.patience < 1)
      throw net::input_error("--wait-s and --heartbeat-s must be > 0, --patience >= 1");
  } catch (const net::input_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  if (so.token.empty() && args.insecure && !net::is_loopback(so.listen.host))
    spdlog::warn("--insecure: any peer that reaches {} can join, read the config and send updates",
                 args.listen);
  so.wait_s = args.wait_s;
  so.heartbeat_s = args.heartbeat_s;
  so.patience = args.patience;
  auto run = args.run;
  run.command = "fedq serve";
  run.overrides.push_back("run.clock=\"wall\""); // workers train in real time
  return run_command(run, [so](const std::string& effective_toml, uint64_t hash,
                               const actors::experiment_setup& setup) mutable {
    so.config_toml = effective_toml;
    so.config_hash = hash;
    so.files = net::backbone_files(setup.model.checkpoint, setup.model.seed);
    return net::make_network_host(so);
  });
}

int worker_command(const worker_args& args) {
  spdlog::set_level(args.quiet ? spdlog::level::warn : spdlog::level::info);
  net::worker_options wo;
  try {
    wo.server = net::parse_endpoint(args.connect);
    wo.clients = net::parse_client_list(args.clients);
    if (!args.token_file.empty())
      wo.token = net::read_token_file(args.token_file);
    wo.tls = {args.tls_cert, args.tls_key, args.tls_ca};
    net::check_tls_files(wo.tls);
    if (args.wait_s <= 0)
      throw net::input_error("--wait-s must be > 0");
  } catch (const net::input_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  wo.threads = args.threads;
  wo.wait_s = args.wait_s;
  wo.quiet = args.quiet;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  wo.name = args.name.empty() ? std::string(host) + "/" + std::to_string(::getpid()) : args.name;
  std::vector<std::string> local; // this machine's paths
  if (!args.data_dir.empty())
    local.push_back("data.dir=\"" + args.data_dir + "\"");
  if (!args.checkpoint.empty())
    local.push_back("model.checkpoint=\"" + args.checkpoint + "\"");
  return net::run_worker(wo, [local](const std::string& toml) {
    net::worker_build b; // config_error and data_error are runtime_errors
    b.config_hash = config_hash(to_toml(parse_config(toml, "the server's config", {})));
    b.setup = std::make_shared<actors::experiment_setup>(
      make_setup(parse_config(toml, "the server's config", local)));
    return b;
  });
}

} // namespace fedq::app
