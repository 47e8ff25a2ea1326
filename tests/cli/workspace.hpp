#pragma once
// The fedq program as a user runs it: a fresh folder laid out like a checkout
// (build/, configs/, scripts/ and README.md link to the real ones, ../shared
// to the real shared folder), commands run in it by /bin/sh, their exit code
// and output captured.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fedq::cli_test {

namespace fs = std::filesystem;

struct result {
  int rc = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
  std::string all() const { return out + err; }
};

class workspace {
public:
  /// A new, empty workspace under the temporary folder (an old one of that name is removed).
  explicit workspace(const std::string& name);

  /// Runs `command` with /bin/sh in the workspace.
  result run(const std::string& command) const;

  /// The workspace's folder; relative paths below are relative to it.
  const fs::path& root() const { return root_; }
  fs::path operator/(const std::string& rel) const { return root_ / rel; }

  /// Writes `text` to `rel`, creating folders.
  void write(const std::string& rel, const std::string& text) const;

  /// A slice of the GLUE folder of ../shared/data in `rel`: for each task
  /// folder, the first line of each TSV (the header, or a row where there is
  /// none) and the `rows` lines after it of train.tsv (`dev_rows` of dev.tsv).
  void glue_slice(const std::string& rel, size_t rows, size_t dev_rows) const;

  /// The first lines of ../shared/data/`source` in `rel`, whole lines up to
  /// about `bytes` (the line that crosses `bytes` is the last one).
  void shared_head(const std::string& rel, const std::string& source, size_t bytes) const;

  /// A templated corpus of short movie-review sentences in `rel`.
  void tiny_corpus(const std::string& rel) const;

  /// A tiny pretrained checkpoint in `rel` (fedq pretrain on a templated
  /// corpus, seconds): config.json, model.safetensors, tokenizer.json.
  void tiny_checkpoint(const std::string& rel) const;

private:
  fs::path root_;
};

/// The whole text of a file ("" when it cannot be read).
std::string read_text(const fs::path& p);

/// Every line of `dir`/rounds.jsonl, parsed.
std::vector<nlohmann::json> rounds_of(const workspace& ws, const std::string& dir);

/// The pretraining settings of tiny_checkpoint, as --set arguments.
std::string tiny_pretrain_sets(const std::string& corpus);

} // namespace fedq::cli_test
