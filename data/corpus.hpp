#pragma once
// Plain-text corpora for causal-LM pretraining. No libtorch.

#include <string>
#include <vector>

namespace fedq::data {

/// One source of a corpus: its name and its documents, in order.
struct corpus_source {
  std::string name;
  std::vector<std::string> docs;
};

/// The documents of each of `sources`, each one line or sentence:
///  - "wikitext-2": the non-empty lines of wikitext-2-raw/wiki.valid.raw and
///    wiki.test.raw under `data_dir` (the only WikiText-2 splits shipped);
///  - "glue-train": every sentence of the train.tsv of SST-2, CoLA, MRPC, RTE
///    and STS-B under data_dir/glue (never a dev file);
///  - "imdb": the 50,000 unlabeled movie reviews of imdb-unsup/unsup.txt;
///  - "gutenberg": the paragraphs of every gutenberg/*.txt (in name order);
///  - any other entry: a UTF-8 text file, one document per non-empty line.
/// A missing file is a data_error naming it.
std::vector<corpus_source> read_corpus(const std::string& data_dir, const std::vector<std::string>& sources);

} // namespace fedq::data
