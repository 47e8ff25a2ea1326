#pragma once
// Plain-text corpora for causal-LM pretraining. No libtorch.

#include <string>
#include <vector>

namespace fedq::data {

/// The documents of `sources`, in order, each one line or sentence:
///  - "wikitext-2": the non-empty lines of wikitext-2-raw/wiki.valid.raw and
///    wiki.test.raw under `data_dir` (the only WikiText-2 splits shipped);
///  - "glue-train": every sentence of the train.tsv of SST-2, CoLA, MRPC, RTE
///    and STS-B under data_dir/glue (never a dev file);
///  - any other entry: a UTF-8 text file, one document per non-empty line.
/// A missing file is a data_error naming it.
std::vector<std::string> read_corpus(const std::string& data_dir, const std::vector<std::string>& sources);

} // namespace fedq::data
