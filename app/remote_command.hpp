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
  std::string data_dir;      ///< sets data.dir here
  std::string checkpoint;    ///< sets model.checkpoint here
  double wait_s = 60;
  std::string name;
  bool quiet = false;
};

/// Exit codes as fedq run's: 0 ok, 1 the run failed, 2 bad input.
int serve_command(const serve_args& args);
/// 0 once the server said bye; 1 refused or gave up; 2 bad input.
int worker_command(const worker_args& args);

} // namespace fedq::app
