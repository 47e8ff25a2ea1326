#include "app/remote_command.hpp"

#include <algorithm>
#include <iostream>
#include <random>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/run_output.hpp"
#include "compute/model.hpp"
#include "data/glue.hpp"
#include "data/partition.hpp"
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

actors::local_shard use_local_file(actors::experiment_setup& setup, uint32_t client,
                                   const std::string& path, double test_fraction) {
  const auto& task = setup.task.train.name;
  if (setup.task.train.name == "synthetic")
    throw config_error("--data " + path + ": a local file needs a GLUE task (data.task), not the synthetic one");
  if (client >= setup.shards.size())
    throw config_error("--data: client " + std::to_string(client) + " does not exist");
  auto rows = data::read_glue_tsv(data::glue_task_spec(task), path).items;
  if (rows.empty())
    throw data::data_error(path + ": no rows");
  // Its rows join this worker's copy of the training set; the client's shard points at them.
  auto& items = setup.task.train.items;
  std::vector<uint32_t> idx(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    idx[i] = static_cast<uint32_t>(items.size());
    items.push_back(std::move(rows[i]));
  }
  std::mt19937_64 rng(setup.server.seed ^ (0x9e3779b97f4a7c15ULL * (client + 1)));
  std::shuffle(idx.begin(), idx.end(), rng);
  auto test = idx.size() > 1 ? static_cast<size_t>(idx.size() * test_fraction) : 0;
  auto& shard = setup.shards.at(client);
  shard.test.assign(idx.begin(), idx.begin() + long(test));
  shard.train.assign(idx.begin() + long(test), idx.end());
  setup.server.clients.at(client).samples = static_cast<uint32_t>(shard.train.size());
  auto h_train = data::strata_histogram(setup.task.train, setup.partition.score_bins, {shard.train});
  auto h_test = data::strata_histogram(setup.task.train, setup.partition.score_bins, {shard.test});
  return {client, uint32_t(shard.train.size()), uint32_t(shard.test.size()), h_train.at(0), h_test.at(0)};
}

namespace {

/// `--device`: cpu, the only place this version trains; cuda and cuda:N are
/// refused saying why (what the build has, what the machine has).
void check_device(const std::string& device) {
  if (device == "cpu")
    return;
  if (device != "cuda" && device.rfind("cuda:", 0) != 0)
    throw net::input_error("--device " + device + ": give cpu (or cuda / cuda:N)");
  int n = compute::cuda_devices();
  if (n == 0)
    throw net::input_error("--device " + device +
                           ": the libtorch this fedq is built against has no CUDA, or no GPU is visible "
                           "(Debian's libtorch is CPU-only); run the worker with --device cpu");
  throw net::input_error("--device " + device + ": " + std::to_string(n) +
                         " GPU(s) visible, but this version of fedq trains on the CPU only; run the worker "
                         "with --device cpu");
}

} // namespace

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
    check_device(args.device);
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
  if (!args.data_file.empty() && wo.clients.size() != 1) {
    std::cerr << "error: --data " << args.data_file << " is one client's shard: give --clients one client\n";
    return 2;
  }
  auto data_file = args.data_file;
  auto client = wo.clients.front();
  return net::run_worker(wo, [local, data_file, client](const std::string& toml) {
    net::worker_build b; // config_error and data_error are runtime_errors
    b.config_hash = config_hash(to_toml(parse_config(toml, "the server's config", {})));
    auto cfg = parse_config(toml, "the server's config", local);
    b.setup = std::make_shared<actors::experiment_setup>(make_setup(cfg));
    if (!data_file.empty())
      b.local.push_back(use_local_file(*b.setup, client, data_file, cfg.data.test_fraction));
    return b;
  });
}

} // namespace fedq::app
