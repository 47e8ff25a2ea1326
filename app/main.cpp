// fedq: federated LoRA fine-tuning with deadline rounds and asynchronous stragglers.

#include <CLI/CLI.hpp>

#include "app/bench_command.hpp"
#include "app/logits_command.hpp"
#include "app/pretrain_command.hpp"
#include "app/profile_command.hpp"
#include "app/remote_command.hpp"
#include "app/run_command.hpp"
#include "compute/blas_core.hpp"

int main(int argc, char** argv) {
  fedq::compute::restart_with_fast_blas(argv);
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
                  "The GLUE folder for GLUE tasks (sets data.dir)");
  cmd->add_option("--resume", run.resume,
                  "Go on with the run in this folder from its last checkpoint (written after every "
                  "round), with the same config and --set; on the virtual clock it ends as the "
                  "uninterrupted run would have")
    ->check(CLI::ExistingDirectory);
  cmd->add_flag("-q,--quiet", run.quiet, "No per-round progress lines or info logs");

  fedq::app::serve_args sv;
  auto* serve = app.add_subcommand(
    "serve", "Run one experiment on the wall clock with its clients in `fedq worker` processes on "
             "this or other machines: listen, wait for a worker for every client, then run the "
             "rounds as `fedq run` does (the same output folder)");
  serve->add_option("config", sv.run.config, "Experiment config (see configs/quickstart.toml)")
    ->required()
    ->check(CLI::ExistingFile);
  serve->add_option("--listen", sv.listen, "HOST:PORT to listen on, e.g. 127.0.0.1:7300 (port 0: any free one)")
    ->required();
  serve->add_option("--set", sv.run.overrides, "Override a config key (repeatable)");
  serve->add_option("--out", sv.run.out, "Output folder (default: a fresh folder under runs/)");
  serve->add_option("--data-dir", sv.run.data_dir, "The GLUE folder for GLUE tasks (sets data.dir)");
  serve->add_option("--token-file", sv.token_file,
                    "A file (mode 600) with the secret the workers must prove they hold (HMAC-SHA256 "
                    "challenge-response; the secret never crosses the wire). Needed to listen beyond loopback");
  serve->add_option("--tls-cert", sv.tls_cert, "TLS: this server's certificate (PEM; its names must include the host workers dial)");
  serve->add_option("--tls-key", sv.tls_key, "TLS: its private key (PEM)");
  serve->add_option("--tls-ca", sv.tls_ca,
                    "TLS: the CA (PEM) that signed every worker's certificate; others are refused");
  serve->add_flag("--insecure", sv.insecure,
                  "Listen beyond loopback without a token: anyone who reaches the port can join");
  serve->add_option("--wait-s", sv.wait_s, "Seconds to wait for every client to have a worker")
    ->capture_default_str();
  serve->add_option("--heartbeat-s", sv.heartbeat_s, "Seconds between a worker's heartbeats")
    ->capture_default_str();
  serve->add_option("--patience", sv.patience,
                    "Missed heartbeats after which a worker is given up (its clients go offline)")
    ->capture_default_str();
  serve->add_flag("-q,--quiet", sv.run.quiet, "No per-round progress lines or info logs");

  fedq::app::worker_args wk;
  auto* worker = app.add_subcommand(
    "worker", "Host some clients of a `fedq serve` run: build their shards here from the run's config "
              "(no example crosses the wire), train their tasks, rejoin after a lost connection");
  worker->add_option("--connect", wk.connect, "The server's HOST:PORT")->required();
  worker->add_option("--clients", wk.clients, "The clients to host, e.g. 0-3,7")->required();
  worker->add_option("--token-file", wk.token_file, "The server's secret (a file of mode 600)");
  worker->add_option("--tls-cert", wk.tls_cert, "TLS: this worker's certificate (PEM), signed by the server's CA");
  worker->add_option("--tls-key", wk.tls_key, "TLS: its private key (PEM)");
  worker->add_option("--tls-ca", wk.tls_ca, "TLS: the CA (PEM) that signed the server's certificate");
  worker->add_option("--threads", wk.threads, "Compute threads (default: one per core)");
  worker->add_option("--device", wk.device,
                     "Where its clients train: cpu (cuda and cuda:N are refused with the reason: "
                     "training runs on the CPU only in this version)")
    ->capture_default_str();
  worker->add_option("--data-dir", wk.data_dir, "This machine's GLUE folder (sets data.dir)");
  worker->add_option("--checkpoint", wk.checkpoint,
                     "This machine's copy of the backbone checkpoint folder (sets model.checkpoint; "
                     "its files must have the server's sha256)");
  worker->add_option("--data", wk.data_file,
                     "A TSV file in the task's format (GLUE's columns) that becomes the one client's "
                     "shard; its examples never leave this machine")
    ->check(CLI::ExistingFile);
  worker->add_option("--wait-s", wk.wait_s, "Seconds to keep trying to reach the server")
    ->capture_default_str();
  worker->add_option("--name", wk.name, "A name for the server's logs (default: host/pid)");
  worker->add_flag("-q,--quiet", wk.quiet, "Only warnings and errors");

  fedq::app::bench_args bn;
  auto* bench = app.add_subcommand(
    "bench", "Run every variant of a benchmark suite (configs/bench/SUITE.toml) for every seed to the "
             "same clock budget, side by side; write runs.csv, table.md and plots (python3-matplotlib) "
             "under --out and print the table. Run it again after an interruption: finished runs are "
             "kept, interrupted ones resume from their checkpoints");
  bench->add_option("suite", bn.suite, "A suite name in configs/bench/ (quickstart, sst2-tiers, sst2-skew, tasks, scale) or a suite file")
    ->required();
  bench->add_option("--seeds", bn.seeds, "Seeds to run, e.g. 1,2,3 (default: the suite's)")->delimiter(',');
  bench->add_option("--jobs", bn.jobs,
                    "Runs at once (default: one per core); each gets cores / jobs compute threads");
  bench->add_option("--out", bn.out, "Output folder (default: results/SUITE)");
  bench->add_option("--budget-s", bn.budget_s, "Clock seconds per run (default: the suite's budget_s)");
  bench->add_option("--variants", bn.variants, "Run only these variants, e.g. fedq,fedavg-lora")
    ->delimiter(',');
  bench->add_option("--groups", bn.groups, "Run only these groups of the suite, e.g. alpha-0.1")
    ->delimiter(',');
  bench->add_option("--set", bn.overrides,
                    "Override a config key in every run, after the suite's own set (repeatable)");
  bench->add_option("--data-dir", bn.data_dir, "The GLUE folder, passed to every run (sets data.dir)");
  bench->add_flag("--no-plots", [&bn](int64_t) { bn.plots = false; }, "Write no plots");
  bench->add_flag("--dry-run", bn.dry_run, "Check every run's config and print the runs; run none");

  fedq::app::logits_args lg;
  auto* logits = app.add_subcommand(
    "logits", "Print the next-token logits after --tokens (or --text) as a JSON array, for a checkpoint folder "
              "in Hugging Face layout (config.json + model.safetensors)");
  logits->add_option("--model", lg.model, "Checkpoint folder")->required()->check(CLI::ExistingDirectory);
  auto* tokens_opt = logits->add_option("--tokens", lg.tokens, "Token ids, comma-separated, e.g. 1,2,3");
  auto* text_opt = logits->add_option("--text", lg.text,
                                      "Or a text, encoded with the folder's tokenizer.json (ids go to stderr)");
  tokens_opt->excludes(text_opt);
  logits->callback([tokens_opt, text_opt] {
    if (tokens_opt->count() + text_opt->count() == 0)
      throw CLI::RequiredError("--tokens or --text");
  });
  logits->add_option("--bits", lg.bits, "Store the linear weights as nf4, int8, bf16 or fp32")
    ->capture_default_str();

  fedq::app::profile_args pf;
  auto* profile = app.add_subcommand(
    "profile", "Time real local training steps of a config's model on this machine per backbone "
               "format, rank and thread count, measure each step's peak memory; print the fitted "
               "[cost] section and write the cost table");
  profile->add_option("config", pf.config, "Experiment config (its model, batch and data)")
    ->required()
    ->check(CLI::ExistingFile);
  profile->add_option("--set", pf.overrides, "Override a config key (repeatable)");
  profile->add_option("--ranks", pf.ranks, "Ranks to time (default: r_min, middle, r_max)")
    ->delimiter(',');
  profile->add_option("--bits", pf.bits, "Backbone formats to time")->delimiter(',')
    ->capture_default_str();
  profile->add_option("--threads", pf.threads,
                      "libtorch threads per step to time, e.g. 1,2 (the [cost] fit uses the first)")
    ->delimiter(',')
    ->capture_default_str();
  profile->add_option("--steps", pf.steps, "Timed steps per point and repeat")->capture_default_str();
  profile->add_option("--repeats", pf.repeats, "Interleaved repeats per point (the median is kept)")
    ->capture_default_str();
  profile->add_option("--out", pf.out, "Write the measurements as CSV here");

  fedq::app::pretrain_args pt;
  auto* pretrain = app.add_subcommand(
    "pretrain", "Learn a byte-level BPE tokenizer on a text corpus and pretrain a small Llama on it "
                "(causal LM); write a Hugging Face checkpoint folder that model.checkpoint can name");
  pretrain->add_option("config", pt.config, "Pretraining config (see configs/pretrain-small.toml)")
    ->required()
    ->check(CLI::ExistingFile);
  pretrain->add_option("--set", pt.overrides, "Override a config key, e.g. --set train.steps=100 (repeatable)");
  pretrain->add_option("--out", pt.out, "Checkpoint folder to write (default: models/<config name>)");
  pretrain->add_option("--data-dir", pt.data_dir,
                       "The folder holding wikitext-2-raw/, glue/, imdb-unsup/ and gutenberg/ (sets corpus.dir)");
  pretrain->add_flag("-q,--quiet", pt.quiet, "No progress lines");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and exits 0; any other command-line error is bad input: exit 2.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*cmd)
    return fedq::app::run_command(run);
  if (*serve)
    return fedq::app::serve_command(sv);
  if (*worker)
    return fedq::app::worker_command(wk);
  if (*bench) {
    for (int i = 0; i < argc; ++i)
      bn.command_line += (i ? " " : "") + std::string(i == 0 ? "fedq" : argv[i]);
    return fedq::app::bench_command(bn);
  }
  if (*logits)
    return fedq::app::logits_command(lg);
  if (*pretrain)
    return fedq::app::pretrain_command(pt);
  if (*profile)
    return fedq::app::profile_command(pf);
  return 0;
}
