#include "app/pretrain_command.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/toml_fields.hpp"
#include "compute/model.hpp"
#include "data/bpe_tokenizer.hpp"
#include "data/corpus.hpp"

namespace fedq::app {

namespace {

template <class F>
void fields(pretrain_config& c, F&& f) {
  f("corpus.dir", c.corpus.dir);
  f("corpus.sources", c.corpus.sources);
  f("tokenizer.vocab_size", c.vocab_size);
  f("model.d_model", c.model.d_model);
  f("model.layers", c.model.layers);
  f("model.heads", c.model.heads);
  f("model.kv_heads", c.model.kv_heads);
  f("model.ffn", c.model.ffn);
  f("train.steps", c.train.steps);
  f("train.batch_size", c.train.batch_size);
  f("train.seq_len", c.train.seq_len);
  f("train.lr", c.train.lr);
  f("train.warmup_steps", c.train.warmup_steps);
  f("train.weight_decay", c.train.weight_decay);
  f("train.holdout_fraction", c.train.holdout_fraction);
  f("train.eval_every", c.train.eval_every);
  f("train.eval_windows", c.train.eval_windows);
  f("train.seed", c.train.seed);
  f("train.threads", c.train.threads);
}

const std::vector<std::string> specials{"<|pad|>", "<|endoftext|>"};  // ids 0 and 1

void check(const pretrain_config& c) {
  auto fail = [](const std::string& msg) { throw config_error("config: " + msg); };
  compute::model_options m;  // the same architecture rules as fedq run's built-in model
  m.d_model = c.model.d_model;
  m.layers = c.model.layers;
  m.heads = c.model.heads;
  m.kv_heads = c.model.kv_heads;
  m.ffn = c.model.ffn;
  m.max_len = c.train.seq_len;
  try {
    compute::check_model_options(m);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  if (c.vocab_size < specials.size() + 256)
    fail("tokenizer.vocab_size = " + std::to_string(c.vocab_size) + ": must be at least " +
         std::to_string(specials.size() + 256) + " (two special tokens and the 256 bytes)");
  if (c.corpus.sources.empty())
    fail("corpus.sources: name at least one of wikitext-2, glue-train or a text file");
  if (c.train.steps < 1 || c.train.batch_size < 1 || c.train.seq_len < 2 || c.train.threads < 1)
    fail("train.steps, train.batch_size and train.threads must be at least 1, train.seq_len at least 2");
  if (!(c.train.lr > 0) || c.train.weight_decay < 0)
    fail("train.lr must be > 0 and train.weight_decay >= 0");
  if (!(c.train.holdout_fraction > 0 && c.train.holdout_fraction < 0.5))
    fail("train.holdout_fraction = " + std::to_string(c.train.holdout_fraction) + ": must lie in (0, 0.5)");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

pretrain_config load_pretrain_config(const std::string& path, const std::vector<std::string>& overrides) {
  pretrain_config c;
  read_fields(read_config_text(path), path, overrides, [&](auto&& f) { fields(c, f); });
  check(c);
  return c;
}

int pretrain_command(const pretrain_args& args) {
  namespace fs = std::filesystem;
  pretrain_config cfg;
  std::vector<data::corpus_source> corpus;
  try {
    auto overrides = args.overrides;
    if (!args.data_dir.empty())
      overrides.push_back("corpus.dir=\"" + args.data_dir + "\"");
    cfg = load_pretrain_config(args.config, overrides);
    corpus = data::read_corpus(cfg.corpus.dir, cfg.corpus.sources);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  fs::path out = args.out.empty() ? fs::path("models") / fs::path(args.config).stem() : fs::path(args.out);
  if (fs::exists(out / "model.safetensors")) {
    std::cerr << "error: " << out.string() << " already holds a checkpoint; give another --out or remove it\n";
    return 2;
  }
  auto say = [&](const std::string& line) {
    if (!args.quiet)
      std::cout << line << std::endl;
  };
  try {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t bytes = 0, documents = 0;
    std::vector<std::string_view> views;  // every document of every source
    for (const auto& src : corpus)
      for (const auto& d : src.docs) {
        bytes += d.size();
        ++documents;
        views.emplace_back(d);
      }
    say(fmt::format("fedq pretrain: {} | corpus {} ({} documents, {:.1f} MB) | d={} layers={} heads={}/{} "
                    "ffn={} | {} steps of {} x {} tokens | {} threads",
                    args.config, fmt::join(cfg.corpus.sources, "+"), documents, double(bytes) / 1e6,
                    cfg.model.d_model, cfg.model.layers, cfg.model.heads, cfg.model.kv_heads, cfg.model.ffn,
                    cfg.train.steps, cfg.train.batch_size, cfg.train.seq_len, cfg.train.threads));
    auto tok = data::train_bpe(views, cfg.vocab_size, specials);
    say(fmt::format("tokenizer: byte-level BPE, {} ids, learned in {:.1f} s", tok.vocab_size(), seconds_since(t0)));
    std::vector<compute::token_source> streams;
    uint64_t tokens = 0;
    for (const auto& src : corpus) {
      auto& stream = streams.emplace_back(compute::token_source{src.name, {}}).stream;
      for (const auto& d : src.docs) {
        auto ids = tok.encode(d);
        stream.insert(stream.end(), ids.begin(), ids.end());
        stream.push_back(1);  // <|endoftext|> ends every document
      }
      tokens += stream.size();
    }
    say(fmt::format("corpus: {} tokens ({:.2f} bytes per token), encoded at {:.1f} s; the last {:.0f} % of "
                    "each source is held out",
                    tokens, double(bytes) / double(tokens), seconds_since(t0), 100 * cfg.train.holdout_fraction));

    compute::llama_config arch;
    arch.vocab_size = tok.vocab_size();
    arch.hidden_size = cfg.model.d_model;
    arch.intermediate_size = cfg.model.ffn;
    arch.num_hidden_layers = cfg.model.layers;
    arch.num_attention_heads = cfg.model.heads;
    arch.num_key_value_heads = cfg.model.kv_heads;
    arch.head_dim = cfg.model.d_model / cfg.model.heads;
    arch.max_position_embeddings = std::max<uint32_t>(512, cfg.train.seq_len);
    arch.tie_word_embeddings = true;
    arch.pad_token_id = 0;
    arch.bos_token_id = 1;
    arch.eos_token_id = 1;
    auto t_train = std::chrono::steady_clock::now();
    auto by_source = [&](const std::vector<double>& losses) {
      std::string s;
      for (size_t i = 0; i < losses.size() && i < corpus.size(); ++i)
        s += fmt::format("{}{} {:.3f}", s.empty() ? "" : ", ", corpus[i].name, losses[i]);
      return s;
    };
    auto report = [&](const compute::pretrain_progress& p) {
      double el = seconds_since(t_train);
      say(fmt::format("step {:>5}/{} | train loss {:.3f} | held-out loss {:.3f} (perplexity {:.1f}; {}) | lr {:.2e} "
                      "| {:.0f} tokens/s | {:.0f} s, about {:.0f} s left",
                      p.step, cfg.train.steps, p.train_loss, p.holdout_loss, std::exp(p.holdout_loss),
                      by_source(p.holdout_losses), p.lr, p.tokens_per_s, el, el / p.step * (cfg.train.steps - p.step)));
    };
    fs::create_directories(out);
    auto r = compute::pretrain(arch, streams, cfg.train, out.string(), report);
    std::ofstream(out / "tokenizer.json") << tok.to_json() << "\n";
    pretrain_config shown = cfg;
    std::ofstream(out / "pretrain.toml") << write_fields([&](auto&& f) { fields(shown, f); }) << "\n";
    nlohmann::ordered_json held = nlohmann::ordered_json::object();
    for (size_t i = 0; i < corpus.size(); ++i)
      held[corpus[i].name] = {{"before", r.holdout_before_by_source.at(i)},
                              {"after", r.holdout_after_by_source.at(i)},
                              {"tokens", streams[i].stream.size()}};
    nlohmann::ordered_json summary = {
      {"corpus_sources", cfg.corpus.sources}, {"documents", documents}, {"corpus_bytes", bytes},
      {"stream_tokens", r.stream_tokens},     {"holdout_tokens", r.holdout_tokens},
      {"vocab_size", tok.vocab_size()},       {"trained_tokens", r.tokens},
      {"holdout_loss_before", r.holdout_before}, {"holdout_loss_after", r.holdout_after},
      {"holdout_by_source", held},
      {"train_seconds", r.seconds}};
    std::ofstream(out / "pretrain.json") << summary.dump(2) << "\n";
    say(fmt::format("done: held-out loss {:.3f} -> {:.3f} (perplexity {:.1f} -> {:.1f}; {}) in {:.0f} s; "
                    "checkpoint: {}",
                    r.holdout_before, r.holdout_after, std::exp(r.holdout_before), std::exp(r.holdout_after),
                    by_source(r.holdout_after_by_source), r.seconds, out.string()));
  } catch (const std::exception& e) {
    std::cerr << "error: pretraining failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

} // namespace fedq::app
