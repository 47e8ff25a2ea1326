#pragma once

#include <string>
#include <vector>

namespace fedq::app {

struct run_args {
  std::string config;
  std::vector<std::string> overrides;  ///< --set key=value
  std::string out;                     ///< empty: a fresh folder under runs/
  std::string data_dir;                ///< --data-dir: sets data.dir
  std::string resume;                  ///< --resume DIR: go on from DIR's last checkpoint
  bool quiet = false;
};

/// `fedq run`: returns the process exit code (0 ok, 1 run failed, 2 bad input).
int run_command(const run_args& args);

} // namespace fedq::app
