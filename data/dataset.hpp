#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedq::data {

struct example {
  std::string text;
  int32_t label = 0;
};

struct dataset {
  std::string name;
  uint32_t num_classes = 2;
  std::vector<example> items;
};

/// A task: what clients train on and what the server evaluates on.
struct task {
  dataset train;
  dataset eval;
};

} // namespace fedq::data
