#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fedq::data {

/// A data file that cannot be read as the format it should have; the message
/// names the file and line.
struct data_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class task_kind { classification, regression };

/// The official GLUE metric of a task. Two-part metrics score as the mean of
/// their parts, as the GLUE leaderboard does.
enum class metric_kind {
  accuracy,
  f1_accuracy,       ///< MRPC, QQP: mean of positive-class F1 and accuracy
  matthews,          ///< CoLA
  pearson_spearman,  ///< STS-B: mean of Pearson and Spearman
};

struct example {
  std::string text;
  std::string text_b;  ///< second sentence of a pair task; empty otherwise
  int32_t label = 0;   ///< class (classification)
  float score = 0;     ///< target (regression)
};

struct dataset {
  std::string name;
  uint32_t num_classes = 2;  ///< classification; 0 for regression
  std::vector<example> items;
  task_kind kind = task_kind::classification;
};

/// A task: what clients train on and what the server evaluates on.
struct task {
  dataset train;
  dataset eval;
  metric_kind metric = metric_kind::accuracy;
};

} // namespace fedq::data
