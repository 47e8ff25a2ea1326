#include "tests/cli/workspace.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>

namespace fedq::cli_test {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

} // namespace

workspace::workspace(const std::string& name) {
  auto base = fs::temp_directory_path() / "fedq_cli" / name;
  fs::remove_all(base);
  root_ = base / "checkout";
  fs::create_directories(root_);
  fs::path src = FEDQ_SOURCE_DIR;
  for (const char* entry : {"configs", "scripts", "README.md"})
    fs::create_directory_symlink(src / entry, root_ / entry);
  fs::create_directory_symlink(FEDQ_BINARY_DIR, root_ / "build");
  fs::create_directory_symlink(fs::absolute(FEDQ_SHARED_DATA).parent_path(), base / "shared");
}

result workspace::run(const std::string& command) const {
  auto out = root_ / ".stdout", err = root_ / ".stderr";
  std::string line = "cd " + quoted(root_) + " && (" + command + ") >" + quoted(out) + " 2>" + quoted(err) +
                     " </dev/null";
  int status = std::system(line.c_str());
  result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

void workspace::write(const std::string& rel, const std::string& text) const {
  auto p = root_ / rel;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

void workspace::glue_slice(const std::string& rel, size_t rows, size_t dev_rows) const {
  fs::path glue = fs::path(FEDQ_SHARED_DATA) / "glue";
  for (const auto& task : fs::directory_iterator(glue)) {
    for (auto [file, n] : {std::pair{"train.tsv", rows}, std::pair{"dev.tsv", dev_rows}}) {
      std::ifstream in(task.path() / file, std::ios::binary);
      if (!in)
        throw std::runtime_error((task.path() / file).string() + ": cannot read");
      std::string text, line;
      for (size_t k = 0; k <= n && std::getline(in, line); ++k)
        text += line + "\n";
      write(rel + "/" + task.path().filename().string() + "/" + file, text);
    }
  }
}

void workspace::shared_head(const std::string& rel, const std::string& source, size_t bytes) const {
  auto path = fs::path(FEDQ_SHARED_DATA) / source;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(path.string() + ": cannot read");
  std::string text, line;
  while (text.size() < bytes && std::getline(in, line))
    text += line + "\n";
  write(rel, text);
}

std::vector<nlohmann::json> rounds_of(const workspace& ws, const std::string& dir) {
  std::istringstream lines(read_text(ws / (dir + "/rounds.jsonl")));
  std::vector<nlohmann::json> rounds;
  for (std::string line; std::getline(lines, line);)
    rounds.push_back(nlohmann::json::parse(line));
  return rounds;
}

std::string tiny_pretrain_sets(const std::string& corpus) {
  return "--set 'corpus.sources=[\"" + corpus + "\"]' --set tokenizer.vocab_size=320 "
         "--set model.d_model=32 --set model.layers=1 --set model.heads=2 --set model.kv_heads=1 "
         "--set model.ffn=64 --set train.steps=40 --set train.batch_size=8 --set train.seq_len=32 "
         "--set train.warmup_steps=5 --set train.eval_every=20 --set train.threads=1";
}

void workspace::tiny_corpus(const std::string& rel) const {
  std::string corpus;
  const char* who[] = {"the film", "a movie", "this story", "the actor", "her acting"};
  const char* how[] = {"is great.", "was dull.", "feels warm.", "is a mess.", "was moving."};
  for (int i = 0; i < 400; ++i)
    corpus += std::string(who[i % 5]) + " " + how[(i / 5) % 5] + "\n";
  write(rel, corpus);
}

void workspace::tiny_checkpoint(const std::string& rel) const {
  tiny_corpus("corpus/tiny.txt");
  auto r = run("build/fedq pretrain configs/pretrain-small.toml --out " + rel + " -q " +
               tiny_pretrain_sets("corpus/tiny.txt"));
  if (r.rc != 0)
    throw std::runtime_error("fedq pretrain of the tiny checkpoint failed: " + r.all());
}

} // namespace fedq::cli_test
