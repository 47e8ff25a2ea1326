#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/experiment.hpp"

namespace fedq::app {

struct run_args {
  std::string config;
  std::vector<std::string> overrides;  ///< --set key=value
  std::string out;                     ///< empty: a fresh folder under runs/
  std::string data_dir;                ///< --data-dir: sets data.dir
  std::string resume;                  ///< --resume DIR: go on from DIR's last checkpoint
  bool quiet = false;
  std::string command = "fedq run";    ///< how its lines begin
};

/// Where the clients live instead of this process (fedq serve), made from
/// the run's effective config, its hash and its setup.
using host_factory = std::function<std::unique_ptr<actors::client_host>(
  const std::string& effective_toml, uint64_t config_hash, const actors::experiment_setup& setup)>;

/// `fedq run`: returns the process exit code (0 ok, 1 run failed, 2 bad input).
int run_command(const run_args& args, const host_factory& make_host = {});

} // namespace fedq::app
