#pragma once
// fedq serve and fedq worker: one run with its clients in other processes.

#include <string>
#include <vector>

#include "app/run_command.hpp"

namespace fedq::app {

struct serve_args {
  run_args run;              ///< config, --set, --out, --data-dir, --quiet
  std::string listen;        ///< HOST:PORT
  std::string token_file;
  std::string tls_cert, tls_key, tls_ca;
  bool insecure = false;
  double wait_s = 120;
  double heartbeat_s = 1;
  uint32_t patience = 3;
};

struct worker_args {
  std::string connect;       ///< HOST:PORT
  std::string clients;       ///< e.g. 0-3,7
  std::string token_file;
  std::string tls_cert, tls_key, tls_ca;
  uint32_t threads = 0;
  std::string device = "cpu";  ///< cpu, cuda or cuda:N
  std::string data_dir;      ///< sets data.dir here
  std::string checkpoint;    ///< sets model.checkpoint here
  std::string data_file;     ///< --data: the one client's shard, from this machine's file
  double wait_s = 60;
  std::string name;
  bool quiet = false;
};

/// Makes `path` (a TSV file in the task's format) client `client`'s shard in
/// this worker's copy of the setup: its rows, shuffled by the seed, split
/// by test_fraction into training and held-out examples. Returns what the
/// server is told of it (counts only). Throws config_error or data_error.
actors::local_shard use_local_file(actors::experiment_setup& setup, uint32_t client,
                                   const std::string& path, double test_fraction);

/// Exit codes as fedq run's: 0 ok, 1 the run failed, 2 bad input.
int serve_command(const serve_args& args);
/// 0 once the server said bye; 1 refused or gave up; 2 bad input.
int worker_command(const worker_args& args);

} // namespace fedq::app
