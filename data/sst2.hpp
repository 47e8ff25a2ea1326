#pragma once

#include <stdexcept>
#include <string>

#include "data/dataset.hpp"

namespace fedq::data {

/// A data file that cannot be read as the format it should have; the message
/// names the file and line.
struct data_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Reads a GLUE SST-2 TSV file (header `sentence<TAB>label`, labels 0/1).
dataset read_sst2_tsv(const std::string& path);

/// SST-2 from `dir`, which holds SST-2/train.tsv and SST-2/dev.tsv (the GLUE
/// folder) or train.tsv and dev.tsv itself; the server evaluates on dev.
task sst2_task(const std::string& dir);

} // namespace fedq::data
