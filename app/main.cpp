// fedq: federated LoRA fine-tuning with deadline rounds and asynchronous stragglers.

#include <CLI/CLI.hpp>

#include "app/run_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"fedq: federated fine-tuning of LoRA adapters on a frozen backbone, with "
               "per-client ranks, round deadlines and staleness-weighted late updates"};
  app.require_subcommand(1);

  fedq::app::run_args run;
  auto* cmd = app.add_subcommand("run", "Run one experiment described by a TOML config");
  cmd->add_option("config", run.config, "Experiment config (see configs/quickstart.toml)")
    ->required()
    ->check(CLI::ExistingFile);
  cmd->add_option("--set", run.overrides,
                  "Override a config key, e.g. --set round.mode=sync (repeatable)");
  cmd->add_option("--out", run.out,
                  "Output folder (default: a fresh folder under runs/)");
  cmd->add_option("--data-dir", run.data_dir,
                  "GLUE folder for data.task = sst2 (sets data.dir)");
  cmd->add_flag("-q,--quiet", run.quiet, "No per-round progress lines or info logs");

  CLI11_PARSE(app, argc, argv);
  if (*cmd)
    return fedq::app::run_command(run);
  return 0;
}
