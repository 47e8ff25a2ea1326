#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace fedq::data {

/// One GLUE task: where its files are and how to read them. Columns are named
/// by the file's header; a file without one (CoLA) gets `implicit_header`.
struct glue_spec {
  std::string name;        ///< as in configs: "sst2", "mnli-mm", ...
  std::string folder;      ///< under the GLUE folder: "SST-2"
  std::string dev_file;    ///< "dev.tsv"; MNLI: dev_matched.tsv / dev_mismatched.tsv
  std::vector<std::string> implicit_header;  ///< empty: the file has a header line
  std::string text_a, text_b, label;          ///< column names; text_b empty: single sentence
  task_kind kind = task_kind::classification;
  std::vector<std::string> labels;  ///< label strings in class order (classification)
  metric_kind metric = metric_kind::accuracy;
  uint32_t train_rows = 0, dev_rows = 0;  ///< official counts
};

/// The declarative table: sst2 cola mrpc rte stsb qnli qqp mnli mnli-mm wnli.
const std::vector<glue_spec>& glue_tasks();

/// The spec named `name`; throws data_error listing the known names.
const glue_spec& glue_task_spec(const std::string& name);

/// Reads one GLUE TSV file with `spec`'s columns. Every row must have the
/// header's column count and a valid label; anything else is a data_error
/// naming the file and line. Nothing is skipped. A UTF-8 BOM and CRLF line
/// ends are accepted.
dataset read_glue_tsv(const glue_spec& spec, const std::string& path);

/// Train and dev of task `name` from `dir`, the GLUE folder (holding SST-2/,
/// CoLA/, ...). Only the task's own folder needs to exist.
task glue_task(const std::string& name, const std::string& dir);

} // namespace fedq::data
