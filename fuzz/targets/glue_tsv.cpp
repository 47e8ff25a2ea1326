// GLUE TSV files, for a single-sentence task, a pair task and a regression task.
#include "data/glue.hpp"
#include "fuzz/targets/input_file.hpp"

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fedq::fuzz::input_file(data, size, ".tsv");
  for (const char* task : {"sst2", "mrpc", "stsb"}) {
    try {
      fedq::data::read_glue_tsv(fedq::data::glue_task_spec(task), path);
    } catch (const std::runtime_error&) {
    }
  }
  return 0;
}
